"""TF-GNN's `KerasTrainer`, with the training step compiled by XLA.

`runner.run` compiles the model itself and takes no `jit_compile`; this
trainer sets it on the model that `runner.run`'s `model_fn` returns, before
`model.fit`, so that every training step (forward, losses, gradients and the
optimizer update) is one XLA program: what a TPU runs, and on CPU or GPU a
check that the model has the static shapes a TPU needs (with the runner's
`train_padding`).

    trainer = KerasTrainer(strategy, model_dir=..., jit_compile=True)
    runner.run(..., trainer=trainer, train_padding=runner.FitOrSkipPadding(
        gtspec, train_ds_provider))
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
from tensorflow_gnn import runner


class KerasTrainer(runner.KerasTrainer):
  """`runner.KerasTrainer`, plus `jit_compile` for the training step.

  Takes every argument of TF-GNN's `runner.KerasTrainer`, and `jit_compile`:
  whether `model.fit` runs each step as one XLA program (Keras'
  `Model.jit_compile`; a no-op where TensorFlow has no XLA, with Keras'
  warning). On TPU, steps are compiled by XLA anyway.
  """

  def __init__(self, *args: Any, jit_compile: bool = False, **kwargs: Any):
    super().__init__(*args, **kwargs)
    self._jit_compile = bool(jit_compile)

  @property
  def jit_compile(self) -> bool:
    return self._jit_compile

  def train(self, model_fn: Callable[[], tf.keras.Model], *args: Any,
            **kwargs: Any) -> tf.keras.Model:
    if not self._jit_compile:
      return super().train(model_fn, *args, **kwargs)

    def jit_model_fn() -> tf.keras.Model:
      model = model_fn()
      model.jit_compile = True
      return model

    return super().train(jit_model_fn, *args, **kwargs)
