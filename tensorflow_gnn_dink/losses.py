"""Pure tensor functions of Dink-Net's losses.

Each loss is a stateless function of `[B, d]` embeddings `z` and `[K, d]`
cluster centres, with its formula in the docstring, so that it can be checked
against numpy directly. Keras layers and runner tasks are thin glue on top.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from tensorflow_gnn_dink import geometry


def dilation_loss(cluster_centers: tf.Tensor) -> tf.Tensor:
  """Dink-Net's cluster dilation loss (a scalar; lower = centres further apart).

  `-1 / (K (K - 1)) * sum_{i != j} |C_i - C_j|^2`: the negated mean squared
  distance over the off-diagonal pairs of the `[K, d]` centres.

  Args:
    cluster_centers: A `[K, d]` float tensor with `K >= 2`.
  """
  k = tf.shape(cluster_centers)[0]
  distances = geometry.squared_distances(cluster_centers, cluster_centers)
  off_diagonal = 1.0 - tf.eye(k, dtype=distances.dtype)
  num_pairs = tf.cast(k * (k - 1), distances.dtype)
  return -tf.reduce_sum(distances * off_diagonal) / num_pairs


def shrink_loss_per_example(z: tf.Tensor,
                            cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[B]`: each embedding's mean squared distance to all K centres.

  `shrink_i = 1/K sum_j |Z_i - C_j|^2`, Dink-Net's shrink before the mean
  over the batch, computed as `|Z_i|^2 - 2 Z_i.mean_j(C_j) + mean_j |C_j|^2`
  (a matrix-vector product, no `[B, K]` distances), clamped at 0.
  """
  mean_center = tf.reduce_mean(cluster_centers, axis=0)
  mean_cc = tf.reduce_mean(tf.reduce_sum(tf.square(cluster_centers), axis=-1))
  zz = tf.reduce_sum(tf.square(z), axis=-1)
  z_c = tf.linalg.matvec(z, mean_center)
  return tf.maximum(zz - 2.0 * z_c + mean_cc, 0.0)


def assigned_shrink_loss_per_example(z: tf.Tensor,
                                     cluster_centers: tf.Tensor,
                                     temperature: float = 0.1) -> tf.Tensor:
  """Returns `[B]`: `sum_j p_ij |Z_i - C_j|^2`, a soft k-means shrink.

  `p_i = softmax(-|Z_i - C_j|^2 / temperature)` is held fixed (no gradient),
  so each embedding is pulled to its own cluster's centre and each centre to
  its own members -- unlike `shrink_loss`, which pulls every embedding to the
  mean of all centres.
  """
  distances = geometry.squared_distances(z, cluster_centers)
  weights = tf.stop_gradient(tf.nn.softmax(-distances / temperature, axis=-1))
  return tf.reduce_sum(weights * distances, axis=-1)


def weighted_mean(values: tf.Tensor,
                  sample_weight: Optional[tf.Tensor] = None) -> tf.Tensor:
  """`sum_i w_i v_i / sum_i w_i` of `[B]` values (the plain mean if no weights).

  An empty batch, or all-zero weights (a batch of padding only), gives 0,
  not NaN.
  """
  if sample_weight is None:
    return tf.math.divide_no_nan(tf.reduce_sum(values),
                                 tf.cast(tf.size(values), values.dtype))
  sample_weight = tf.cast(tf.reshape(sample_weight, [-1]), values.dtype)
  return tf.math.divide_no_nan(tf.reduce_sum(values * sample_weight),
                               tf.reduce_sum(sample_weight))


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
  return weighted_mean(shrink_loss_per_example(z, cluster_centers),
                       sample_weight)
