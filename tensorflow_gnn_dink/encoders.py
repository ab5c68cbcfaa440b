"""Encoders (base GNNs) for the runner's `model_fn`.

Dink-Net's encoder is one GCN layer with a PReLU activation on a homogeneous
graph with symmetric edges (`activation="prelu"`; NS4GC's has none,
`activation="linear"`): `make_gcn_model_fn` builds it on the graph, and
`make_gcn_rows_model_fn` builds the same function, with the same weights, on
precomputed rows of `A_hat X` (for batches of independent node rows). For
graphs with many node and edge sets, `make_model_zoo_fn` builds an encoder
from TF-GNN's model zoo (`MODEL_ZOO`) over every edge set.
"""
from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn.models import graph_sage
from tensorflow_gnn.models import hgt
from tensorflow_gnn.models import mt_albis
from tensorflow_gnn.models import vanilla_mpnn

from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import sparse


def make_gcn_model_fn(
    *,
    node_set_name: str = "nodes",
    edge_set_name: str = "edges",
    feature_name: str = "feat",
    hidden_units: int = 512,
    num_layers: int = 1,
    seed: int | None = None,
    input_width: int | None = None,
    activation: str = "prelu",
) -> Callable[[tfgnn.GraphTensorSpec], tf.keras.Model]:
  """Returns a `model_fn` building a GCN encoder for `runner.run`.

  The model maps a GraphTensor with node feature `feature_name` to the same
  graph with node feature `tfgnn.HIDDEN_STATE` of size `hidden_units`, after
  `num_layers` rounds of TF-GNN's `GCNConv` (self-loops, symmetric
  normalisation), each computed as `layers.ProjectedGCNConv`: the same
  function and weights, projected before it propagates. The first layer
  reads `feature_name` itself, dense or held sparse (`sparse`; then only its
  non-zeros are multiplied).

  The model stacks views (`DeepGraphInfomaxTask(stacked_views=True)`): for a
  graph whose node set has `layers.NEGATIVE_VIEW_ROWS`, the hidden states
  are `[num_nodes, 2, hidden_units]`, of the graph and of its negative view,
  with the first projection computed once for both.

  Args:
    node_set_name: The (only) node set.
    edge_set_name: The edge set from `node_set_name` to itself; edges in both
      directions for an undirected graph.
    feature_name: The input node feature: a dense float matrix, or held
      sparse (`{feature_name}_columns` + `{feature_name}_values`).
    hidden_units: Size of the hidden states.
    num_layers: Number of GCN layers.
    seed: Seed of the kernel initializers (None: random).
    input_width: The number of feature columns; required for a sparse
      feature.
    activation: After each layer: "prelu" (Dink-Net's; slopes start at
      0.25) or a Keras activation name ("linear": none, as NS4GC's); one of
      `ACTIVATIONS`.
  """
  make_activation = _activation_fn(activation)

  def model_fn(graph_spec: tfgnn.GraphTensorSpec) -> tf.keras.Model:
    _check_feature(graph_spec, node_set_name, feature_name, input_width)
    _checks.check_edge_set(graph_spec.edge_sets_spec, edge_set_name)
    inputs = tf.keras.Input(type_spec=graph_spec)
    graph = inputs
    for i in range(num_layers):
      initializer = tf.keras.initializers.GlorotUniform(
          seed=None if seed is None else seed + i)
      # The activation is the NodeSetUpdate's next state (not a MapFeatures,
      # which is bound to the feature names it was built with): the model
      # takes graphs with and without `layers.NEGATIVE_VIEW_ROWS`.
      graph = tfgnn.keras.layers.GraphUpdate(
          node_sets={node_set_name: tfgnn.keras.layers.NodeSetUpdate(
              {edge_set_name: layers.ProjectedGCNConv(
                  hidden_units, activation=None, add_self_loops=True,
                  kernel_initializer=initializer,
                  node_feature=feature_name if i == 0 else tfgnn.HIDDEN_STATE,
                  input_width=input_width if i == 0 else None)},
              next_state=_ActivatedNextState(make_activation(i)),
              node_input_feature=None)},
          name=f"gcn_{i}")(graph)
    return tf.keras.Model(inputs, graph)

  return model_fn


