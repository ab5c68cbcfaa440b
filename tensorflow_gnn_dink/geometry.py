"""Pure tensor functions of cluster geometry: distances and assignments.

Every function is stateless and written for `[n, d]` embeddings and `[K, d]`
cluster centres, so that it can be checked against numpy directly.
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


def soft_assignments(z: tf.Tensor, cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[n, K]` row-stochastic `softmax(-|z_i - c_j|)` (never NaN)."""
  distances = safe_sqrt(squared_distances(z, cluster_centers))
  return tf.nn.softmax(-distances, axis=-1)


def hard_assignments(z: tf.Tensor, cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[n]` int64 indices of each embedding's nearest centre.

  The argmin of `|c_j|^2 - 2 z_i.c_j` (`|z_i|^2` is the same for every
  centre): one matmul, no pass over `|z|^2`.
  """
  return assignments(z, cluster_centers, soft=False)[0]


def assignments(z: tf.Tensor, cluster_centers: tf.Tensor, *,
                soft: bool = True) -> tuple[tf.Tensor, Optional[tf.Tensor]]:
  """`(hard_assignments, soft_assignments)` from one matmul `z C^T`.

  The hard ids are exactly `hard_assignments` (the same expression), so
  every caller assigns near-ties alike; with `soft=False` the second item
  is None.
  """
  cc = tf.reduce_sum(tf.square(cluster_centers), axis=-1)
  shifted = cc - 2.0 * tf.matmul(z, cluster_centers, transpose_b=True)
  hard = tf.argmin(shifted, axis=-1)
  if not soft:
    return hard, None
  zz = tf.reduce_sum(tf.square(z), axis=-1, keepdims=True)
  distances = tf.maximum(zz + shifted, 0.0)
  return hard, tf.nn.softmax(-safe_sqrt(distances), axis=-1)
