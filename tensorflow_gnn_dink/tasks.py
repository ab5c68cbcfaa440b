"""Runner tasks of Dink-Net: contrastive pretraining and cluster fine-tuning.

Both are `tensorflow_gnn.runner.Task`s composed from the layers, losses and
metrics of this package, so that

    runner.run(task={"dgi": DeepGraphInfomaxTask("paper", ...),
                     "dink": DinkClusteringTask("paper", n_clusters=7, ...)},
               ...)

trains the encoder and the cluster centres together under any
`tf.distribute` strategy. Loss weights live inside each task's losses, because
`runner.run(loss_weights=...)` mis-assigns weights for tasks with nested
outputs.

Examples (rows of the Keras batch) are chosen by `readout`:
  * `"first_node"` (TF-GNN's convention): one example per graph component,
    its first node of `node_set_name` -- the root of a sampled subgraph.
  * `"all_nodes"`: every node of `node_set_name` is an example -- full-graph
    training, where the whole graph is one component.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from typing import Any, Optional, Union

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner
from tensorflow_gnn.models import contrastive_losses

from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import losses as losses_lib
from tensorflow_gnn_dink import metrics
from tensorflow_gnn_dink import sparse

GraphTensor = tfgnn.GraphTensor
READOUTS = _checks.READOUTS
# What `DeepGraphInfomaxTask`'s second augmentor is applied to.
SECOND_VIEW_SOURCES = ("inputs", "clean")


def _unique_name(base: str) -> str:
  """Returns `base`, then `base_1`, `base_2`, ... (like Keras layer names)."""
  uid = tf.keras.backend.get_uid(f"tensorflow_gnn_dink/{base}")
  return base if uid == 1 else f"{base}_{uid - 1}"


def _num_examples(graph: GraphTensor, node_set_name: str,
                  readout: str) -> tf.Tensor:
  """The number of Keras rows that `readout` makes of `graph`."""
  _checks.check_node_set(graph.node_sets, node_set_name)
  if readout == "first_node":
    return graph.num_components
  return graph.node_sets[node_set_name].total_size


def _check_graph_names(graph: GraphTensor, node_set_name: str,
                       feature_name: str) -> None:
  """ValueError unless `graph` has the node set with the feature."""
  _checks.check_node_set(graph.node_sets, node_set_name)
  _checks.check_feature(graph.node_sets[node_set_name].features,
                        node_set_name, feature_name)


def _check_enough_nodes(num_nodes: Union[int, tf.Tensor, None],
                        n_clusters: int, task_name: str,
                        node_set_name: str) -> None:
  """Checks that an input to cluster has 0 or at least `n_clusters` nodes.

  A known `num_nodes` (an int, or a tensor of static value) is checked in
  Python (ValueError, at trace time); an unknown one by a `tf.debugging`
  assertion in the graph (InvalidArgumentError when run: one scalar
  comparison per step; under XLA, e.g. on TPU, asserts are no-ops, but shapes
  there are static). 0 is allowed: an empty input (e.g. a replica's share of
  a partial batch) clusters nothing.
  """
  def message(count: str, quote: str) -> str:
    return (f"DinkClusteringTask {quote}{task_name}{quote}: an input has "
            f"{count} nodes of node set {quote}{node_set_name}{quote}, fewer "
            f"than n_clusters={n_clusters} (readout={quote}all_nodes{quote} "
            "clusters every node of each input): pass n_clusters <= the "
            f"number of nodes, or batches of at least {n_clusters} node rows.")

  if num_nodes is None:
    return
  static = tf.get_static_value(num_nodes)
  if static is not None:
    if 0 < int(static) < n_clusters:
      raise ValueError(message(str(int(static)), "'"))
    return
  num_nodes = tf.cast(num_nodes, tf.int64)
  # Backquotes: the assertion's message escapes quotes.
  tf.debugging.Assert(
      tf.logical_or(tf.equal(num_nodes, 0), num_nodes >= n_clusters),
      [message("too few", "`"), "Nodes:", num_nodes])


def _pseudo_labels(num_examples: tf.Tensor, row: Sequence[int]) -> tf.Tensor:
  return tf.tile(tf.constant([list(row)], tf.int32), (num_examples, 1))


def _empty_labels(num_examples: tf.Tensor) -> tf.Tensor:
  return tf.zeros((num_examples, 0), dtype=tf.int32)


class _WeightedMeanLoss(tf.keras.losses.Loss):
  """A Keras loss whose batch value is the `sample_weight`-weighted mean.

  `sum_i w_i l_i / sum_i w_i` over the examples of a replica (Keras' own
  reduction divides by the number of rows, so the padding that the runner's
  `train_padding` adds, with weight 0, would scale the loss down): padded and
  unpadded batches give the same loss and gradients. Under a
  `tf.distribute` strategy Keras then averages the replicas' values.
  """

  def __call__(self, y_true, y_pred, sample_weight=None):
    with tf.name_scope(self._name_scope):
      values = self.call(y_true, y_pred)
      if sample_weight is not None:
        sample_weight = tf.convert_to_tensor(sample_weight)
        _check_weights(self.name, values, sample_weight)
      return losses_lib.weighted_mean(values, sample_weight)


def _second_view_features(second: Mapping[str, tfgnn.Field],
                          clean: Mapping[str, tfgnn.Field]
                          ) -> dict[str, tfgnn.Field]:
  """The features of a second view that are not the clean view's own
  tensors, named with `layers.SECOND_VIEW_PREFIX`; a feature held sparse
  comes whole (columns and values) if either part changed."""
  changed = {name for name, value in second.items()
             if value is not clean.get(name)}
  for name in list(changed):
    for suffix, other in ((sparse.VALUES_SUFFIX, sparse.COLUMNS_SUFFIX),
                          (sparse.COLUMNS_SUFFIX, sparse.VALUES_SUFFIX)):
      if name.endswith(suffix) and name[:-len(suffix)] + other in second:
        changed.add(name[:-len(suffix)] + other)
  return {layers.SECOND_VIEW_PREFIX + name: second[name]
          for name in sorted(changed)}


def _check_weights(name: str, values: tf.Tensor,
                   sample_weight: tf.Tensor) -> None:
  """ValueError if there are statically more or fewer weights than values."""
  num_values = values.shape[0] if values.shape.rank else None
  num_weights = sample_weight.shape[0] if sample_weight.shape.rank else None
  if None in (num_values, num_weights) or num_values == num_weights:
    return
  raise ValueError(
      f"Loss {name!r}: {num_values} examples but {num_weights} sample "
      "weights. The runner's train_padding weights each graph component, so "
      "padded training needs readout='first_node' (one example per "
      "component, e.g. sampled subgraphs); full-graph training has static "
      "shapes without padding.")


class _ZeroLoss(tf.keras.losses.Loss):
  """A loss of 0 for outputs that are reported but not trained on."""

  def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return tf.zeros(tf.shape(y_pred)[:1], dtype=tf.keras.backend.floatx())


class _ScaledBinaryCrossentropy(_WeightedMeanLoss):
  """`weight * BCE-with-logits`, averaged over the last axis, per example."""

  def __init__(self, weight: float, **kwargs):
    super().__init__(**kwargs)
    self._weight = float(weight)

  def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return self._weight * tf.keras.losses.binary_crossentropy(
        tf.cast(y_true, y_pred.dtype), y_pred, from_logits=True)


class _WeightedTerms(_WeightedMeanLoss):
  """Per example: `sum_k weight_k * y_pred[:, k]` (loss terms per column)."""

  def __init__(self, weights: Sequence[float], **kwargs):
    super().__init__(**kwargs)
    self._weights = [float(w) for w in weights]

  def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    del y_true  # Unsupervised.
    return tf.tensordot(y_pred, tf.constant(self._weights, y_pred.dtype), 1)


class _DinkLoss(_WeightedMeanLoss):
  """Per example: `w_shrink * shrink_i + w_dilation * dilation`.

  Both terms come from the head (`DinkClusterHead.shrink_loss_per_example`
  and `dilation_loss`). The mean over the batch, weighted by the runner's
  padding mask as `sample_weight` (`_WeightedMeanLoss`), is the weighted sum
  of Dink-Net's shrink and dilation losses; it is 0 for an empty batch or
  all-zero weights. With `check_nodes`, a
  batch of fewer than K (but not 0) rows is an error (`_check_enough_nodes`).
  """

  def __init__(self, head: layers.DinkClusterHead, dilation_loss_weight: float,
               shrink_loss_weight: float, check_nodes: Optional[tuple[str, str]],
               **kwargs):
    super().__init__(**kwargs)
    self._head = head
    self._dilation_loss_weight = float(dilation_loss_weight)
    self._shrink_loss_weight = float(shrink_loss_weight)
    self._check_nodes = check_nodes

  def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    del y_true  # Unsupervised.
    if self._check_nodes:
      num_rows = y_pred.shape[0]
      _check_enough_nodes(tf.shape(y_pred)[0] if num_rows is None else
                          num_rows, self._head.n_clusters, *self._check_nodes)
    shrink = self._head.shrink_loss_per_example(y_pred)
    dilation = tf.cast(self._head.dilation_loss(), shrink.dtype)
    return (self._shrink_loss_weight * shrink +
            self._dilation_loss_weight * dilation)


class _Outputs(tf.keras.layers.Layer):
  """Applies `fn` to the inputs and returns a dict of outputs (a Keras node).

  `fn` may use the layers in `sublayers`; they are tracked by this layer, so
  their weights are trained and checkpointed with the model.
  """

  def __init__(self, fn, sublayers: Sequence[tf.keras.layers.Layer], **kwargs):
    super().__init__(**kwargs)
    self._fn = fn
    self._sublayers = list(sublayers)

  def call(self, inputs, weights=None):
    # `weights` by keyword (a Keras-reloadable call): see `_contrast`.
    return self._fn(inputs) if weights is None else self._fn(inputs, weights)


class _StopGradient(tf.keras.layers.Layer):

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    return tf.stop_gradient(inputs)


def _named(outputs: Mapping[str, tf.Tensor], prefix: str) -> dict[str, Any]:
  """Names each output's final layer `{prefix}_{key}` (Keras output names)."""
  return {k: tf.keras.layers.Layer(name=f"{prefix}_{k}")(v)
          for k, v in outputs.items()}