def make_gcn_rows_model_fn(
    *,
    node_set_name: str = "nodes",
    feature_name: str = "feat",
    hidden_units: int = 512,
    seed: int | None = None,
    input_width: int | None = None,
    activation: str = "prelu",
) -> Callable[[tfgnn.GraphTensorSpec], tf.keras.Model]:
  """Returns a `model_fn` for a one-layer GCN trained on `A_hat X` rows.

  The model is `activation(x W + b)` per node (default PReLU), for node
  features `feature_name` that already hold `A_hat X` (e.g. the recipe's
  `propagation.gcn_input_rows`), dense or held sparse (`sparse`; then give
  `input_width`): the same function, with the same weights in the same order
  (kernel, bias, PReLU slopes), as one layer of `make_gcn_model_fn` with the
  same `activation` on the graph itself, so
  `gcn_model.set_weights(rows_model.get_weights())` carries a model trained
  on rows over to the graph (and to serving). Edges, if any, are ignored.
  """
  make_activation = _activation_fn(activation)

  def model_fn(graph_spec: tfgnn.GraphTensorSpec) -> tf.keras.Model:
    width = _check_feature(graph_spec, node_set_name, feature_name,
                           input_width)
    inputs = tf.keras.Input(type_spec=graph_spec)
    dense = layers.ProjectNodeFeature(
        hidden_units, feature_name=feature_name, input_width=width,
        kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed),
        name="gcn_0_dense")
    graph = tfgnn.keras.layers.MapFeatures(
        node_sets_fn=lambda node_set, node_set_name: {
            tfgnn.HIDDEN_STATE: dense(node_set.features)},
        name="initial_states")(inputs)
    graph = tfgnn.keras.layers.MapFeatures(
        node_sets_fn=_activate(node_set_name, make_activation(0)),
        name="activation_0")(graph)
    return tf.keras.Model(inputs, graph)

  return model_fn


def _vanilla_mpnn(units: int, index: int,
                  **hparams) -> tf.keras.layers.Layer:
  del index  # Its layers name themselves uniquely.
  return vanilla_mpnn.VanillaMPNNGraphUpdate(
      **{"units": units, "message_dim": units, **hparams})


def _mt_albis(units: int, index: int,
              **hparams) -> tf.keras.layers.Layer:
  del index  # Its layers name themselves uniquely.
  return mt_albis.MtAlbisGraphUpdate(
      **{"units": units, "message_dim": units, **hparams})


