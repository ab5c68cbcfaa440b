"""Files written atomically: a crash leaves the old file or the new, never half."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_text_atomically(path: str, text: str) -> None:
  """Writes `text` to `path` via a temporary file in the same directory."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json_atomically(path: str, value: Any) -> None:
  write_text_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