class DeepGraphInfomaxTask(contrastive_losses.ContrastiveLossTask):
  """Deep Graph Infomax, drop-in for TF-GNN's, plus Dink-Net's discrimination.

  `preprocess` returns `(clean, corrupted)` graphs and pseudo-labels; with an
  `augmentor`, the "clean" view is the augmented graph and the corrupted view
  is made from it, so both views see the same augmentation (Dink-Net drops
  the same feature columns in both, then shuffles rows for the negative);
  `predict` returns a mapping with

    * `"predictions"`: `[batch, 2]` bilinear DGI logits of the clean and the
      corrupted representation against the mean clean summary (TF-GNN's DGI;
      labels `(0, 1)`);
    * `"representations"`: `[batch, 2, dim]` clean and corrupted
      representations (TF-GNN's DGI; no loss);
    * `"discrimination_logits"`: `[batch, 2]` Dink-Net/GGD node logits, the
      sum of the linearly projected representation (labels `(1, 0)`);
    * `"node_similarity"`, only with an alignment, neighbour or sparsity
      loss weight: `[batch, 3]`, NS4GC's terms (`layers.NodeSimilarityTerms`)
      on every row: of the clean view, or with `second_augmentor` between
      the clean view and a second one.

  Stacked views (`stacked_views=True`): `preprocess` returns one graph, the
  (augmented) clean one with a random permutation of the nodes as the node
  feature `layers.NEGATIVE_VIEW_ROWS`, and the encoder returns the states of
  both views stacked, `[num_nodes, 2, dim]` (clean, negative: node `i`'s
  input features replaced by node `p[i]`'s, as `layers.ShuffleNodeRows`
  makes them). An encoder that knows the negative view is a permutation of
  the inputs computes the shared work once: `make_gcn_model_fn`'s GCN
  projects the features once for both views (on bag-of-words graphs the
  projection is most of a step). The same function is trained as with
  `corruptor=ShuffleNodeRows(...)` (one permutation for all features of the
  node set); the encoder must stack views (others are refused with a clear
  error) and other node sets are not shuffled. With `second_augmentor`, the
  graph also carries the features in which the second positive view
  differs from the clean one (of the node set, e.g. other dropped columns,
  and of edge sets, e.g. `layers.KEPT_EDGES` from `layers.DropEdges`),
  named with `layers.SECOND_VIEW_PREFIX`, and the encoder stacks three
  views, `[num_nodes, 3, dim]` (the GCN projects the second view's
  features, or reuses the first projection if they are the clean view's,
  and propagates over the second view's edges, in the same call); the
  second augmentor may change features only, not the graph's structure
  nor other node sets. The added features
  change the graph's spec, which TF-GNN's runner allows in single-task
  training only: for multi-task training, set `stacked_views = False` (the
  negative view is then made by `ShuffleNodeRows(seed=seed)`, the same
  distribution of views).

  The two logit outputs carry binary cross-entropy losses weighted by
  `dgi_loss_weight` and `discrimination_loss_weight`, and the node
  similarity terms (if any) theirs, `neighbour_loss_weight` and
  `sparsity_loss_weight`: the encoder then also learns that neighbours are
  alike and that random pairs of nodes are not (NS4GC's losses on
  sampled pairs; they need the node set's edges to itself,
  `edge_set_name`, and read the whole node set's states, so sampled
  subgraphs contribute their sampled edges). With `second_augmentor`,
  `preprocess` adds a third graph (or, stacked, a third view), a second
  positive view augmented independently of the first (NS4GC's two views),
  and `alignment_loss_weight` weighs the agreement of each node's two
  views; the similarities are then taken across the views, as NS4GC does.
  An output whose weight is 0 when the model is built is still computed and
  reported, but not backpropagated (the same gradients, less work). All
  layer names carry the task's `name`, so several such tasks can share a
  model.

  Example (Dink-Net's views and loss):

  ```python
  dgi = DeepGraphInfomaxTask(
      "paper", readout="all_nodes",
      augmentor=DropFeatureColumns(rate=0.2),  # The same columns, both views.
      dgi_loss_weight=0.0, discrimination_loss_weight=1.0)
  runner.run(task={"dgi": dgi}, ...)
  ```
  """

  def __init__(self,
               node_set_name: str,
               *,
               feature_name: str = tfgnn.HIDDEN_STATE,
               representations_layer_name: Optional[str] = None,
               corruptor: Optional[tf.keras.layers.Layer] = None,
               projector_units: Optional[Sequence[int]] = None,
               seed: Optional[int] = None,
               augmentor: Optional[tf.keras.layers.Layer] = None,
               svd_metrics: bool = True,
               readout: str = "first_node",
               dgi_loss_weight: float = 1.0,
               discrimination_loss_weight: float = 1.0,
               stacked_views: bool = False,
               neighbour_loss_weight: float = 0.0,
               sparsity_loss_weight: float = 0.0,
               alignment_loss_weight: float = 0.0,
               second_augmentor: Optional[tf.keras.layers.Layer] = None,
               second_view_from: str = "inputs",
               similarity_pairs: int = 4096,
               sparsity_threshold: float = 0.6,
               sparsity_temperature: float = 0.1,
               edge_set_name: Optional[str] = None,
               name: Optional[str] = None):
    """Initializes the task.

    Args:
      node_set_name: The node set whose nodes are the examples.
      feature_name: The feature of the GNN's output to read out.
      representations_layer_name: Name of the layer emitting the clean
        representations; default `"{name}_clean_representations"`.
      corruptor: A layer (GraphTensor -> GraphTensor, e.g. a TF-GNN
        `contrastive_losses.Corruptor`) making the negative view; default
        `layers.ShuffleNodeRows(seed=seed)`: one permutation of the nodes for
        all their features, so sparse features stay consistent (TF-GNN's DGI
        default, `ShuffleFeaturesGlobally`, shuffles each feature apart).
      projector_units: Optional sizes of a ReLU MLP applied to both views
        before the contrastive layers (as in TF-GNN).
      seed: Seed of the default corruptor.
      augmentor: Optional layer applied before `corruptor`, to both
        views (e.g. `layers.DropFeatureColumns`, as Dink-Net). Without it the
        positive view is the input graph itself (TF-GNN's DGI).
      svd_metrics: Whether to report TF-GNN's SVD metrics of the clean
        representations (rank, RankMe, coherence) as TF-GNN's DGI does. They
        cost an SVD of the `[batch, dim]` representations every step, which
        can cost more than the training step itself.
      readout: `"first_node"` (one example per component: the root node) or
        `"all_nodes"` (every node of `node_set_name` is an example).
      dgi_loss_weight: Weight of the bilinear DGI loss.
      discrimination_loss_weight: Weight of Dink-Net's node-level
        discrimination loss.
      stacked_views: Whether the encoder computes both views in one call
        (see above; e.g. `make_gcn_model_fn`). The negative view is then
        the row shuffle of `node_set_name`: no `corruptor` may be given.
        Switching it off later (the attribute `stacked_views`) shuffles
        with `ShuffleNodeRows(seed=seed)` instead.
      neighbour_loss_weight: Weight of NS4GC's neighbour term (0: none).
      sparsity_loss_weight: Weight of NS4GC's sparsity term (0: none).
      alignment_loss_weight: Weight of NS4GC's alignment term (0: none);
        needs `second_augmentor`.
      second_augmentor: Optional layer making a second positive view from
        the input graph, independently of `augmentor` (e.g.
        `DropFeatureColumns` with another seed, or `DropEdges`); with
        `stacked_views`, it may change only features, of the node set and
        of edge sets (see above).
      second_view_from: What `second_augmentor` is applied to: `"inputs"`
        (the input graph: two independently augmented views, NS4GC's) or
        `"clean"` (the clean view, augmented by `augmentor`: the second
        view differs from the first only by what `second_augmentor`
        changes; e.g. with `DropEdges` stacked, the GCN reuses the first
        view's projection).
      similarity_pairs: How many edges and node pairs each step draws for
        the node similarity terms (`losses.node_similarity_terms`).
      sparsity_threshold: The similarity above which random pairs are
        pushed apart (NS4GC's `s`).
      sparsity_temperature: The sparsity term's sigmoid temperature.
      edge_set_name: The edge set joining `node_set_name` to itself for the
        neighbour term; default: the only one.
      name: Prefix of this task's layer names; default `"dgi"` (made unique).
    """
    if stacked_views and corruptor is not None:
      raise ValueError(
          "DeepGraphInfomaxTask(stacked_views=True) makes its negative view "
          "itself (a row shuffle the encoder applies after its first "
          "projection), so it takes no corruptor: pass corruptor=None, or "
          "stacked_views=False to use this corruptor.")
    self._name = _unique_name(name or "dgi")
    self._seed = seed
    super().__init__(
        node_set_name,
        feature_name=feature_name,
        representations_layer_name=(representations_layer_name or
                                    f"{self._name}_clean_representations"),
        corruptor=corruptor or layers.ShuffleNodeRows(seed=seed),
        projector_units=projector_units,
        seed=seed)
    self._node_set_name = node_set_name
    self._feature_name = feature_name
    self._augmentor = augmentor
    self._svd_metrics = svd_metrics
    self._readout_mode = readout
    self._readout = layers.make_readout(node_set_name, feature_name, readout,
                                        name=f"{self._name}_readout")
    # Public: a pipeline may re-weight the same task between stages, or
    # switch stacked views off (for multi-task training, see above).
    self.stacked_views = bool(stacked_views)
    self.dgi_loss_weight = dgi_loss_weight
    self.discrimination_loss_weight = discrimination_loss_weight
    self._logits_layer = layers.DeepGraphInfomaxLogits(
        name=f"{self._name}_bilinear_logits")
    self._discrimination_layer = layers.DinkDiscriminationLogits(
        name=f"{self._name}_discrimination")
    for weight_name, weight in (("neighbour_loss_weight",
                                 neighbour_loss_weight),
                                ("sparsity_loss_weight", sparsity_loss_weight),
                                ("alignment_loss_weight",
                                 alignment_loss_weight)):
      if not (isinstance(weight, (int, float)) and math.isfinite(weight) and
              weight >= 0):
        raise ValueError(f"{weight_name} must be a finite number >= 0, got "
                         f"{weight!r}.")
    # Public, as the weights above. Read when the model is built: whether
    # either is above 0 then decides whether the terms are computed.
    self.neighbour_loss_weight = float(neighbour_loss_weight)
    self.sparsity_loss_weight = float(sparsity_loss_weight)
    self.alignment_loss_weight = float(alignment_loss_weight)
    if alignment_loss_weight and second_augmentor is None:
      raise ValueError(
          "alignment_loss_weight > 0 aligns two positive views: pass "
          "second_augmentor=... (e.g. DropFeatureColumns(rate, seed=...) "
          "with another seed than the augmentor's).")
    # Public, as `stacked_views`: multi-task training needs a second view
    # that keeps the spec (e.g. columns dropped, not edges).
    self.second_augmentor = second_augmentor
    if second_view_from not in SECOND_VIEW_SOURCES:
      raise ValueError(
          f"second_view_from must be one of {SECOND_VIEW_SOURCES}, got "
          f"{second_view_from!r}.")
    self.second_view_from = second_view_from
    self._edge_set_name = edge_set_name
    self._similarity_kwargs = dict(
        feature_name=feature_name, num_pairs=similarity_pairs,
        threshold=sparsity_threshold, temperature=sparsity_temperature,
        seed=seed)
    losses_lib.check_similarity_arguments(similarity_pairs,
                                          sparsity_temperature)

  def scale_loss_weights(self, factor: float) -> None:
    """Multiplies every loss weight by `factor` (a pipeline keeping this
    task beside another at a lower weight; read when the model is built)."""
    self.dgi_loss_weight *= factor
    self.discrimination_loss_weight *= factor
    self.neighbour_loss_weight *= factor
    self.sparsity_loss_weight *= factor
    self.alignment_loss_weight *= factor

  @property
  def _similarity_weights(self) -> tuple[float, float, float]:
    return (self.alignment_loss_weight, self.neighbour_loss_weight,
            self.sparsity_loss_weight)

  @property
  def name(self) -> str:
    return self._name

  def preprocess(
      self, inputs: GraphTensor
  ) -> tuple[Sequence[GraphTensor], Mapping[str, tfgnn.Field]]:
    """Returns the views and the pseudo-labels per output.

    The views are `(clean, corrupted)` graphs, or with `stacked_views` the
    one graph `(clean,)` carrying the negative view's permutation.
    """
    n = _num_examples(inputs, self._node_set_name, self._readout_mode)
    clean = inputs if self._augmentor is None else self._augmentor(inputs)
    second = None
    if self.second_augmentor is not None:
      second = self.second_augmentor(
          inputs if self.second_view_from == "inputs" else clean)
    if self.stacked_views:
      node_set = clean.node_sets[self._node_set_name]
      edge_sets = {}
      if second is not None:
        edge_sets = {name: {**edge_set.features, **_second_view_features(
            second.edge_sets[name].features, edge_set.features)}
                     for name, edge_set in clean.edge_sets.items()}
      x = (clean.replace_features(node_sets={self._node_set_name: {
          **node_set.features,
          **({} if second is None else _second_view_features(
              second.node_sets[self._node_set_name].features,
              node_set.features)),
          layers.NEGATIVE_VIEW_ROWS: layers.random_permutation(
              node_set, seed=self._seed,
              real=layers.real_nodes(clean, self._node_set_name))}},
                                  edge_sets=edge_sets),)
    else:
      x = (clean, self._corruptor(clean))
      if second is not None:
        x += (second,)
    y = {
        "predictions": _pseudo_labels(n, (0, 1)),
        "representations": _empty_labels(n),
        "discrimination_logits": _pseudo_labels(n, (1, 0)),
    }
    if any(self._similarity_weights):
      y["node_similarity"] = _empty_labels(n)
    return x, y

  def make_contrastive_layer(self) -> tf.keras.layers.Layer:
    # A logit output whose loss weight is 0 when the model is built (e.g. the
    # DGI logits in Dink-Net's pretraining) is still reported, but nothing
    # is backpropagated through it: the same gradients, less work.
    def trained(stacked, weight):
      return stacked if weight else tf.stop_gradient(stacked)

    def fn(stacked, weights=None):
      return {
          "predictions": self._logits_layer(
              trained(stacked, self.dgi_loss_weight), weights),
          "representations": stacked,
          "discrimination_logits": self._discrimination_layer(
              trained(stacked, self.discrimination_loss_weight)),
      }
    return _Outputs(
        fn, [self._logits_layer, self._discrimination_layer],
        name=f"{self._name}_contrastive")

  def predict(self, *args: GraphTensor) -> runner.Predictions:
    """TF-GNN's DGI outputs, after checking the node set and the feature.

    Unlike TF-GNN's contrastive tasks, this one does not refuse
    `TPUStrategy`. DGI's summary leaves out padding marked by
    `layers.mark_real_components`.

    Args:
      *args: The encoder's outputs for the views of `preprocess`: clean and
        corrupted, or with `stacked_views` one graph holding both.
    """
    for graph in args:
      if not tfgnn.is_graph_tensor(graph):
        raise ValueError(f"Expected a GraphTensor input, got {graph}.")
      _check_graph_names(graph, self._node_set_name, self._feature_name)
    weights = layers.real_examples(args[0], self._node_set_name,
                                   self._readout_mode)
    views = 2 if self.second_augmentor is None else 3  # With a second one.
    if not self.stacked_views:
      if len(args) != views:
        raise ValueError(
            f"DeepGraphInfomaxTask predicts from the clean and the corrupted "
            f"graph{' and the second view' if views == 3 else ''}, got "
            f"{len(args)} graphs.")
      clean = tf.keras.layers.Layer(name=self._representations_layer_name)(
          self._readout(args[0]))
      return self._with_similarity(
          self._contrast(clean, self._readout(args[1]), weights), args[0],
          clean, args[2] if views == 3 else None)
    if len(args) != 1:
      raise ValueError(
          f"DeepGraphInfomaxTask(stacked_views=True) predicts from one graph "
          f"holding both views, got {len(args)}.")
    stacked = self._readout(args[0])
    if stacked.shape.rank != 3 or stacked.shape[1] != views:
      second = ("" if views == 2 else
                f" and {layers.SECOND_VIEW_PREFIX!r} + the input feature "
                f"(or edge feature {layers.KEPT_EDGES!r})")
      raise ValueError(
          f"DeepGraphInfomaxTask(stacked_views=True) needs an encoder that "
          f"stacks the {views} views ([num_nodes, {views}, dim] "
          f"{self._feature_name!r} of {self._node_set_name!r} for a graph "
          f"with feature {layers.NEGATIVE_VIEW_ROWS!r}{second}, as "
          f"make_gcn_model_fn's GCN does); this one returned shape "
          f"{stacked.shape}. Use stacked_views=False with this encoder.")
    clean, corrupted = tf.unstack(stacked, axis=1)[:2]  # Not slices: their
    # gradients would be zero-padded [batch, views, dim] tensors.
    clean = tf.keras.layers.Layer(name=self._representations_layer_name)(
        clean)
    return self._with_similarity(self._contrast(clean, corrupted, weights),
                                 args[0], clean,
                                 second_view=2 if views == 3 else None)

  def _with_similarity(self, outputs: dict[str, Any], graph: GraphTensor,
                       examples: tf.Tensor,
                       second: Optional[GraphTensor] = None,
                       second_view: Optional[int] = None
                       ) -> dict[str, Any]:
    """`outputs` and, with a node similarity weight, `"node_similarity"`."""
    if not any(self._similarity_weights):
      return outputs
    edge_set_name = layers.self_edge_set(graph.spec, self._node_set_name,
                                         self._edge_set_name)
    terms = layers.NodeSimilarityTerms(
        self._node_set_name, edge_set_name, **self._similarity_kwargs,
        name=f"{self._name}_similarity_terms")(graph, examples, second,
                                               second_view=second_view)
    return {**outputs, **_named({"node_similarity": terms}, self._name)}

  def _contrast(self, clean: tf.Tensor, corrupted: tf.Tensor,
                weights: Optional[tf.Tensor]) -> runner.Predictions:
    """The named outputs from the two views' `[batch, dim]` read-outs."""
    if self._projector:
      clean, corrupted = self._projector(clean), self._projector(corrupted)
    outputs = tf.stack((clean, corrupted), axis=1)
    layer = self.make_contrastive_layer()
    return _named(layer(outputs) if weights is None else
                  layer(outputs, weights=weights), self._name)

  def losses(self) -> runner.Losses:
    return {
        "predictions": _ScaledBinaryCrossentropy(
            self.dgi_loss_weight, name=f"{self._name}_dgi_loss"),
        "representations": _ZeroLoss(),
        "discrimination_logits": _ScaledBinaryCrossentropy(
            self.discrimination_loss_weight,
            name=f"{self._name}_discrimination_loss"),
        **({"node_similarity": _WeightedTerms(
            self._similarity_weights,
            name=f"{self._name}_node_similarity_loss")}
           if any(self._similarity_weights) else {}),
    }

  def metrics(self) -> runner.Metrics:
    return {
        "predictions": (
            tf.keras.metrics.BinaryCrossentropy(from_logits=True),
            tf.keras.metrics.BinaryAccuracy(threshold=0.0),
        ),
        "representations": (contrastive_losses.AllSvdMetrics(
            y_pred_transform_fn=lambda y: tf.unstack(y, axis=1)[0]),)
                           if self._svd_metrics else (),
        "discrimination_logits": (
            tf.keras.metrics.BinaryAccuracy(threshold=0.0),),
        **({"node_similarity": ()} if any(self._similarity_weights) else {}),
    }


