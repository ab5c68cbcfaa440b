"""Rooted subgraphs sampled in memory around a node set, with TF-GNN's sampler.

For a graph of many node sets held in memory but too large for full-graph
steps: each training step sees a batch of subgraphs, one per root (a node of
the clustered node set), sampled by TF-GNN's in-memory sampler
(`tensorflow_gnn.experimental.sampler`: `InMemUniformEdgesSampler` per edge
set, `InMemIndexToFeaturesAccessor` per node set) inside the `tf.data`
pipeline. The cost of a step grows with the batch and the fanouts, not with
the graph.

`sampling_spec` samples along every edge set: hop `i` takes up to
`fanouts[i]` edges of each edge set leaving each node set reached at hop
`i - 1` (uniformly, without replacement). Sampled edges point away from the
root, so an encoder reading them passes messages to each edge's *source*
(`receiver_tag=tfgnn.SOURCE`): from the sampled neighbours towards the root.
On the whole graph, where every relation is held in both directions, the same
encoder passes the same messages over the reverse edges.

`SubgraphsProvider` is the runner's `DatasetProvider`: one subgraph per
element (the runner batches them: `batch_size` per replica step), for every
root in a random order redrawn every pass, the root first in its node set
(`readout="first_node"`, TF-GNN's convention; TF-GNN's in-memory sampler
does not order it so on its own, see `put_roots_first`).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _checks

ROOT_ID = "#id"


def check_fanouts(fanouts: Sequence[int]) -> list[int]:
  """`fanouts` as a list of positive ints (one per hop), else ValueError."""
  fanouts = list(fanouts)
  if not fanouts or any(isinstance(k, bool) or not isinstance(k, int) or
                        k < 1 for k in fanouts):
    raise ValueError(f"The fanouts must be positive integers, one per hop, "
                     f"e.g. (10, 5); got {fanouts}.")
  return fanouts


def sampling_spec(schema: tfgnn.GraphSchema, node_set_name: str,
                  fanouts: Sequence[int]):
  """TF-GNN's `SamplingSpec`: every edge set sampled out of each hop's nodes.

  Returns:
    `(spec, edge_set_names)`: the spec, and the edge sets it samples.
  """
  fanouts = check_fanouts(fanouts)
  builder = tfgnn.sampler.SamplingSpecBuilder(
      schema, default_strategy=tfgnn.sampler.SamplingStrategy.RANDOM_UNIFORM)
  frontier = [(builder.seed(node_set_name), node_set_name)]
  sampled = set()
  for fanout in fanouts:
    next_frontier = []
    for op, node_set in frontier:
      for name, edge_set in sorted(schema.edge_sets.items()):
        if edge_set.source == node_set:
          next_frontier.append((op.sample(fanout, name), edge_set.target))
          sampled.add(name)
    frontier = next_frontier
  return builder.build(), sorted(sampled)


def put_roots_first(graph: tfgnn.GraphTensor, node_set_name: str,
                    roots: tf.Tensor) -> tfgnn.GraphTensor:
  """`graph` with each component's root the first node of `node_set_name`.

  `graph` is a scalar GraphTensor of one component per root, whose node set
  holds the node ids `ROOT_ID`; `roots` (`[num_components]`) the roots' ids.
  In each component the root and the node in first place swap places (their
  features and every edge index that names them): the graph is the same,
  its nodes in another order.
  """
  node_set = graph.node_sets[node_set_name]
  ids = node_set[ROOT_ID]
  sizes = tf.cast(node_set.sizes, tf.int64)
  first = tf.cumsum(sizes, exclusive=True)
  component = tf.repeat(tf.range(tf.size(sizes, out_type=tf.int64)), sizes)
  is_root = tf.equal(ids, tf.gather(tf.cast(roots, ids.dtype), component))
  # The root's position in each component (exactly one per component).
  position = tf.math.unsorted_segment_max(
      tf.where(is_root, tf.range(tf.size(ids, out_type=tf.int64)),
               tf.constant(-1, tf.int64)), component, tf.size(sizes))
  perm = tf.range(tf.size(ids, out_type=tf.int64))
  perm = tf.tensor_scatter_nd_update(perm, position[:, None], first)
  perm = tf.tensor_scatter_nd_update(perm, first[:, None], position)
  features = {name: tf.gather(value, perm)
              for name, value in node_set.features.items()}
  edge_sets = {}
  for name, edge_set in graph.edge_sets.items():
    adjacency = edge_set.adjacency
    source, target = adjacency.source, adjacency.target
    if adjacency.source_name == node_set_name:
      source = tf.cast(tf.gather(perm, source), source.dtype)
    if adjacency.target_name == node_set_name:
      target = tf.cast(tf.gather(perm, target), target.dtype)
    edge_sets[name] = tfgnn.EdgeSet.from_fields(
        sizes=edge_set.sizes, features=edge_set.features,
        adjacency=tfgnn.Adjacency.from_indices(
            (adjacency.source_name, source), (adjacency.target_name, target)))
  node_sets = dict(graph.node_sets)
  node_sets[node_set_name] = tfgnn.NodeSet.from_fields(
      sizes=node_set.sizes, features=features)
  return tfgnn.GraphTensor.from_pieces(context=graph.context,
                                       node_sets=node_sets,
                                       edge_sets=edge_sets)


class SubgraphsProvider(runner.DatasetProvider):
  """Batches of rooted subgraphs of `graph`, sampled in memory, for training.

  Every node of `node_set_name` is a root, in a random order redrawn every
  pass (`seed`); each element is the subgraph of one root (a scalar
  GraphTensor of one component), the root first in its node set, the
  features as in `graph` (without node ids). A replica's pipeline takes
  every `num_input_pipelines`-th root. The runner batches the elements
  (`global_batch_size`).

  Attributes:
    spec: The GraphTensorSpec of one element (sizes relaxed; reading it the
      first time traces the sampler).
    edge_set_names: The edge sets sampled (those reachable from the roots
      within the hops).
    node_set_names: The node sets that sampled subgraphs hold.
  """

  def __init__(self, graph: tfgnn.GraphTensor, node_set_name: str, *,
               fanouts: Sequence[int], seed: int, feature_name: str):
    # pylint: disable=g-import-not-at-top  (the sampler is only needed here)
    from tensorflow_gnn.experimental.sampler import core
    from tensorflow_gnn.experimental.sampler import subgraph_pipeline
    # pylint: enable=g-import-not-at-top
    _checks.check_node_set(graph.node_sets, node_set_name)
    self._num_roots = int(graph.node_sets[node_set_name].total_size)
    self._seed = seed
    self._node_set_name = node_set_name
    schema = tfgnn.create_schema_pb_from_graph_spec(graph.spec)
    spec, self.edge_set_names = sampling_spec(schema, node_set_name, fanouts)
    self.node_set_names = sorted({node_set_name, *(
        end for name in self.edge_set_names
        for end in (schema.edge_sets[name].source,
                    schema.edge_sets[name].target))})

    def edge_sampler(op):
      adjacency = graph.edge_sets[op.edge_set_name].adjacency
      return core.InMemUniformEdgesSampler(
          num_source_nodes=graph.node_sets[adjacency.source_name].total_size,
          source=tf.cast(adjacency.source, tf.int64),
          target=tf.cast(adjacency.target, tf.int64),
          sample_size=op.sample_size, edge_set_name=op.edge_set_name,
          seed=seed, name=f"sample_{op.op_name}")

    def features(name):
      node_set = graph.node_sets[name]
      return core.InMemIndexToFeaturesAccessor(
          {feature_name: node_set[feature_name],
           ROOT_ID: tf.range(node_set.total_size, dtype=tf.int64)},
          name=f"features_{name}")

    self._pipeline = subgraph_pipeline.SamplingPipeline(
        schema, spec, edge_sampler, features)
    self._sampler = None  # Traced on first use (`spec`, `get_dataset`).
    self._spec = None

  @property
  def spec(self) -> tfgnn.GraphTensorSpec:
    if self._spec is None:
      some = self._sample(tf.range(min(2, self._num_roots),
                                   dtype=tf.int64))[0]
      first = next(iter(tf.data.Dataset.from_tensors(some).unbatch()))
      element = self._root_first(first, tf.constant(0, tf.int64))
      self._spec = element.spec.relax(num_nodes=True, num_edges=True)
    return self._spec

  def _sample(self, roots: tf.Tensor):
    """`[B]` roots -> `[B]` GraphTensor of their subgraphs, and the roots."""
    if self._sampler is None:
      # Traced once (TF-GNN's sampler takes about a minute to trace on a
      # 2-core machine); every dataset made afterwards calls the same graph.
      self._sampler = tf.function(self._pipeline, input_signature=[
          tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1,
                              row_splits_dtype=tf.int64)])
    return self._sampler(tf.RaggedTensor.from_tensor(roots[:, None])), roots

  def _root_first(self, graph: tfgnn.GraphTensor,
                  root: tf.Tensor) -> tfgnn.GraphTensor:
    graph = put_roots_first(graph, self._node_set_name, root[None])
    return graph.remove_features(node_sets={
        name: [ROOT_ID] for name in graph.node_sets})

  def get_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
    """Single subgraphs (scalar, one component): the runner batches them."""
    roots = tf.data.Dataset.range(self._num_roots).shard(
        context.num_input_pipelines, context.input_pipeline_id)
    return (roots.shuffle(self._num_roots, seed=self._seed,
                          reshuffle_each_iteration=True).repeat()
            .batch(_ROOTS_PER_SAMPLING_CALL).map(self._sample).unbatch()
            .map(self._root_first, num_parallel_calls=tf.data.AUTOTUNE,
                 deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


_ROOTS_PER_SAMPLING_CALL = 256  # Roots sampled by one call of the sampler.
