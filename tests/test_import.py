"""`import tensorflow_gnn_dink` arranges Keras 2 or explains how to fix it."""
import os
import subprocess
import sys

import pytest

_ENV = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code):
  return subprocess.run([sys.executable, "-c", code], env=_ENV, cwd=_ROOT,
                        capture_output=True, text=True, timeout=300)


def test_import_first_arranges_legacy_keras():
  proc = _run("import tensorflow_gnn_dink, tensorflow as tf, "
              "tensorflow_gnn as tfgnn; print(tf.keras.__name__)")
  assert proc.returncode == 0, proc.stderr
  assert "tf_keras" in proc.stdout


def test_import_after_keras3_tensorflow_explains_the_fix():
  keras3 = _run("import keras; print(keras.__version__)")
  if keras3.returncode != 0 or not keras3.stdout.startswith("3"):
    pytest.fail("Keras 3 is expected beside TensorFlow 2.21 (it is a TF "
                f"dependency): {keras3.stdout} {keras3.stderr}")
  proc = _run("import tensorflow as tf; tf.keras.layers; "
              "import tensorflow_gnn_dink")
  assert proc.returncode != 0
  assert "ImportError" in proc.stderr
  assert "TF_USE_LEGACY_KERAS=1" in proc.stderr
