"""The Dink-Net recipe end to end, on one in-memory graph.

pretrain (Dink-Net discrimination) -> embed (h + A_hat^p h, normalised) ->
k-means centres -> fine-tune the centres (dilation + shrink; with
`finetune.stop_gradient=False` or a discrimination weight, the encoder too)
-> assign -> evaluate -> write results -> export a SavedModel. Training runs
through `tensorflow_gnn.runner.run` under the given `tf.distribute` strategy;
labels are used only to count classes (K) and to evaluate. With
`config.batch_size`, pretraining runs on batches of precomputed `A_hat X` node
rows instead of full-graph steps (see `propagation.py`); everything after it
is unchanged, and the export is the same GCN.

Model selection uses no labels. With `config.selection="modularity"` (the
default) graph modularity chooses three times: the k-means restart, the
pretraining epoch (each epoch's encoder is embedded and clustered) and the
fine-tuning epoch (including k-means' own centres). With `"last"`: the last
pretraining step, the lowest-inertia restart and the last fine-tuning step.

Files written to `model_dir` (each atomically):
  * `results.json`: `metrics` (ACC/NMI/ARI/F1 as fractions when labels are
    known; label-free `modularity`, `conductance`, `non_empty_clusters`),
    the same for k-means before fine-tuning (`kmeans_metrics`), `collapsed`,
    the `selection` rule, the chosen steps and the modularity per candidate
    (`pretrain_selected_step`, `pretrain_modularity`,
    `finetune_selected_step`, `finetune_modularity`), `n_clusters`,
    `timings_s` per stage, the config;
  * `cluster_ids.csv`: `node_id,cluster_id` for every node;
  * `export/`: the serving SavedModel (see `export.py`);
  * `pretrain/`, `finetune/`: the runner's checkpoints and summaries.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Callable, Optional

import ml_collections
import numpy as np
from sklearn import cluster as sk_cluster
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import data
from tensorflow_gnn_dink import evaluation
from tensorflow_gnn_dink import export
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import io_utils
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import losses
from tensorflow_gnn_dink import models
from tensorflow_gnn_dink import propagation
from tensorflow_gnn_dink import tasks

NODE_SET = "nodes"
EDGE_SET = "edges"
SELECTIONS = ("modularity", "last")


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
  if n_clusters < 2:
    raise ValueError(f"n_clusters must be at least 2, got {n_clusters}.")
  if n_clusters > graph.num_nodes:
    raise ValueError(f"n_clusters={n_clusters} exceeds the number of nodes "
                     f"({graph.num_nodes}): pass a smaller n_clusters.")
  return int(n_clusters)


def prepare_graph(graph: data.Graph,
                  config: ml_collections.ConfigDict) -> data.Graph:
  """Validates the graph and normalises its features as the config says."""
  data.validate(graph)
  mode = config.data.normalize_features
  if mode == "none":
    return graph
  if mode != "row":
    raise ValueError(f"config.data.normalize_features must be 'row' or "
                     f"'none', got {mode!r}.")
  row_sums = np.abs(graph.features).sum(axis=1, keepdims=True)
  features = graph.features / np.where(row_sums > 0, row_sums, 1.0)
  return dataclasses.replace(graph, features=features.astype(np.float32))


def kmeans(z: np.ndarray, n_clusters: int, *, seed: int, n_init: int = 10,
           max_iter: int = 300,
           edges: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
  """k-means++ with `n_init` restarts; the best is chosen without labels.

  Without `edges`, the restart with the lowest inertia (scikit-learn's rule).
  With the graph's `edges` (`[2, num_edges]`, both directions), the restart
  whose partition has the highest graph modularity: on graphs, restarts with
  nearly equal inertia can differ by several points of accuracy, and
  modularity tells them apart (measured on Amazon-Photo, see README).

  Returns:
    The `[K, dim]` float32 centres and the `[num_nodes]` cluster ids.
  """
  if edges is None:
    km = sk_cluster.KMeans(n_clusters=n_clusters, n_init=n_init,
                           max_iter=max_iter, random_state=seed).fit(z)
    return km.cluster_centers_.astype(np.float32), km.labels_
  best, best_q = None, -np.inf
  for i in range(n_init):
    km = sk_cluster.KMeans(n_clusters=n_clusters, n_init=1,
                           max_iter=max_iter, random_state=seed + i).fit(z)
    q = evaluation.modularity(edges, km.labels_)
    if q > best_q:
      best, best_q = km, q
  return best.cluster_centers_.astype(np.float32), best.labels_


def run(config: ml_collections.ConfigDict,
        graph: data.Graph,
        model_dir: str,
        *,
        strategy: Optional[tf.distribute.Strategy] = None,
        log: Callable[[str], None] = print) -> dict:
  """Runs the whole recipe; returns the content of `results.json`."""
  timings = {}
  start = time.perf_counter()
  tf.keras.utils.set_random_seed(config.seed)
  n_clusters = resolve_n_clusters(config, graph)
  graph = prepare_graph(graph, config)
  graph_tensor = data.to_graph_tensor(graph, node_set_name=NODE_SET,
                                      edge_set_name=EDGE_SET)
  strategy = strategy or tf.distribute.get_strategy()
  log(f"[dink] graph {graph.name}: {graph.num_nodes} nodes, "
      f"{graph.edges.shape[1] // 2} edges, {graph.features.shape[1]} "
      f"features; K={n_clusters}; {strategy.num_replicas_in_sync} replica(s)")

  by_modularity = _check_selection(config)
  ft = config.finetune
  frozen = ft.stop_gradient and ft.discrimination_loss_weight <= 0
  build_gcn = models.make_gcn_model_fn(
      node_set_name=NODE_SET, edge_set_name=EDGE_SET,
      hidden_units=config.model.hidden_units,
      num_layers=config.model.num_layers, seed=config.seed)
  batch_size = config.get("batch_size")
  if batch_size is None:  # Full graph: every step sees the whole graph.
    pretrain_data = inputs.FullGraphDatasetProvider(graph_tensor)
    pretrain_spec = graph_tensor.spec
    build_encoder = build_gcn
  else:  # Batches of A_hat X rows (see `propagation`), done once.
    _check_batch_training(config, frozen, graph.num_nodes)
    t = time.perf_counter()
    a_hat = propagation.normalized_adjacency(graph.edges, graph.num_nodes)
    rows = propagation.gcn_input_rows(a_hat, graph.features, seed=config.seed)
    timings["precompute"] = time.perf_counter() - t
    pretrain_data = inputs.NodeRowsDatasetProvider(
        rows, batch_size, node_set_name=NODE_SET, seed=config.seed)
    pretrain_spec = pretrain_data.to_graph(
        {k: tf.constant(v[:1]) for k, v in rows.items()}).spec.relax(
            num_nodes=True)
    build_encoder = models.make_gcn_rows_model_fn(
        node_set_name=NODE_SET, hidden_units=config.model.hidden_units,
        seed=config.seed)
  encoders = []

  def model_fn(spec):  # One encoder, shared by both stages.
    if not encoders:
      encoders.append(build_encoder(spec))
    return encoders[0]

  def train(stage, stage_tasks, stage_config, data_provider, spec,
            stage_model_fn=model_fn, callbacks=()):
    steps_per_epoch = min(config.steps_per_epoch, stage_config.steps)
    trainer = runner.KerasTrainer(
        strategy, model_dir=os.path.join(model_dir, stage),
        steps_per_epoch=steps_per_epoch, verbose=2,
        summarize_every_n_steps="never", callbacks=list(callbacks))
    what = ("full-graph steps" if batch_size is None or stage != "pretrain"
            else f"steps of {batch_size} node rows per replica")
    log(f"[dink] {stage}: {stage_config.steps} {what}, "
        f"lr {stage_config.learning_rate}, tasks {sorted(stage_tasks)}")
    t = time.perf_counter()
    runner.run(
        train_ds_provider=data_provider,
        model_fn=stage_model_fn,
        optimizer_fn=lambda: tf.keras.optimizers.Adam(
            stage_config.learning_rate),
        trainer=trainer, task=stage_tasks, gtspec=spec,
        global_batch_size=strategy.num_replicas_in_sync,
        epochs=math.ceil(stage_config.steps / steps_per_epoch),
        model_exporters=[])
    timings[stage] = time.perf_counter() - t

  smoothing = layers.MultiHopSmoothing(
      config.embedding.propagation_steps, node_set_name=NODE_SET,
      edge_set_name=EDGE_SET)

  def embed() -> np.ndarray:
    if batch_size is None:
      z = smoothing(encoders[0](graph_tensor))
      return tf.math.l2_normalize(z, axis=-1).numpy()
    h = []  # The encoder on A_hat X, in chunks of rows.
    for i in range(0, graph.num_nodes, 8192):
      chunk = tf.constant(rows["feat"][i:i + 8192])
      batch = pretrain_data.to_graph({"feat": chunk, "feat_negative": chunk})
      h.append(encoders[0](batch).node_sets[NODE_SET][tfgnn.HIDDEN_STATE])
    h = np.concatenate(h)
    return propagation.smoothed_embedding(
        a_hat, h, config.embedding.propagation_steps)

  # Dink-Net's views: the same feature columns dropped in both, rows shuffled
  # in the negative one.
  dgi = tasks.DeepGraphInfomaxTask(
      NODE_SET, readout="all_nodes",
      augmentor=layers.DropFeatureColumns(
          rate=config.pretrain.feature_drop_rate, seed=config.seed),
      corruptor=(layers.ShuffleFeaturesGlobally(seed=config.seed)
                 if batch_size is None else layers.ReplaceFeature(
                     node_set_name=NODE_SET, source="feat_negative")),
      dgi_loss_weight=config.pretrain.dgi_loss_weight,
      discrimination_loss_weight=config.pretrain.discrimination_loss_weight,
      svd_metrics=False)

  def propose_pretrained():  # Embed, then k-means (timed as "kmeans").
    t = time.perf_counter()
    z = embed()
    centers, ids = kmeans(z, n_clusters, seed=config.seed,
                          n_init=config.kmeans.n_init,
                          max_iter=config.kmeans.max_iter,
                          edges=graph.edges if by_modularity else None)
    timings["kmeans"] = timings.get("kmeans", 0.0) + time.perf_counter() - t
    return ids, (z, centers, ids)

  # With modularity selection every pretraining epoch is a candidate;
  # otherwise only the last step.
  pretrain_selector = _Selector(propose_pretrained, graph.edges,
                                encoder_fn=lambda: encoders[0],
                                initial=False)
  train("pretrain", {"dgi": dgi}, config.pretrain, pretrain_data,
        pretrain_spec, callbacks=[pretrain_selector] if by_modularity else [])
  if not by_modularity:
    pretrain_selector.steps_seen = config.pretrain.steps
    pretrain_selector.consider()
  else:  # The callback's embedding + k-means time is not pretraining.
    timings["pretrain"] -= timings["kmeans"]
  pretrain_selector.restore()
  z, centers, kmeans_ids = pretrain_selector.best_state
  kmeans_metrics = evaluation.evaluate(kmeans_ids, graph.labels, graph.edges)
  log(f"[dink] pretrain: kept step {pretrain_selector.best_step} of "
      f"{config.pretrain.steps} ({_selection_note(by_modularity)})")
  log(f"[dink] k-means on pretrained embeddings: {_format(kmeans_metrics)}")

  task_kwargs = dict(
      n_clusters=n_clusters, readout="all_nodes",
      dilation_loss_weight=ft.dilation_loss_weight,
      shrink_loss_weight=ft.shrink_loss_weight, shrink=ft.shrink,
      temperature=ft.temperature, stop_gradient=ft.stop_gradient,
      max_center_norm=ft.max_center_norm)
  smoothing_kwargs = dict(propagation_steps=config.embedding.propagation_steps,
                          edge_set_name=EDGE_SET)
  if frozen:
    # Nothing trains the encoder in this stage, so its smoothed, normalised
    # embedding is computed once and the centres are fine-tuned on it.
    dink = tasks.DinkClusteringTask(NODE_SET, cluster_centers=centers,
                                    **task_kwargs)
    encoded = graph_tensor.replace_features(
        node_sets={NODE_SET: {tfgnn.HIDDEN_STATE: tf.constant(z)}})
    selector = _Selector(lambda: _propose_centers(dink, z, centers),
                         graph.edges,
                         by_modularity=by_modularity)
    train("finetune", {"dink": dink}, ft,
          inputs.FullGraphDatasetProvider(encoded), encoded.spec,
          stage_model_fn=_identity_model, callbacks=[selector])
  else:
    dink = tasks.DinkClusteringTask(NODE_SET, cluster_centers=centers,
                                    **task_kwargs, **smoothing_kwargs)
    dgi.dgi_loss_weight *= ft.discrimination_loss_weight
    dgi.discrimination_loss_weight *= ft.discrimination_loss_weight
    selector = _Selector(lambda: _propose_centers(dink, embed(), centers),
                         graph.edges, by_modularity=by_modularity,
                         encoder_fn=lambda: encoders[0])
    train("finetune", {"dgi": dgi, "dink": dink}, ft,
          pretrain_data, pretrain_spec, callbacks=[selector])
  selector.restore()
  best_centers = selector.best_state
  log(f"[dink] fine-tune: kept step {selector.best_step} of "
      f"{selector.steps_seen} ({_selection_note(by_modularity)})")

  t = time.perf_counter()
  serving_task = tasks.DinkClusteringTask(
      NODE_SET, cluster_centers=best_centers, **task_kwargs,
      **smoothing_kwargs)
  encoder = encoders[0]
  if batch_size is not None:  # The same GCN, on the graph itself.
    encoder = build_gcn(graph_tensor.spec)
    encoder.set_weights(encoders[0].get_weights())
  export.save_serving_model(encoder, serving_task, graph_tensor.spec,
                            os.path.join(model_dir, "export"))
  timings["export"] = time.perf_counter() - t

  t = time.perf_counter()
  if not frozen:  # Otherwise the encoder, and so `z`, did not change.
    z = embed()
  cluster_ids = _assign(z, best_centers)
  metrics = evaluation.evaluate(cluster_ids, graph.labels, graph.edges)
  timings["assign_and_evaluate"] = time.perf_counter() - t
  collapsed = metrics["non_empty_clusters"] < n_clusters / 2
  if collapsed:
    log(f"[dink] ERROR: collapse: only {metrics['non_empty_clusters']} of "
        f"{n_clusters} clusters are non-empty. Lower finetune.learning_rate "
        "or finetune.steps, or keep finetune.stop_gradient=True.")
  if not np.all(np.isfinite(z)):
    raise FloatingPointError("Embeddings contain NaN/inf after training.")
  timings["total"] = time.perf_counter() - start
  results = {"dataset": graph.name, "num_nodes": graph.num_nodes,
             "n_clusters": n_clusters, "metrics": metrics,
             "kmeans_metrics": kmeans_metrics, "collapsed": bool(collapsed),
             "selection": config.selection,
             "pretrain_selected_step": pretrain_selector.best_step,
             "pretrain_modularity": pretrain_selector.history,
             "finetune_selected_step": selector.best_step,
             "finetune_modularity": selector.history,
             "timings_s": timings, "config": config.to_dict()}
  io_utils.write_text_atomically(
      os.path.join(model_dir, "cluster_ids.csv"),
      "node_id,cluster_id\n" + "".join(
          f"{i},{c}\n" for i, c in enumerate(cluster_ids)))
  io_utils.write_json_atomically(os.path.join(model_dir, "results.json"),
                                 results)
  log(f"[dink] final clustering: {_format(metrics)}")
  log(f"[dink] wrote {model_dir}/results.json, cluster_ids.csv, export/ "
      f"({timings['total']:.1f}s)")
  return results


def _assign(z: np.ndarray, centers: np.ndarray) -> np.ndarray:
  """Nearest centre of each row (squared Euclidean), `[num_nodes]`."""
  return losses.hard_assignments(z, centers).numpy()


class _Selector(tf.keras.callbacks.Callback):
  """Label-free checkpoint choice, once before training and after each epoch.

  `propose()` returns `(cluster_ids, state)` for the model as it is now. With
  `by_modularity`, the proposal whose partition has the highest graph
  modularity is kept, else the latest one. With `encoder_fn` (returning the
  encoder), the encoder's weights are kept alongside `state`; `restore()`
  puts them back.
  """

  def __init__(self, propose, edges, *, by_modularity=True, encoder_fn=None,
               initial=True):
    super().__init__()
    self._propose = propose
    self._edges = edges
    self._by_modularity = by_modularity
    self._encoder_fn = encoder_fn
    self.steps_seen = 0
    self.history = []  # [steps, modularity] per proposal.
    self.best_modularity = -np.inf
    self.best_step = None
    self.best_state = None
    if initial:
      self.consider()

  def consider(self):
    ids, state = self._propose()
    q = evaluation.modularity(self._edges, ids)
    self.history.append([self.steps_seen, q])
    if not self._by_modularity or q > self.best_modularity:
      self.best_modularity, self.best_step = q, self.steps_seen
      self.best_state = state
      if self._encoder_fn is not None:
        self._best_weights = self._encoder_fn().get_weights()

  def on_epoch_end(self, epoch, logs=None):
    self.steps_seen = (epoch + 1) * self.params["steps"]
    self.consider()

  def restore(self):
    if self._encoder_fn is not None:
      self._encoder_fn().set_weights(self._best_weights)


def _propose_centers(dink, z, initial_centers=None):
  """The fine-tune proposal: assignment of `z` to the head's centres.

  Before the head is built (the proposal before training), `initial_centers`
  stand in for its centres.
  """
  head = dink.cluster_head
  centers = (head.cluster_centers.numpy() if head is not None and head.built
             else initial_centers)
  return _assign(z, centers), np.array(centers)


def _check_selection(config) -> bool:
  """True for `selection="modularity"`, False for `"last"`; else an error."""
  if config.selection not in SELECTIONS:
    raise ValueError(f"config.selection must be one of {SELECTIONS}, got "
                     f"{config.selection!r}.")
  return config.selection == "modularity"


def _check_batch_training(config, frozen: bool, num_nodes: int) -> None:
  """Batch training covers the one-layer GCN and a frozen fine-tune."""
  if config.model.num_layers != 1:
    raise ValueError(
        "config.batch_size trains a one-layer GCN on precomputed A_hat X "
        f"rows, but config.model.num_layers={config.model.num_layers}: set "
        "config.model.num_layers=1, or config.batch_size=None for "
        "full-graph training.")
  if not frozen:
    raise ValueError(
        "config.batch_size fine-tunes the centres on the frozen encoder's "
        "embedding: keep config.finetune.stop_gradient=True and "
        "config.finetune.discrimination_loss_weight=0, or set "
        "config.batch_size=None for full-graph training.")
  if not 1 <= config.batch_size <= num_nodes:  # Before any precomputation.
    raise ValueError(f"config.batch_size must be in [1, {num_nodes}] (the "
                     f"number of nodes) or None, got {config.batch_size}.")


def _selection_note(by_modularity: bool) -> str:
  return ("highest modularity; label-free" if by_modularity else
          "the last one")


def _identity_model(spec: tfgnn.GraphTensorSpec) -> tf.keras.Model:
  inputs = tf.keras.Input(type_spec=spec)
  return tf.keras.Model(inputs, tfgnn.keras.layers.MapFeatures()(inputs))


def _format(metrics: dict) -> str:
  return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in sorted(metrics.items()))
