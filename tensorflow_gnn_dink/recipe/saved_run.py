"""A finished run used again: predict, evaluate and export from its model.

`pipeline.run` leaves in its model directory the config it ran with
(`run.json`) and the reported model (`checkpoint/model`: the encoder and the
chosen `cluster_centers`). `restore` rebuilds that model for a graph
prepared exactly as `train` prepares it (`stages.prepare` with the run's
config), so that `predict` on the graph `train` read gives exactly its
`cluster_ids.csv`: the same code computes the embedding and the assignment.
The command line's `predict`, `evaluate` and `export` are built on this.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

import ml_collections
import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import model_dir as model_dir_lib
from tensorflow_gnn_dink.recipe import stages

CHECKPOINT = os.path.join("checkpoint", "model")
_CENTERS_KEY = "cluster_centers/.ATTRIBUTES/VARIABLE_VALUE"


def load_config(model_dir: str) -> ml_collections.ConfigDict:
  """The config of the finished run in `model_dir`.

  Raises:
    ValueError: `model_dir` holds no finished run (say how to make one).
  """
  if not os.path.isdir(model_dir):
    raise ValueError(f"--model_dir {model_dir} is not a directory: pass the "
                     "--model_dir of a finished `tfgnn-dink train` run.")
  missing = [name for name in (model_dir_lib.RUN_FILE,
                               model_dir_lib.RESULTS_FILE,
                               CHECKPOINT + ".index")
             if not os.path.exists(os.path.join(model_dir, name))]
  if missing:
    raise ValueError(
        f"{model_dir} holds no finished run (no {', '.join(missing)}): "
        f"train one there first (tfgnn-dink train --model_dir={model_dir} "
        "...), or pass the --model_dir of a finished run.")
  record = model_dir_lib.read_json(
      os.path.join(model_dir, model_dir_lib.RUN_FILE))
  if not isinstance(record, dict) or not isinstance(record.get("config"),
                                                    dict):
    raise ValueError(f"{model_dir}/{model_dir_lib.RUN_FILE} is not a run "
                     "record: train again there with --overwrite.")
  # A field added since the run was trained keeps that code's behaviour.
  return config_lib.saved_config(record["config"])


def read_graph(config: ml_collections.ConfigDict,
               path: Optional[str] = None
               ) -> data.Graph | heterogeneous.HeterogeneousGraph:
  """The graph at `path`, else the one `config` names, read as `train` does.

  A graph of many node sets (a file of several, or `config.synthetic.kind
  = "citation"`) clusters `config.node_set` (the synthetic one: `"paper"`
  unless it is given).
  """
  if path is not None and not path.strip():
    raise ValueError("--data is empty: pass a graph file or directory, or "
                     "leave --data out.")
  path = path or config.data.path
  node_set = config.get("node_set")
  if path:
    return loaders.load(path, node_set_name=node_set)
  synthetic = config.synthetic.to_dict()
  if synthetic.pop("kind", "csbm") == "citation":
    graph = heterogeneous.make_citation_graph(seed=config.seed,
                                              **config.citation)
    return graph.with_node_set(node_set) if node_set else graph
  return data.make_csbm(seed=config.seed, **synthetic)


def clustered(graph: data.Graph | heterogeneous.HeterogeneousGraph
              ) -> data.Graph:
  """The graph of the clustered nodes (a node set of a many-typed graph)."""
  if isinstance(graph, heterogeneous.HeterogeneousGraph):
    return graph.clustered()
  return graph


@dataclasses.dataclass(frozen=True)
class Restored:
  """The model of a finished run, ready for one graph.

  Attributes:
    config: The run's config (`n_clusters` set to the model's K).
    prepared: The graph as `train` prepares it with that config.
    encoder: The trained encoder, with the reported weights.
    cluster_centers: `[K, dim]` the reported centres.
  """
  config: ml_collections.ConfigDict
  prepared: stages.Prepared
  encoder: tf.keras.Model
  cluster_centers: np.ndarray


def restore(model_dir: str,
            graph: data.Graph | heterogeneous.HeterogeneousGraph,
            config: Optional[ml_collections.ConfigDict] = None) -> Restored:
  """Rebuilds the reported model of the run in `model_dir` for `graph`.

  Args:
    model_dir: The directory of a finished run.
    graph: Any graph with the features the model was trained on (the
      same number of columns, as `train` read them).
    config: The run's config (default: `load_config(model_dir)`).

  Raises:
    ValueError: no finished run, or a graph the model cannot take.
  """
  config = ml_collections.ConfigDict(
      (config or load_config(model_dir)).to_dict())
  prefix = os.path.join(model_dir, CHECKPOINT)
  try:
    reader = tf.train.load_checkpoint(prefix)
    trained_width = _trained_width(reader)
    centers_shape = reader.get_variable_to_shape_map()[_CENTERS_KEY]
  except (tf.errors.OpError, KeyError, ValueError) as e:
    raise ValueError(f"{prefix} is not a readable checkpoint of this recipe "
                     f"({type(e).__name__}): train again there with "
                     "--overwrite.") from e
  if isinstance(graph, data.Graph) and graph.num_features != trained_width:
    raise ValueError(
        f"The graph has {graph.num_features} feature columns; the model in "
        f"{model_dir} was trained on {trained_width}. Pass a graph with the "
        "same features (the same vocabulary, in the same order).")
  config.n_clusters = int(centers_shape[0])  # Not the graph's label count.
  if config.get("batch_size") is not None:  # Rows are embedded in chunks.
    config.batch_size = min(config.batch_size, graph.num_nodes)
  prepared = stages.prepare(config, graph, training=False)
  encoder = prepared.mode.encoder_to_restore()
  centers = tf.Variable(tf.zeros(centers_shape))
  try:
    tf.train.Checkpoint(encoder=encoder, cluster_centers=centers).read(
        prefix).assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    raise ValueError(
        f"The model in {model_dir} does not fit this graph ({e}). Pass the "
        "graph it was trained on, or one of the same node sets, edge sets "
        "and feature widths.") from e
  return Restored(config, prepared, encoder, centers.numpy())


def _trained_width(reader: tf.train.CheckpointReader) -> int:
  """The input width of the encoder's first kernel in the checkpoint."""
  shapes = reader.get_variable_to_shape_map()
  kernels = sorted(k for k, shape in shapes.items() if k.startswith(
      "encoder/") and "kernel" in k and len(shape) == 2)
  if not kernels:
    raise KeyError("no encoder kernel")
  return shapes[kernels[0]][0]  # layer_with_weights-0 sorts first.


