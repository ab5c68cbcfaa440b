"""Pure tensor functions of Dink-Net's cluster geometry.

Every function here is stateless and written for `[batch, features]`
embeddings `z` and `[n_clusters, features]` cluster centres `c`, so that it can
be checked against numpy directly. Keras layers and runner tasks are thin glue
on top of these functions.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf


def squared_distances(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """Returns the `[n, m]` squared Euclidean distances between rows of x and y.

  Computed as `|x|^2 + |y|^2 - 2 x.y` (one matmul, no `[n, m, d]` tensor) and
  clamped at 0, so rounding never yields a negative value.

  Args:
    x: A `[n, d]` float tensor.
    y: A `[m, d]` float tensor of the same dtype.
  """
  xx = tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)
  yy = tf.reduce_sum(tf.square(y), axis=-1, keepdims=True)
  xy = tf.matmul(x, y, transpose_b=True)
  return tf.maximum(xx + tf.transpose(yy) - 2.0 * xy, 0.0)


def safe_sqrt(x: tf.Tensor) -> tf.Tensor:
  """`sqrt(max(x, 0))` whose gradient is 0 (not inf or NaN) where x <= 0."""
  positive = x > 0.0
  return tf.where(positive, tf.sqrt(tf.where(positive, x, tf.ones_like(x))),
                  tf.zeros_like(x))


def dilation_loss(cluster_centers: tf.Tensor) -> tf.Tensor:
  """Dink-Net's cluster dilation loss (a scalar; lower = centres further apart).

  `-1 / (K (K - 1)) * sum_{i != j} |C_i - C_j|^2`: the negated mean squared
  distance over the off-diagonal pairs of the `[K, d]` centres.

  Args:
    cluster_centers: A `[K, d]` float tensor with `K >= 2`.
  """
  k = tf.shape(cluster_centers)[0]
  distances = squared_distances(cluster_centers, cluster_centers)
  off_diagonal = 1.0 - tf.eye(k, dtype=distances.dtype)
  num_pairs = tf.cast(k * (k - 1), distances.dtype)
  return -tf.reduce_sum(distances * off_diagonal) / num_pairs


def shrink_loss_per_example(z: tf.Tensor,
                            cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[B]`: each embedding's mean squared distance to all K centres."""
  return tf.reduce_mean(squared_distances(z, cluster_centers), axis=-1)


def assigned_shrink_loss_per_example(z: tf.Tensor,
                                     cluster_centers: tf.Tensor,
                                     temperature: float = 0.1) -> tf.Tensor:
  """Returns `[B]`: `sum_j p_ij |Z_i - C_j|^2`, a soft k-means shrink.

  `p_i = softmax(-|Z_i - C_j|^2 / temperature)` is held fixed (no gradient),
  so each embedding is pulled to its own cluster's centre and each centre to
  its own members -- unlike `shrink_loss`, which pulls every embedding to the
  mean of all centres.
  """
  distances = squared_distances(z, cluster_centers)
  weights = tf.stop_gradient(tf.nn.softmax(-distances / temperature, axis=-1))
  return tf.reduce_sum(weights * distances, axis=-1)


def shrink_loss(z: tf.Tensor,
                cluster_centers: tf.Tensor,
                sample_weight: Optional[tf.Tensor] = None) -> tf.Tensor:
  """Dink-Net's cluster shrink loss: `1/(B K) sum_i sum_j |Z_i - C_j|^2`.

  Args:
    z: `[B, d]` embeddings.
    cluster_centers: `[K, d]` centres.
    sample_weight: Optional `[B]` non-negative row weights (e.g. the padding
      mask of the runner). The loss is then the weighted mean over rows; it is
      0 when all weights are 0.

  Returns:
    A scalar.
  """
  per_example = shrink_loss_per_example(z, cluster_centers)
  if sample_weight is None:
    return tf.reduce_mean(per_example)
  sample_weight = tf.cast(tf.reshape(sample_weight, [-1]), per_example.dtype)
  return tf.math.divide_no_nan(
      tf.reduce_sum(per_example * sample_weight), tf.reduce_sum(sample_weight))


def soft_assignments(z: tf.Tensor, cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[B, K]` row-stochastic `softmax(-|Z_i - C_j|)` (never NaN)."""
  distances = safe_sqrt(squared_distances(z, cluster_centers))
  return tf.nn.softmax(-distances, axis=-1)


def hard_assignments(z: tf.Tensor, cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[B]` int64 indices of each embedding's nearest centre."""
  return tf.argmin(squared_distances(z, cluster_centers), axis=-1)
