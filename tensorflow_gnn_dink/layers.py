"""Keras layers of Dink-Net: the cluster head, discrimination logits, corruptors."""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn.models import contrastive_losses

from tensorflow_gnn_dink import losses

_PACKAGE = "tensorflow_gnn_dink"


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class DinkClusterHead(tf.keras.layers.Layer):
  """Learnable cluster centres with Dink-Net's dilation and shrink losses.

  The layer holds one weight, `cluster_centers`, of shape
  `(n_clusters, n_features)` (Xavier-uniform unless another initializer is
  given). For embeddings `z` of shape `(B, n_features)`:

    * `call(z)` returns `(dilation_loss, shrink_loss)`, two scalars, where
      `dilation = -1/(K(K-1)) sum_{i!=j} |C_i - C_j|^2` and
      `shrink = 1/(B K) sum_i sum_j |Z_i - C_j|^2`;
    * `cluster(z)` (alias `predict`) returns the nearest centre of each row,
      `cluster(z, soft=True)` a `(B, K)` row-stochastic matrix
      `softmax(-|Z_i - C_j|)`.

  Nothing here produces NaN, gradients included, even where an embedding
  coincides with a centre.
  """

  def __init__(self,
               n_clusters: int,
               n_features: int,
               *,
               cluster_centers_initializer: Any = "glorot_uniform",
               max_center_norm: Optional[float] = None,
               **kwargs):
    """Initializes the head.

    Args:
      n_clusters: The number of clusters K, at least 2.
      n_features: The embedding dimension the head accepts.
      cluster_centers_initializer: A Keras initializer (or its name) for the
        centres; `reset_cluster_centers()` re-draws from it.
      max_center_norm: If set, every optimizer step projects each centre back
        into the ball of this radius. Dink-Net's loss is unbounded below in
        the centres (dilation grows without limit); on this compact set it is
        bounded, so training cannot diverge.
      **kwargs: Passed to `tf.keras.layers.Layer`.

    Raises:
      ValueError: if `n_clusters < 2` or `n_features < 1`.
    """
    super().__init__(**kwargs)
    if int(n_clusters) != n_clusters or n_clusters < 2:
      raise ValueError(
          f"DinkClusterHead needs n_clusters >= 2 (got {n_clusters!r}): the "
          "dilation loss is a mean over pairs of distinct centres.")
    if int(n_features) != n_features or n_features < 1:
      raise ValueError(
          f"DinkClusterHead needs n_features >= 1 (got {n_features!r}).")
    self.n_clusters = int(n_clusters)
    self.n_features = int(n_features)
    self.cluster_centers_initializer = tf.keras.initializers.get(
        cluster_centers_initializer)
    if max_center_norm is not None and max_center_norm <= 0:
      raise ValueError(f"max_center_norm must be > 0, got {max_center_norm}.")
    self.max_center_norm = max_center_norm

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
        trainable=True)
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
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_floating:
      z = tf.cast(z, self.compute_dtype)
    if not self.built:
      self.build(z.shape)
    self._check_features(z.shape)
    return z, tf.cast(self.cluster_centers, z.dtype)

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
    z, centers = self._inputs_and_centers(z)
    return (losses.dilation_loss(centers),
            losses.shrink_loss(z, centers, sample_weight))

  def cluster(self, z: tf.Tensor, soft: bool = False) -> tf.Tensor:
    """Assigns embeddings to clusters.

    Args:
      z: `(B, n_features)` embeddings.
      soft: If False, return `(B,)` int64 nearest-centre indices; if True,
        a `(B, K)` row-stochastic matrix, softmax of negative distances.
    """
    z, centers = self._inputs_and_centers(z)
    if soft:
      return losses.soft_assignments(z, centers)
    return losses.hard_assignments(z, centers)

  predict = cluster

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
      value = np.asarray(cluster_centers)
      expected = (self.n_clusters, self.n_features)
      if value.shape != expected:
        raise ValueError(
            f"cluster_centers must have shape {expected} (n_clusters, "
            f"n_features), got {value.shape}.")
      if not np.all(np.isfinite(value)):
        raise ValueError("cluster_centers contains NaN or inf values.")
    self.cluster_centers.assign(tf.cast(value, self.cluster_centers.dtype))

  def get_config(self) -> dict[str, Any]:
    return dict(
        n_clusters=self.n_clusters,
        n_features=self.n_features,
        cluster_centers_initializer=tf.keras.initializers.serialize(
            self.cluster_centers_initializer),
        max_center_norm=self.max_center_norm,
        **super().get_config())


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
    return (tf.linalg.matvec(inputs, tf.reduce_sum(kernel, axis=1)) +
            tf.reduce_sum(bias))


