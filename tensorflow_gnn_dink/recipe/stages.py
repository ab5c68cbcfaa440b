"""The stages of the Dink-Net recipe, each a function with typed results.

    prepare -> pretrain -> initialise_centres -> finetune -> export
            -> assign_and_evaluate -> write_results

Each stage takes the `Run` (config, strategy, model directory, log) and the
results of earlier stages, and returns a frozen dataclass; `pipeline.run`
calls them in order. No stage branches on how training sees the graph: the
`input_modes.InputMode` in `Prepared` hides it. Labels are read only by
`prepare` (to count classes when `n_clusters` is not given) and
`assign_and_evaluate`; every choice between models uses graph modularity
(`selection`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
import json
import math
import os
from typing import Any, Optional

import ml_collections
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _arrays
from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink import encoders
from tensorflow_gnn_dink import export as export_lib
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import tasks
from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import input_modes
from tensorflow_gnn_dink.recipe import interrupts
from tensorflow_gnn_dink.recipe import model_dir as model_dir_lib
from tensorflow_gnn_dink.recipe import plots
from tensorflow_gnn_dink.recipe import progress
from tensorflow_gnn_dink.recipe import propagation
from tensorflow_gnn_dink.recipe import selection
from tensorflow_gnn_dink.recipe import summaries

# The cluster ids `write_results` writes (Parquet where pyarrow is installed).
CLUSTER_IDS_FILES = ("cluster_ids.csv", "cluster_ids.parquet")
NODE_SET = input_modes.NODE_SET
EDGE_SET = input_modes.EDGE_SET
_NORMALIZATIONS = ("row", "none")
Weights = list[np.ndarray]
_BLOCK_ROWS = 65536  # Rows per block of `assign` and of feature processing.


@dataclasses.dataclass(frozen=True)
class Run:
  """What every stage needs: the config, where and how to train, the log.

  `verbosity`: below 0 no progress bars; 0 a progress bar per training
  stage; above 0 also Keras' line per epoch with every metric.
  """
  config: ml_collections.ConfigDict
  strategy: tf.distribute.Strategy
  model_dir: str
  log: Callable[[str], None] = print
  verbosity: int = 0


@dataclasses.dataclass(frozen=True)
class Prepared:
  """The validated graph, as the model sees it.

  Attributes:
    graph: The graph as given (labels for evaluation only), its edges
      symmetrized, its features a stand-in of their shape
      (`data.without_features`): the model reads them processed, from
      `graph_tensor` or `mode`, so that those given can be freed.
    graph_tensor: The whole graph with processed features (one component);
      with node-row training, its adjacency only (`mode.graph_tensor`; the
      features are in the mode's rows, `mode.graph_spec` has their spec).
    feature_processors: What was done to the features, as layers; the export
      applies the same, so that it serves the graph as given.
    n_clusters: K.
    mode: How training sees the graph.
    embedding: The layer computing the clustered embedding from the
      encoder's states.
    node_set_name: The node set clustered (of a graph of many node sets:
      `graph` is that node set, its edges those among its nodes,
      `heterogeneous.clustered_edges`).
    description: The graph in one line, for the log.
  """
  graph: data.Graph
  graph_tensor: tfgnn.GraphTensor
  feature_processors: tuple[tf.keras.layers.Layer, ...]
  n_clusters: int
  mode: input_modes.InputMode
  embedding: layers.ClusteringEmbedding
  node_set_name: str = NODE_SET
  description: str = ""


@dataclasses.dataclass(frozen=True)
class Pretrained:
  """The encoder after pretraining and its weights at every epoch's end.

  `weights[i]` is read from the stage's snapshot file when indexed (`Saved`):
  only the epoch in use is in memory.
  """
  encoder: tf.keras.Model
  dgi: tasks.DeepGraphInfomaxTask
  steps: list[int]
  weights: Sequence[Weights]


@dataclasses.dataclass(frozen=True)
class Initialised:
  """The chosen pretraining epoch (now the encoder's weights) and k-means.

  Attributes:
    choice: The chosen epoch and the modularity of each candidate.
    z: `[num_nodes, dim]` clustering embedding of the chosen encoder.
    cluster_centers: `[K, dim]` k-means centres on `z`.
    cluster_ids: `[num_nodes]` k-means partition.
    metrics: `evaluation.evaluate` of that partition.
    seconds: Where the stage's time went: `embed` (the candidates'
      embeddings), `kmeans` (k-means restarts and the modularity choice
      among them), `evaluate` (the metrics of the chosen partition); the
      rest of the stage is the modularity choice among the candidates.
      A choice read back from an interrupted run has `evaluate` and the
      chosen candidate's `embed` only.
  """
  choice: selection.Choice
  z: np.ndarray
  cluster_centers: np.ndarray
  cluster_ids: np.ndarray
  metrics: dict[str, Any]
  seconds: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FineTuned:
  """The chosen fine-tuning epoch (step 0: k-means' own centres)."""
  choice: selection.Choice
  z: np.ndarray
  cluster_centers: np.ndarray


@dataclasses.dataclass(frozen=True)
class Assigned:
  """The final partition and its evaluation."""
  cluster_ids: np.ndarray
  metrics: dict[str, Any]
  collapsed: bool


def resolve_n_clusters(config: ml_collections.ConfigDict,
                       graph: data.Graph) -> int:
  """K from the config, else the number of label classes; checked."""
  n_clusters = config.get("n_clusters")
  if n_clusters is None:
    n_clusters = graph.num_classes
    if n_clusters is None:
      raise ValueError(
          "The graph has no labels, so the number of clusters is unknown: "
          "pass --config.n_clusters=K.")
  return _checks.check_n_clusters(n_clusters, graph.num_nodes)


def feature_processors(
    config: ml_collections.ConfigDict,
    feature_name: str = input_modes.FEATURE
) -> tuple[tf.keras.layers.Layer, ...]:
  """The layers applied to input features, from `config.data` (the feature
  `feature_name` of every node set that has it)."""
  mode = _checks.check_one_of(config.data.normalize_features, _NORMALIZATIONS,
                              "config.data.normalize_features")
  return (layers.NormalizeFeatureRows(feature_name),) if (
      mode == "row") else ()


def prepare(config: ml_collections.ConfigDict,
            graph: data.Graph | heterogeneous.HeterogeneousGraph, *,
            training: bool = True) -> Prepared:
  """Checks the config and the graph; processes features; picks the mode.

  With `training=False` (a trained model applied to `graph`), what only
  training needs is not checked: nodes that differ in their features, at
  least K nodes (and K rows per batch), the memory of a training step.
  A graph of many node sets is prepared by `prepare_heterogeneous`.
  """
  config_lib.validate(config)
  selection.check_rule(config.selection)
  if isinstance(graph, heterogeneous.HeterogeneousGraph):
    return prepare_heterogeneous(config, graph, training=training)
  if config.get("node_set") not in (None, NODE_SET):
    raise ValueError(
        f"config.node_set={config.node_set!r}, but this graph has one node "
        "set: leave config.node_set unset (it is for graphs of many node "
        "sets).")
  data.validate(graph)
  if training:
    data.check_features_differ(graph)
  # Self-loops dropped, duplicates merged, both directions of every edge:
  # the GCN adds its own self-loops, and modularity counts each edge once.
  graph = dataclasses.replace(
      graph, edges=data.symmetrize_edges(graph.edges, graph.num_nodes))
  graph = data.with_feature_format(graph, config.data.feature_format)
  if training:
    n_clusters = resolve_n_clusters(config, graph)
  else:
    n_clusters = int(config.n_clusters)
  if training and config.get("batch_size") is not None and (
      config.batch_size < n_clusters):
    raise ValueError(
        f"config.batch_size={config.batch_size} is below n_clusters="
        f"{n_clusters}: every batch of node rows is clustered into K "
        f"clusters, so it needs at least K rows. Pass config.batch_size >= "
        f"{n_clusters}.")
  if training:
    sparse_rows = sp.issparse(graph.features) and (
        config.get("batch_size") is not None)
    input_modes.check_fits(
        config, graph.num_nodes, graph.edges.shape[1], graph.num_features,
        graph.features.nnz if sp.issparse(graph.features) else None,
        rows_nonzeros=propagation.rows_nonzeros_bound(
            graph.edges, graph.features.getnnz(axis=1))
        if sparse_rows else None)
  processors = feature_processors(config)
  graph_tensor = data.to_graph_tensor(graph, node_set_name=NODE_SET,
                                      edge_set_name=EDGE_SET,
                                      feature_name=input_modes.FEATURE)
  encoder = config_lib.encoder_name(config, many=False)
  divisors = fanouts = None
  if encoder == "gcn":
    if config.get("fanouts") is not None:
      raise ValueError(
          "config.fanouts samples subgraphs for a model-zoo encoder; the GCN "
          "trains on node rows instead (config.batch_size), or on subgraphs "
          "sampled with Apache Beam (tfgnn-dink sample, train --samples). "
          "Unset config.fanouts, or set config.model.encoder.")
    divisors = _foldable_row_divisors(config, graph.features, processors)
  else:
    fanouts = _check_model_zoo(config, encoder, sparse_features=sp.issparse(
        graph.features))
  if divisors is None:
    graph_tensor = _processed(graph_tensor, processors)
  if encoder == "gcn":
    mode = input_modes.make(config, graph_tensor, graph.num_features,
                            row_divisors=divisors)
  else:
    mode = _zoo_mode(config, graph_tensor, node_set_name=NODE_SET,
                     feature_name=input_modes.FEATURE, encoder=encoder,
                     fanouts=fanouts)
  return Prepared(
      graph=data.without_features(graph), graph_tensor=mode.graph_tensor,
      feature_processors=processors, n_clusters=n_clusters, mode=mode,
      embedding=layers.ClusteringEmbedding(
          NODE_SET, edge_set_name=EDGE_SET,
          propagation_steps=config.embedding.propagation_steps),
      description=(f"{graph.num_nodes} nodes, {graph.edges.shape[1] // 2} "
                   f"edges, {graph.num_features} features"))


def _check_model_zoo(config: ml_collections.ConfigDict, encoder: str, *,
                     sparse_features: bool) -> Optional[list[int]]:
  """What a model-zoo encoder (full-graph or sampled subgraphs, dense
  features) cannot do; returns `config.fanouts` as ints (None: full-graph)."""
  fanouts = config_lib.fanouts_of(config)
  if config.get("batch_size") is not None and fanouts is None:
    raise ValueError(
        f"config.batch_size trains Dink-Net's one-layer GCN on precomputed "
        f"rows; the {encoder} encoder trains on the whole graph, or on "
        "sampled subgraphs with config.fanouts (e.g. --config.fanouts=10,5): "
        "set one of them, config.batch_size=None, or config.model.encoder="
        "'gcn' for a graph of one node set and one edge set.")
  if sparse_features:
    raise ValueError(
        f"The {encoder} encoder reads dense features; these are held sparse: "
        "pass --config.data.feature_format=dense (or "
        "config.model.encoder='gcn', which keeps them sparse).")
  if fanouts is not None:
    if len(fanouts) < config.model.num_layers:
      raise ValueError(
          f"config.model.num_layers={config.model.num_layers} rounds of "
          f"message passing need subgraphs of as many hops; config.fanouts="
          f"{config.fanouts!r} samples {len(fanouts)}: give one fanout per "
          "round (e.g. --config.fanouts=10,5 for 2).")
    if not config_lib.frozen_encoder(config):
      raise ValueError(
          "config.fanouts pretrains on sampled subgraphs and fine-tunes the "
          "centres on the frozen encoder's embedding: keep "
          "config.finetune.stop_gradient=True and "
          "config.finetune.discrimination_loss_weight=0.")
  return fanouts


def _zoo_mode(config: ml_collections.ConfigDict, graph_tensor: tfgnn.GraphTensor,
              *, node_set_name: str, feature_name: str, encoder: str,
              fanouts: Optional[list[int]]) -> input_modes.InputMode:
  """`ManyNodeSets`, or `SampledSubgraphs` with `fanouts`."""
  if fanouts is None:
    return input_modes.ManyNodeSets(
        config, graph_tensor, node_set_name=node_set_name,
        feature_name=feature_name, encoder=encoder)
  return input_modes.SampledSubgraphs(
      config, graph_tensor, node_set_name=node_set_name,
      feature_name=feature_name, encoder=encoder, fanouts=fanouts)


def prepare_heterogeneous(config: ml_collections.ConfigDict,
                          graph: heterogeneous.HeterogeneousGraph, *,
                          training: bool = True) -> Prepared:
  """`prepare` for a graph of many node and edge sets.

  The node set clustered is `config.node_set` (default: the graph's own).
  The encoder (`config.model.encoder`: a model-zoo encoder, `"auto"`:
  graph_sage) reads every node set's feature `graph.feature_name`, after the
  same processing as on homogeneous graphs (each row divided by its sum
  with `data.normalize_features="row"`). The clustering embedding smooths
  over the node set's own edge set (e.g. papers citing papers); selection
  and evaluation read the edges among its nodes
  (`heterogeneous.clustered_edges`).
  """
  if config.get("node_set") is not None:
    graph = graph.with_node_set(config.node_set)
  heterogeneous.validate(graph)
  encoder = config_lib.encoder_name(config, many=True)
  fanouts = _check_model_zoo(config, encoder, sparse_features=False)
  clustered = graph.clustered()  # Reads the edges among its nodes.
  if training and not clustered.edges.size and config.selection != "last":
    raise ValueError(
        f"Node set {graph.node_set_name!r} has no edges among its nodes and "
        "no two of its nodes share a neighbour, so the label-free selection "
        "has no modularity to compare: pass --config.selection=last (or "
        "cluster a node set with such edges).")
  n_clusters = (resolve_n_clusters(config, clustered) if training
                else int(config.n_clusters))
  tensor = graph.graph_tensor
  node_set = graph.node_set_name
  if training and fanouts is None:  # Sampled steps: a batch's memory.
    node_sets, edge_sets = tensor.node_sets.values(), tensor.edge_sets.values()
    input_modes.check_fits(
        config, sum(int(n.total_size) for n in node_sets),
        sum(int(e.total_size) for e in edge_sets),
        max(int(n[graph.feature_name].shape[-1]) for n in node_sets), None)
  own = heterogeneous.own_edge_sets(tensor, node_set)
  steps = config.embedding.propagation_steps
  if steps and len(own) != 1:
    raise ValueError(
        f"config.embedding.propagation_steps={steps} smooths the embedding "
        f"over an edge set from {node_set!r} to itself; it has "
        f"{own or 'none'}. Pass --config.embedding.propagation_steps=0"
        + (" (or merge them into one)." if own else "."))
  processors = feature_processors(config, graph.feature_name)
  for processor in processors:
    tensor = processor(tensor)
  mode = _zoo_mode(config, tensor, node_set_name=node_set,
                   feature_name=graph.feature_name, encoder=encoder,
                   fanouts=fanouts)
  sizes = ", ".join(f"{n} {int(s.total_size)}"
                    for n, s in sorted(tensor.node_sets.items()))
  return Prepared(
      graph=data.without_features(clustered), graph_tensor=mode.graph_tensor,
      feature_processors=processors, n_clusters=n_clusters, mode=mode,
      embedding=layers.ClusteringEmbedding(
          node_set, edge_set_name=own[0] if own else None,
          propagation_steps=steps),
      node_set_name=node_set,
      description=(f"node set {node_set!r} of {graph.num_nodes} nodes, "
                   f"{clustered.edges.shape[1] // 2} edges among them; "
                   f"{len(tensor.node_sets)} node sets ({sizes}), "
                   f"{len(tensor.edge_sets)} edge sets"))


def _foldable_row_divisors(config: ml_collections.ConfigDict,
                           features: data.Features,
                           processors: tuple[tf.keras.layers.Layer, ...]
                           ) -> Optional[np.ndarray]:
  """The L1 norms of the rows, if node-row training can fold them into `A_hat`.

  With `config.batch_size`, dense features and the row normalisation only,
  the rows `A_hat D^-1 X` are computed from the features as given
  (`propagation.gcn_input_rows(row_divisors=...)`): no normalised copy of
  the features. The norms are `NormalizeFeatureRows.row_divisors`, computed
  in blocks of rows. Otherwise None: the processors run as usual.
  """
  if (config.get("batch_size") is None or sp.issparse(features) or
      [type(p) for p in processors] != [layers.NormalizeFeatureRows]):
    return None
  return np.concatenate([
      np.asarray(layers.NormalizeFeatureRows.row_divisors(
          tf.constant(features[i:i + _BLOCK_ROWS], tf.float32)))[:, 0]
      for i in range(0, len(features), _BLOCK_ROWS)])


def _processed(graph_tensor: tfgnn.GraphTensor,
               processors: tuple[tf.keras.layers.Layer, ...]
               ) -> tfgnn.GraphTensor:
  """`graph_tensor` after `processors`, dense features in blocks of rows.

  Each processor (`feature_processors`) maps every node's features on their
  own, so dense features go through in blocks of `_BLOCK_ROWS` rows into one
  buffer that TensorFlow adopts: the same numbers, without whole-graph
  temporaries. Sparse features go through whole.
  """
  features = graph_tensor.node_sets[NODE_SET].features
  if not processors or input_modes.FEATURE not in features:
    for processor in processors:
      graph_tensor = processor(graph_tensor)
    return graph_tensor
  x = features[input_modes.FEATURE]
  result = _arrays.aligned_empty(x.shape, x.dtype.as_numpy_dtype)
  for start in range(0, len(result), _BLOCK_ROWS):
    stop = min(start + _BLOCK_ROWS, len(result))
    block = tfgnn.GraphTensor.from_pieces(node_sets={
        NODE_SET: tfgnn.NodeSet.from_fields(
            sizes=[stop - start],
            features={input_modes.FEATURE: x[start:stop]})})
    for processor in processors:
      block = processor(block)
    result[start:stop] = block.node_sets[NODE_SET][input_modes.FEATURE]
  return graph_tensor.replace_features(node_sets={NODE_SET: {
      **features, input_modes.FEATURE: _arrays.as_tensor(result)}})


Arrays = dict[str, np.ndarray]


def _weight_arrays(weights: Weights) -> Arrays:
  return {f"w{i:04d}": w for i, w in enumerate(weights)}


def _weights_of(arrays: Arrays) -> Weights:
  return [arrays[k] for k in sorted(arrays) if k.startswith("w")]


class _Snapshots(tf.keras.callbacks.Callback):
  """Saves `state_fn()` after every epoch, to `directory/step-N.npz`.

  The files outlive the process: a resumed stage (the runner's
  `BackupAndRestore` continues after the last completed epoch) finds the
  earlier epochs' states there, so every epoch stays a candidate.
  """

  def __init__(self, directory: str, state_fn: Callable[[], Arrays]):
    super().__init__()
    self._directory = directory
    self._state_fn = state_fn

  def on_epoch_end(self, epoch: int, logs=None) -> None:
    step = (epoch + 1) * self.params["steps"]
    model_dir_lib.save_arrays(
        os.path.join(self._directory, f"step-{step:09d}.npz"),
        self._state_fn())
    interrupts.check()  # A swallowed Ctrl-C stops after the saved epoch.

  def load(self) -> tuple[list[int], Saved]:
    """The steps and states saved so far, by step (states read when used)."""
    if not os.path.isdir(self._directory):
      return [], Saved([])
    names = sorted(n for n in os.listdir(self._directory)
                   if n.startswith("step-") and n.endswith(".npz"))
    return ([int(n[len("step-"):-len(".npz")]) for n in names],
            Saved([os.path.join(self._directory, n) for n in names]))


class Saved(Sequence):
  """States saved after each epoch, each read from its file when indexed.

  A stage's candidates are every epoch's weights: held in memory together
  they were (epochs - 1) copies of the model more than the selection needs
  (Amazon-Photo at 2,000 steps: 40 epochs of 3.6 MiB; CiteSeer's 1,536
  units: 42 MiB an epoch). Items are paths of `.npz` files
  (`model_dir.save_arrays`) or states already in memory, each passed
  through `convert`; reading a damaged file raises `load_arrays`' error.
  The files are the stage's snapshots, which `model_dir.finish` deletes:
  read what is needed before the run finishes.
  """

  def __init__(self, items: Sequence[str | Arrays],
               convert: Callable[[Arrays], Any] = lambda state: state):
    self._items = list(items)
    self._convert = convert

  def __len__(self) -> int:
    return len(self._items)

  def __getitem__(self, index):
    if isinstance(index, slice):
      return Saved(self._items[index], self._convert)
    item = self._items[index]
    return self._convert(model_dir_lib.load_arrays(item)
                         if isinstance(item, str) else item)

  def map(self, convert: Callable[[Any], Any]) -> Saved:
    """The same states, each then passed through `convert`."""
    return Saved(self._items, lambda state: convert(self._convert(state)))

  def prepended(self, state: Arrays) -> Saved:
    """`state` (held in memory, unconverted) followed by these states."""
    return Saved([state, *self._items], self._convert)


def _fit(run: Run, stage: str, stage_config: ml_collections.ConfigDict, *,
         task: dict[str, runner.Task], mode: Any,
         model_fn: Callable[[tfgnn.GraphTensorSpec], tf.keras.Model],
         state_fn: Callable[[], Arrays]) -> tuple[list[int], Saved]:
  """`runner.run` of one stage, unless done; the state after every epoch.

  `mode` has `provider`, `spec`, `description`, `examples_per_replica`
  (an `input_modes.InputMode` or `_Encoded`). The stage trains in
  `MODEL_DIR/stage`, continuing after the last completed epoch of an
  interrupted run; a stage whose last epoch is saved is not trained again.
  """
  steps_per_epoch = min(run.config.steps_per_epoch, stage_config.steps)
  epochs = math.ceil(stage_config.steps / steps_per_epoch)
  stage_dir = os.path.join(run.model_dir, stage)
  snapshots = _Snapshots(os.path.join(stage_dir, "snapshots"), state_fn)
  steps, states = snapshots.load()
  if steps and steps[-1] == epochs * steps_per_epoch:
    run.log(f"[dink] {stage}: done already ({len(steps)} epochs saved)")
    return steps, states
  if steps:
    run.log(f"[dink] {stage}: resuming (epochs saved up to step "
            f"{steps[-1]})")
  # The runner's own checkpoints would hold the last epoch, not the one the
  # selection keeps: `export` writes that one to MODEL_DIR/checkpoint.
  callbacks = [snapshots, summaries.TrainingScalars(
      summaries.directory(run.model_dir, stage),
      every_n_steps=min(10, steps_per_epoch))]
  if run.verbosity >= 0:
    callbacks.append(progress.TrainingProgress(stage,
                                               epochs * steps_per_epoch))
  trainer = runner.KerasTrainer(
      run.strategy, model_dir=stage_dir, steps_per_epoch=steps_per_epoch,
      verbose=2 if run.verbosity > 0 else 0,
      summarize_every_n_steps="never", checkpoint_every_n_steps="never",
      callbacks=callbacks)
  run.log(f"[dink] {stage}: {stage_config.steps} {mode.description}, "
          f"lr {stage_config.learning_rate}, tasks {sorted(task)}")
  # One task runs as TF-GNN's single-task training, where its preprocess
  # may add features (`DeepGraphInfomaxTask(stacked_views=True)`).
  runner.run(
      train_ds_provider=mode.provider, model_fn=model_fn,
      optimizer_fn=lambda: tf.keras.optimizers.Adam(
          stage_config.learning_rate),
      trainer=trainer, task=(next(iter(task.values())) if len(task) == 1
                             else task), gtspec=mode.spec,
      global_batch_size=(run.strategy.num_replicas_in_sync *
                         mode.examples_per_replica),
      epochs=epochs, model_exporters=[])
  return snapshots.load()


def _second_view(config: ml_collections.ConfigDict,
                 view: str) -> dict[str, Any]:
  """`DeepGraphInfomaxTask`'s `second_augmentor` and `second_view_from` for
  the second view `view` (one of `config_lib.SECOND_VIEWS`)."""
  pt = config.pretrain
  drops = []
  if view != "edges":
    drops.append(layers.DropFeatureColumns(rate=pt.feature_drop_rate,
                                           seed=config.seed + 1))
  if view != "columns":
    drops.append(layers.DropEdges(rate=pt.edge_drop_rate,
                                  seed=config.seed + 2))
  return dict(
      second_augmentor=drops[0] if len(drops) == 1 else
      tf.keras.Sequential(drops),
      second_view_from="clean" if view == "edges" else "inputs")


def pretraining_task(config: ml_collections.ConfigDict,
                     prepared: Prepared) -> tasks.DeepGraphInfomaxTask:
  """Dink-Net's discrimination task, as `pretrain` trains it."""
  try:
    layers.self_edge_set(prepared.mode.spec, prepared.node_set_name)
    edges = True
  except ValueError:
    config_lib.check_terms_have_edges(config, prepared.mode.description)
    edges = False
  # On by default in full-graph training only (not on sampled subgraphs).
  losses = config_lib.pretraining_losses(
      config, on_by_default=edges and config.get("fanouts") is None)
  stacked = prepared.mode.stacks_views
  second = {}
  if losses["alignment_loss_weight"]:  # A second positive view.
    second = _second_view(config, config_lib.second_view(
        config, drops_edges=prepared.mode.drops_edges,
        inputs=prepared.mode.description))
  return tasks.DeepGraphInfomaxTask(
      prepared.node_set_name, readout=prepared.mode.readout,
      augmentor=layers.DropFeatureColumns(
          rate=config.pretrain.feature_drop_rate, seed=config.seed),
      corruptor=None if stacked else prepared.mode.corruptor(config.seed),
      stacked_views=stacked, seed=config.seed, svd_metrics=False,
      **second, **losses)


def pretrain(run: Run, prepared: Prepared) -> Pretrained:
  """Trains the encoder with Dink-Net's discrimination task.

  Dink-Net's views: the same feature columns dropped in both, rows shuffled
  in the negative one. The encoder's weights after each epoch are kept as
  candidates for `initialise_centres`.
  """
  config = run.config
  with run.strategy.scope():
    encoder = prepared.mode.build_encoder()
  dgi = pretraining_task(config, prepared)
  steps, states = _fit(
      run, "pretrain", config.pretrain, task={"dgi": dgi},
      mode=prepared.mode, model_fn=lambda _: encoder,
      state_fn=lambda: _weight_arrays(encoder.get_weights()))
  weights = states.map(_weights_of)
  encoder.set_weights(weights[-1])
  return Pretrained(encoder, dgi, steps, weights)


def embed(prepared: Prepared, encoder: tf.keras.Model) -> np.ndarray:
  """`[num_nodes, dim]` clustering embedding of every node by `encoder`.

  A new buffer that TensorFlow can adopt without a copy (`_arrays`); it is
  not written afterwards.
  """
  return prepared.mode.embed(encoder, prepared.embedding)


def assign(z: np.ndarray, cluster_centers: np.ndarray) -> np.ndarray:
  """The nearest centre of each row of `z` (its cluster id).

  In blocks of rows, so that TensorFlow holds a block of `z` at a time; the
  ids are those of `geometry.hard_assignments` on all of `z` (its scaling by
  a power of two is exact, so the block's scale does not move an argmin).
  """
  return np.concatenate([
      geometry.hard_assignments(z[i:i + _BLOCK_ROWS], cluster_centers).numpy()
      for i in range(0, max(len(z), 1), _BLOCK_ROWS)])


def initialise_centres(run: Run, prepared: Prepared,
                       pretrained: Pretrained) -> Initialised:
  """Chooses the pretraining epoch and the k-means centres, without labels.

  Every epoch's encoder (only the last `config.pretrain.candidates`; only
  the last with `selection="last"`) is embedded and clustered by k-means
  (of its restarts, the highest-modularity partition, or the lowest-inertia
  one with `kmeans.restarts_by="inertia"` or `selection="last"`); the
  epoch whose partition has the highest modularity wins and its encoder
  weights are put back into `pretrained.encoder`.
  """
  config, rule = run.config, run.config.selection
  edges = prepared.graph.edges
  last = {}  # The last candidate's embedding, often the chosen one.
  candidates = range(len(pretrained.steps))
  if rule == "last":
    candidates = candidates[-1:]
  elif config.pretrain.get("candidates"):
    candidates = candidates[-config.pretrain.candidates:]
  restarts_by_modularity = (rule == "modularity" and
                            config.kmeans.restarts_by == "modularity")
  record_file = os.path.join(run.model_dir, "initialise_centres.npz")
  seconds = progress.Timings()
  if os.path.exists(record_file):  # Chosen before the run was interrupted.
    record = model_dir_lib.load_arrays(record_file)
    choice = _saved_choice(record_file, json.loads(str(record["choice"])),
                           len(candidates))
    centers, cluster_ids = record["cluster_centers"], record["cluster_ids"]
  else:
    proposals = {}

    def cluster_ids_of(i: int) -> np.ndarray:
      last.clear()  # One embedding in memory at a time.
      pretrained.encoder.set_weights(pretrained.weights[candidates[i]])
      with seconds.measure("embed", log=False):
        last[i] = embed(prepared, pretrained.encoder)
      with seconds.measure("kmeans", log=False):
        proposals[i] = selection.kmeans(
            last[i], prepared.n_clusters,
            seed=config.seed, n_init=config.kmeans.n_init,
            max_iter=config.kmeans.max_iter,
            batch_size=config.kmeans.get("batch_size"),
            sample_size=config.kmeans.get("sample_size"),
            edges=edges if restarts_by_modularity else None)
      return proposals[i][1]

    choice = selection.best_by_modularity(
        edges, [pretrained.steps[i] for i in candidates], cluster_ids_of,
        rule)
    centers, cluster_ids = proposals[choice.index]
    model_dir_lib.save_arrays(record_file, dict(
        choice=np.array(json.dumps(dataclasses.asdict(choice))),
        cluster_centers=centers, cluster_ids=cluster_ids))
  pretrained.encoder.set_weights(
      pretrained.weights[candidates[choice.index]])
  with seconds.measure("evaluate", log=False):
    metrics = evaluation.evaluate(cluster_ids, prepared.graph.labels, edges)
  run.log(f"[dink] pretrain: kept step {choice.step} of "
          f"{pretrained.steps[-1]} ({_rule_note(rule)})")
  run.log("[dink] k-means on pretrained embeddings: "
          f"{format_metrics(metrics)}")
  z = last.pop(choice.index, None)
  if z is None:
    with seconds.measure("embed", log=False):
      z = embed(prepared, pretrained.encoder)
  return Initialised(choice, z, centers, cluster_ids, metrics,
                     seconds.seconds)


def _saved_choice(path: str, record: Any, num_candidates: int
                  ) -> selection.Choice:
  """The `Choice` saved in `path`, checked against the candidates."""
  try:
    choice = selection.Choice(int(record["index"]), list(record["history"]))
    if len(choice.history) == num_candidates and (
        0 <= choice.index < num_candidates):
      return choice
  except (KeyError, TypeError, ValueError):
    pass
  raise ValueError(f"{path} does not record a choice among the "
                   f"{num_candidates} candidates: delete it to choose again, "
                   "or pass --overwrite to start over.")


def _clustering_task(config: ml_collections.ConfigDict, prepared: Prepared,
                     cluster_centers: np.ndarray,
                     **kwargs) -> tasks.DinkClusteringTask:
  ft = config.finetune
  return tasks.DinkClusteringTask(
      prepared.node_set_name, n_clusters=prepared.n_clusters,
      readout="all_nodes",
      cluster_centers=cluster_centers,
      dilation_loss_weight=ft.dilation_loss_weight,
      shrink_loss_weight=ft.shrink_loss_weight, shrink=ft.shrink,
      temperature=ft.temperature, stop_gradient=ft.stop_gradient,
      max_center_norm=ft.max_center_norm, **kwargs)


def _smoothing_kwargs(prepared: Prepared) -> dict[str, Any]:
  return dict(propagation_steps=prepared.embedding.propagation_steps,
              edge_set_name=prepared.embedding.edge_set_name)


def finetune(run: Run, prepared: Prepared, pretrained: Pretrained,
             initialised: Initialised) -> FineTuned:
  """Fine-tunes the centres (and, unless frozen, the encoder); chooses an epoch.

  With a frozen encoder (`config_lib.frozen_encoder`) the embedding does not
  change, so it is computed once and only the centres train, on it. Otherwise
  the clustering task trains beside the (re-weighted) discrimination task.
  The candidates are k-means' own centres (step 0) and every epoch's end.
  """
  config = run.config
  encoder = pretrained.encoder
  initial_weights = None
  if config_lib.frozen_encoder(config):
    # `initialised.z` is the clustering embedding, normalised already.
    dink = _clustering_task(config, prepared, initialised.cluster_centers,
                            normalize_embeddings=False)
    mode = _encoded(config, prepared, initialised.z)
    task, model_fn = {"dink": dink}, _identity_model
  else:
    dink = _clustering_task(config, prepared, initialised.cluster_centers,
                            **_smoothing_kwargs(prepared))
    weight = config.finetune.discrimination_loss_weight
    pretrained.dgi.stacked_views = False  # Multi-task: the spec is shared,
    if pretrained.dgi.second_augmentor is not None:  # so no dropped edges.
      for name, value in _second_view(config, "columns").items():
        setattr(pretrained.dgi, name, value)
    pretrained.dgi.scale_loss_weights(weight)
    mode, initial_weights = prepared.mode, encoder.get_weights()
    task, model_fn = {"dgi": pretrained.dgi, "dink": dink}, lambda _: encoder

  def state() -> Arrays:
    weights = [] if initial_weights is None else encoder.get_weights()
    return dict(cluster_centers=dink.cluster_head.cluster_centers.numpy(),
                **_weight_arrays(weights))

  steps, states = _fit(run, "finetune", config.finetune, task=task,
                       mode=mode, model_fn=model_fn, state_fn=state)
  states = states.prepended(dict(cluster_centers=initialised.cluster_centers,
                                 **_weight_arrays(initial_weights or [])))

  def embedding_of(i: int) -> np.ndarray:
    if initial_weights is None:
      return initialised.z
    encoder.set_weights(_weights_of(states[i]))
    return embed(prepared, encoder)

  choice_file = os.path.join(run.model_dir, "finetune", "choice.json")
  if os.path.exists(choice_file):  # Chosen before the run was interrupted.
    choice = _saved_choice(choice_file, model_dir_lib.read_json(choice_file),
                           len(states))
  else:
    choice = selection.best_by_modularity(
        prepared.graph.edges, [0, *steps],
        lambda i: assign(embedding_of(i), states[i]["cluster_centers"]),
        config.selection, margin=config.finetune.modularity_margin)
    _files.write_json_atomically(choice_file, dataclasses.asdict(choice))
  run.log(f"[dink] fine-tune: kept step {choice.step} of "
          f"{steps[-1]} ({_rule_note(config.selection)})")
  return FineTuned(choice, embedding_of(choice.index),
                   states[choice.index]["cluster_centers"])


@dataclasses.dataclass(frozen=True)
class _Encoded:
  """Training input of a frozen fine-tune: its embedding, whole or in rows."""
  provider: runner.DatasetProvider
  spec: tfgnn.GraphTensorSpec
  description: str
  examples_per_replica: int = 1  # Each element a whole step's input.


def _encoded(config: ml_collections.ConfigDict, prepared: Prepared,
             z: np.ndarray) -> _Encoded:
  """The frozen embedding `z` as training data of the clustering task.

  Full-graph steps see every node's embedding; with `config.batch_size`
  (graphs too large for full-graph steps) steps see batches of that many
  rows, as Dink-Net fine-tunes on large graphs: each step then costs the
  same however many nodes the graph has.
  """
  if config.get("batch_size") is None:
    graph = prepared.graph_tensor.replace_features(node_sets={
        prepared.node_set_name: {tfgnn.HIDDEN_STATE: _arrays.as_tensor(z)}})
    return _Encoded(inputs.FullGraphDatasetProvider(graph), graph.spec,
                    "full-graph steps on the frozen embedding")
  provider = inputs.NodeRowsDatasetProvider(
      {tfgnn.HIDDEN_STATE: _arrays.as_tensor(z)}, config.batch_size,
      node_set_name=prepared.node_set_name, seed=config.seed)
  spec = provider.to_graph({tfgnn.HIDDEN_STATE: z[:1]}).spec.relax(
      num_nodes=True)
  return _Encoded(provider, spec, f"steps of {config.batch_size} rows of the "
                  "frozen embedding per replica")


def _identity_model(spec: tfgnn.GraphTensorSpec) -> tf.keras.Model:
  graph = tf.keras.Input(type_spec=spec)
  return tf.keras.Model(graph, tfgnn.keras.layers.MapFeatures()(graph))


def export(run: Run, prepared: Prepared, pretrained: Pretrained,
           finetuned: FineTuned) -> str:
  """Saves the reported model: the serving SavedModel and a checkpoint.

  `MODEL_DIR/export` takes serialized GraphTensors as given to `prepare`
  (features unprocessed) and runs the feature processors, the encoder and
  the clustering task with the chosen centres. `MODEL_DIR/checkpoint/model`
  is a `tf.train.Checkpoint` of the same `encoder` and `cluster_centers`
  (the chosen epochs, not the last ones). Returns the export's path.
  """
  path = os.path.join(run.model_dir, "export")
  save_serving_model(run.config, prepared, pretrained.encoder,
                     finetuned.cluster_centers, path)
  checkpoint = tf.train.Checkpoint(
      encoder=pretrained.encoder,
      cluster_centers=tf.Variable(finetuned.cluster_centers))
  with _files.directory_atomically(
      os.path.join(run.model_dir, "checkpoint")) as staging:
    checkpoint.write(os.path.join(staging, "model"))
  run.log("[dink] serving signature of export/: "
          + export_lib.describe_serving_signature(path))
  return path


def save_serving_model(config: ml_collections.ConfigDict, prepared: Prepared,
                       encoder: tf.keras.Model, cluster_centers: np.ndarray,
                       path: str) -> None:
  """Saves the serving SavedModel of `encoder` and `cluster_centers` to `path`.

  It takes serialized GraphTensors as given to `prepare` (features
  unprocessed) and runs the feature processors, the encoder and the
  clustering task (atomically: a crash leaves no half-written `path`).
  """
  serving_task = _clustering_task(config, prepared, cluster_centers,
                                  **_smoothing_kwargs(prepared))
  export_lib.save_serving_model(
      prepared.mode.serving_encoder(encoder), serving_task,
      prepared.mode.graph_spec, path,
      feature_processors=prepared.feature_processors)


def assign_and_evaluate(run: Run, prepared: Prepared,
                        finetuned: FineTuned) -> Assigned:
  """Assigns every node to its nearest chosen centre and evaluates."""
  if not np.all(np.isfinite(finetuned.z)):
    raise FloatingPointError("Embeddings contain NaN/inf after training.")
  cluster_ids = assign(finetuned.z, finetuned.cluster_centers)
  metrics = evaluation.evaluate(cluster_ids, prepared.graph.labels,
                                prepared.graph.edges)
  collapsed = metrics["non_empty_clusters"] < prepared.n_clusters / 2
  if collapsed:
    run.log(f"[dink] ERROR: collapse: only {metrics['non_empty_clusters']} "
            f"of {prepared.n_clusters} clusters are non-empty. Lower "
            "finetune.learning_rate or finetune.steps, or keep "
            "finetune.stop_gradient=True.")
  return Assigned(cluster_ids, metrics, bool(collapsed))


def write_results(run: Run, prepared: Prepared, initialised: Initialised,
                  finetuned: FineTuned, assigned: Assigned,
                  timings: dict[str, float],
                  resumed: bool = False) -> dict[str, Any]:
  """Writes `results.json` and the cluster ids atomically; returns results.

  The cluster ids go to `cluster_ids.csv` and, where pyarrow is installed,
  `cluster_ids.parquet`, keyed by the graph's own node ids where it has them
  (`assignments`).

  `resumed`: the run continued a stopped one (its `timings_s` then count
  this process's work only). `initialise_centres_s`: where that stage's
  time went (`Initialised.seconds`).
  """
  results = {
      "dataset": prepared.graph.name, "num_nodes": prepared.graph.num_nodes,
      "num_edges": prepared.graph.edges.shape[1] // 2,  # Undirected.
      "n_clusters": prepared.n_clusters, "metrics": assigned.metrics,
      "kmeans_metrics": initialised.metrics, "collapsed": assigned.collapsed,
      "selection": run.config.selection,
      "pretrain_selected_step": initialised.choice.step,
      "pretrain_modularity": initialised.choice.history,
      "finetune_selected_step": finetuned.choice.step,
      "finetune_modularity": finetuned.choice.history,
      "timings_s": timings,
      "initialise_centres_s": initialised.seconds, "resumed": resumed,
      "config": run.config.to_dict()}
  for name in CLUSTER_IDS_FILES:
    if name.endswith(".csv") or assignments.parquet_available():
      assignments.write(os.path.join(run.model_dir, name),
                        assigned.cluster_ids, prepared.graph.node_ids)
  _files.write_json_atomically(os.path.join(run.model_dir, "results.json"),
                               results)
  run.log(f"[dink] final clustering: {format_metrics(assigned.metrics)}")
  return results


def write_summaries(run: Run, prepared: Prepared, initialised: Initialised,
                    finetuned: FineTuned, assigned: Assigned) -> None:
  """TensorBoard and pictures of the run.

  TensorBoard: the selections' modularity, the final metrics, the embedding
  projector (the training stages wrote their scalars as they trained; see
  `summaries`); with `config.plots`, the PNG files of `plots`.
  """
  summaries.write_choices(run.model_dir, {
      "pretrain": initialised.choice.history,
      "finetune": finetuned.choice.history}, assigned.metrics)
  summaries.write_projector(run.model_dir, finetuned.z, assigned.cluster_ids,
                            prepared.graph.labels, seed=run.config.seed,
                            node_ids=prepared.graph.node_ids)
  if not run.config.get("plots", True):
    return
  try:
    curves = {stage: summaries.read_scalars(
        summaries.directory(run.model_dir, stage))
              for stage in ("pretrain", "finetune")}
    plots.write_all(
        run.model_dir, z=finetuned.z, cluster_ids=assigned.cluster_ids,
        n_clusters=prepared.n_clusters, labels=prepared.graph.labels,
        curves=curves,
        histories={"pretrain": initialised.choice.history,
                   "finetune": finetuned.choice.history},
        chosen={"pretrain": initialised.choice.step,
                "finetune": finetuned.choice.step}, seed=run.config.seed)
  except Exception as e:  # pylint: disable=broad-except
    # Pictures are not worth a finished run: say so and go on.
    run.log(f"[dink] WARNING: no plots ({type(e).__name__}: {e}); the "
            "results are complete. config.plots=False skips them.")


def _rule_note(rule: str) -> str:
  return ("highest modularity; label-free" if rule == "modularity" else
          "the last one")


def format_metrics(metrics: dict[str, Any]) -> str:
  """`metrics` on one line, for the log."""
  return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in sorted(metrics.items()))
