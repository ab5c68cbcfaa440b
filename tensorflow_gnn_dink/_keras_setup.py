"""Arranges Keras 2 (tf-keras) for TF-GNN before TensorFlow is first imported.

TF-GNN 1.0.3 works only with Keras 2. TensorFlow picks its Keras flavour once,
when it is first imported, from the environment variable `TF_USE_LEGACY_KERAS`.
This module must therefore run before anything imports `tensorflow`; the
package `__init__` imports it first.
"""
import os
import sys

_FIX = (
    "Set the environment variable TF_USE_LEGACY_KERAS=1 before TensorFlow is "
    "imported (e.g. `export TF_USE_LEGACY_KERAS=1`, or import "
    "tensorflow_gnn_dink before tensorflow), and install tf-keras matching "
    "your TensorFlow version (`pip install tf-keras==<tensorflow version>`)."
)


def ensure_legacy_keras() -> None:
  """Makes `tf.keras` resolve to Keras 2, or explains why it cannot.

  Raises:
    ImportError: if TensorFlow was already imported with Keras 3 as
      `tf.keras`.
  """
  if "tensorflow" not in sys.modules:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  keras_module = tf.keras.__name__  # "tf_keras..." when Keras 2 is in use.
  if not keras_module.startswith("tf_keras"):
    raise ImportError(
        "tensorflow_gnn_dink needs Keras 2 (tf-keras) but TensorFlow was "
        f"already imported with tf.keras = {keras_module} (Keras 3). " + _FIX)
