"""Readers of on-disk graph formats into `data.Graph`.

Supported (see `load`):
  * gnn-benchmark `.npz` (Shchur et al.): scipy CSR parts of the adjacency and
    the attributes, plus `labels`;
  * Planetoid `ind.NAME.{x,y,tx,ty,allx,ally,graph,test.index}` pickles;
  * an OGB node-property dataset as the `ogb` package lays it out on disk
    (`raw/edge.csv.gz`, `raw/node-feat.csv.gz`, optional
    `raw/node-label.csv.gz`); read, never downloaded;
  * TF-GNN's own files: a `GraphSchema` (`.pbtxt`) and a TFRecord file of
    `tf.Example`s, each one GraphTensor (components are merged).

Every reader returns an undirected graph without self-loops, both edge
directions stored, float32 features, and labels with -1 for unknown.
"""
from __future__ import annotations

import glob
import gzip
import os
import pickle
from typing import Optional

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink.recipe import data


def _float32(matrix) -> data.Features:
  """A float32 CSR matrix if `matrix` is sparse, else a float32 array."""
  if sp.issparse(matrix):
    return sp.csr_matrix(matrix, dtype=np.float32)
  return np.asarray(matrix, dtype=np.float32)


def _edges_from_adjacency(adjacency: sp.spmatrix) -> np.ndarray:
  coo = sp.coo_matrix(adjacency)
  return data.symmetrize_edges(np.stack([coo.row, coo.col]), coo.shape[0])


def load_npz(path: str, name: Optional[str] = None) -> data.Graph:
  """Reads a gnn-benchmark `.npz` file."""
  wanted = ("adj_data", "adj_indices", "adj_indptr", "adj_shape", "attr_data",
            "attr_indices", "attr_indptr", "attr_shape", "attr_matrix",
            "labels")
  try:
    # No pickles: the arrays needed are plain numbers.
    with np.load(path, allow_pickle=False) as f:
      parts = {k: f[k] for k in wanted if k in f.files}
  except (OSError, ValueError, EOFError) as e:
    raise ValueError(f"{path} is not a readable .npz file: {e}") from e
  missing = {"adj_data", "adj_indices", "adj_indptr", "adj_shape"} - set(parts)
  if missing:
    raise ValueError(f"{path} lacks the gnn-benchmark adjacency arrays "
                     f"{sorted(missing)}.")
  adjacency = sp.csr_matrix(
      (parts["adj_data"], parts["adj_indices"], parts["adj_indptr"]),
      shape=tuple(parts["adj_shape"]))
  if "attr_data" in parts:
    features = sp.csr_matrix(
        (parts["attr_data"], parts["attr_indices"], parts["attr_indptr"]),
        shape=tuple(parts["attr_shape"]))
    features.sum_duplicates()
    if np.all(parts["attr_data"] == 1.0):  # Binary, stored with duplicates.
      features.data = np.minimum(features.data, 1.0)
  elif "attr_matrix" in parts:
    features = parts["attr_matrix"]
  else:
    raise ValueError(f"{path} has no node attributes (attr_* arrays).")
  labels = parts.get("labels")
  if labels is not None:
    labels = np.asarray(labels, np.int64)
  return data.Graph(features=_float32(features),
                    edges=_edges_from_adjacency(adjacency),
                    labels=labels,
                    name=name or os.path.basename(path).split(".")[0])


def load_planetoid(path: str) -> data.Graph:
  """Reads Planetoid files; `path` is the directory or `DIR/ind.NAME`.

  Test rows are put back at their `test.index` positions; ids in the test
  range without a row (CiteSeer) get zero features and label -1. Sparse
  features stay sparse.
  """
  if os.path.isdir(path):
    found = sorted(glob.glob(os.path.join(path, "ind.*.graph")))
    if len(found) != 1:
      raise ValueError(f"Expected one ind.NAME.graph in {path}, found "
                       f"{[os.path.basename(f) for f in found]}.")
    prefix = found[0][:-len(".graph")]
  else:
    prefix = path
  name = os.path.basename(prefix)[len("ind."):]

  def read(suffix):
    filename = f"{prefix}.{suffix}"
    if not os.path.exists(filename):
      raise ValueError(f"Planetoid file {filename} is missing.")
    with open(filename, "rb") as f:
      return pickle.load(f, encoding="latin1")

  allx, ally, tx, ty, graph = (read(s) for s in
                               ("allx", "ally", "tx", "ty", "graph"))
  with open(f"{prefix}.test.index") as f:
    test_index = np.array([int(line) for line in f if line.strip()])
  num_nodes = max(allx.shape[0] + (test_index.max() - test_index.min() + 1),
                  max(graph) + 1)
  # Row i of [allx; tx] goes to node position[i].
  position = np.concatenate([np.arange(allx.shape[0]), test_index])
  stacked = sp.coo_matrix(sp.vstack([sp.csr_matrix(allx), sp.csr_matrix(tx)]))
  features = _float32(sp.csr_matrix(
      (stacked.data, (position[stacked.row], stacked.col)),
      shape=(num_nodes, allx.shape[1])))
  if not (sp.issparse(allx) and sp.issparse(tx)):
    features = features.toarray()
  labels = np.full(num_nodes, -1, np.int64)
  labels[:ally.shape[0]] = np.argmax(ally, axis=1)
  test_labels = np.where(np.asarray(ty).sum(1) > 0,
                         np.argmax(ty, axis=1), -1)
  labels[test_index] = test_labels
  src = np.array([s for s, ns in graph.items() for _ in ns], np.int64)
  dst = np.array([d for ns in graph.values() for d in ns], np.int64)
  return data.Graph(features=features,
                    edges=data.symmetrize_edges(np.stack([src, dst]),
                                                num_nodes),
                    labels=labels, name=name)


