"""Property-based tests of the serving model (`export.make_serving_model`).

Over random small graphs (2 to 30 nodes, random edges or none, random
features) and K from 2 to min(5, nodes), the served outputs satisfy:

  * `cluster_id` is int64 in [0, K), the most probable cluster;
  * `cluster_probabilities` lie in [0, 1] and each row sums to 1;
  * `embedding` rows have unit L2 norm (the serving embedding is
    `layers.ClusteringEmbedding`'s, L2-normalised; for non-negative features
    with a non-zero row the GNN never maps a node to zero) and at most unit
    norm for features of any sign;
  * identical requests give identical outputs;
  * a graph's nodes get the same outputs alone, batched with another graph
    (which becomes another component of the merged graph), and padded by
    `tfgnn.pad_to_total_sizes` (a padding component) and served as one
    example.

One GNN (fixed input width) and one serving model per K are built once; the
graphs vary in size, which the serving model accepts.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import functools

import hypothesis
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink

WIDTH = 4
HIDDEN = 8
MAX_NODES = 30
TOL = 1e-5

SETTINGS = hypothesis.settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])


def make_graph(features: np.ndarray, edges: np.ndarray) -> tfgnn.GraphTensor:
  """A one-component GraphTensor: node set `nodes`, edge set `edges`."""
  return tfgnn.GraphTensor.from_pieces(
      node_sets={"nodes": tfgnn.NodeSet.from_fields(
          sizes=tf.constant([len(features)], tf.int64),
          features={"feat": tf.constant(features, tf.float32)})},
      edge_sets={"edges": tfgnn.EdgeSet.from_fields(
          sizes=tf.constant([edges.shape[1]], tf.int64),
          adjacency=tfgnn.Adjacency.from_indices(
              ("nodes", tf.constant(edges[0], tf.int64)),
              ("nodes", tf.constant(edges[1], tf.int64))))})


@st.composite
def graphs(draw, signed=None):
  """A random graph with `WIDTH` features; non-negative unless `signed`."""
  num_nodes = draw(st.integers(2, MAX_NODES))
  num_edges = draw(st.integers(0, 3 * num_nodes))
  edges = draw(hnp.arrays(np.int64, (2, num_edges),
                          elements=st.integers(0, num_nodes - 1)))
  features = draw(hnp.arrays(np.float32, (num_nodes, WIDTH), elements=(
      st.floats(0.125, 10.0, width=32))))
  if signed if signed is not None else draw(st.booleans()):
    features *= draw(hnp.arrays(np.float32, features.shape,
                                elements=st.sampled_from([-1.0, 1.0])))
  return make_graph(features, edges)


@st.composite
def graphs_and_k(draw, signed=None):
  graph = draw(graphs(signed))
  num_nodes = int(graph.node_sets["nodes"].total_size)
  return graph, draw(st.integers(2, min(5, num_nodes)))


@functools.lru_cache(maxsize=None)
def serving_fn(n_clusters: int):
  """The serving model for `n_clusters` (one shared GNN), traced once."""
  spec, gnn = _spec_and_gnn()
  centers = np.random.default_rng(n_clusters).normal(size=(n_clusters, HIDDEN))
  task = dink.DinkClusteringTask(
      "nodes", n_clusters=n_clusters, readout="all_nodes",
      cluster_centers=centers.astype(np.float32), propagation_steps=2,
      edge_set_name="edges")
  model = dink.make_serving_model(
      gnn, task, spec, feature_processors=[dink.NormalizeFeatureRows()])
  return tf.function(model, input_signature=[tf.TensorSpec([None], tf.string)])


@functools.lru_cache(maxsize=None)
def _spec_and_gnn():
  """The input spec (`WIDTH` features) and the GNN shared by all K."""
  spec = make_graph(np.ones((2, WIDTH), np.float32),
                    np.zeros((2, 1), np.int64)).spec
  return spec, dink.make_gcn_model_fn(hidden_units=HIDDEN, seed=0)(spec)


def serve(n_clusters, *graphs_):
  examples = tf.constant([tfgnn.write_example(g).SerializeToString()
                          for g in graphs_])
  return {k: v.numpy() for k, v in serving_fn(n_clusters)(examples).items()}


def num_nodes(graph):
  return int(graph.node_sets["nodes"].total_size)


class ServingPropertiesTest(testing_utils.TestCase):

  def assert_same_outputs(self, got, want):
    """Equal outputs up to float rounding (and ids up to near-ties)."""
    for key in ("cluster_probabilities", "embedding"):
      self.assertAllClose(got[key], want[key], rtol=TOL, atol=TOL, msg=key)
    top2 = np.sort(want["cluster_probabilities"], axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > TOL
    self.assertAllEqual(got["cluster_id"][clear], want["cluster_id"][clear])

  @hypothesis.given(graphs_and_k())
  @SETTINGS
  def test_outputs_are_well_formed_and_deterministic(self, graph_and_k):
    graph, k = graph_and_k
    n = num_nodes(graph)
    out = serve(k, graph)
    ids, probs, z = (out["cluster_id"], out["cluster_probabilities"],
                     out["embedding"])
    self.assertEqual(ids.dtype, np.int64)
    self.assertEqual(ids.shape, (n,))
    self.assertEqual(probs.shape, (n, k))
    self.assertEqual(z.shape, (n, HIDDEN))
    self.assertTrue(np.all((ids >= 0) & (ids < k)))
    self.assertTrue(np.all((probs >= 0) & (probs <= 1)))
    self.assertAllClose(probs.sum(1), np.ones(n), rtol=0, atol=TOL)
    # Nearest centre = most probable cluster (up to near-ties).
    top2 = np.sort(probs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > TOL
    self.assertAllEqual(ids[clear], probs.argmax(1)[clear])
    norms = np.linalg.norm(z, axis=1)
    if np.all(graph.node_sets["nodes"]["feat"].numpy() >= 0):
      self.assertAllClose(norms, np.ones(n), rtol=0, atol=TOL)
    else:
      self.assertTrue(np.all(norms <= 1 + TOL))
    again = serve(k, graph)
    for key, value in out.items():
      self.assertAllEqual(again[key], value, msg=key)

  @hypothesis.given(graphs_and_k(), graphs())
  @SETTINGS
  def test_another_graph_in_the_batch_changes_nothing(self, graph_and_k,
                                                       other):
    graph, k = graph_and_k
    n = num_nodes(graph)
    alone = serve(k, graph)
    for batch, rows in (((graph, other), slice(0, n)),
                        ((other, graph), slice(num_nodes(other), None))):
      batched = serve(k, *batch)
      self.assertLen(batched["cluster_id"], n + num_nodes(other))
      self.assert_same_outputs({key: v[rows] for key, v in batched.items()},
                               alone)

  @hypothesis.given(graphs_and_k(signed=False), st.integers(1, 5),
                    st.integers(0, 5))
  @SETTINGS
  def test_padding_changes_nothing(self, graph_and_k, extra_nodes,
                                   extra_edges):
    graph, k = graph_and_k
    n = num_nodes(graph)
    sizes = tfgnn.SizeConstraints(
        total_num_components=2,
        total_num_nodes={"nodes": n + extra_nodes},
        total_num_edges={"edges": int(graph.edge_sets["edges"].total_size)
                                  + extra_edges})
    padded, mask = tfgnn.pad_to_total_sizes(graph, sizes)
    self.assertAllEqual(mask, [True, False])
    self.assertEqual(num_nodes(padded), n + extra_nodes)
    got = serve(k, padded)
    self.assertLen(got["cluster_id"], n + extra_nodes)
    self.assert_same_outputs({key: v[:n] for key, v in got.items()},
                             serve(k, graph))
    # The padding nodes' outputs are well-formed too.
    self.assertTrue(np.all((got["cluster_id"] >= 0)
                           & (got["cluster_id"] < k)))
    self.assertAllClose(got["cluster_probabilities"].sum(1),
                        np.ones(n + extra_nodes), rtol=0, atol=TOL)


if __name__ == "__main__":
  testing_utils.main()
