"""`runner.DatasetProvider`s for graphs held in memory."""
from __future__ import annotations

import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner


class FullGraphDatasetProvider(runner.DatasetProvider):
  """Provides one in-memory GraphTensor, repeated, as the training data.

  For full-graph training: every step of every replica sees the whole graph
  (one component), so the runner's batch size is the number of replicas.
  The GraphTensor is built once; nothing is recomputed per epoch.
  """

  def __init__(self, graph: tfgnn.GraphTensor):
    if graph.rank != 0:
      raise ValueError(f"Expected a scalar GraphTensor, got rank {graph.rank}.")
    self._graph = graph

  def get_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
    del context  # Every replica trains on the whole graph.
    return tf.data.Dataset.from_tensors(self._graph).repeat()
