"""Keras layers of Dink-Net.

* `DinkClusterHead`: learnable cluster centres, Dink-Net's dilation and shrink
  losses, hard and soft assignments.
* `DinkDiscriminationLogits`: Dink-Net's node-level discrimination logits.
* `MultiHopSmoothing` and `ClusteringEmbedding`: the embedding that is
  clustered, `normalize(h + A_hat^p h)`, computed inside the model so that
  training, the recipe and the exported model share it.
* `PReLU`: Keras' PReLU (the same function, weights and gradients),
  keeping one input-sized tensor for its gradient instead of two.
* `NormalizeFeatureRows`: the recipe's input feature normalisation, as a
  GraphTensor -> GraphTensor layer (a `runner.run` feature processor).
* `DropFeatureColumns` and `ReplaceFeature`: Dink-Net's views, usable as
  `DeepGraphInfomaxTask(augmentor=..., corruptor=...)`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import losses
from tensorflow_gnn_dink import sparse

_PACKAGE = "tensorflow_gnn_dink"
SHRINKS = ("all", "assigned")
# An int node feature, a permutation `p` of the node set's nodes: the
# negative view of stacked views has node `i`'s input features replaced by
# node `p[i]`'s (see `DeepGraphInfomaxTask(stacked_views=True)`).
NEGATIVE_VIEW_ROWS = "negative_view_rows"
# The prefix of a node set's features as a second positive view has them
# (e.g. "second_view_feat" beside "feat"): stacked views then add that view's
# states, third (see `DeepGraphInfomaxTask(stacked_views=True,
# second_augmentor=...)`).
SECOND_VIEW_PREFIX = "second_view_"
# A float edge feature, 1.0 for each edge a view keeps and 0.0 for each it
# drops (`DropEdges`): `ProjectedGCNConv` propagates over the kept edges
# (as `GCNConv(edge_weight_feature_name=KEPT_EDGES)` would), and over
# `SECOND_VIEW_PREFIX + KEPT_EDGES` for a stacked second view.
KEPT_EDGES = "kept_edges"
# A float context feature, 1 for each real graph component (`mark_real_
# components`). TF-GNN's padding (`tfgnn.pad_to_total_sizes`, the runner's
# `train_padding`) fills the components it adds with 0, so batch-level
# operations (the negative view's shuffle, DGI's summary) can leave them out.
REAL_COMPONENT = "real_component"


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class DinkClusterHead(tf.keras.layers.Layer):
  """Learnable cluster centres with Dink-Net's dilation and shrink losses.

  The layer holds one weight, `cluster_centers`, of shape
  `(n_clusters, n_features)` (Xavier-uniform unless another initializer is
  given). For embeddings `z` of shape `(B, n_features)`:

    * `call(z)` returns `(dilation_loss, shrink_loss)`, two scalars, where
      `dilation = -1/(K(K-1)) sum_{i!=j} |C_i - C_j|^2` and, with
      `shrink="all"` (the paper's), `shrink = 1/(B K) sum_i sum_j
      |Z_i - C_j|^2`; with `shrink="assigned"` each row is pulled only to its
      soft-assigned centres (see `losses.assigned_shrink_loss_per_example`);
    * `cluster(z)` (alias `predict`) returns the nearest centre of each row,
      `cluster(z, soft=True)` a `(B, K)` row-stochastic matrix
      `softmax(-|Z_i - C_j|)`; `assign(z)` both at once.

  `dilation_loss()` and `shrink_loss_per_example(z)` are the two terms before
  any reduction over rows; `call` and `DinkClusteringTask`'s loss both use
  them, so there is one loss path.

  Numerics (see `geometry` and `losses`): nothing here produces NaN for
  finite inputs, gradients included -- where an embedding coincides with a
  centre, all centres are equal, the batch is empty or all its
  `sample_weight`s are 0 (the shrink loss is then 0). For embeddings and
  centres of any magnitude (1e-30 to 1e30 in float32) hard ids are the
  nearest centre and soft assignments finite rows that sum to 1. The losses
  are squared distances: for inputs beyond ~1e19 (float32) they overflow,
  shrink to +inf and dilation to -inf (so their sum may be NaN), while their
  gradients stay finite. Keep embeddings normalised (as `DinkClusteringTask`
  does by default) and centres bounded (`max_center_norm`) to stay in range.
  Half-precision embeddings (float16, bfloat16, e.g. under a mixed-precision
  policy) are computed in float32, so losses and soft assignments come back
  as float32 (float16 squared distances overflow at |z| ~ 256).

  Example:

  ```python
  head = DinkClusterHead(n_clusters=7, n_features=512)
  dilation, shrink = head(z)               # z: [batch, 512]
  loss = shrink + dilation
  cluster_ids = head.cluster(z)            # [batch] int64
  probabilities = head.cluster(z, soft=True)  # [batch, 7]
  ```
  """

  def __init__(self,
               n_clusters: int,
               n_features: int,
               *,
               cluster_centers_initializer: Any = "glorot_uniform",
               max_center_norm: Optional[float] = None,
               shrink: str = "all",
               temperature: float = 0.1,
               **kwargs):
    """Initializes the head.

    Args:
      n_clusters: The number of clusters K, at least 2.
      n_features: The embedding dimension the head accepts.
      cluster_centers_initializer: A Keras initializer (or its name) for the
        centres; `reset_cluster_centers()` re-draws from it.
      max_center_norm: If set, every optimizer step projects each centre back
        into the ball of this radius. Dink-Net's loss is unbounded below in
        the centres (dilation grows without limit), so by default (None, the
        paper's) the centres are unbounded and drift apart for as long as
        training runs; on this compact set the loss is bounded, so training
        cannot diverge.
      shrink: `"all"` (Dink-Net's: every embedding to every centre) or
        `"assigned"` (soft k-means: each embedding to its own centres).
      temperature: Softmax temperature of `shrink="assigned"`, in squared
        distance units.
      **kwargs: Passed to `tf.keras.layers.Layer`.

    Raises:
      ValueError: if `n_clusters` is not an integer >= 2, `n_features` not an
        integer >= 1, `max_center_norm` or `temperature` not a finite number
        > 0, or `shrink` is unknown.
    """
    super().__init__(**kwargs)
    self.n_clusters = _checks.check_n_clusters(n_clusters)
    self.n_features = _checks.check_positive_int(
        n_features, "n_features",
        fix="pass the width of the embeddings (the encoder's output size)")
    self.cluster_centers_initializer = tf.keras.initializers.get(
        cluster_centers_initializer)
    self.max_center_norm = (
        None if max_center_norm is None else
        _checks.check_positive_number(max_center_norm, "max_center_norm"))
    self.shrink = _checks.check_one_of(shrink, SHRINKS, "shrink")
    self.temperature = _checks.check_positive_number(temperature,
                                                     "temperature")

  def build(self, input_shape: Optional[tf.TensorShape] = None) -> None:
    if input_shape is not None:
      self._check_features(tf.TensorShape(input_shape))
    self.cluster_centers = self.add_weight(
        name="cluster_centers",
        shape=(self.n_clusters, self.n_features),
        initializer=self.cluster_centers_initializer,
        constraint=(None if self.max_center_norm is None else
                    tf.keras.constraints.MaxNorm(self.max_center_norm,
                                                 axis=1)),
        trainable=True,
        # Read in the variable's dtype (float32 under mixed precision): the
        # distances are computed in float32 (see `_inputs_and_centers`).
        experimental_autocast=False)
    super().build(input_shape)

  def _check_features(self, shape: tf.TensorShape) -> None:
    if shape.rank is not None and shape.rank != 2:
      raise ValueError(
          f"{self.name} expects embeddings of shape (batch, {self.n_features}),"
          f" got shape {shape}.")
    if shape.rank == 2 and shape[-1] is not None and (
        shape[-1] != self.n_features):
      raise ValueError(
          f"{self.name} was built for n_features={self.n_features} but got "
          f"embeddings with {shape[-1]} features (shape {shape}). Pass "
          f"n_features={shape[-1]} or fix the encoder's output size.")

  def _inputs_and_centers(self, z) -> tuple[tf.Tensor, tf.Tensor]:
    """`z` (float32 if it was half precision) and the centres in its dtype."""
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_floating:
      raise ValueError(
          f"{self.name} expects float embeddings of shape (batch, "
          f"{self.n_features}), got dtype {z.dtype.name}: pass the encoder's "
          "float output, or cast with tf.cast(z, tf.float32).")
    if z.dtype in (tf.float16, tf.bfloat16):
      z = tf.cast(z, tf.float32)
    if not self.built:
      self.build(z.shape)
    self._check_features(z.shape)
    return z, tf.cast(self.cluster_centers, z.dtype)

  def dilation_loss(self) -> tf.Tensor:
    """The dilation loss of the current centres (a scalar)."""
    if not self.built:
      self.build(None)
    return losses.dilation_loss(self.cluster_centers)

  def shrink_loss_per_example(self, z: tf.Tensor) -> tf.Tensor:
    """The `(B,)` shrink loss of each row of `z`, by the head's `shrink`."""
    z, centers = self._inputs_and_centers(z)
    if self.shrink == "all":
      return losses.shrink_loss_per_example(z, centers)
    return losses.assigned_shrink_loss_per_example(z, centers,
                                                   self.temperature)

  def call(self,
           z: tf.Tensor,
           sample_weight: Optional[tf.Tensor] = None
           ) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns `(dilation_loss, shrink_loss)` for embeddings `z`.

    Args:
      z: `(B, n_features)` embeddings.
      sample_weight: Optional `(B,)` row weights (e.g. a padding mask): the
        shrink loss becomes their weighted mean; 0-weight rows do not count.
    """
    shrink = losses.weighted_mean(self.shrink_loss_per_example(z),
                                  sample_weight)
    return tf.cast(self.dilation_loss(), shrink.dtype), shrink

  def cluster(self, z: tf.Tensor, soft: bool = False) -> tf.Tensor:
    """Assigns embeddings to clusters.

    Args:
      z: `(B, n_features)` embeddings.
      soft: If False, return `(B,)` int64 nearest-centre indices; if True,
        a `(B, K)` row-stochastic matrix, softmax of negative distances.
    """
    z, centers = self._inputs_and_centers(z)
    if soft:
      return geometry.soft_assignments(z, centers)
    return geometry.hard_assignments(z, centers)

  predict = cluster

  def assign(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(cluster(z), cluster(z, soft=True))`, sharing one distance matrix."""
    z, centers = self._inputs_and_centers(z)
    return geometry.assignments(z, centers)

  def reset_cluster_centers(
      self,
      cluster_centers: Optional[Union[np.ndarray, tf.Tensor]] = None) -> None:
    """Sets the centres to `cluster_centers`, or re-draws them if None.

    Re-drawing uses the layer's initializer: a seeded initializer gives its
    initial centres again, an unseeded one a new random draw.

    Args:
      cluster_centers: Optional `(n_clusters, n_features)` array of finite
        values (e.g. from k-means on the embeddings).

    Raises:
      ValueError: on a wrong shape or non-finite values.
    """
    if not self.built:
      self.build(None)
    if cluster_centers is None:
      # A fresh copy: an unseeded Keras initializer repeats its first draw.
      initializer = tf.keras.initializers.deserialize(
          tf.keras.initializers.serialize(self.cluster_centers_initializer))
      value = initializer(
          shape=(self.n_clusters, self.n_features),
          dtype=self.cluster_centers.dtype)
    else:
      value = check_cluster_centers(cluster_centers, self.n_clusters,
                                    self.n_features)
    self.cluster_centers.assign(tf.cast(value, self.cluster_centers.dtype))

  def get_config(self) -> dict[str, Any]:
    return dict(
        n_clusters=self.n_clusters,
        n_features=self.n_features,
        cluster_centers_initializer=tf.keras.initializers.serialize(
            self.cluster_centers_initializer),
        max_center_norm=self.max_center_norm,
        shrink=self.shrink,
        temperature=self.temperature,
        **super().get_config())


def check_cluster_centers(cluster_centers: Union[np.ndarray, tf.Tensor],
                          n_clusters: int,
                          n_features: Optional[int] = None) -> np.ndarray:
  """Returns the centres as a numpy array if `(n_clusters, n_features)`, finite.

  Args:
    cluster_centers: The centres, any array-like of real numbers.
    n_clusters: The number of rows expected.
    n_features: The number of columns expected; None accepts any.

  Raises:
    ValueError: on a non-numeric dtype, a wrong shape or NaN/inf values.
  """
  value = np.asarray(cluster_centers)
  if value.dtype == bool or not (np.issubdtype(value.dtype, np.floating) or
                                 np.issubdtype(value.dtype, np.integer)):
    raise ValueError(
        f"cluster_centers must be an array of real numbers, got dtype "
        f"{value.dtype}: pass a float array of shape (n_clusters, n_features).")
  expected = (n_clusters, "n_features" if n_features is None else n_features)
  if value.ndim != 2 or value.shape[0] != n_clusters or (
      n_features is not None and value.shape[1] != n_features):
    raise ValueError(
        f"cluster_centers must have shape ({expected[0]}, {expected[1]}) "
        f"(n_clusters, n_features = the encoder's output size), got "
        f"{value.shape}.")
  bad = ~np.isfinite(value)
  if bad.any():
    rows = np.unique(np.nonzero(bad)[0])
    raise ValueError(
        f"cluster_centers contains {int(bad.sum())} NaN or inf values (rows "
        f"{rows[:5].tolist()}{' ...' if len(rows) > 5 else ''}): pass finite "
        "centres, e.g. from k-means on finite embeddings.")
  return value


def l2_normalize_rows(x: tf.Tensor) -> tf.Tensor:
  """Each row of `x` scaled to unit L2 norm (all-zero rows stay 0).

  Unlike `tf.math.l2_normalize` alone, exact for rows of any magnitude: each
  row is first scaled by the power of two that brings its largest `|value|`
  into `[1, 2)` (`geometry.inverse_scale`: exact, one multiplication), so
  that the sum of squares can neither overflow (rows beyond ~1e19 in
  float32, ~256 in float16, which `tf.math.l2_normalize` turns into 0) nor
  underflow (rows below ~1e-19, which it leaves far from unit norm).
  """
  max_abs = geometry.max_abs_of(x, axis=-1, keepdims=True)
  return tf.math.l2_normalize(x * geometry.inverse_scale(max_abs), axis=-1)


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class DinkDiscriminationLogits(tf.keras.layers.Layer):
  """Node-level discrimination logits of Dink-Net (and GGD).

  Each representation is projected by one linear layer and summed to a single
  score: `logit_i = sum_d (W h_i + b)_d`. Input is the stack
  `[batch, 2, dim]` of clean and corrupted representations; output is
  `[batch, 2]`: (clean logit, corrupted logit).

  The projection's weights are a `Dense(dim)` layer's (`projection`), but the
  sum is taken first: `logit_i = h_i . (W 1) + sum(b)`, the same function with
  the same gradients at `O(dim)` instead of `O(dim^2)` per node.
  """

  def build(self, input_shape: tf.TensorShape) -> None:
    units = tf.TensorShape(input_shape)[-1]
    if units is None:
      raise ValueError(f"Expected a defined inner dimension, got {input_shape}")
    self._projection = tf.keras.layers.Dense(units, name="projection")
    self._projection.build(tf.TensorShape([None, units]))
    super().build(input_shape)

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    kernel = tf.cast(self._projection.kernel, inputs.dtype)
    bias = tf.cast(self._projection.bias, inputs.dtype)
    # A matrix-vector product over all rows at once (`tf.linalg.matvec` on
    # the `[batch, 2, dim]` stack runs one tiny product per row: 10x slower).
    return (tf.tensordot(inputs, tf.reduce_sum(kernel, axis=1), axes=1) +
            tf.reduce_sum(bias))


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class NodeSimilarityTerms(tf.keras.layers.Layer):
  """NS4GC's node similarity terms of a node set's states, per example.

  `call(graph, examples, second_graph=None, second_view=None)` reads the
  node set's `feature_name` (of the first view where the encoder stacks
  views, `[num_nodes, V, dim]`; of `second_graph` too, the encoder's output
  for a second view of the same graph, if given, or of the stacked view
  `second_view`) and the adjacency of
  `edge_set_name`, which must join the node set to itself, and returns
  `[num_examples, 3]`: the scalars (alignment, neighbour, sparsity) of
  `losses.node_similarity_terms` repeated on every row of `examples` (the
  task's read-out), so that a per-example loss averages to them. Padding
  nodes (`real_nodes`) are left out of the draws.
  """

  def __init__(self, node_set_name: str, edge_set_name: str, *,
               feature_name: str = tfgnn.HIDDEN_STATE, num_pairs: int = 4096,
               threshold: float = 0.6, temperature: float = 0.1,
               seed: Optional[int] = None, **kwargs):
    super().__init__(**kwargs)
    self._node_set_name = node_set_name
    self._edge_set_name = edge_set_name
    self._feature_name = feature_name
    self._num_pairs = num_pairs
    self._threshold = threshold
    self._temperature = temperature
    self._seed = seed
    losses.check_similarity_arguments(num_pairs, temperature)

  def get_config(self):
    return dict(super().get_config(), node_set_name=self._node_set_name,
                edge_set_name=self._edge_set_name,
                feature_name=self._feature_name, num_pairs=self._num_pairs,
                threshold=self._threshold, temperature=self._temperature,
                seed=self._seed)

  def call(self, graph: tfgnn.GraphTensor, examples: tf.Tensor,
           second_graph: Optional[tfgnn.GraphTensor] = None,
           second_view: Optional[int] = None) -> tf.Tensor:
    _checks.check_edge_set(graph.edge_sets, self._edge_set_name)
    adjacency = graph.edge_sets[self._edge_set_name].adjacency
    ends = (adjacency.source_name, adjacency.target_name)
    if ends != (self._node_set_name, self._node_set_name):
      raise ValueError(
          f"Edge set {self._edge_set_name!r} joins {ends[0]!r} to "
          f"{ends[1]!r}; the node similarity terms need one that joins "
          f"{self._node_set_name!r} to itself.")
    states = graph.node_sets[self._node_set_name][self._feature_name]
    second = None if second_graph is None else second_graph.node_sets[
        self._node_set_name][self._feature_name]
    terms = losses.node_similarity_terms(
        states, adjacency.source, adjacency.target,
        num_pairs=self._num_pairs, threshold=self._threshold,
        temperature=self._temperature,
        real=real_nodes(graph, self._node_set_name), seed=self._seed,
        # Stacked views: the first is the clean one.
        view=0 if states.shape.rank == 3 else None, second_states=second,
        second_view=second_view)
    return tf.broadcast_to(tf.stack(terms)[tf.newaxis],
                           [tf.shape(examples)[0], 3])


def self_edge_set(graph_spec: tfgnn.GraphTensorSpec, node_set_name: str,
                  edge_set_name: Optional[str] = None) -> str:
  """The edge set joining `node_set_name` to itself: `edge_set_name` if
  given (checked), else the only one; ValueError naming the choices."""
  loops = sorted(
      name for name, spec in graph_spec.edge_sets_spec.items()
      if (spec.adjacency_spec.source_name,
          spec.adjacency_spec.target_name) == (node_set_name, node_set_name))
  if edge_set_name is not None:
    _checks.check_edge_set(graph_spec.edge_sets_spec, edge_set_name)
    if edge_set_name not in loops:
      raise ValueError(f"Edge set {edge_set_name!r} does not join "
                       f"{node_set_name!r} to itself; those that do: {loops}.")
    return edge_set_name
  if len(loops) != 1:
    raise ValueError(
        f"The node similarity terms need one edge set joining "
        f"{node_set_name!r} to itself; the graph has {loops or 'none'}. "
        "Pass edge_set_name=... (or leave the terms' weights at 0).")
  return loops[0]


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class DeepGraphInfomaxLogits(tf.keras.layers.Layer):
  """TF-GNN's `DeepGraphInfomaxLogits`, reading the stacked views once.

  The same function of the same weights (`_bilinear`, a bias-free `Dense`):
  for the stack `[batch, 2, dim]` of clean and corrupted representations,
  the `[batch, 2]` logits `x . W(mean of the clean rows)`. TF-GNN's layer
  first unstacks (copies) both views; on large full-graph batches those
  copies cost more than the logits. With `weights` (`[batch]`, e.g. 0 for
  padding: `real_examples`), the summary is the weighted mean of the clean
  rows.
  """

  def build(self, input_shape: tf.TensorShape) -> None:
    units = tf.TensorShape(input_shape)[-1]
    if units is None:
      raise ValueError(f"Expected a defined inner dimension, got {input_shape}")
    self._bilinear = tf.keras.layers.Dense(units, use_bias=False)
    self._bilinear.build(tf.TensorShape([None, units]))
    super().build(input_shape)

  def call(self, inputs: tf.Tensor,
           weights: Optional[tf.Tensor] = None) -> tf.Tensor:
    if weights is None:
      summary = tf.reduce_mean(inputs, axis=0)[:1]  # [1, dim]: clean mean.
    else:
      weights = tf.cast(tf.reshape(weights, [-1, 1]), inputs.dtype)
      summary = tf.math.divide_no_nan(
          tf.reduce_sum(inputs[:, 0] * weights, axis=0, keepdims=True),
          tf.reduce_sum(weights))
    return tf.tensordot(inputs, self._bilinear(summary)[0], axes=1)


def gcn_propagation(graph: tfgnn.GraphTensor, edge_set_name: str, *,
                    add_self_loops: bool = True,
                    dtype: tf.DType = tf.float32,
                    reuse_matrix: bool = False,
                    edge_weight: Optional[tf.Tensor] = None
                    ) -> Callable[[tf.Tensor], tf.Tensor]:
  """Returns `x -> A_hat x`, the GCN's propagation over one edge set.

  `A_hat = D_in^-1/2 (A + I) D_out^-1/2` (with `add_self_loops`; without,
  `A` and degrees of at least 1), where `A[t, s]` counts the edges `s -> t`
  of `edge_set_name` and the degrees are those of `A + I`: the propagation of
  TF-GNN's `GCNConv(degree_normalization="in_out")`, which for the symmetric
  edges of an undirected graph is `D^-1/2 (A + I) D^-1/2`. With
  `edge_weight`, `A[t, s]` sums the weights of the edges `s -> t` and the
  degrees are weighted too, as `GCNConv(edge_weight_feature_name=...)` has
  them: a 0/1 weight (`DropEdges`) is the GCN of the graph without the
  edges weighted 0, in the same static shapes. The edge set must
  join one node set to itself. Each call is one sparse-dense product
  (`sparse.matmul`): memory grows with edges + nodes x width, never with
  edges x width. Edges sorted by target (as the recipe stores them) save a
  sort per call.

  Args:
    graph: A scalar GraphTensor.
    edge_set_name: The edge set to propagate over.
    add_self_loops: Whether to add `I` (as the GCN does).
    dtype: The dtype of the `[num_nodes, width]` inputs `x`.
    reuse_matrix: Build the CSR matrix of `A_hat` once, here, for many eager
      calls (`sparse.product_by`: the same numbers, not differentiable)
      instead of in every call (the default, as a layer's `call` needs).
    edge_weight: Optional `[num_edges]` weights of the edges (e.g. the edge
      set's `KEPT_EDGES`); None: 1 for every edge.
  """
  _checks.check_edge_set(graph.edge_sets, edge_set_name)
  adjacency = graph.edge_sets[edge_set_name].adjacency
  if adjacency.source_name != adjacency.target_name:
    raise ValueError(
        f"Edge set {edge_set_name!r} joins {adjacency.source_name!r} to "
        f"{adjacency.target_name!r}; GCN propagation needs one node set.")
  source = tf.cast(adjacency.source, tf.int64)
  target = tf.cast(adjacency.target, tf.int64)
  num_nodes = tf.cast(graph.node_sets[adjacency.target_name].total_size,
                      tf.int64)
  weights = (tf.ones_like(target, dtype=dtype) if edge_weight is None else
             tf.cast(tf.reshape(edge_weight, tf.shape(target)), dtype))
  in_degree = tf.math.unsorted_segment_sum(weights, target, num_nodes)
  out_degree = tf.math.unsorted_segment_sum(weights, source, num_nodes)
  if add_self_loops:
    in_scale, out_scale = (tf.math.rsqrt(in_degree + 1.0),
                           tf.math.rsqrt(out_degree + 1.0))
  else:
    in_scale, out_scale = (tf.math.rsqrt(tf.maximum(in_degree, 1.0)),
                           tf.math.rsqrt(tf.maximum(out_degree, 1.0)))
  a_hat = sparse.row_major(tf.sparse.SparseTensor(
      indices=tf.stack([target, source], axis=1),
      values=(tf.gather(in_scale, target) * tf.gather(out_scale, source)
              if edge_weight is None else weights * tf.gather(
                  in_scale, target) * tf.gather(out_scale, source)),
      dense_shape=tf.stack([num_nodes, num_nodes])))
  if add_self_loops and sparse.in_xla_context():  # Edges in any order.
    diagonal = (in_scale * out_scale)[:, None]
    return lambda x: sparse.matmul(a_hat, x) + diagonal * x
  if add_self_loops:  # In the matrix: no [num_nodes, width] temporaries.
    a_hat = _with_diagonal(a_hat, in_scale * out_scale)
  if reuse_matrix:
    return sparse.product_by(a_hat, is_row_major=True)

  def propagate(x: tf.Tensor) -> tf.Tensor:
    return sparse.matmul(a_hat, x, is_row_major=True)

  return propagate


def _with_diagonal(a: tf.SparseTensor, diagonal: tf.Tensor) -> tf.SparseTensor:
  """`a + diag(diagonal)` for a square `a` with entries ordered by row.

  Each diagonal entry is put first in its row, in O(nnz + rows), without a
  sort: the result is ordered by row, as the CSR kernels of `sparse.matmul`
  need (they take a row's entries in any column order, as `sparse.row_major`
  does; an existing `(i, i)` entry is summed with the new one).
  """
  rows = a.indices[:, 0]
  num_rows = a.dense_shape[0]
  counts = tf.math.unsorted_segment_sum(tf.ones_like(rows), rows, num_rows)
  ids = tf.range(num_rows)
  # Rows before row r hold r diagonal entries, row r its own first.
  positions = [
      tf.cast(tf.range(tf.shape(rows, tf.int64)[0]) + rows + 1, tf.int32),
      tf.cast(tf.cumsum(counts, exclusive=True) + ids, tf.int32)]
  return tf.sparse.SparseTensor(
      indices=tf.dynamic_stitch(positions,
                                [a.indices, tf.stack([ids, ids], axis=1)]),
      values=tf.dynamic_stitch(positions,
                               [a.values, tf.cast(diagonal, a.values.dtype)]),
      dense_shape=a.dense_shape)


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class ProjectedGCNConv(tf.keras.layers.Layer):
  """TF-GNN's `GCNConv`, computed as `A_hat (X W) + b`: project, then propagate.

  The same function of the same weights as
  `tensorflow_gnn.models.gcn.GCNConv(units, add_self_loops=...,
  degree_normalization="in_out")` without edge weights -- `activation(A_hat X
  W + b)` -- but `GCNConv` gathers an input-width row for every edge before
  it projects (memory edges x input width), while this layer projects each
  node once and propagates `units`-wide rows with one sparse-dense product
  (memory nodes x units + edges). Its weights (the `Dense` kernel and bias)
  are in `GCNConv`'s order, so `set_weights` carries them across.

  `node_feature` may be held sparse (`sparse`: `{name}_columns` +
  `{name}_values`, e.g. bag-of-words); then `X W` multiplies only the
  non-zeros (work and memory grow with them, not with nodes x input width)
  and `input_width` must give the number of columns.

  Call it like `GCNConv`, e.g. in a `NodeSetUpdate`:
  `conv(graph, edge_set_name="cites")` returns the `[num_nodes, units]` new
  states of the edge set's node set, read from `node_feature`.

  Stacked views (`DeepGraphInfomaxTask(stacked_views=True)`): if the node
  set has the feature `NEGATIVE_VIEW_ROWS` (a permutation `p` of its nodes),
  the layer returns `[num_nodes, 2, units]`: the states of the graph and of
  its negative view, the graph with node `i`'s input features replaced by
  node `p[i]`'s. Since `(P X) W = P (X W)`, `X W` is computed once for both;
  an input `node_feature` of shape `[num_nodes, V, width]` (V stacked views,
  e.g. a previous layer's output) gives `[num_nodes, V, units]`. If the node
  set also has the input feature as a second positive view has it
  (`SECOND_VIEW_PREFIX + node_feature`, dense or held sparse), or the edge
  set has the edges it keeps (`SECOND_VIEW_PREFIX + KEPT_EDGES`), its
  states come third: `[num_nodes, 3, units]`, projected from its own
  features if it has them (else the first view's projection is reused) and
  propagated over its own edges if it has them. The other views share each
  propagation's normalised adjacency, built once.

  Dropped edges: if the edge set has the float feature `KEPT_EDGES` (0/1 per
  edge, `DropEdges`), the GCN propagates over the kept edges only (weighted
  degrees, as `GCNConv(edge_weight_feature_name=KEPT_EDGES)`).
  """

  def __init__(self, units: int, *, activation: Any = None,
               use_bias: bool = True, add_self_loops: bool = True,
               kernel_initializer: Any = "glorot_uniform",
               node_feature: str = tfgnn.HIDDEN_STATE,
               input_width: Optional[int] = None, **kwargs):
    super().__init__(**kwargs)
    self.units = _checks.check_positive_int(units, "units")
    self.input_width = (None if input_width is None else
                        _checks.check_positive_int(input_width, "input_width"))
    self.activation = tf.keras.activations.get(activation)
    self.use_bias = use_bias
    self.add_self_loops = add_self_loops
    self.node_feature = node_feature
    self._filter = tf.keras.layers.Dense(
        self.units, use_bias=use_bias,
        kernel_initializer=tfgnn.keras.clone_initializer(
            tf.keras.initializers.get(kernel_initializer)), name="dense")

  def call(self, graph: tfgnn.GraphTensor, *,
           edge_set_name: str) -> tf.Tensor:
    _checks.check_edge_set(graph.edge_sets, edge_set_name)
    edge_features = graph.edge_sets[edge_set_name].features

    def propagation(kept_edges: str) -> Callable[[tf.Tensor], tf.Tensor]:
      return gcn_propagation(graph, edge_set_name,
                             add_self_loops=self.add_self_loops,
                             edge_weight=edge_features.get(kept_edges))

    propagate = propagation(KEPT_EDGES)
    node_set_name = graph.edge_sets[edge_set_name].adjacency.target_name
    node_set = graph.node_sets[node_set_name]
    second = SECOND_VIEW_PREFIX + self.node_feature
    second_edges = SECOND_VIEW_PREFIX + KEPT_EDGES in edge_features
    x = sparse.read(node_set.features, self.node_feature,
                    width=self.input_width, num_rows=node_set.total_size)
    if not self._filter.built:
      self._filter.build(tf.TensorShape(
          [None, x.shape[-1] if self.input_width is None else
           self.input_width]))
    if isinstance(x, tf.Tensor) and x.shape.rank == 3:  # Stacked views.
      views = tf.unstack(tf.einsum("nvd,du->vnu", x, self._filter.kernel))
    else:
      projected = sparse.matmul(x, self._filter.kernel, is_row_major=True)
      views = [projected]
      if NEGATIVE_VIEW_ROWS in node_set.features:
        views.append(tf.gather(projected, node_set[NEGATIVE_VIEW_ROWS]))
        if sparse.has_feature(node_set.features, second):
          views.append(sparse.matmul(
              sparse.read(node_set.features, second, width=self.input_width,
                          num_rows=node_set.total_size),
              self._filter.kernel, is_row_major=True))
        elif second_edges:  # The first view's features, other edges.
          views.append(projected)
    propagations = [propagate] * len(views)
    if len(views) == 3 and second_edges:
      propagations[2] = propagation(SECOND_VIEW_PREFIX + KEPT_EDGES)
    outputs = []
    for projected, propagate in zip(views, propagations):
      pooled = propagate(projected)
      if self.use_bias:
        pooled += self._filter.bias
      outputs.append(self.activation(pooled))
    return outputs[0] if len(outputs) == 1 else tf.stack(outputs, axis=1)

  def get_config(self):
    return dict(units=self.units,
                activation=tf.keras.activations.serialize(self.activation),
                use_bias=self.use_bias, add_self_loops=self.add_self_loops,
                kernel_initializer=tf.keras.initializers.serialize(
                    self._filter.kernel_initializer),
                node_feature=self.node_feature,
                input_width=self.input_width, **super().get_config())


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class PReLU(tf.keras.layers.PReLU):
  """Keras' `PReLU`: the same function, weights, config and gradients.

  Keras computes `relu(x) - alpha * relu(-x)`, and automatic differentiation
  keeps its intermediate tensors for the backward pass: four or five
  temporaries of the input's size (`-x`, both `relu`s, the scaled negative
  part, the sum), of which two live until the gradient is taken. Here
  `where(x > 0, x, alpha * where(x < 0, x, 0))` keeps one (and two boolean
  masks), with the same slopes (1 where `x > 0`, `alpha` where `x < 0`, 0
  at 0, as Keras' `relu` gradients give). No `tf.custom_gradient`: in a
  `tf.function` it registers its gradient globally, which keeps every traced
  graph alive (`_custom_gradients`). Measured on the CiteSeer recipe (1,536
  hidden units, 2-core machine, 2026-12-06): the pretraining's peak of
  allocated tensors 406 -> 357 MiB, the resident memory after pretraining
  1,193 -> 1,056 MiB, the same clusters.
  """

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    alpha = tf.cast(self.alpha, inputs.dtype)
    negative = tf.where(inputs < 0, inputs, tf.zeros([], inputs.dtype))
    return tf.where(inputs > 0, inputs, alpha * negative)


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class ProjectNodeFeature(tf.keras.layers.Dense):
  """A `Dense` layer on one node feature, dense or held sparse.

  Called on a node set's features (a mapping, e.g. inside `MapFeatures`),
  returns `activation(X W + b)` for the feature `feature_name`. If it is held
  sparse (`sparse`: `{name}_columns` + `{name}_values`), only its non-zeros
  are multiplied and `input_width` must give the number of columns. The
  weights are a `Dense` layer's (kernel, bias).
  """

  def __init__(self, units: int, *, feature_name: str,
               input_width: Optional[int] = None, **kwargs):
    super().__init__(units, **kwargs)
    self.input_spec = None  # Called on a mapping of features, not a matrix.
    self.feature_name = feature_name
    self.input_width = input_width

  def build(self, input_shape) -> None:
    width = self.input_width
    if self.feature_name in input_shape:
      width = input_shape[self.feature_name][-1]
    super().build(tf.TensorShape([None, width]))
    self.input_spec = None  # Called on a mapping of features, not a matrix.

  def call(self, features: Mapping[str, tfgnn.Field]) -> tf.Tensor:
    x = sparse.read(features, self.feature_name, width=self.input_width)
    outputs = sparse.matmul(x, self.kernel, is_row_major=True)
    if self.use_bias:
      outputs = tf.nn.bias_add(outputs, self.bias)
    return outputs if self.activation is None else self.activation(outputs)

  def get_config(self):
    return dict(feature_name=self.feature_name, input_width=self.input_width,
                **super().get_config())


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class MultiHopSmoothing(tf.keras.layers.Layer):
  """Adds a parameter-free multi-hop smoothed copy to a node set's states.

  Returns the `[num_nodes, dim]` states `h + A_hat^steps h` with
  `A_hat = D^-1/2 (A + I) D^-1/2` (the GCN's propagation, self-loops
  included; see `gcn_propagation`), the "local + global" embedding of
  Dink-Net/GGD. `A` is read from `edge_set_name` (which must hold both
  directions of each undirected edge) inside the GraphTensor, so a
  SavedModel computes it too.
  """

  def __init__(self, steps: int, *, node_set_name: str, edge_set_name: str,
               feature_name: str = tfgnn.HIDDEN_STATE, **kwargs):
    super().__init__(**kwargs)
    self.steps = _checks.check_non_negative_int(steps, "steps")
    self.node_set_name = node_set_name
    self.edge_set_name = edge_set_name
    self.feature_name = feature_name

  def call(self, graph: tfgnn.GraphTensor) -> tf.Tensor:
    _checks.check_node_set(graph.node_sets, self.node_set_name)
    local = graph.node_sets[self.node_set_name][self.feature_name]
    if self.steps == 0:
      return local
    propagate = gcn_propagation(graph, self.edge_set_name, dtype=local.dtype)
    target = graph.edge_sets[self.edge_set_name].adjacency.target_name
    if target != self.node_set_name:
      raise ValueError(
          f"Edge set {self.edge_set_name!r} joins node set {target!r}, not "
          f"{self.node_set_name!r}: pass an edge set of {self.node_set_name!r}.")
    smooth = local
    for _ in range(self.steps):
      smooth = propagate(smooth)
    return local + smooth

  def get_config(self):
    return dict(steps=self.steps, node_set_name=self.node_set_name,
                edge_set_name=self.edge_set_name,
                feature_name=self.feature_name, **super().get_config())


def make_readout(node_set_name: str, feature_name: str, readout: str,
                 **kwargs) -> tf.keras.layers.Layer:
  """TF-GNN's readout of one row per example (see `READOUTS`).

  `"first_node"`: the first node of `node_set_name` of each graph component
  (TF-GNN's convention: the root of a sampled subgraph); `"all_nodes"`: every
  node of the node set (full-graph training).
  """
  _checks.check_one_of(readout, _checks.READOUTS, "readout")
  layer = (tfgnn.keras.layers.ReadoutFirstNode if readout == "first_node"
           else tfgnn.keras.layers.Readout)
  return layer(node_set_name=node_set_name, feature_name=feature_name,
               **kwargs)


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class ClusteringEmbedding(tf.keras.layers.Layer):
  """The embedding that Dink-Net clusters: `normalize(h + A_hat^p h)`, read out.

  From a GraphTensor whose `node_set_name` holds the encoder's states
  `feature_name`, returns `[num_examples, dim]`: the states plus a
  `propagation_steps`-hop smoothed copy (`MultiHopSmoothing`; none if 0),
  read out by `readout` (`"all_nodes"` or `"first_node"`), L2-normalised per
  row if `normalize` (exactly, for states of any magnitude: see
  `l2_normalize_rows`). The clustering task, the recipe and the exported model
  all compute the embedding with this layer.

  Example:

  ```python
  embed = ClusteringEmbedding("paper", edge_set_name="cites",
                              propagation_steps=5)
  z = embed(encoder(graph))  # [num_papers, hidden_units], unit rows.
  ```
  """

  def __init__(self, node_set_name: str, *,
               edge_set_name: Optional[str] = None,
               propagation_steps: int = 0,
               readout: str = "all_nodes",
               feature_name: str = tfgnn.HIDDEN_STATE,
               normalize: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.propagation_steps = _checks.check_non_negative_int(
        propagation_steps, "propagation_steps")
    if self.propagation_steps and not edge_set_name:
      raise ValueError("propagation_steps > 0 needs the edge_set_name to "
                       "propagate over.")
    self.node_set_name = node_set_name
    self.edge_set_name = edge_set_name
    self.readout = readout
    self.feature_name = feature_name
    self.normalize = normalize
    self._smoothing = None
    if self.propagation_steps:
      self._smoothing = MultiHopSmoothing(
          self.propagation_steps, node_set_name=node_set_name,
          edge_set_name=edge_set_name, feature_name=feature_name,
          name="smoothing")
    self._readout = make_readout(node_set_name, feature_name, readout,
                                 name="readout")

  def call(self, graph: tfgnn.GraphTensor) -> tf.Tensor:
    _checks.check_node_set(graph.node_sets, self.node_set_name)
    _checks.check_feature(graph.node_sets[self.node_set_name].features,
                          self.node_set_name, self.feature_name)
    if self._smoothing is not None:
      graph = graph.replace_features(node_sets={self.node_set_name: {
          self.feature_name: self._smoothing(graph)}})
    z = self._readout(graph)
    if self.normalize:
      z = l2_normalize_rows(z)
    return z

  def get_config(self):
    return dict(node_set_name=self.node_set_name,
                edge_set_name=self.edge_set_name,
                propagation_steps=self.propagation_steps,
                readout=self.readout, feature_name=self.feature_name,
                normalize=self.normalize, **super().get_config())


def _node_sets_with(graph: tfgnn.GraphTensor, feature_name: str,
                    node_set_names: Optional[Sequence[str]]) -> list[str]:
  """`node_set_names`, checked, or every node set holding the feature."""
  if node_set_names is None:
    names = [n for n, s in graph.node_sets.items()
             if sparse.has_feature(s.features, feature_name)]
    if not names:
      features = {n: sorted(s.features) for n, s in graph.node_sets.items()}
      raise ValueError(
          f"No node set has the feature {feature_name!r}; the graph's node "
          f"features are {features}. Pass one of them as feature_name.")
    return names
  for name in node_set_names:
    _checks.check_node_set(graph.node_sets, name)
    features = graph.node_sets[name].features
    if not sparse.has_feature(features, feature_name):
      _checks.check_feature(features, name, feature_name)
  return list(node_set_names)


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class NormalizeFeatureRows(tf.keras.layers.Layer):
  """Divides each node's feature row by its L1 norm (Dink-Net's input step).

  GraphTensor -> GraphTensor: feature `feature_name` (dense, or held sparse;
  see `sparse`) of each node set in `node_set_names` (default: every node set
  that has it) becomes `x / sum(|x|)` per row; all-zero rows are left as they
  are. Use it where the features enter the model (as a `runner.run` feature
  processor, and in `export.make_serving_model(feature_processors=...)`), so
  that a served model takes the graph as read from disk.
  """

  def __init__(self, feature_name: str = "feat", *,
               node_set_names: Optional[Sequence[str]] = None, **kwargs):
    super().__init__(**kwargs)
    self.feature_name = feature_name
    self.node_set_names = (None if node_set_names is None
                           else list(node_set_names))

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    updates = {}
    for name in _node_sets_with(graph, self.feature_name, self.node_set_names):
      features = dict(graph.node_sets[name].features)
      key = (self.feature_name if self.feature_name in features else
             sparse.feature_names(self.feature_name)[1])
      x = features[key]
      features[key] = x / self.row_divisors(x)
      updates[name] = features
    return graph.replace_features(node_sets=updates)

  @staticmethod
  def row_divisors(x: Union[tf.Tensor, tf.RaggedTensor]) -> tf.Tensor:
    """`[n, 1]`: what each row of `x` is divided by (its L1 norm; 1 if 0)."""
    row_sums = tf.reduce_sum(tf.abs(x), axis=-1, keepdims=True)
    if isinstance(row_sums, tf.RaggedTensor):  # [n, 1] sums of sparse rows.
      row_sums = row_sums.to_tensor()
    return tf.where(row_sums > 0, row_sums, tf.ones_like(row_sums))

  def get_config(self):
    return dict(feature_name=self.feature_name,
                node_set_names=self.node_set_names, **super().get_config())


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class DropFeatureColumns(tf.keras.layers.Layer):
  """Zeroes a random `rate` fraction of feature columns (Dink-Net's augmentation).

  GraphTensor -> GraphTensor. For every node set, each dense float feature of
  rank 2 and each feature held sparse (`sparse`) gets its own random set of
  dropped columns, the same for every row, as in the official Dink-Net
  `aug_feature_dropout`; unlike `tf.nn.dropout` nothing is rescaled. Sparse
  features keep their structure (dropped non-zeros become zeros). Used as
  `DeepGraphInfomaxTask(augmentor=DropFeatureColumns(rate=0.2))`, it drops
  the same columns in both views. TPU-safe (static shapes, no shuffles).
  """

  def __init__(self, rate: float = 0.2, *, seed: Optional[int] = None,
               **kwargs):
    super().__init__(**kwargs)
    if not 0.0 <= rate <= 1.0:
      raise ValueError(
          f"Feature-column drop rate must be in [0, 1], got {rate}.")
    self.rate = float(rate)
    self.seed = seed

  def _keep(self, width: tf.Tensor) -> tf.Tensor:
    return tf.random.uniform(tf.reshape(width, [1]), seed=self.seed) >= (
        self.rate)

  def _drop(self, features: Mapping[str, tfgnn.Field]) -> dict[str, Any]:
    features = dict(features)
    for name, x in list(features.items()):
      if name.endswith(sparse.VALUES_SUFFIX):
        stem = name[:-len(sparse.VALUES_SUFFIX)]
        if sparse.is_sparse(features, stem):
          columns = features[stem + sparse.COLUMNS_SUFFIX].flat_values
          keep = self._keep(tf.reduce_max(
              tf.concat([columns, -tf.ones([1], columns.dtype)], 0)) + 1)
          features[name] = x.with_flat_values(x.flat_values * tf.cast(
              tf.gather(keep, columns), x.dtype))
      elif (tfgnn.is_dense_tensor(x) and x.dtype.is_floating
            and x.shape.rank == 2):
        features[name] = x * tf.cast(self._keep(tf.shape(x)[-1]), x.dtype)
    return features

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    if self.rate == 0.0:
      return graph
    return graph.replace_features(node_sets={
        name: self._drop(node_set.features)
        for name, node_set in graph.node_sets.items()})

  def get_config(self):
    return dict(rate=self.rate, seed=self.seed, **super().get_config())


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class DropEdges(tf.keras.layers.Layer):
  """Drops a random `rate` fraction of the edges (GRACE's and NS4GC's views).

  GraphTensor -> GraphTensor. Nothing is removed: every edge set gets the
  float edge feature `KEPT_EDGES`, 1.0 for each edge kept and 0.0 for each
  dropped, drawn independently per edge (the two directions of an undirected
  edge too, as PyG's `dropout_edge`), multiplied into a `KEPT_EDGES` the
  edge set already has. `ProjectedGCNConv` (`make_gcn_model_fn`'s GCN) then
  propagates over the kept edges; encoders that ignore the feature see every
  edge. Shapes stay as they were: TPU-safe, and padding is untouched. Used
  as `DeepGraphInfomaxTask(second_augmentor=DropEdges(0.3), ...)`, it makes
  a second positive view with other edges.
  """

  def __init__(self, rate: float = 0.2, *, seed: Optional[int] = None,
               **kwargs):
    super().__init__(**kwargs)
    if not 0.0 <= rate <= 1.0:
      raise ValueError(f"Edge drop rate must be in [0, 1], got {rate}.")
    self.rate = float(rate)
    self.seed = seed

  def _kept(self, edge_set: tfgnn.EdgeSet) -> tf.Tensor:
    kept = tf.cast(tf.random.uniform(
        tf.reshape(edge_set.total_size, [1]), seed=self.seed) >= self.rate,
                   tf.float32)
    if KEPT_EDGES in edge_set.features:
      kept *= tf.cast(edge_set[KEPT_EDGES], tf.float32)
    return kept

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    if self.rate == 0.0:
      return graph
    return graph.replace_features(edge_sets={
        name: {**edge_set.features, KEPT_EDGES: self._kept(edge_set)}
        for name, edge_set in graph.edge_sets.items()})

  def get_config(self):
    return dict(rate=self.rate, seed=self.seed, **super().get_config())


def _gather_rows(value: tfgnn.Field, indices: tf.Tensor) -> tfgnn.Field:
  """`tf.gather(value, indices)`, keeping a ragged value's static row count."""
  gathered = tf.gather(value, indices)
  if isinstance(value, tf.RaggedTensor):
    gathered = tf.RaggedTensor.from_row_splits(
        gathered.values, tf.ensure_shape(gathered.row_splits,
                                         value.row_splits.shape),
        validate=False)
  return gathered


def mark_real_components(graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
  """Returns `graph` with context feature `REAL_COMPONENT`: 1.0 per component.

  Apply it to the inputs before the runner pads them (e.g. in the dataset
  provider, per example): the components that padding adds then read 0, and
  `real_nodes` / `real_examples` tell them apart, so that the corruptors
  and DGI's summary leave padding out (`ShuffleNodeRows`,
  `DeepGraphInfomaxTask`). Losses need no mark: they weight examples by the
  runner's padding mask.
  """
  return graph.replace_features(context={
      **graph.context.features,
      REAL_COMPONENT: tf.ones_like(graph.context.sizes, dtype=tf.float32)})


def real_nodes(graph: tfgnn.GraphTensor,
               node_set_name: str) -> Optional[tf.Tensor]:
  """`[num_nodes]` bool: whether each node is in a real component.

  None (all nodes real) unless the graph carries `REAL_COMPONENT`
  (`mark_real_components`).
  """
  weights = real_examples(graph, node_set_name, "all_nodes")
  return None if weights is None else weights > 0


def real_examples(graph: tfgnn.GraphTensor, node_set_name: str,
                  readout: str) -> Optional[tf.Tensor]:
  """Float `[num_examples]` weights, 0 for padding, of `readout`'s rows.

  The context's `REAL_COMPONENT` per component (`"first_node"`) or per node
  of `node_set_name` (`"all_nodes"`); None if the graph has no such feature.
  """
  _checks.check_one_of(readout, _checks.READOUTS, "readout")
  if REAL_COMPONENT not in graph.context.features:
    return None
  if readout == "first_node":
    return graph.context[REAL_COMPONENT]
  return tfgnn.broadcast_context_to_nodes(graph, node_set_name,
                                          feature_name=REAL_COMPONENT)


def random_permutation(node_set: tfgnn.NodeSet,
                       seed: Optional[int] = None,
                       real: Optional[tf.Tensor] = None) -> tf.Tensor:
  """A random permutation of a node set's nodes (int32, TPU-valid).

  The argsort of uniform noise: static shapes where the node set's size is
  static. With `real` (`[num_nodes]` bool, e.g. `real_nodes`), real nodes
  are permuted among themselves and every other node (padding) maps to
  itself; the real nodes' permutation is the same as for the graph without
  the padding nodes (for the same random draws, as on CPU and GPU where the
  first draws of a longer stream are those of a shorter one).
  """
  num_nodes = node_set.spec.total_size  # Static where known.
  if num_nodes is None:
    num_nodes = node_set.total_size
  noise = tf.random.uniform(tf.reshape(num_nodes, [1]), seed=seed)
  if real is None:
    return tf.argsort(noise)
  # Real nodes sorted by noise, then padding in index order; placed at the
  # real positions (in index order), then at the padding ones.
  values = tf.argsort(tf.where(real, noise, 2.0), stable=True)
  positions = tf.argsort(tf.cast(tf.logical_not(real), tf.int32), stable=True)
  return tf.scatter_nd(positions[:, None], values, tf.shape(values))


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class ShuffleNodeRows(tf.keras.layers.Layer):
  """Permutes the nodes' features: Dink-Net's and DGI's negative view.

  GraphTensor -> GraphTensor. Each node set in `node_set_names` (default:
  all) gets one random permutation of its nodes, applied to every feature,
  dense or ragged, so a node's features move together (a sparse feature's
  columns and values included; TF-GNN's `ShuffleFeaturesGlobally` shuffles
  each feature on its own). The structure is unchanged. The permutation is
  the argsort of uniform noise: static shapes, valid on TPU. Aware of
  padding: in a graph marked by `mark_real_components`, nodes of padding
  components keep their features and real nodes never receive them.
  """

  def __init__(self, *, seed: Optional[int] = None,
               node_set_names: Optional[Sequence[str]] = None, **kwargs):
    super().__init__(**kwargs)
    self.seed = seed
    self.node_set_names = (None if node_set_names is None
                           else list(node_set_names))

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    names = self.node_set_names or list(graph.node_sets)
    updates = {}
    for name in names:
      _checks.check_node_set(graph.node_sets, name)
      node_set = graph.node_sets[name]
      if not node_set.features:
        continue
      perm = random_permutation(node_set, seed=self.seed,
                                real=real_nodes(graph, name))
      updates[name] = {k: _gather_rows(v, perm)
                       for k, v in node_set.features.items()}
    return graph.replace_features(node_sets=updates)

  def get_config(self):
    return dict(seed=self.seed, node_set_names=self.node_set_names,
                **super().get_config())


class ReplaceFeature(tf.keras.layers.Layer):
  """A corruptor that swaps in a precomputed negative view of a feature.

  Returns the graph with node feature `target` of `node_set_name` replaced by
  feature `source` (e.g. the `A_hat (P X)` rows of the recipe's node-row
  training, the one-layer GCN's input under Dink-Net's row shuffle). A
  `source` held sparse (`sparse`) replaces the sparse `target`'s two
  features. Use as `DeepGraphInfomaxTask(corruptor=...)`. TPU-safe.
  """

  def __init__(self, *, node_set_name: str, source: str,
               target: str = "feat", **kwargs):
    super().__init__(**kwargs)
    self._node_set_name = node_set_name
    self._source = source
    self._target = target

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    features = dict(graph.node_sets[self._node_set_name].features)
    if self._source in features:
      features[self._target] = features[self._source]
    elif sparse.is_sparse(features, self._source):
      for source, target in zip(sparse.feature_names(self._source),
                                sparse.feature_names(self._target)):
        features[target] = features[source]
    else:
      raise ValueError(
          f"Node set {self._node_set_name!r} has no feature {self._source!r} "
          f"to use as the negative view; it has {sorted(features)}.")
    return graph.replace_features(node_sets={self._node_set_name: features})
