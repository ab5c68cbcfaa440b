"""What a run shows while it works: stage times and training progress.

  * `Timings`: wall time per stage, logged as each stage ends;
  * `TrainingProgress`: a Keras callback showing steps done, the rate, the
    time left and the loss of a training stage. On a terminal it redraws
    one line; into a file or a pipe it writes a line every tenth of the
    stage (and flushes), so that a log shows progress as it happens.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import contextlib
import sys
import time
from typing import IO, Any, Optional

import tensorflow as tf

from tensorflow_gnn_dink.recipe import interrupts


class Timings:
  """Wall time per stage: `with timings.measure("pretrain"): ...`."""

  def __init__(self, log: Optional[Callable[[str], None]] = None):
    self._start = time.perf_counter()
    self._log = log
    self.seconds: dict[str, float] = {}

  @contextlib.contextmanager
  def measure(self, stage: str, *, log: bool = True) -> Iterator[None]:
    """Times the block; logs its time if it completes (and `log`)."""
    start = time.perf_counter()
    try:
      yield
    finally:
      took = time.perf_counter() - start
      self.seconds[stage] = self.seconds.get(stage, 0.0) + took
    interrupts.check()  # A Ctrl-C swallowed inside the stage stops here.
    if log and self._log is not None:  # Only when the stage completed.
      self._log(f"[dink] {stage}: {took:.1f}s")

  def with_total(self) -> dict[str, float]:
    return {**self.seconds, "total": time.perf_counter() - self._start}


_MEANINGFUL = {  # Keras log key suffix: the name shown.
    "discrimination_logits_binary_accuracy": "discrimination_accuracy",
    "non_empty_clusters": "non_empty_clusters",
    "cluster_size_entropy": "cluster_size_entropy",
}


def meaningful_metrics(logs: Optional[Mapping[str, Any]]) -> dict[str, Any]:
  """The loss and the training metrics worth showing, by short name.

  Left out: the losses of outputs without a loss (always 0) and the DGI
  summary logits' metrics (their loss weight is 0 in Dink-Net).
  """
  logs = logs or {}
  shown = {"loss": logs["loss"]} if "loss" in logs else {}
  for key, value in logs.items():
    for suffix, name in _MEANINGFUL.items():
      if key.endswith(suffix):
        shown[name] = value
  return shown


class StepCounter:
  """The optimizer's step after each batch, read from the model only once.

  Reading `optimizer.iterations` every step would make the host wait for
  every step; a resumed stage (the runner's `BackupAndRestore` restores the
  optimizer after the callbacks' `on_train_begin`) starts where it was.
  """

  def __init__(self):
    self.step: Optional[int] = None

  def after_batch(self, model: Optional[tf.keras.Model]) -> int:
    if self.step is None:
      self.step = int(model.optimizer.iterations.numpy()) if model else 1
    else:
      self.step += 1
    return self.step


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m{seconds % 60:02d}s"
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TrainingProgress(tf.keras.callbacks.Callback):
  """Steps done of `total_steps`, steps per second, time left and the loss.

  Works with `model.fit` and the TF-GNN runner's `KerasTrainer` (use it with
  `verbose=0` there). Reads the loss only when it writes a line, so that it
  does not wait for every step.
  """

  def __init__(self, stage: str, total_steps: int, *,
               stream: Optional[IO[str]] = None,
               min_interval_s: float = 0.5):
    super().__init__()
    self._supports_tf_logs = True  # Keep logs as tensors; read them rarely.
    self._stage = stage
    self._total = total_steps
    self._stream = stream
    self._min_interval_s = min_interval_s
    self._counter = StepCounter()
    self._step = 0
    self._start = 0.0
    self._timed_from: Optional[tuple[int, float]] = None  # After tracing.
    self._shown = -1.0
    self._next_tenth = 1  # Into a file: a line per tenth of the stage.

  @property
  def _out(self) -> IO[str]:
    return self._stream or sys.stdout

  def _interactive(self) -> bool:
    isatty = getattr(self._out, "isatty", None)
    return bool(isatty and isatty())

  def on_train_begin(self, logs=None) -> None:
    self._start = time.perf_counter()

  def on_train_batch_end(self, batch: int, logs=None) -> None:
    # A resumed stage starts after its last completed epoch.
    self._step = self._counter.after_batch(self.model)
    now = time.perf_counter()
    if self._timed_from is None:  # The rate leaves out the first step's
      self._timed_from = (self._step, now)  # tracing and compilation.
      self._next_tenth = 10 * (self._step - 1) // max(self._total, 1) + 1
    if self._interactive():
      if now - self._shown >= self._min_interval_s:
        self._write(logs, "\r", end="")
        self._shown = now
    elif 10 * self._step >= self._next_tenth * self._total:
      self._next_tenth = 10 * self._step // max(self._total, 1) + 1
      if self._step < self._total:
        self._write(logs, "", end="\n")

  def on_train_end(self, logs=None) -> None:
    self._write(logs, "\r" if self._interactive() else "", end="\n")

  def _write(self, logs, prefix: str, end: str) -> None:
    now = time.perf_counter()
    elapsed = now - self._start
    rate = 0.0
    if self._timed_from is not None and now > self._timed_from[1]:
      rate = (self._step - self._timed_from[0]) / (now - self._timed_from[1])
    width = 20
    filled = int(width * min(self._step, self._total) / max(self._total, 1))
    line = (f"{prefix}[dink] {self._stage} [{'=' * filled}"
            f"{'.' * (width - filled)}] {self._step}/{self._total} steps, "
            f"{rate:.1f} steps/s, ")
    if self._step >= self._total:
      line += f"{_duration(elapsed)}"
    elif rate > 0:
      line += f"{_duration((self._total - self._step) / rate)} left"
    else:
      line += "time left unknown"
    for name, value in meaningful_metrics(logs).items():
      line += f", {name.replace('_', ' ')} {float(value):.4g}"
    self._out.write(line + ("\x1b[K" if prefix else "") + end)
    self._out.flush()
