"""docs/api.md is current, and every public name has a docstring."""
import testing_utils  # First: Keras 2 before TensorFlow.

import inspect
import subprocess
import sys
import types

import tensorflow_gnn_dink as dink


class ApiDocsTest(testing_utils.TestCase):

  def test_api_reference_is_current(self):
    proc = subprocess.run(
        [sys.executable, "tools/gen_api_docs.py", "--check"],
        cwd=str(testing_utils.ROOT), capture_output=True, text=True,
        timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr[-2000:])

  def test_every_public_name_is_documented(self):
    undocumented = [
        name for name, value in vars(dink).items()
        if not name.startswith("_") and not isinstance(value,
                                                       types.ModuleType)
        and callable(value) and not inspect.getdoc(value)]
    self.assertEmpty(undocumented)
    text = (testing_utils.ROOT / "docs" / "api.md").read_text()
    for name in ("DinkClusterHead", "DeepGraphInfomaxTask",
                 "DinkClusteringTask", "DinkModelExporter"):
      self.assertIn(f"#### `dink.{name}`", text)
    self.assertIn("#### `pipeline.run`", text)


if __name__ == "__main__":
  testing_utils.main()
