"""`import tensorflow_gnn_dink` arranges Keras 2 or explains how to fix it."""
import testing_utils  # First: Keras 2 before TensorFlow.

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-c", code],
                        env=testing_utils.run_subprocess_env(),
                        cwd=str(testing_utils.ROOT), capture_output=True,
                        text=True, timeout=300)


class KerasSetupTest(testing_utils.TestCase):

  def test_import_first_arranges_legacy_keras(self):
    proc = _run("import tensorflow_gnn_dink, tensorflow as tf, "
                "tensorflow_gnn as tfgnn; print(tf.keras.__name__)")
    self.assertEqual(proc.returncode, 0, proc.stderr)
    self.assertIn("tf_keras", proc.stdout)

  def test_import_after_keras3_tensorflow_explains_the_fix(self):
    keras3 = _run("import keras; print(keras.__version__)")
    self.assertEqual(keras3.returncode, 0, keras3.stderr)
    self.assertTrue(keras3.stdout.startswith("3"),
                    "Keras 3 is expected beside TensorFlow 2.21 (it is a TF "
                    f"dependency): {keras3.stdout}")
    proc = _run("import tensorflow as tf; tf.keras.layers; "
                "import tensorflow_gnn_dink")
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn("ImportError", proc.stderr)
    self.assertIn("TF_USE_LEGACY_KERAS=1", proc.stderr)

  def test_library_does_not_import_the_recipe(self):
    proc = _run("import sys, tensorflow_gnn_dink as dink; "
                "print(sorted(m for m in sys.modules "
                "if m.startswith('tensorflow_gnn_dink.recipe')))")
    self.assertEqual(proc.returncode, 0, proc.stderr)
    self.assertEqual(proc.stdout.strip(), "[]")


if __name__ == "__main__":
  testing_utils.main()