def _hgt(units: int, index: int,
         **hparams) -> tf.keras.layers.Layer:
  del index  # Its layers name themselves uniquely.
  num_heads = hparams.pop("num_heads", 4)
  if units % num_heads:
    raise ValueError(f"hgt needs hidden_units={units} divisible by "
                     f"num_heads={num_heads}: pass another num_heads.")
  return hgt.HGTGraphUpdate(num_heads=num_heads,
                            per_head_channels=units // num_heads, **hparams)


def _graph_sage(units: int, index: int,
                **hparams) -> tf.keras.layers.Layer:
  return graph_sage.GraphSAGEGraphUpdate(  # Its fixed default name repeats.
      **{"units": units, "hidden_units": units, "name": f"graph_sage_{index}",
         **hparams})


# The model zoo's encoders for heterogeneous graphs: name -> one round of
# message passing over every edge set,
# `(units, index of the round, **hparams) -> GraphUpdate`.
MODEL_ZOO = {
    "vanilla_mpnn": _vanilla_mpnn,
    "mt_albis": _mt_albis,
    "hgt": _hgt,
    "graph_sage": _graph_sage,
}


def make_model_zoo_fn(
    encoder: str,
    *,
    hidden_units: int = 128,
    num_layers: int = 2,
    feature_name: str = "feat",
    receiver_tag: int = tfgnn.TARGET,
    **hparams: Any,
) -> Callable[[tfgnn.GraphTensorSpec], tf.keras.Model]:
  """Returns a `model_fn` building a model-zoo encoder for any graph.

  The model maps a GraphTensor whose every node set has the dense float
  feature `feature_name` to the same graph with `tfgnn.HIDDEN_STATE` of size
  `hidden_units` on every node set: each node set's feature projected by its
  own `Dense(hidden_units)`, then `num_layers` rounds of `encoder`'s
  `GraphUpdate` (TF-GNN's model zoo) over every edge set, messages flowing
  to each edge's `receiver_tag` node. A node set that no edge set reaches
  keeps its projection. Give each relation in both directions (as
  `heterogeneous.make_citation_graph` does) for messages to reach every
  node set. Kernels are initialised from TensorFlow's global seed
  (`tf.keras.utils.set_random_seed`).

  Args:
    encoder: A key of `MODEL_ZOO`: `"vanilla_mpnn"`, `"mt_albis"`, `"hgt"`
      or `"graph_sage"`.
    hidden_units: Size of the hidden states (the `units` of each round;
      `hgt` splits them into `num_heads` heads, 4 unless given).
    num_layers: Rounds of message passing.
    feature_name: The input feature of every node set.
    receiver_tag: `tfgnn.TARGET` or `tfgnn.SOURCE`.
    **hparams: The model zoo's own hyperparameters of `encoder`, e.g.
      `reduce_type="mean"` (`vanilla_mpnn`), `attention_type="gat_v2"`
      (`mt_albis`), `dropout_rate=0.2` (`hgt`); see TF-GNN's
      `tensorflow_gnn.models`.

  Raises:
    ValueError: for an unknown `encoder`, a node set without the dense
      feature, or sizes below 1 (when the model is built, for the graph).
  """
  if encoder not in MODEL_ZOO:
    raise ValueError(f"Unknown encoder {encoder!r}: TF-GNN's model zoo "
                     f"offers {sorted(MODEL_ZOO)} here.")
  _checks.check_positive_int(hidden_units, "hidden_units")
  _checks.check_positive_int(num_layers, "num_layers")
  build_round = MODEL_ZOO[encoder]

  def model_fn(graph_spec: tfgnn.GraphTensorSpec) -> tf.keras.Model:
    for name, node_set_spec in graph_spec.node_sets_spec.items():
      features = node_set_spec.features_spec
      if sparse.is_sparse(features, feature_name):
        raise ValueError(
            f"Node feature {feature_name!r} of {name!r} is held sparse; "
            f"{encoder} reads dense features: pass dense ones "
            "(data.with_feature_format(graph, 'dense')).")
      _check_feature(graph_spec, name, feature_name, None)
    inputs = tf.keras.Input(type_spec=graph_spec)
    projections = {name: tf.keras.layers.Dense(hidden_units,
                                               name=f"project_{name}")
                   for name in graph_spec.node_sets_spec}
    graph = tfgnn.keras.layers.MapFeatures(
        node_sets_fn=lambda node_set, node_set_name: {
            tfgnn.HIDDEN_STATE: projections[node_set_name](
                node_set[feature_name])},
        name="initial_states")(inputs)
    for i in range(num_layers):
      graph = build_round(hidden_units, i, receiver_tag=receiver_tag,
                          **hparams)(graph)
    return tf.keras.Model(inputs, graph)

  return model_fn


def _check_feature(graph_spec: tfgnn.GraphTensorSpec, node_set_name: str,
                   feature_name: str, input_width: int | None) -> int:
  """Checks the input feature; returns its width (dense, or `input_width`)."""
  _checks.check_node_set(graph_spec.node_sets_spec, node_set_name)
  features = graph_spec.node_sets_spec[node_set_name].features_spec
  if sparse.is_sparse(features, feature_name):
    if input_width is None:
      raise ValueError(
          f"Node feature {feature_name!r} of {node_set_name!r} is held sparse "
          f"({' + '.join(sparse.feature_names(feature_name))}): pass its "
          "number of columns as input_width.")
    return input_width
  _checks.check_feature(features, node_set_name, feature_name)
  width = features[feature_name].shape[-1]
  if width is None:
    raise ValueError(f"Node feature {feature_name!r} of {node_set_name!r} "
                     "needs a static number of columns.")
  return width


ACTIVATIONS = _checks.ACTIVATIONS


def _activation_fn(activation: str) -> Callable[[int], tf.keras.layers.Layer]:
  """The activation layer of layer `i`, for `activation` (checked now)."""
  _checks.check_activation(activation)
  if activation == "prelu":
    return lambda i: layers.PReLU(
        alpha_initializer=tf.keras.initializers.Constant(0.25),
        name=f"prelu_{i}")
  return lambda i: tf.keras.layers.Activation(activation,
                                              name=f"{activation}_{i}")


def _activate(target: str, activation: tf.keras.layers.Layer):
  """A `MapFeatures` callback applying `activation` to one node set's state."""

  def fn(node_set, *, node_set_name):
    if node_set_name != target:
      return node_set.features
    return {**node_set.features,
            tfgnn.HIDDEN_STATE: activation(node_set[tfgnn.HIDDEN_STATE])}

  return fn


class _ActivatedNextState(tfgnn.keras.layers.SingleInputNextState):
  """TF-GNN's `SingleInputNextState`, then `activation`.

  States of stacked views (`[num_nodes, V, units]`) are activated as
  `[num_nodes * V, units]`, so that a layer with weights per unit (PReLU)
  has the same weights for one view or several.
  """

  def __init__(self, activation: tf.keras.layers.Layer, **kwargs):
    super().__init__(**kwargs)
    self.activation = activation

  def call(self, inputs):
    state = super().call(inputs)
    if state.shape.rank == 3:
      return tf.reshape(
          self.activation(tf.reshape(state, [-1, state.shape[-1]])),
          tf.shape(state))
    return self.activation(state)
