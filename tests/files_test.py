"""Tests for `_files`: atomic writes of files and directories.

Checks that `write_text_atomically` and `write_json_atomically` write (and
overwrite) the content and leave no temporary file behind, also when writing
fails, and that `directory_atomically` replaces a directory only when its
block succeeds: on an exception the old directory is untouched and no staging
directory remains.
"""
import testing_utils  # pylint: disable=g-bad-import-order

import json
import os
import tempfile

from tensorflow_gnn_dink import _files


def read_tree(path):
  """`{relative path: file content}` of every file under `path`."""
  tree = {}
  for root, _, names in os.walk(path):
    for name in names:
      full = os.path.join(root, name)
      with open(full) as f:
        tree[os.path.relpath(full, path)] = f.read()
  return tree


class WriteAtomicallyTest(testing_utils.TestCase):
  """`write_text_atomically` and `write_json_atomically`."""

  def test_write_text_creates_overwrites_and_leaves_no_temp_file(self):
    directory = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = os.path.join(directory, "sub", "out.txt")  # Parent is created.
    _files.write_text_atomically(path, "first\n")
    with open(path) as f:
      self.assertEqual(f.read(), "first\n")
    _files.write_text_atomically(path, "second")
    with open(path) as f:
      self.assertEqual(f.read(), "second")
    self.assertEqual(os.listdir(os.path.dirname(path)), ["out.txt"])

  def test_write_json_is_sorted_indented_and_round_trips(self):
    directory = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = os.path.join(directory, "results.json")
    value = {"b": [1, 2.5], "a": {"nested": None}}
    _files.write_json_atomically(path, value)
    with open(path) as f:
      text = f.read()
    self.assertEqual(json.loads(text), value)
    self.assertEqual(text, json.dumps(value, indent=2, sort_keys=True) + "\n")
    self.assertEqual(os.listdir(directory), ["results.json"])

  def test_failed_write_keeps_old_file_and_removes_temp_file(self):
    directory = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = os.path.join(directory, "results.json")
    _files.write_json_atomically(path, {"ok": 1})
    with self.assertRaises(TypeError):  # A set is not JSON: fails in dumps.
      _files.write_json_atomically(path, {"bad": {1, 2}})
    with self.assertRaises(TypeError):  # Not a str: fails in f.write.
      _files.write_text_atomically(path, b"bytes")
    with open(path) as f:
      self.assertEqual(json.load(f), {"ok": 1})
    self.assertEqual(os.listdir(directory), ["results.json"])


class DirectoryAtomicallyTest(testing_utils.TestCase):
  """`directory_atomically`."""

  def _make_old(self, parent):
    path = os.path.join(parent, "model")
    os.makedirs(os.path.join(path, "variables"))
    for name, text in (("saved_model.pb", "old"), ("variables/v", "old v")):
      with open(os.path.join(path, name), "w") as f:
        f.write(text)
    return path

  def test_success_replaces_the_old_directory(self):
    parent = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = self._make_old(parent)
    with _files.directory_atomically(path) as staging:
      self.assertFalse(os.path.exists(staging))  # Not created yet.
      self.assertNotEqual(os.path.abspath(staging), os.path.abspath(path))
      os.makedirs(staging)
      with open(os.path.join(staging, "new.txt"), "w") as f:
        f.write("new")
      self.assertEqual(read_tree(path)["saved_model.pb"], "old")  # Not yet.
    self.assertEqual(read_tree(path), {"new.txt": "new"})  # Old files gone.
    self.assertEqual(os.listdir(parent), ["model"])  # No staging left.

  def test_success_without_an_old_directory(self):
    parent = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = os.path.join(parent, "deeper", "model")
    with _files.directory_atomically(path) as staging:
      os.makedirs(staging)
      with open(os.path.join(staging, "a"), "w") as f:
        f.write("A")
    self.assertEqual(read_tree(path), {"a": "A"})
    self.assertEqual(os.listdir(os.path.dirname(path)), ["model"])

  def test_exception_leaves_the_old_directory_untouched(self):
    parent = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = self._make_old(parent)
    before = read_tree(path)
    with self.assertRaisesRegex(RuntimeError, "export failed"):
      with _files.directory_atomically(path) as staging:
        os.makedirs(staging)
        with open(os.path.join(staging, "half.txt"), "w") as f:
          f.write("half")
        raise RuntimeError("export failed")
    self.assertEqual(read_tree(path), before)
    self.assertEqual(os.listdir(parent), ["model"])  # No staging left.

  def test_exception_without_an_old_directory_creates_nothing(self):
    parent = tempfile.mkdtemp(dir=self.get_temp_dir())
    path = os.path.join(parent, "model")
    with self.assertRaises(KeyboardInterrupt):
      with _files.directory_atomically(path) as staging:
        os.makedirs(staging)
        raise KeyboardInterrupt()
    self.assertEqual(os.listdir(parent), [])


if __name__ == "__main__":
  testing_utils.main()