def _read_csv_gz(filename: str, dtype) -> np.ndarray:
  with gzip.open(filename, "rt") as f:
    return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)


def load_ogb(path: str) -> data.Graph:
  """Reads an OGB node-property dataset directory (the one holding `raw/`)."""
  raw = os.path.join(path, "raw") if os.path.isdir(
      os.path.join(path, "raw")) else path
  edge_file = os.path.join(raw, "edge.csv.gz")
  feat_file = os.path.join(raw, "node-feat.csv.gz")
  for filename in (edge_file, feat_file):
    if not os.path.exists(filename):
      raise ValueError(f"OGB file {filename} is missing (expected the ogb "
                       "package's layout: raw/edge.csv.gz, raw/node-feat.csv.gz"
                       ", optionally raw/node-label.csv.gz).")
  edges = _read_csv_gz(edge_file, np.int64).reshape(-1, 2).T
  features = _read_csv_gz(feat_file, np.float32)
  features = features.reshape(features.shape[0], -1)
  labels = None
  label_file = os.path.join(raw, "node-label.csv.gz")
  if os.path.exists(label_file):
    labels = _read_csv_gz(label_file, np.float64).reshape(-1)
    labels = np.where(np.isnan(labels), -1, labels).astype(np.int64)
  name = os.path.basename(os.path.normpath(path))
  return data.Graph(features=features,
                    edges=data.symmetrize_edges(edges, features.shape[0]),
                    labels=labels, name=name)


def load_tfgnn(schema_path: str, tfrecord_path: str, *,
               node_set_name: Optional[str] = None,
               edge_set_name: Optional[str] = None,
               feature_name: Optional[str] = None,
               label_feature_name: Optional[str] = None) -> data.Graph:
  """Reads TF-GNN files: a GraphSchema and TFRecords of GraphTensors.

  All records are merged into one graph. The node set, edge set and feature
  default to the only ones of the schema (ambiguity is an error).
  """
  schema = tfgnn.read_schema(schema_path)
  spec = tfgnn.create_graph_spec_from_schema_pb(schema)

  def only(names, what, given):
    if given is not None:
      if given not in names:
        raise ValueError(f"{what} {given!r} not in the schema: {sorted(names)}")
      return given
    if len(names) != 1:
      raise ValueError(f"The schema has {what}s {sorted(names)}: pass one.")
    return next(iter(names))

  node_set_name = only(spec.node_sets_spec, "node set", node_set_name)
  edge_set_name = only(spec.edge_sets_spec, "edge set", edge_set_name)
  feature_names = set(spec.node_sets_spec[node_set_name].features_spec)
  feature_names.discard(label_feature_name)
  feature_name = only(feature_names, "node feature", feature_name)
  ds = tf.data.TFRecordDataset(tfrecord_path).batch(1 << 30)
  serialized = next(iter(ds))
  graph = tfgnn.parse_example(spec, serialized).merge_batch_to_components()
  nodes = graph.node_sets[node_set_name]
  adjacency = graph.edge_sets[edge_set_name].adjacency
  edges = np.stack([adjacency.source.numpy(), adjacency.target.numpy()])
  labels = None
  if label_feature_name is not None:
    labels = nodes[label_feature_name].numpy().reshape(-1).astype(np.int64)
  features = nodes[feature_name].numpy().astype(np.float32)
  return data.Graph(
      features=features.reshape(features.shape[0], -1),
      edges=data.symmetrize_edges(edges, features.shape[0]),
      labels=labels,
      name=os.path.basename(tfrecord_path).split(".")[0])


def load(path: str, **kwargs) -> data.Graph:
  """Reads `path` by its format (see the module docstring).

  `.npz` -> gnn-benchmark; a directory with `ind.*.graph` or an `ind.NAME`
  prefix -> Planetoid; a directory with `raw/edge.csv.gz` -> OGB; a
  `.pbtxt` schema -> TF-GNN (with `tfrecord_path=...`, or the TFRecord files
  beside it).
  """
  if not os.path.exists(path) and not glob.glob(path + ".*"):
    raise ValueError(f"No such file or directory: {path}")
  if path.endswith(".npz"):
    return load_npz(path, **kwargs)
  if path.endswith(".pbtxt"):
    tfrecord_path = kwargs.pop("tfrecord_path", None) or sorted(
        f for f in glob.glob(os.path.join(os.path.dirname(path), "*"))
        if f.endswith((".tfrecord", ".tfrecords")))
    if not tfrecord_path:
      raise ValueError(f"No .tfrecord file beside {path}: pass tfrecord_path.")
    if isinstance(tfrecord_path, list):
      tfrecord_path = tfrecord_path[0]
    return load_tfgnn(path, tfrecord_path, **kwargs)
  if os.path.isdir(path):
    if glob.glob(os.path.join(path, "ind.*.graph")):
      return load_planetoid(path)
    if (os.path.exists(os.path.join(path, "raw", "edge.csv.gz")) or
        os.path.exists(os.path.join(path, "edge.csv.gz"))):
      return load_ogb(path)
  if os.path.basename(path).startswith("ind."):
    return load_planetoid(path)
  raise ValueError(
      f"Unknown graph format at {path}: expected a gnn-benchmark .npz, a "
      "Planetoid directory (ind.NAME.*), an OGB dataset directory (raw/"
      "edge.csv.gz) or a TF-GNN GraphSchema .pbtxt with TFRecords.")