class DinkClusteringTask(runner.Task):
  """Dink-Net's cluster fine-tuning as a `runner.Task`.

  Wraps a `DinkClusterHead` (created on the first `predict`, sized to the
  encoder output, available as `cluster_head`). `preprocess` passes the graph
  through unchanged, so the runner shares the GNN pass with another task's
  clean view. `predict` computes the embedding with `layers.
  ClusteringEmbedding` (Dink-Net's `normalize(h + A_hat^p h)` with
  `propagation_steps > 0`) and returns a mapping with

    * `"cluster_id"`: `[batch]` int64 nearest-centre index;
    * `"cluster_probabilities"`: `[batch, n_clusters]` soft assignments;
    * `"embedding"`: `[batch, dim]` embeddings (L2-normalised by default),

  and the loss of `"embedding"` is
  `shrink_loss_weight * shrink + dilation_loss_weight * dilation` from the
  head (`shrink="all"`: Dink-Net's shrink, every embedding to every centre;
  `shrink="assigned"`: each embedding to its own soft-assigned centres). With
  `stop_gradient=True` the clustering losses train only the centres, as in the
  official Dink-Net code. Metrics (label-free) on `"cluster_probabilities"`:
  the number of non-empty clusters and the normalised cluster-size entropy.

  Input checks: `preprocess` and `predict` raise ValueError naming the node
  sets (features) that exist if `node_set_name` (`feature_name`) is missing.
  With `readout="all_nodes"` every input to train on must hold at least
  `n_clusters` nodes of `node_set_name` (or none): more clusters than nodes
  is a ValueError in `preprocess` and in the loss where the number of nodes is
  static (e.g. full-graph training), else the loss's `tf.debugging`
  assertion fails at the first step (InvalidArgumentError). Serving
  (`predict`) accepts inputs of any size. With `readout="first_node"` a batch
  of roots may be smaller than K (e.g. an epoch's last batch), so nothing is
  checked: compare K with the node count yourself (the recipe does).

  Example:

  ```python
  tasks = {"dgi": DeepGraphInfomaxTask("paper", readout="all_nodes"),
           "dink": DinkClusteringTask("paper", n_clusters=7,
                                      readout="all_nodes")}
  runner.run(task=tasks, ...)
  ```
  """

  def __init__(self,
               node_set_name: str,
               *,
               n_clusters: int,
               feature_name: str = tfgnn.HIDDEN_STATE,
               readout: str = "first_node",
               normalize_embeddings: bool = True,
               dilation_loss_weight: float = 1.0,
               shrink_loss_weight: float = 1.0,
               cluster_centers: Optional[np.ndarray] = None,
               cluster_centers_initializer: Any = "glorot_uniform",
               shrink: str = "all",
               temperature: float = 0.1,
               propagation_steps: int = 0,
               edge_set_name: Optional[str] = None,
               stop_gradient: bool = False,
               max_center_norm: Optional[float] = None,
               name: Optional[str] = None):
    """Initializes the task.

    Args:
      node_set_name: The node set whose nodes are clustered.
      n_clusters: The number of clusters K (at least 2).
      feature_name: The feature of the GNN's output to read out.
      readout: `"first_node"` or `"all_nodes"` (see the module docstring).
      normalize_embeddings: Whether to L2-normalise embeddings before
        clustering (Dink-Net does).
      dilation_loss_weight: Weight of the dilation loss.
      shrink_loss_weight: Weight of the shrink loss.
      cluster_centers: Optional `[n_clusters, dim]` initial centres (e.g. from
        k-means); overrides `cluster_centers_initializer`.
      cluster_centers_initializer: Keras initializer of the centres.
      shrink: `"all"` (the paper's) or `"assigned"` (soft k-means).
      temperature: Softmax temperature of `shrink="assigned"`, in squared
        distance units.
      propagation_steps: Hops of the parameter-free smoothing added to the
        encoder states before readout (0: none).
      edge_set_name: The edge set to smooth over (needed if
        `propagation_steps > 0`).
      stop_gradient: Whether the clustering losses leave the encoder alone.
      max_center_norm: Optional radius bounding each centre (see
        `DinkClusterHead`).
      name: Prefix of this task's layer names; default `"dink"` (made unique).

    Raises:
      ValueError: for `n_clusters < 2`, an unknown `readout` or `shrink`,
        `propagation_steps > 0` without `edge_set_name`, `temperature` or
        `max_center_norm` not a finite number > 0, or `cluster_centers` that
        are not `n_clusters` rows of finite numbers.
    """
    self._n_clusters = _checks.check_n_clusters(n_clusters)
    if cluster_centers is not None:
      cluster_centers = layers.check_cluster_centers(cluster_centers,
                                                     self._n_clusters)
    _checks.check_one_of(readout, READOUTS, "readout")
    _checks.check_one_of(shrink, layers.SHRINKS, "shrink")
    _checks.check_positive_number(temperature, "temperature")
    if max_center_norm is not None:
      _checks.check_positive_number(max_center_norm, "max_center_norm")
    self._name = _unique_name(name or "dink")
    self._node_set_name = node_set_name
    self._readout_mode = readout
    self._embedding = layers.ClusteringEmbedding(
        node_set_name, edge_set_name=edge_set_name,
        propagation_steps=propagation_steps, readout=readout,
        feature_name=feature_name, normalize=normalize_embeddings,
        name=f"{self._name}_clustering_embedding")
    self._stop_gradient = stop_gradient
    self._head_kwargs = dict(max_center_norm=max_center_norm, shrink=shrink,
                             temperature=temperature)
    self._dilation_loss_weight = dilation_loss_weight
    self._shrink_loss_weight = shrink_loss_weight
    self._initial_centers = (None if cluster_centers is None
                             else np.asarray(cluster_centers))
    self._initializer = cluster_centers_initializer
    self._head: Optional[layers.DinkClusterHead] = None

  @property
  def name(self) -> str:
    return self._name

  @property
  def n_clusters(self) -> int:
    return self._n_clusters

  @property
  def initial_cluster_centers(self) -> Optional[np.ndarray]:
    """The `cluster_centers` given to the constructor, if any."""
    return self._initial_centers

  @property
  def cluster_head(self) -> Optional[layers.DinkClusterHead]:
    """The head made by the first `predict` (None before)."""
    return self._head

  @property
  def embedding_layer(self) -> layers.ClusteringEmbedding:
    """The layer computing the clustered embedding from the GNN's output."""
    return self._embedding

  def _get_head(self, n_features: int) -> layers.DinkClusterHead:
    if self._head is not None:
      if self._head.n_features != n_features:
        raise ValueError(
            f"Task {self._name!r} holds centres for {self._head.n_features} "
            f"features but the encoder now outputs {n_features}.")
      return self._head
    initializer = self._initializer
    if self._initial_centers is not None:
      initializer = tf.keras.initializers.Constant(layers.check_cluster_centers(
          self._initial_centers, self._n_clusters, n_features))
    self._head = layers.DinkClusterHead(
        self._n_clusters, n_features, cluster_centers_initializer=initializer,
        name=f"{self._name}_cluster_head", **self._head_kwargs)
    self._head.build(tf.TensorShape((None, n_features)))
    return self._head

  def preprocess(
      self, inputs: GraphTensor
  ) -> tuple[GraphTensor, Mapping[str, tfgnn.Field]]:
    """Returns `inputs` unchanged and empty labels for every output.

    Raises:
      ValueError: if `inputs` has no node set `node_set_name`, or (with
        `readout="all_nodes"`) statically fewer than `n_clusters` of its nodes.
    """
    n = _num_examples(inputs, self._node_set_name, self._readout_mode)
    if self._readout_mode == "all_nodes":
      _check_enough_nodes(
          inputs.spec.node_sets_spec[self._node_set_name].total_size,
          self._n_clusters, self._name, self._node_set_name)
    empty = _empty_labels(n)
    return inputs, {"cluster_id": empty, "cluster_probabilities": empty,
                    "embedding": empty}

  def predict(self, *args: GraphTensor) -> runner.Predictions:
    """Returns cluster id, soft assignment and embedding per example."""
    if len(args) != 1 or not tfgnn.is_graph_tensor(args[0]):
      raise ValueError(f"Expected one GraphTensor, got {args}.")
    z = self._embedding(args[0])
    if self._stop_gradient:
      z = _StopGradient(name=f"{self._name}_stop_gradient")(z)
    n_features = z.shape[-1]
    if n_features is None:
      raise ValueError(f"The embedding size must be static, got {z.shape}.")
    head = self._get_head(int(n_features))

    def assign(embedding):
      cluster_id, probabilities = head.assign(embedding)
      return {"cluster_id": cluster_id,
              "cluster_probabilities": probabilities,
              "embedding": embedding}
    outputs = _Outputs(assign, [head], name=f"{self._name}_assign")(z)
    return _named(outputs, self._name)

  def losses(self) -> runner.Losses:
    if self._head is None:
      raise ValueError("Call predict() before losses(): the loss needs the "
                       "cluster head, which predict() creates.")
    return {
        "cluster_id": _ZeroLoss(),
        "cluster_probabilities": _ZeroLoss(),
        "embedding": _DinkLoss(
            self._head, self._dilation_loss_weight, self._shrink_loss_weight,
            check_nodes=((self._name, self._node_set_name)
                         if self._readout_mode == "all_nodes" else None),
            name=f"{self._name}_cluster_loss"),
    }

  def metrics(self) -> runner.Metrics:
    return {
        "cluster_id": (),
        "cluster_probabilities": (
            metrics.NonEmptyClusters(self._n_clusters),
            metrics.ClusterSizeEntropy(self._n_clusters),
        ),
        "embedding": (),
    }