def _drop_feature_columns(tensor: tfgnn.Field,
                          rate: float,
                          *,
                          seed: Optional[int] = None) -> tfgnn.Field:
  """Zeroes a random `rate` fraction of the feature columns (same for all rows)."""
  if not 0.0 <= rate <= 1.0:
    raise ValueError(f"Feature-column drop rate must be in [0, 1], got {rate}.")
  if (rate == 0.0 or not tfgnn.is_dense_tensor(tensor)
      or not tensor.dtype.is_floating or tensor.shape.rank != 2):
    return tensor
  keep = tf.random.uniform(tf.shape(tensor)[-1:], seed=seed) >= rate
  return tensor * tf.cast(keep, tensor.dtype)


class DropFeatureColumns(contrastive_losses.Corruptor):
  """Corrupts by zeroing a random subset of feature columns (Dink-Net's view).

  The same columns are dropped for every row of a feature, as in the official
  Dink-Net `aug_feature_dropout`; unlike `tf.nn.dropout` nothing is rescaled.
  Only dense float features of rank 2 are touched. TPU-safe (no shuffles).
  """

  def __init__(self, *args, rate: float = 0.2, seed: Optional[int] = None,
               **kwargs):
    def fn(tensor, value):
      return _drop_feature_columns(tensor, value, seed=seed)
    super().__init__(*args, corruption_fn=fn, default=rate, **kwargs)


class ReplaceFeature(tf.keras.layers.Layer):
  """A corruptor that swaps in a precomputed negative view of a feature.

  Returns the graph with node feature `target` of `node_set_name` replaced by
  feature `source` (e.g. `A_hat (P X)` rows from
  `propagation.gcn_input_rows`, the one-layer GCN's input under Dink-Net's
  row shuffle). Use as `DeepGraphInfomaxTask(corruptor=...)`. TPU-safe.
  """

  def __init__(self, *, node_set_name: str, source: str,
               target: str = "feat", **kwargs):
    super().__init__(**kwargs)
    self._node_set_name = node_set_name
    self._source = source
    self._target = target

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    features = graph.node_sets[self._node_set_name].features
    if self._source not in features:
      raise ValueError(
          f"Node set {self._node_set_name!r} has no feature {self._source!r} "
          f"to use as the negative view; it has {sorted(features)}.")
    return graph.replace_features(node_sets={self._node_set_name: {
        **features, self._target: features[self._source]}})


@tf.keras.utils.register_keras_serializable(package=_PACKAGE)
class MultiHopSmoothing(tf.keras.layers.Layer):
  """Adds a parameter-free multi-hop smoothed copy to a node set's states.

  `h + (D^-1/2 (A + I) D^-1/2)^steps h`, the "local + global" embedding of
  Dink-Net/GGD, computed by message passing over `edge_set_name` (which must
  hold both directions of each undirected edge) inside the GraphTensor, so a
  SavedModel computes it too. Returns the new `[num_nodes, dim]` states.
  """

  def __init__(self, steps: int, *, node_set_name: str, edge_set_name: str,
               feature_name: str = tfgnn.HIDDEN_STATE, **kwargs):
    super().__init__(**kwargs)
    if steps < 0:
      raise ValueError(f"steps must be >= 0, got {steps}.")
    self.steps = int(steps)
    self.node_set_name = node_set_name
    self.edge_set_name = edge_set_name
    self.feature_name = feature_name

  def call(self, graph: tfgnn.GraphTensor) -> tf.Tensor:
    local = graph.node_sets[self.node_set_name][self.feature_name]
    if self.steps == 0:
      return local
    edges = graph.edge_sets[self.edge_set_name]
    ones = tf.ones_like(edges.adjacency.source, dtype=local.dtype)
    degree = 1.0 + tfgnn.pool_edges_to_node(
        graph, self.edge_set_name, tfgnn.TARGET, "sum", feature_value=ones)
    norm = tf.math.rsqrt(degree)[:, None]
    smooth = local
    for _ in range(self.steps):
      scaled = smooth * norm
      messages = tfgnn.broadcast_node_to_edges(
          graph, self.edge_set_name, tfgnn.SOURCE, feature_value=scaled)
      pooled = tfgnn.pool_edges_to_node(
          graph, self.edge_set_name, tfgnn.TARGET, "sum",
          feature_value=messages)
      smooth = norm * (pooled + scaled)
    return local + smooth

  def get_config(self):
    return dict(steps=self.steps, node_set_name=self.node_set_name,
                edge_set_name=self.edge_set_name,
                feature_name=self.feature_name, **super().get_config())


class ChainCorruptors(tf.keras.layers.Layer):
  """Applies several corruptors in order, e.g. Dink-Net's negative view.

  `ChainCorruptors([DropFeatureColumns(rate=0.2), ShuffleFeaturesGlobally()])`
  drops feature columns, then shuffles the rows of the result.
  """

  def __init__(self, corruptors, **kwargs):
    super().__init__(**kwargs)
    self._corruptors = list(corruptors)

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    for corruptor in self._corruptors:
      graph = corruptor(graph)
    return graph


# TF-GNN's own row shuffle (the DGI negative view), re-exported under the name
# used in this package's docs.
ShuffleFeaturesGlobally = contrastive_losses.ShuffleFeaturesGlobally
