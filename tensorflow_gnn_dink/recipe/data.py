"""Graphs in memory: arrays to `tfgnn.GraphTensor`, and a synthetic generator.

A graph here is homogeneous: one node set (default `"nodes"`) with a float
feature matrix (default feature `"feat"`) and one edge set (default
`"edges"`) from that node set to itself, holding both directions of every
undirected edge, sorted by target. Features are a dense numpy array or a
scipy sparse matrix (bag-of-words); sparse ones stay sparse in the
GraphTensor (`tensorflow_gnn_dink.sparse`). Labels, where known, are kept
*outside* the GraphTensor (`Graph.labels`) so that they cannot reach
training.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import _arrays
from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink import sparse

Features = Union[np.ndarray, sp.csr_matrix]
FEATURE_FORMATS = ("auto", "sparse", "dense")
# "auto" keeps features sparse below this fraction of non-zeros.
SPARSE_BELOW_DENSITY = 0.1


@dataclasses.dataclass(frozen=True)
class Graph:
  """An attributed graph in memory.

  Attributes:
    features: `[num_nodes, num_features]` float32 node features: a numpy
      array, or a scipy CSR matrix (kept sparse).
    edges: `[2, num_edges]` int64 (source, target) pairs, both directions of
      each undirected edge, no self-loops.
    labels: Optional `[num_nodes]` int labels (-1 = unknown), for evaluation
      only.
    name: A short name for reports.
    node_ids: Optional `[num_nodes]` ids of the nodes as the input names them
      (strings or integers, unique), for the outputs (`cluster_ids.csv` is
      keyed by them); default: the row numbers.
  """
  features: Features
  edges: np.ndarray
  labels: Optional[np.ndarray] = None
  name: str = "graph"
  node_ids: Optional[np.ndarray] = None

  @property
  def num_nodes(self) -> int:
    return int(self.features.shape[0])

  @property
  def num_features(self) -> int:
    return int(self.features.shape[1])

  @property
  def num_classes(self) -> Optional[int]:
    return count_classes(self.labels)


def count_classes(labels: Optional[np.ndarray]) -> Optional[int]:
  """The number of label classes (-1: unknown), or None if none is known."""
  if labels is None:
    return None
  known = labels[labels >= 0]
  return int(len(np.unique(known))) if known.size else None


def validate(graph: Graph) -> None:
  """Raises ValueError with the problem and the fix for a malformed graph."""
  if graph.features.ndim != 2:
    raise ValueError(f"features must be a [num_nodes, num_features] matrix, "
                     f"got shape {graph.features.shape}.")
  if graph.num_nodes == 0:
    raise ValueError("The graph has no nodes: nothing to cluster.")
  x = graph.features
  if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or (
      np.issubdtype(x.dtype, np.complexfloating)):
    raise ValueError(f"features must be real numbers, got dtype {x.dtype}: "
                     "encode them as numbers (e.g. one-hot categories).")
  if sp.issparse(graph.features):
    coo = graph.features.tocoo()
    bad = np.unique(coo.row[~np.isfinite(coo.data)])
  else:
    bad = np.unique(np.nonzero(~np.isfinite(graph.features))[0])
  if bad.size:
    raise ValueError(
        f"features contain NaN or inf in {bad.size} rows (first: "
        f"{bad[:5].tolist()}). Clean or impute them before clustering.")
  if graph.edges.ndim != 2 or graph.edges.shape[0] != 2:
    raise ValueError(f"edges must have shape [2, num_edges], got "
                     f"{graph.edges.shape}.")
  if graph.edges.size and (graph.edges.min() < 0 or
                           graph.edges.max() >= graph.num_nodes):
    raise ValueError(
        f"edges reference node ids outside [0, {graph.num_nodes}): min "
        f"{graph.edges.min()}, max {graph.edges.max()}.")
  if graph.labels is not None and graph.labels.shape != (graph.num_nodes,):
    raise ValueError(f"labels must have shape ({graph.num_nodes},), got "
                     f"{graph.labels.shape}.")
  if graph.labels is not None and not np.issubdtype(graph.labels.dtype,
                                                    np.integer):
    raise ValueError(
        f"labels must be integer class ids (-1: unknown), got dtype "
        f"{graph.labels.dtype}: convert them, e.g. labels.astype(np.int64) "
        "if they are whole numbers.")
  if graph.node_ids is not None:
    validate_node_ids(graph.node_ids, graph.num_nodes)


def without_features(graph: Graph) -> Graph:
  """`graph` with its features replaced by a stand-in that holds no memory.

  For code that needs the graph's sizes, edges, labels and ids once its
  features have been processed (`stages.prepare`), so that the features as
  given can be freed: the stand-in is a read-only float32 array of their
  shape that reads as zeros (`np.broadcast_to`, no buffer).
  """
  return dataclasses.replace(graph, features=np.broadcast_to(
      np.float32(0), graph.features.shape))


def validate_node_ids(node_ids: np.ndarray, num_nodes: int) -> None:
  """Raises ValueError unless `node_ids` name `num_nodes` nodes, once each."""
  if node_ids.shape != (num_nodes,):
    raise ValueError(f"node_ids must have shape ({num_nodes},), one per "
                     f"node, got {node_ids.shape}.")
  if not (np.issubdtype(node_ids.dtype, np.integer) or
          node_ids.dtype.kind == "U"):
    raise ValueError(f"node_ids must be integers or (unicode) strings, got "
                     f"dtype {node_ids.dtype}: convert them, e.g. "
                     "node_ids.astype(str), or decode byte strings.")
  unique, counts = np.unique(node_ids, return_counts=True)
  if unique.size != num_nodes:
    raise ValueError(
        f"node_ids must be unique; {unique[counts > 1][:3].tolist()} appear "
        "more than once. Give each node its own id (or none: then nodes are "
        "named by their row numbers).")


def check_features_differ(graph: Graph) -> None:
  """Raises ValueError if every node has the same features (e.g. all zero).

  Such a graph is valid, but no encoder can tell its nodes apart by their
  features, so it cannot be clustered by them.
  """
  x = graph.features
  column_max, column_min = x.max(axis=0), x.min(axis=0)
  same = ((column_max != column_min).nnz == 0 if sp.issparse(x) else
          bool(np.all(column_max == column_min)))
  if graph.num_nodes > 1 and same:
    raise ValueError(
        "Every node has the same features (e.g. all zero): the encoder "
        "cannot tell the nodes apart. Give features that differ between "
        "nodes (e.g. one-hot node degrees or ids).")


def to_graph_tensor(graph: Graph,
                    *,
                    node_set_name: str = "nodes",
                    edge_set_name: str = "edges",
                    feature_name: str = "feat") -> tfgnn.GraphTensor:
  """Returns the whole graph as one scalar GraphTensor with one component.

  Sparse features become the two ragged features of `sparse.from_csr`
  (`{feature_name}_columns`, `{feature_name}_values`), dense ones one dense
  feature. Read-only dense float32 features and int64 edges in 64-byte
  aligned buffers (`make_csbm`'s) are shared with the GraphTensor, not
  copied (`_arrays.as_tensor(take=False)`); others are copied once, and the
  caller's arrays stay as they were.
  """
  validate(graph)
  if sp.issparse(graph.features):
    x = sp.csr_matrix(graph.features, dtype=np.float32)
    x.sort_indices()
    features = sparse.from_csr(feature_name, x.indptr, x.indices, x.data)
  else:
    features = {feature_name: _arrays.as_tensor(graph.features, np.float32,
                                                take=False)}
  return tfgnn.GraphTensor.from_pieces(
      node_sets={
          node_set_name: tfgnn.NodeSet.from_fields(
              sizes=tf.constant([graph.num_nodes], tf.int64),
              features=features)
      },
      edge_sets={
          edge_set_name: tfgnn.EdgeSet.from_fields(
              sizes=tf.constant([graph.edges.shape[1]], tf.int64),
              adjacency=tfgnn.Adjacency.from_indices(
                  source=(node_set_name,
                          _arrays.as_tensor(graph.edges[0], np.int64,
                                            take=False)),
                  target=(node_set_name,
                          _arrays.as_tensor(graph.edges[1], np.int64,
                                            take=False))))
      })


def with_feature_format(graph: Graph, feature_format: str) -> Graph:
  """`graph` with features sparse or dense (`FEATURE_FORMATS`).

  `"auto"` keeps features sparse when under `SPARSE_BELOW_DENSITY` of them
  are non-zero (bag-of-words) and dense otherwise. Values are unchanged.
  """
  _checks.check_one_of(feature_format, FEATURE_FORMATS,
                       "config.data.feature_format")
  x = graph.features
  if feature_format == "auto":
    nonzeros = x.nnz if sp.issparse(x) else np.count_nonzero(x)
    density = nonzeros / max(x.shape[0] * x.shape[1], 1)
    feature_format = "sparse" if density < SPARSE_BELOW_DENSITY else "dense"
  if feature_format == "sparse" and not sp.issparse(x):
    x = sp.csr_matrix(x, dtype=np.float32)
  elif feature_format == "dense" and sp.issparse(x):
    x = x.toarray()
  return dataclasses.replace(graph, features=x)


def symmetrize_edges(edges: np.ndarray, num_nodes: int) -> np.ndarray:
  """Returns `[2, E]` unique directed edges of both directions, no self-loops.

  Edges are sorted by target, then source: the row-major order of the GCN's
  `A_hat` (`tensorflow_gnn_dink.sparse`).
  """
  edges = np.asarray(edges, dtype=np.int64)
  if _is_symmetrized(edges, num_nodes):  # E.g. make_csbm's: kept, not copied.
    return edges
  src, dst = edges
  keep = src != dst
  src, dst = src[keep], dst[keep]
  both = np.concatenate([dst * num_nodes + src, src * num_nodes + dst])
  both = np.unique(both)
  return np.stack([both % num_nodes, both // num_nodes])


def _is_symmetrized(edges: np.ndarray, num_nodes: int) -> bool:
  """Whether `edges` are what `symmetrize_edges` returns (O(E) when not)."""
  if edges.ndim != 2 or edges.shape[0] != 2:
    return False
  keys = edges[1] * num_nodes + edges[0]
  if not np.all(keys[1:] > keys[:-1]) or np.any(edges[0] == edges[1]):
    return False
  reversed_keys = np.sort(edges[0] * num_nodes + edges[1])
  return bool(np.array_equal(reversed_keys, keys))


_ROWS_PER_BLOCK = 65536


def make_csbm(*,
              num_nodes: int = 600,
              n_clusters: int = 4,
              num_features: int = 32,
              avg_degree: float = 8.0,
              homophily: float = 0.8,
              feature_noise: float = 1.0,
              words_per_node: Optional[int] = None,
              seed: int = 0) -> Graph:
  """Samples a contextual stochastic block model (a labelled synthetic graph).

  Nodes get one of `n_clusters` communities uniformly; each undirected edge
  joins two nodes of the same community with probability `homophily` and
  otherwise two nodes of different communities. Features are dense: the
  community's random mean (unit-norm direction scaled by 2) plus Gaussian
  noise of scale `feature_noise`; or, with `words_per_node`, a sparse binary
  bag of words: each node draws that many words (columns), each from its
  community's topic (a random `1 / n_clusters` of the vocabulary) with
  probability `1 / (1 + feature_noise)` and otherwise from the whole
  vocabulary (repeats merge). Same arguments, same graph; memory and time
  grow with nodes, edges and non-zeros.

  Returns:
    A `Graph` with labels = communities, named `"csbm"`; its dense features
    and its edges are read-only (so that TensorFlow can share them).
  """
  _checks.check_n_clusters(n_clusters, num_nodes)
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, n_clusters, size=num_nodes)
  labels[:n_clusters] = np.arange(n_clusters)  # Every community non-empty.
  by_cluster = np.argsort(labels, kind="stable")  # Members, cluster by cluster.
  counts = np.bincount(labels, minlength=n_clusters)
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  num_edges = int(num_nodes * avg_degree / 2)
  src = rng.integers(0, num_nodes, size=num_edges)
  same = rng.random(num_edges) < homophily
  other = (labels[src] + rng.integers(1, n_clusters, size=num_edges)) % (
      n_clusters)
  dst_cluster = np.where(same, labels[src], other)
  offsets = (rng.random(num_edges) * counts[dst_cluster]).astype(np.int64)
  dst = by_cluster[starts[dst_cluster] + offsets]  # Uniform in the cluster.
  if words_per_node is None:
    means = rng.normal(size=(n_clusters, num_features))
    means *= 2.0 / np.linalg.norm(means, axis=1, keepdims=True)
    # Rows drawn in blocks (the same draws as all at once): float64
    # temporaries of a block, not of the graph.
    features = _arrays.aligned_empty((num_nodes, num_features), np.float32)
    for start in range(0, num_nodes, _ROWS_PER_BLOCK):
      stop = min(start + _ROWS_PER_BLOCK, num_nodes)
      features[start:stop] = means[labels[start:stop]] + feature_noise * (
          rng.normal(size=(stop - start, num_features)))
  else:
    features = _bag_of_words(rng, labels, n_clusters, num_features,
                             _checks.check_positive_int(
                                 words_per_node, "words_per_node"),
                             feature_noise)
  both = symmetrize_edges(np.stack([src, dst]), num_nodes)
  edges = _arrays.aligned_empty(both.shape, np.int64)
  edges[...] = both
  del both
  # Read-only: `to_graph_tensor` may then share them instead of copying.
  for array in (features, edges):
    if isinstance(array, np.ndarray):
      array.flags.writeable = False
  return Graph(features=features, edges=edges,
               labels=labels.astype(np.int64), name="csbm")


def _bag_of_words(rng: np.random.Generator, labels: np.ndarray,
                  n_clusters: int, num_features: int, words_per_node: int,
                  feature_noise: float) -> sp.csr_matrix:
  """Binary `[num_nodes, num_features]` CSR words drawn as `make_csbm` says."""
  topic_size = max(num_features // n_clusters, 1)
  topics = np.stack([rng.permutation(num_features)[:topic_size]
                     for _ in range(n_clusters)])
  rows = np.repeat(np.arange(len(labels)), words_per_node)
  on_topic = rng.random(rows.size) < 1.0 / (1.0 + feature_noise)
  words = np.where(
      on_topic,
      topics[labels[rows], rng.integers(0, topic_size, size=rows.size)],
      rng.integers(0, num_features, size=rows.size))
  features = sp.csr_matrix(
      (np.ones(rows.size, np.float32), (rows, words)),
      shape=(len(labels), num_features))
  features.sum_duplicates()
  features.data[:] = 1.0
  return features
