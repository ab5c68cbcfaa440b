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
from collections.abc import Callable, Iterator
from typing import IO, Any


def write_atomically(path: str, write: Callable[[IO[Any]], Any], *,
                     binary: bool = False) -> None:
  """Calls `write(f)` on a temporary file beside `path`, then renames it.

  A crash leaves either the old `path` or the new one, never a part. The
  file gets the usual permissions (0666 less the umask), not the temporary
  file's 0600.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
  try:
    with (os.fdopen(fd, "wb") if binary else
          os.fdopen(fd, "w", encoding="utf-8")) as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _umask() -> int:
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def write_text_atomically(path: str, text: str) -> None:
  """Writes `text` to `path` (see `write_atomically`)."""
  write_atomically(path, lambda f: f.write(text))


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
