"""A synthetic many-typed graph with planted communities on one node set.

`make_citation_graph` samples papers citing papers, authors writing papers
and venues publishing them. The papers' communities are the labels; authors
and venues belong to one community each and mostly touch papers of their
own, so a GNN that passes messages over every edge set can find the
communities even where the papers' own features say little. It is the
heterogeneous counterpart of `data.make_csbm` (whose papers, citations and
features it uses): seeded, labelled, with a `tfgnn.GraphSchema`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Optional

from google.protobuf import text_format
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink.recipe import data

PAPER, AUTHOR, VENUE = "paper", "author", "venue"
# Every edge set in both directions, so that messages reach every node set.
EDGE_SETS = {  # name: (source, target)
    "cites": (PAPER, PAPER),           # Both directions in one edge set.
    "writes": (AUTHOR, PAPER),
    "written_by": (PAPER, AUTHOR),
    "publishes": (VENUE, PAPER),
    "published_in": (PAPER, VENUE),
}


@dataclasses.dataclass(frozen=True)
class HeterogeneousGraph:
  """A many-typed graph and the node set to cluster.

  Attributes:
    graph_tensor: One component; every node set has the dense float32
      feature `feature_name`.
    schema: Its `tfgnn.GraphSchema` (what `tfgnn.write_schema` writes).
    node_set_name: The node set whose nodes are clustered.
    labels: `[num_nodes]` labels of `node_set_name` (-1: unknown; the
      planted communities of a synthetic graph), or None. Never a feature
      of `graph_tensor`.
    feature_name: The input feature of every node set.
    name: For logs and results.
  """
  graph_tensor: tfgnn.GraphTensor
  schema: tfgnn.GraphSchema
  node_set_name: str
  labels: Optional[np.ndarray]
  feature_name: str
  name: str

  # The sizes and ids the recipe reports, as `data.Graph` has them.
  node_ids = None

  @property
  def num_nodes(self) -> int:
    """The number of nodes of the clustered node set."""
    return int(self.graph_tensor.node_sets[self.node_set_name].total_size)

  @property
  def num_features(self) -> int:
    """The width of the clustered node set's feature."""
    return int(self.graph_tensor.node_sets[self.node_set_name][
        self.feature_name].shape[-1])

  @property
  def num_classes(self) -> Optional[int]:
    return data.count_classes(self.labels)

  @functools.cached_property
  def edges(self) -> np.ndarray:
    """`[2, E]` edges among the clustered nodes (`clustered_edges`)."""
    return clustered_edges(self.graph_tensor, self.node_set_name)

  def clustered(self) -> data.Graph:
    """The clustered node set as a homogeneous `data.Graph`.

    Its features, labels and the edges among its nodes (`edges`): what the
    recipe's selection and evaluation read (modularity, conductance, ACC).
    """
    return data.Graph(
        features=np.asarray(self.graph_tensor.node_sets[self.node_set_name][
            self.feature_name]), edges=self.edges, labels=self.labels,
        name=self.name)

  def with_node_set(self, node_set_name: str) -> "HeterogeneousGraph":
    """The same graph clustering `node_set_name` (its labels unknown unless
    it is the node set clustered now)."""
    if node_set_name == self.node_set_name:
      return self
    _check_node_set(self.graph_tensor, node_set_name)
    return dataclasses.replace(self, node_set_name=node_set_name, labels=None)


def _check_node_set(graph: tfgnn.GraphTensor, name: str) -> None:
  if name not in graph.node_sets:
    raise ValueError(f"Node set {name!r} is not in the graph: it has "
                     f"{sorted(graph.node_sets)}. Pass one of them "
                     "(--config.node_set=NAME).")


def own_edge_sets(graph: tfgnn.GraphTensor, node_set_name: str) -> list[str]:
  """The edge sets from `node_set_name` to itself, sorted by name."""
  return sorted(
      name for name, edge_set in graph.edge_sets.items()
      if edge_set.adjacency.source_name == node_set_name ==
      edge_set.adjacency.target_name)


# The co-neighbour edges of `clustered_edges` stop at this many (directed).
MAX_PROJECTED_EDGES = 20_000_000


