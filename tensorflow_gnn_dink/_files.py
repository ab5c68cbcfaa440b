"""Files and directories written atomically: a crash leaves the old or the new.

Used by the library's export and by the recipe's result files, so that a
half-written file or directory is never taken for a whole one.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
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
  """Writes `value` as indented, key-sorted JSON (see `write_text_atomically`)."""
  write_text_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def directory_atomically(path: str) -> Iterator[str]:
  """Yields a staging directory that replaces `path` when the block succeeds.

  Fill the yielded directory (which does not exist yet; create it, e.g. by
  saving a SavedModel there). On success it is moved to `path`, replacing an
  existing directory only then; on an exception `path` is left untouched.
  """
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
  try:
    target = os.path.join(staging, "new")
    yield target
    if os.path.exists(path):
      os.replace(path, os.path.join(staging, "old"))
    os.replace(target, path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