def predict(restored: Restored) -> np.ndarray:
  """`[num_nodes]` cluster id of every node of the restored graph."""
  z = stages.embed(restored.prepared, restored.encoder)
  if not np.all(np.isfinite(z)):
    raise FloatingPointError("The embedding contains NaN/inf: check the "
                             "graph's features.")
  return stages.assign(z, restored.cluster_centers)


def export(restored: Restored, path: str) -> None:
  """Writes the serving SavedModel of the restored model to `path`."""
  stages.save_serving_model(restored.config, restored.prepared,
                            restored.encoder, restored.cluster_centers, path)


def evaluate(graph: data.Graph | heterogeneous.HeterogeneousGraph,
             cluster_ids: np.ndarray) -> dict[str, Any]:
  """Metrics of `cluster_ids` on `graph`, as `train` reports them.

  Of a graph of many node sets, on its clustered node set (`clustered`).

  Against the labels where the graph has them (ACC, NMI, ARI, F1), and
  label-free always (modularity, conductance, non-empty clusters), on the
  graph's edges as `train` sees them (both directions, no self-loops).
  """
  graph = clustered(graph)
  data.validate(graph)
  edges = data.symmetrize_edges(graph.edges, graph.num_nodes)
  return evaluation.evaluate(cluster_ids, graph.labels, edges)
