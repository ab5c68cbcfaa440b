"""Pure tensor functions of Dink-Net's losses.

Each loss is a stateless function of `[B, d]` embeddings `z` and `[K, d]`
cluster centres, with its formula in the docstring, so that it can be checked
against numpy directly. Keras layers and runner tasks are thin glue on top.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import sparse


def _centre_spread(cluster_centers: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """`(mean centre, sum_j |C_j - mean|^2)` of the `[K, d]` centres."""
  mean = tf.reduce_mean(cluster_centers, axis=0)
  return mean, tf.reduce_sum(tf.square(cluster_centers - mean))


def dilation_loss(cluster_centers: tf.Tensor) -> tf.Tensor:
  """Dink-Net's cluster dilation loss (a scalar; lower = centres further apart).

  `-1 / (K (K - 1)) * sum_{i != j} |C_i - C_j|^2`: the negated mean squared
  distance over the off-diagonal pairs of the `[K, d]` centres, computed as
  the equal `-2 / (K - 1) * sum_j |C_j - mean(C)|^2`: `O(K d)`, a sum of
  squares (no cancellation, never NaN for finite centres; -inf only where
  the value is beyond the dtype's range).

  Args:
    cluster_centers: A `[K, d]` float tensor with `K >= 2` (K = 1 gives 0).
  """
  cluster_centers = tf.convert_to_tensor(cluster_centers)
  _, spread = _centre_spread(cluster_centers)
  k = tf.cast(tf.shape(cluster_centers)[0], spread.dtype)
  return -2.0 * tf.math.divide_no_nan(spread, k - 1.0)


def shrink_loss_per_example(z: tf.Tensor,
                            cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[B]`: each embedding's mean squared distance to all K centres.

  `shrink_i = 1/K sum_j |Z_i - C_j|^2`, Dink-Net's shrink before the mean
  over the batch, computed as the equal `|Z_i - mean(C)|^2 + 1/K sum_j
  |C_j - mean(C)|^2`: `O((B + K) d)`, no `[B, K]` distances, and a sum of
  squares (no cancellation, never negative or NaN for finite inputs; +inf
  only where the value is beyond the dtype's range, with finite gradients).
  """
  z = tf.convert_to_tensor(z)
  cluster_centers = tf.convert_to_tensor(cluster_centers, z.dtype)
  mean, spread = _centre_spread(cluster_centers)
  k = tf.cast(tf.shape(cluster_centers)[0], z.dtype)
  return (tf.reduce_sum(tf.square(z - mean), axis=-1) +
          tf.math.divide_no_nan(spread, k))


def assigned_shrink_loss_per_example(z: tf.Tensor,
                                     cluster_centers: tf.Tensor,
                                     temperature: float = 0.1) -> tf.Tensor:
  """Returns `[B]`: `sum_j p_ij |Z_i - C_j|^2`, a soft k-means shrink.

  `p_i = softmax(-|Z_i - C_j|^2 / temperature)` is held fixed (no gradient),
  so each embedding is pulled to its own cluster's centre and each centre to
  its own members -- unlike `shrink_loss`, which pulls every embedding to the
  mean of all centres. `p` is computed from distances relative to each row's
  nearest centre, so it is never NaN, even where the distances overflow.
  """
  z = tf.convert_to_tensor(z)
  cluster_centers = tf.convert_to_tensor(cluster_centers, z.dtype)
  distances, scaled, s = geometry.scaled_squared_distances(z,
                                                          cluster_centers)
  nearest = tf.reduce_min(scaled, axis=-1, keepdims=True)
  weights = tf.stop_gradient(tf.nn.softmax(
      (nearest - scaled) * s * s / temperature, axis=-1))
  # 0 (not NaN) where a weight is 0 and its distance overflows.
  return tf.reduce_sum(tf.math.multiply_no_nan(distances, weights), axis=-1)


def weighted_mean(values: tf.Tensor,
                  sample_weight: Optional[tf.Tensor] = None) -> tf.Tensor:
  """`sum_i w_i v_i / sum_i w_i` of `[B]` values (the plain mean if no weights).

  An empty batch, or all-zero weights (a batch of padding only), gives 0,
  not NaN. A scalar weight weights every row alike (the plain mean).
  """
  if sample_weight is None:
    return tf.math.divide_no_nan(tf.reduce_sum(values),
                                 tf.cast(tf.size(values), values.dtype))
  sample_weight = tf.cast(sample_weight, values.dtype)
  if sample_weight.shape.rank == 0:
    sample_weight = tf.broadcast_to(sample_weight, tf.shape(values))
  sample_weight = tf.reshape(sample_weight, [-1])
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


def check_similarity_arguments(num_pairs: int, temperature: float) -> None:
  """ValueError unless `num_pairs` is an int > 0 and `temperature` > 0."""
  if not (isinstance(num_pairs, int) and not isinstance(num_pairs, bool) and
          num_pairs > 0):
    raise ValueError(f"num_pairs must be a positive int, got {num_pairs!r}.")
  if not (isinstance(temperature, (int, float)) and temperature > 0):
    raise ValueError(f"temperature must be > 0, got {temperature!r}.")


def node_similarity_terms(states: tf.Tensor,
                          source: tf.Tensor,
                          target: tf.Tensor,
                          *,
                          num_pairs: int = 4096,
                          threshold: float = 0.6,
                          temperature: float = 0.1,
                          real: Optional[tf.Tensor] = None,
                          view: Optional[int] = None,
                          second_states: Optional[tf.Tensor] = None,
                          second_view: Optional[int] = None,
                          seed: Optional[int] = None
                          ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """NS4GC's alignment, neighbour and sparsity terms, on sampled pairs.

  With `z_i` node `i`'s state scaled to unit length, `z'_j` the same of
  `second_states` or of the stacked view `second_view` (a second view of
  the same nodes; default: `states` itself) and `s_ij = z_i . z'_j` (a
  cosine similarity), returns the scalars

    * alignment `= -mean s_ii` over the `num_pairs` nodes `i` drawn for
      the sparsity term: the two views of a node made alike (0 without
      a second view);
    * neighbour `= -mean s_st` over `num_pairs` edges `(s, t)` of `source`,
      `target` drawn uniformly with replacement: neighbours made alike;
    * sparsity `= mean sigmoid((s_ij - threshold) / temperature)` over
      `num_pairs` node pairs `i != j` drawn uniformly with replacement:
      other pairs made dissimilar, with no push below the threshold.

  These are the losses of NS4GC (Liu et al., "Reliable Node Similarity
  Matrix Guided Contrastive Graph Clustering", TKDE 2024), estimated from
  `O(num_pairs * dim)` work on the drawn rows only (NS4GC builds the full
  `[N, N]` matrix), so that they scale to any graph; a random pair is a
  neighbour with probability about `degree / N`, which the estimate does
  not exclude. Draws are uniform over `[0, num_nodes)` and `[0, num_edges)`
  (static shapes, valid under XLA); with `real` (`[num_nodes]` bool), pairs
  and edges with a padding node get weight 0. A term is 0 when nothing can
  be drawn (no edges; fewer than two real nodes).

  Args:
    states: `[num_nodes, dim]` float node states, or with `view`
      `[num_nodes, views, dim]` (stacked views) of which `view` is used.
    source: `[num_edges]` int source node of each edge.
    target: `[num_edges]` int target node of each edge.
    num_pairs: How many edges and how many node pairs to draw.
    threshold: The similarity `s` above which a pair is pushed apart.
    temperature: The sigmoid's temperature `tau` (> 0).
    real: Optional `[num_nodes]` bool mask of real (not padding) nodes.
    view: With stacked `states`, the index of the view to use (of
      `states`; `second_states` are `[num_nodes, dim]`).
    second_states: Optional `[num_nodes, dim]` states of a second view.
    second_view: With stacked `states` (and `view`), instead of
      `second_states`: the index of the stacked view that is the second
      one (its rows are gathered from `states` as they are).
    seed: Optional op seed of the draws.
  """
  check_similarity_arguments(num_pairs, temperature)
  states = tf.convert_to_tensor(states)
  dtype = states.dtype
  num_nodes = tf.shape(states, out_type=tf.int64)[0]
  if second_states is not None:
    second_states = tf.convert_to_tensor(second_states, dtype)
  if second_view is not None and (view is None or second_states is not None):
    raise ValueError("second_view picks a view of stacked states: give it "
                     "with view=..., and without second_states.")
  two_views = second_states is not None or second_view is not None
  source = tf.cast(source, tf.int64)
  target = tf.cast(target, tf.int64)
  num_edges = tf.shape(source, out_type=tf.int64)[0]
  if view is not None:  # Rows of the view in the flat [N * views, dim].
    views = tf.shape(states, out_type=tf.int64)[1]
    states = tf.reshape(states, [-1, tf.shape(states)[-1]])

  def draw(count, offset):  # Uniform in [0, count), static shape.
    return tf.random.uniform([num_pairs], 0, tf.maximum(count, 1),
                             dtype=tf.int64,
                             seed=None if seed is None else seed + offset)

  def terms():
    e = draw(num_edges, 0)
    s, t = tf.cond(num_edges > 0,
                   lambda: (tf.gather(source, e), tf.gather(target, e)),
                   lambda: (tf.zeros_like(e), tf.zeros_like(e)))
    i, j = draw(num_nodes, 1), draw(num_nodes, 2)

    def rows(nodes, of_view=view):  # Gathered: gradients touch the
      # drawn rows only.
      return tf.gather(states, nodes if view is None else
                       nodes * views + of_view)

    def unit(x):  # As l2_normalize.
      return x * tf.math.rsqrt(tf.maximum(
          tf.reduce_sum(tf.square(x), -1, keepdims=True), 1e-12))

    # The first and the second ends of the drawn edges and node pairs.
    first = unit(rows(tf.concat([s, i], axis=0)))
    if not two_views:
      second = unit(rows(tf.concat([t, j], axis=0)))
      alignment = tf.zeros([], dtype)
    else:
      ends = tf.concat([t, j, i], axis=0)
      second = unit(rows(ends, second_view) if second_states is None else
                    tf.gather(second_states, ends))
      second, aligned = tf.split(second, [2 * num_pairs, num_pairs])
    cosine = tf.reduce_sum(first * second, axis=-1)
    edge_cosine, pair_cosine = tf.split(cosine, 2)
    edge_weight = tf.fill([num_pairs], tf.cast(num_edges > 0, dtype))
    pair_weight = tf.cast(tf.not_equal(i, j), dtype)
    node_weight = tf.ones([num_pairs], dtype)
    if real is not None:
      real_nodes = tf.cast(real, dtype)
      edge_weight *= tf.gather(real_nodes, s) * tf.gather(real_nodes, t)
      node_weight = tf.gather(real_nodes, i)
      pair_weight *= node_weight * tf.gather(real_nodes, j)
    if two_views:
      alignment = -weighted_mean(
          tf.reduce_sum(first[num_pairs:] * aligned, axis=-1), node_weight)
    return (0.0 + alignment,  # Not -0.0.
            0.0 - weighted_mean(edge_cosine, edge_weight),
            weighted_mean(tf.sigmoid((pair_cosine - threshold) / temperature),
                          pair_weight))

  if sparse.in_xla_context():
    # No branch on the node count: the gradient of a tf.cond around the
    # gathers would need the states' shape as a compile-time constant, which
    # makes XLA fold each batch in as a constant and compile every step anew.
    # XLA's shapes are static, and a node set of 0 rows gathers nothing.
    return terms()
  zero = tf.zeros([], dtype)
  return tf.cond(num_nodes > 0, terms, lambda: (zero, zero, zero))