def clustered_edges(graph: tfgnn.GraphTensor,
                    node_set_name: str) -> np.ndarray:
  """`[2, E]` undirected edges among the nodes of `node_set_name`.

  Those of the edge sets from the node set to itself (both directions, no
  self-loops: `data.symmetrize_edges`); if it has none, the nodes that share
  a neighbour in another node set (papers with a common author or venue),
  counted once per pair. A neighbour of `d` nodes joins `d (d - 1)` directed
  pairs, so the neighbours of fewest nodes come first, until
  `MAX_PROJECTED_EDGES` pairs (a venue of 10^4 papers says little of
  communities and would cost 10^8). These are the edges of the selection's
  modularity and of the reported conductance; none (`[2, 0]`) if no two
  nodes share a neighbour (e.g. venues, each paper having one).
  """
  _check_node_set(graph, node_set_name)
  num_nodes = int(graph.node_sets[node_set_name].total_size)
  own = own_edge_sets(graph, node_set_name)
  pairs = []
  for name in own:
    adjacency = graph.edge_sets[name].adjacency
    pairs.append(np.stack([np.asarray(adjacency.source, np.int64),
                           np.asarray(adjacency.target, np.int64)]))
  if not own:
    pairs = _co_neighbours(graph, node_set_name)
  if not pairs:
    return np.zeros((2, 0), np.int64)
  return data.symmetrize_edges(np.concatenate(pairs, axis=1), num_nodes)


def _co_neighbours(graph: tfgnn.GraphTensor,
                   node_set_name: str) -> list[np.ndarray]:
  """Pairs of `node_set_name`'s nodes with a common neighbour elsewhere."""
  members = []  # (neighbour key, member) over every edge set touching it.
  for index, name in enumerate(sorted(graph.edge_sets)):
    adjacency = graph.edge_sets[name].adjacency
    ends = {adjacency.source_name: np.asarray(adjacency.source, np.int64),
            adjacency.target_name: np.asarray(adjacency.target, np.int64)}
    if node_set_name not in ends or len(ends) != 2:
      continue  # Not touching it, or within one node set.
    (other,) = set(ends) - {node_set_name}
    # Neighbours of different edge sets are different neighbours.
    members.append((index * (1 << 40) + ends[other], ends[node_set_name]))
  if not members:
    return []
  keys = np.concatenate([k for k, _ in members])
  nodes = np.concatenate([m for _, m in members])
  keys, nodes = np.unique(np.stack([keys, nodes]), axis=1)  # Each pair once.
  _, starts, counts = np.unique(keys, return_index=True, return_counts=True)
  cost = counts * (counts - 1)
  order = np.argsort(counts, kind="stable")
  kept = order[np.cumsum(cost[order]) <= MAX_PROJECTED_EDGES]
  starts, counts = starts[kept], counts[kept]
  pairs = []
  for count in np.unique(counts[counts > 1]):  # All groups of one size at once.
    groups = nodes[starts[counts == count][:, None] + np.arange(count)]
    shape = (len(groups), count, count)
    pairs.append(np.stack([
        np.broadcast_to(groups[:, :, None], shape).ravel(),
        np.broadcast_to(groups[:, None, :], shape).ravel()]))
  return pairs


def validate(graph: HeterogeneousGraph) -> None:
  """Raises ValueError with the problem and the fix for a malformed graph.

  The clustered node set must exist and have nodes; every node set the
  dense float feature `graph.feature_name`, finite; every edge index a node
  of its node set; the labels one integer per clustered node.
  """
  tensor = graph.graph_tensor
  _check_node_set(tensor, graph.node_set_name)
  if graph.num_nodes == 0:
    raise ValueError(f"Node set {graph.node_set_name!r} has no nodes: "
                     "nothing to cluster.")
  for name, node_set in sorted(tensor.node_sets.items()):
    value = node_set.features.get(graph.feature_name)
    if not (isinstance(value, tf.Tensor) and value.dtype.is_floating and
            value.shape.rank == 2):
      raise ValueError(
          f"Node set {name!r} has no dense float feature "
          f"{graph.feature_name!r} of shape [num_nodes, width] (it has "
          f"{sorted(node_set.features)}): every node set needs one for the "
          "encoder.")
    bad = np.unique(np.nonzero(~np.isfinite(np.asarray(value)))[0])
    if bad.size:
      raise ValueError(
          f"Node set {name!r}: feature {graph.feature_name!r} has NaN or inf "
          f"in {bad.size} rows (first: {bad[:5].tolist()}). Clean or impute "
          "them before clustering.")
  for name, edge_set in sorted(tensor.edge_sets.items()):
    adjacency = edge_set.adjacency
    for node_set_name, index in ((adjacency.source_name, adjacency.source),
                                 (adjacency.target_name, adjacency.target)):
      size = int(tensor.node_sets[node_set_name].total_size)
      index = np.asarray(index)
      if index.size and (index.min() < 0 or index.max() >= size):
        raise ValueError(
            f"Edge set {name!r} references nodes of {node_set_name!r} "
            f"outside [0, {size}): min {index.min()}, max {index.max()}.")
  labels = graph.labels
  if labels is not None and (labels.shape != (graph.num_nodes,) or
                             not np.issubdtype(labels.dtype, np.integer)):
    raise ValueError(
        f"labels must be {graph.num_nodes} integer class ids (-1: unknown), "
        f"one per node of {graph.node_set_name!r}; got shape "
        f"{labels.shape}, dtype {labels.dtype}.")


