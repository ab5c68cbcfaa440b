"""Label-free Keras metrics for watching a clustering train.

Both metrics accumulate (weighted) cluster sizes from soft assignments
`y_pred` of shape `[batch, n_clusters]`, each row counted for its arg-max
cluster, and ignore `y_true`. They aggregate correctly across replicas under
`tf.distribute` (the counts are summed).
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

_PACKAGE = "tensorflow_gnn_dink"


class _ClusterSizes(tf.keras.metrics.Metric):
  """Base class: accumulates the number of rows assigned to each cluster."""

  def __init__(self, n_clusters: int, name: str, **kwargs):
    super().__init__(name=name, **kwargs)
    self.n_clusters = int(n_clusters)
    self.cluster_sizes = self.add_weight(
        name="cluster_sizes", shape=(self.n_clusters,), initializer="zeros")

  def update_state(self, y_true: tf.Tensor, y_pred: tf.Tensor,
                   sample_weight: Optional[tf.Tensor] = None) -> None:
    del y_true  # Label-free.
    one_hot = tf.one_hot(tf.argmax(y_pred, axis=-1), self.n_clusters,
                         dtype=self.dtype)
    if sample_weight is not None:
      one_hot *= tf.cast(tf.reshape(sample_weight, [-1, 1]), self.dtype)
    self.cluster_sizes.assign_add(tf.reduce_sum(one_hot, axis=0))

  def reset_state(self) -> None:
    self.cluster_sizes.assign(tf.zeros_like(self.cluster_sizes))

  def get_config(self):
    return dict(n_clusters=self.n_clusters, **super().get_config())


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class NonEmptyClusters(_ClusterSizes):
  """The number of clusters that received at least one row.

  A value far below `n_clusters` signals collapse.
  """

  def __init__(self, n_clusters: int, name: str = "non_empty_clusters",
               **kwargs):
    super().__init__(n_clusters, name=name, **kwargs)

  def result(self) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(self.cluster_sizes > 0, self.dtype))


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class ClusterSizeEntropy(_ClusterSizes):
  """Entropy of the cluster-size distribution divided by `log(n_clusters)`.

  1.0 means perfectly balanced clusters, 0.0 means all rows in one cluster.
  """

  def __init__(self, n_clusters: int, name: str = "cluster_size_entropy",
               **kwargs):
    super().__init__(n_clusters, name=name, **kwargs)

  def result(self) -> tf.Tensor:
    p = tf.math.divide_no_nan(self.cluster_sizes,
                              tf.reduce_sum(self.cluster_sizes))
    entropy = -tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p))
    return entropy / tf.math.log(tf.cast(self.n_clusters, self.dtype))
