"""Plain Keras `model.fit` with runner tasks, without `tensorflow_gnn.runner.run`.

`make_training_model` composes a base GNN with one or more tasks into one
Keras model whose input is a scalar GraphTensor; `compile_kwargs` and
`add_labels` give what `model.compile` and `model.fit` need:

    model = make_training_model(graph.spec, gnn, tasks)
    model.compile(tf.keras.optimizers.Adam(1e-3), **compile_kwargs(tasks))
    model.fit(dataset.map(add_labels(tasks)), ...)

Unlike the runner, each task's `preprocess` (e.g. DGI's corruption) runs
inside the model, on the accelerator, at every step.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner


def make_training_model(graph_spec: tfgnn.GraphTensorSpec,
                        gnn: tf.keras.Model,
                        tasks: Mapping[str, runner.Task]) -> tf.keras.Model:
  """Returns a model: GraphTensor -> `{task name: task predictions}`.

  Graphs returned by several tasks' `preprocess` (by object identity, e.g. an
  unchanged input) run through `gnn` once and are shared, as in the runner.
  """
  inputs = tf.keras.Input(type_spec=graph_spec)
  encoded = {}

  def encode(graph):
    key = id(graph)
    if key not in encoded:
      encoded[key] = gnn(graph)
    return encoded[key]

  outputs = {}
  for name, task in tasks.items():
    graphs, _ = task.preprocess(inputs)
    outputs[name] = task.predict(*[encode(g) for g in tf.nest.flatten(graphs)])
  return tf.keras.Model(inputs, outputs)


def compile_kwargs(tasks: Mapping[str, runner.Task]) -> dict[str, Any]:
  """Returns `loss=` and `metrics=` for `model.compile`, per task."""
  return {"loss": {k: t.losses() for k, t in tasks.items()},
          "metrics": {k: t.metrics() for k, t in tasks.items()}}


def add_labels(
    tasks: Mapping[str, runner.Task]
) -> Callable[[tfgnn.GraphTensor], tuple[tfgnn.GraphTensor, Any]]:
  """Returns a `Dataset.map` fn: graph -> (graph, {task name: labels})."""

  def fn(graph):
    return graph, {k: t.preprocess(graph)[1] for k, t in tasks.items()}

  return fn