def _members(rng: np.random.Generator, own: np.ndarray, labels: np.ndarray,
             n_clusters: int, per_node: int, purity: float) -> np.ndarray:
  """`[len(own) * per_node]` papers, each of the node's community w.p. purity.

  `own[i]` is node `i`'s community; each of its `per_node` papers is drawn
  uniformly from the papers of that community with probability `purity`,
  else from the papers of another community.
  """
  by_cluster = np.argsort(labels, kind="stable")
  counts = np.bincount(labels, minlength=n_clusters)
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  community = np.repeat(own, per_node)
  other = (community + rng.integers(1, n_clusters, size=community.size)) % (
      n_clusters)
  community = np.where(rng.random(community.size) < purity, community, other)
  offsets = (rng.random(community.size) * counts[community]).astype(np.int64)
  return by_cluster[starts[community] + offsets]


def graph_tensor_of(features: dict[str, np.ndarray],
                    edge_sets: dict[str, tuple[str, str, np.ndarray]], *,
                    feature_name: str = "feat") -> tfgnn.GraphTensor:
  """A one-component GraphTensor of many node and edge sets.

  Args:
    features: `{node set: [num_nodes, width] float32}`, its feature
      `feature_name` (the number of rows is the node set's size).
    edge_sets: `{edge set: (source node set, target node set, [2, E]
      indices)}`.
    feature_name: The name of every node set's feature.
  """
  return tfgnn.GraphTensor.from_pieces(
      node_sets={
          name: tfgnn.NodeSet.from_fields(
              sizes=tf.constant([len(x)], tf.int32),
              features={feature_name: tf.constant(x, tf.float32)})
          for name, x in features.items()},
      edge_sets={
          name: tfgnn.EdgeSet.from_fields(
              sizes=tf.constant([indices.shape[1]], tf.int32),
              adjacency=tfgnn.Adjacency.from_indices(
                  source=(source, tf.constant(indices[0], tf.int32)),
                  target=(target, tf.constant(indices[1], tf.int32))))
          for name, (source, target, indices) in edge_sets.items()})


