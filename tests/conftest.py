"""Test set-up: Keras 2 and two logical CPUs, before TensorFlow initialises."""
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tensorflow_gnn_dink  # noqa: E402,F401  (arranges Keras 2 first)
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
  tf.keras.backend.clear_session()
  yield
