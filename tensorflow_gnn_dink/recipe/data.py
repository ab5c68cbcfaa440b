"""Graphs in memory: arrays to `tfgnn.GraphTensor`, and a synthetic generator.

A graph here is homogeneous: one node set (default `"nodes"`) with a dense
float feature matrix (default feature `"feat"`) and one edge set (default
`"edges"`) from that node set to itself, holding both directions of every
undirected edge. Labels, where known, are kept *outside* the GraphTensor
(`Graph.labels`) so that they cannot reach training.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import _checks


@dataclasses.dataclass(frozen=True)
class Graph:
  """An attributed graph in memory.

  Attributes:
    features: `[num_nodes, num_features]` float32 node features.
    edges: `[2, num_edges]` int64 (source, target) pairs, both directions of
      each undirected edge, no self-loops.
    labels: Optional `[num_nodes]` int labels (-1 = unknown), for evaluation
      only.
    name: A short name for reports.
  """
  features: np.ndarray
  edges: np.ndarray
  labels: Optional[np.ndarray] = None
  name: str = "graph"

  @property
  def num_nodes(self) -> int:
    return int(self.features.shape[0])

  @property
  def num_classes(self) -> Optional[int]:
    if self.labels is None:
      return None
    known = self.labels[self.labels >= 0]
    return int(len(np.unique(known))) if known.size else None


def validate(graph: Graph) -> None:
  """Raises ValueError with the problem and the fix for a malformed graph."""
  if graph.features.ndim != 2:
    raise ValueError(f"features must be a [num_nodes, num_features] matrix, "
                     f"got shape {graph.features.shape}.")
  if graph.num_nodes == 0:
    raise ValueError("The graph has no nodes: nothing to cluster.")
  if not np.all(np.isfinite(graph.features)):
    bad = np.unique(np.nonzero(~np.isfinite(graph.features))[0])
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


def to_graph_tensor(graph: Graph,
                    *,
                    node_set_name: str = "nodes",
                    edge_set_name: str = "edges",
                    feature_name: str = "feat") -> tfgnn.GraphTensor:
  """Returns the whole graph as one scalar GraphTensor with one component."""
  validate(graph)
  features = tf.constant(graph.features, tf.float32)
  return tfgnn.GraphTensor.from_pieces(
      node_sets={
          node_set_name: tfgnn.NodeSet.from_fields(
              sizes=tf.constant([graph.num_nodes], tf.int64),
              features={feature_name: features})
      },
      edge_sets={
          edge_set_name: tfgnn.EdgeSet.from_fields(
              sizes=tf.constant([graph.edges.shape[1]], tf.int64),
              adjacency=tfgnn.Adjacency.from_indices(
                  source=(node_set_name, tf.constant(graph.edges[0],
                                                     tf.int64)),
                  target=(node_set_name, tf.constant(graph.edges[1],
                                                     tf.int64))))
      })


def symmetrize_edges(edges: np.ndarray, num_nodes: int) -> np.ndarray:
  """Returns `[2, E]` unique directed edges of both directions, no self-loops."""
  src, dst = np.asarray(edges, dtype=np.int64)
  keep = src != dst
  src, dst = src[keep], dst[keep]
  both = np.concatenate([src * num_nodes + dst, dst * num_nodes + src])
  both = np.unique(both)
  return np.stack([both // num_nodes, both % num_nodes])


def make_csbm(*,
              num_nodes: int = 600,
              n_clusters: int = 4,
              num_features: int = 32,
              avg_degree: float = 8.0,
              homophily: float = 0.8,
              feature_noise: float = 1.0,
              seed: int = 0) -> Graph:
  """Samples a contextual stochastic block model (a labelled synthetic graph).

  Nodes get one of `n_clusters` communities uniformly; each undirected edge
  joins two nodes of the same community with probability `homophily` and
  otherwise two nodes of different communities; features are the community's
  random mean (unit-norm direction scaled by 2) plus Gaussian noise of scale
  `feature_noise`. Same arguments, same graph.

  Returns:
    A `Graph` with labels = communities, named `"csbm"`.
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
  means = rng.normal(size=(n_clusters, num_features))
  means *= 2.0 / np.linalg.norm(means, axis=1, keepdims=True)
  features = means[labels] + feature_noise * rng.normal(
      size=(num_nodes, num_features))
  return Graph(features=features.astype(np.float32),
               edges=symmetrize_edges(np.stack([src, dst]), num_nodes),
               labels=labels.astype(np.int64), name="csbm")