def make_citation_graph(*,
                        num_papers: int = 600,
                        num_authors: int = 300,
                        num_venues: int = 20,
                        n_clusters: int = 4,
                        num_features: int = 32,
                        author_features: int = 8,
                        venue_features: int = 8,
                        citations_per_paper: float = 2.0,
                        citation_homophily: float = 0.6,
                        paper_feature_noise: float = 1.0,
                        papers_per_author: int = 4,
                        author_purity: float = 0.9,
                        venue_purity: float = 0.9,
                        seed: int = 0,
                        feature_name: str = "feat") -> HeterogeneousGraph:
  """Samples papers, authors and venues with planted paper communities.

  Papers, their citations and their features are `data.make_csbm`'s (mean
  degree `2 * citations_per_paper`, `citation_homophily`,
  `paper_feature_noise`; a high noise makes the paper features
  uninformative). Author `a` belongs to community `a mod n_clusters`, venue
  `v` to `v mod n_clusters`. An author writes `papers_per_author` papers,
  each of its own community with probability `author_purity` (repeats
  merge); every paper is published in one venue, of the paper's community
  with probability `venue_purity`. Authors and venues have Gaussian
  features that carry no community (`author_features`, `venue_features`
  columns). Same arguments, same graph.

  Returns:
    A `HeterogeneousGraph` clustering `"paper"`, with the edge sets of
    `EDGE_SETS` (each relation in both directions).

  Raises:
    ValueError: for a size below 1 (n_clusters below 2 or above the number
      of papers, authors or venues), or a probability outside [0, 1].
  """
  _checks.check_n_clusters(n_clusters)
  for value, name in ((num_features, "num_features"),
                      (author_features, "author_features"),
                      (venue_features, "venue_features"),
                      (papers_per_author, "papers_per_author")):
    _checks.check_positive_int(value, name)
  for count, name in ((num_papers, "num_papers"), (num_authors, "num_authors"),
                      (num_venues, "num_venues")):
    _checks.check_positive_int(count, name)
    if count < n_clusters:
      raise ValueError(f"{name}={count} is below n_clusters={n_clusters}: "
                       f"every community needs one node of each type.")
  for value, name in ((author_purity, "author_purity"),
                      (venue_purity, "venue_purity")):
    if not 0.0 <= value <= 1.0:
      raise ValueError(f"{name} must be in [0, 1], got {value}.")
  papers = data.make_csbm(num_nodes=num_papers, n_clusters=n_clusters,
                          num_features=num_features,
                          avg_degree=2.0 * citations_per_paper,
                          homophily=citation_homophily,
                          feature_noise=paper_feature_noise, seed=seed)
  labels = papers.labels
  rng = np.random.default_rng([seed, 1])
  author_community = np.arange(num_authors) % n_clusters
  written = _members(rng, author_community, labels, n_clusters,
                     papers_per_author, author_purity)
  writes = np.unique(np.stack([np.repeat(np.arange(num_authors),
                                         papers_per_author), written]),
                     axis=1)
  # A venue per paper: one of its community's venues w.p. venue_purity.
  # Venue v (like author a) belongs to community v mod K, so community c's
  # venues are c, c + K, c + 2K, ...
  community = np.where(
      rng.random(num_papers) < venue_purity, labels,
      (labels + rng.integers(1, n_clusters, size=num_papers)) % n_clusters)
  venues_of = (num_venues - community + n_clusters - 1) // n_clusters
  venue = community + n_clusters * (
      rng.random(num_papers) * venues_of).astype(np.int64)
  publishes = np.stack([venue, np.arange(num_papers)])
  pairs = {"cites": papers.edges, "writes": writes,
           "written_by": writes[::-1], "publishes": publishes,
           "published_in": publishes[::-1]}
  features = {
      PAPER: np.asarray(papers.features, np.float32),
      AUTHOR: rng.normal(size=(num_authors, author_features)).astype(
          np.float32),
      VENUE: rng.normal(size=(num_venues, venue_features)).astype(
          np.float32),
  }
  graph = graph_tensor_of(
      features, {name: (source, target, pairs[name])
                 for name, (source, target) in EDGE_SETS.items()},
      feature_name=feature_name)
  return HeterogeneousGraph(
      graph_tensor=graph,
      schema=tfgnn.create_schema_pb_from_graph_spec(graph.spec),
      node_set_name=PAPER, labels=labels, feature_name=feature_name,
      name="citation_graph")


def save_tfgnn(graph: HeterogeneousGraph, directory: str, *,
               label_feature_name: str = "label") -> tuple[str, str]:
  """Writes `graph` as TF-GNN files: `schema.pbtxt` and `NAME.tfrecord`.

  One `tf.Example` holds the whole graph; the labels, if any, are the node
  feature `label_feature_name` of `graph.node_set_name` (read them back with
  `loaders.load_tfgnn_heterogeneous(..., label_feature_name=...)`, which
  takes them out of the graph again). Each file is written atomically.

  Returns:
    The paths of the schema and of the TFRecord file.
  """
  tensor = graph.graph_tensor
  if graph.labels is not None:
    node_set = tensor.node_sets[graph.node_set_name]
    tensor = tensor.replace_features(node_sets={graph.node_set_name: {
        **node_set.features,
        label_feature_name: tf.constant(graph.labels, tf.int64)}})
  schema_path = os.path.join(directory, "schema.pbtxt")
  records_path = os.path.join(directory, f"{graph.name}.tfrecord")
  _files.write_text_atomically(schema_path, text_format.MessageToString(
      tfgnn.create_schema_pb_from_graph_spec(tensor.spec)))
  partial = records_path + ".partial"  # Not a .tfrecord until complete.
  with tf.io.TFRecordWriter(partial) as writer:
    writer.write(tfgnn.write_example(tensor).SerializeToString())
  os.replace(partial, records_path)
  return schema_path, records_path
