"""What a run shows while it works: stage times and training progress."""
import testing_utils  # First: Keras 2 before TensorFlow.

import io
import re
import time

import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink.recipe import progress


class TimingsTest(testing_utils.TestCase):

  def test_measure_accumulates_and_total_covers_all(self):
    timings = progress.Timings()
    for _ in range(2):
      with timings.measure("a"):
        time.sleep(0.01)
    with self.assertRaises(KeyError):
      with timings.measure("b"):
        raise KeyError("a failing stage is still timed")
    seconds = timings.with_total()
    self.assertEqual(set(seconds), {"a", "b", "total"})
    self.assertGreaterEqual(seconds["a"], 0.02)
    self.assertGreaterEqual(seconds["total"], seconds["a"] + seconds["b"])

  def test_logs_each_completed_stage_as_it_ends(self):
    lines = []
    timings = progress.Timings(lines.append)
    with timings.measure("pretrain"):
      pass
    with timings.measure("prepare", log=False):
      pass
    with self.assertRaises(ValueError):
      with timings.measure("finetune"):
        raise ValueError()
    self.assertLen(lines, 1)
    self.assertRegex(lines[0], r"^\[dink\] pretrain: \d+\.\ds$")


class _Stream(io.StringIO):

  def __init__(self, tty: bool):
    super().__init__()
    self._tty = tty

  def isatty(self) -> bool:
    return self._tty


def _fit(callback, steps=40, epochs=2):
  model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
  model.compile("sgd", "mse")
  x = np.ones((steps * 2, 3), np.float32)
  model.fit(x, x[:, :1], batch_size=2, epochs=epochs,
            steps_per_epoch=steps // epochs, verbose=0, callbacks=[callback])


class TrainingProgressTest(testing_utils.TestCase):

  def test_into_a_file_a_line_per_tenth_and_a_last_one(self):
    stream = _Stream(tty=False)
    _fit(progress.TrainingProgress("pretrain", 40, stream=stream))
    lines = stream.getvalue().splitlines()
    self.assertLen(lines, 10)  # 4/40, ..., 36/40, and 40/40.
    self.assertNotIn("\r", stream.getvalue())
    self.assertRegex(lines[0], r"^\[dink\] pretrain \[==\.+\] 4/40 steps, "
                     r"[\d.]+ steps/s, (\d+s left|time left unknown), "
                     r"loss [\d.]+$")
    self.assertRegex(lines[-1], r"\[={20}\] 40/40 steps, [\d.]+ steps/s, "
                     r"\d+s, loss")

  def test_on_a_terminal_redraws_one_line(self):
    stream = _Stream(tty=True)
    _fit(progress.TrainingProgress("finetune", 20, stream=stream,
                                   min_interval_s=0.0), steps=20)
    text = stream.getvalue()
    self.assertEqual(text.count("\n"), 1)  # Only after the last redraw.
    self.assertEqual(text.count("\r"), 21)  # Each step, and the end.
    self.assertTrue(text.endswith("\n"))
    last = text.split("\r")[-1]
    self.assertIn("20/20 steps", last)

  def test_a_resumed_stage_counts_from_where_it_was(self):
    stream = _Stream(tty=False)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((40, 3), np.float32)
    model.fit(x, x[:, :1], batch_size=2, epochs=1, steps_per_epoch=10,
              verbose=0)  # The first half, as before an interruption.
    model.fit(x, x[:, :1], batch_size=2, epochs=1, steps_per_epoch=10,
              verbose=0,
              callbacks=[progress.TrainingProgress("pretrain", 20,
                                                   stream=stream)])
    steps = [int(m) for m in re.findall(r"(\d+)/20 steps",
                                        stream.getvalue())]
    self.assertEqual(steps[0], 12)
    self.assertEqual(steps[-1], 20)


if __name__ == "__main__":
  testing_utils.main()
