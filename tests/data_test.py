"""Tests for `tensorflow_gnn_dink.recipe.data`: graphs in memory."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import dataclasses

from absl.testing import parameterized
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from tensorflow_gnn_dink.recipe import data


def _graph(features, edges, labels=None) -> data.Graph:
  if not sp.issparse(features):
    features = np.asarray(features, np.float32)
  return data.Graph(features=features,
                    edges=np.asarray(edges, np.int64), labels=labels)


def _edge_set(edges: np.ndarray) -> set:
  return set(zip(edges[0].tolist(), edges[1].tolist()))


class GraphTest(testing_utils.TestCase):

  def test_num_nodes_and_num_classes_ignore_unknown_labels(self):
    graph = _graph(np.zeros((5, 2)), np.zeros((2, 0)),
                   labels=np.array([0, 2, -1, 2, 5]))
    self.assertEqual(graph.num_nodes, 5)
    self.assertEqual(graph.num_classes, 3)

  def test_num_classes_without_known_labels_is_none(self):
    self.assertIsNone(_graph(np.zeros((2, 1)), np.zeros((2, 0))).num_classes)
    self.assertIsNone(_graph(np.zeros((2, 1)), np.zeros((2, 0)),
                             labels=np.array([-1, -1])).num_classes)


class MakeCsbmTest(testing_utils.TestCase):

  def test_same_seed_same_graph(self):
    a = data.make_csbm(num_nodes=200, n_clusters=3, seed=5)
    b = data.make_csbm(num_nodes=200, n_clusters=3, seed=5)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.edges, b.edges)
    np.testing.assert_array_equal(a.labels, b.labels)
    self.assertEqual(a.name, "csbm")

  def test_different_seed_different_graph(self):
    a = data.make_csbm(num_nodes=200, n_clusters=3, seed=5)
    b = data.make_csbm(num_nodes=200, n_clusters=3, seed=6)
    self.assertFalse(np.array_equal(a.labels, b.labels))
    self.assertFalse(np.allclose(a.features, b.features))
    self.assertNotEqual(_edge_set(a.edges), _edge_set(b.edges))

  def test_shapes_dtypes_and_a_valid_undirected_graph(self):
    graph = data.make_csbm(num_nodes=300, n_clusters=4, num_features=7,
                           avg_degree=6.0, seed=0)
    self.assertEqual(graph.features.shape, (300, 7))
    self.assertEqual(graph.features.dtype, np.float32)
    self.assertEqual(graph.edges.dtype, np.int64)
    self.assertEqual(graph.labels.dtype, np.int64)
    self.assertEqual(graph.num_classes, 4)
    data.validate(graph)
    src, dst = graph.edges
    self.assertFalse(np.any(src == dst))
    forward = _edge_set(graph.edges)
    self.assertEqual(forward, set(zip(dst.tolist(), src.tolist())))
    self.assertLen(forward, graph.edges.shape[1])
    # num_nodes * avg_degree / 2 undirected edges are drawn; a few collide.
    self.assertBetween(graph.edges.shape[1], 0.9 * 300 * 6.0, 300 * 6.0)

  def test_labels_are_balanced(self):
    graph = data.make_csbm(num_nodes=2000, n_clusters=4, seed=1)
    counts = np.bincount(graph.labels, minlength=4)
    self.assertLen(counts, 4)
    # Uniform: 500 each, standard deviation about 19.
    for count in counts:
      self.assertBetween(count, 400, 600)

  @parameterized.parameters(0.0, 0.3, 0.8, 1.0)
  def test_homophily_is_the_fraction_of_intra_community_edges(self, homophily):
    graph = data.make_csbm(num_nodes=2000, n_clusters=4, avg_degree=8.0,
                           homophily=homophily, seed=1)
    src, dst = graph.edges
    measured = np.mean(graph.labels[src] == graph.labels[dst])
    self.assertAllClose(measured, homophily, atol=0.03)

  @parameterized.parameters((5, 5), (9, 8), (20, 10))
  def test_every_community_is_non_empty(self, num_nodes, n_clusters):
    for seed in range(5):
      graph = data.make_csbm(num_nodes=num_nodes, n_clusters=n_clusters,
                             avg_degree=2.0, seed=seed)
      self.assertCountEqual(np.unique(graph.labels), range(n_clusters))

  def test_features_without_noise_are_the_community_means(self):
    graph = data.make_csbm(num_nodes=100, n_clusters=3, num_features=5,
                           feature_noise=0.0, seed=3)
    for c in range(3):
      rows = graph.features[graph.labels == c]
      self.assertAllClose(rows, np.broadcast_to(rows[0], rows.shape))
      self.assertAllClose(np.linalg.norm(rows[0]), 2.0)
    means = graph.features[[np.argmax(graph.labels == c) for c in range(3)]]
    self.assertFalse(np.allclose(means[0], means[1]))

  def test_bag_of_words_features_are_sparse_and_on_topic(self):
    graph = data.make_csbm(num_nodes=300, n_clusters=3, num_features=600,
                           words_per_node=20, feature_noise=0.5, seed=1)
    self.assertTrue(sp.issparse(graph.features))
    self.assertEqual(graph.features.shape, (300, 600))
    self.assertEqual(graph.features.dtype, np.float32)
    self.assertAllEqual(np.unique(graph.features.data), [1.0])
    words = np.asarray(graph.features.sum(1)).ravel()
    self.assertBetween(words.min(), 1, 20)
    self.assertGreater(words.mean(), 15)  # Few repeats merge.
    # Two thirds of the words come from the community's topic: rows of one
    # community share more columns than rows of two communities.
    x = graph.features.toarray()
    same = x[graph.labels == 0][:50] @ x[graph.labels == 0][50:100].T
    other = x[graph.labels == 0][:50] @ x[graph.labels == 1][:50].T
    self.assertGreater(same.mean(), 1.5 * other.mean())
    again = data.make_csbm(num_nodes=300, n_clusters=3, num_features=600,
                           words_per_node=20, feature_noise=0.5, seed=1)
    self.assertEqual((again.features != graph.features).nnz, 0)
    with self.assertRaisesRegex(ValueError, "words_per_node must be"):
      data.make_csbm(num_nodes=30, words_per_node=0)

  @parameterized.named_parameters(
      ("one", 1, 10, "n_clusters must be an integer >= 2, got 1"),
      ("zero", 0, 10, "n_clusters must be an integer >= 2, got 0"),
      ("fraction", 2.5, 10, "n_clusters must be an integer >= 2, got 2.5"),
      ("too_many", 11, 10,
       r"n_clusters=11 exceeds the number of nodes \(10\)"),
  )
  def test_n_clusters_errors(self, n_clusters, num_nodes, message):
    with self.assertRaisesRegex(ValueError, message):
      data.make_csbm(num_nodes=num_nodes, n_clusters=n_clusters)


class SymmetrizeEdgesTest(testing_utils.TestCase):

  def test_both_directions_sorted_by_target(self):
    edges = data.symmetrize_edges(np.array([[0, 2], [1, 1]]), 3)
    self.assertAllEqual(edges, [[1, 0, 2, 1], [0, 1, 1, 2]])
    self.assertEqual(edges.dtype, np.int64)

  def test_self_loops_are_dropped(self):
    edges = data.symmetrize_edges(np.array([[0, 1, 2], [0, 2, 2]]), 3)
    self.assertAllEqual(edges, [[2, 1], [1, 2]])

  def test_duplicates_and_reverse_pairs_are_merged(self):
    edges = data.symmetrize_edges(
        np.array([[0, 0, 1, 3, 3], [1, 1, 0, 2, 2]]), 4)
    self.assertAllEqual(edges, [[1, 0, 3, 2], [0, 1, 2, 3]])

  def test_only_self_loops_or_nothing_give_no_edges(self):
    self.assertEqual(data.symmetrize_edges(np.array([[1], [1]]), 2).shape,
                     (2, 0))
    self.assertEqual(data.symmetrize_edges(np.zeros((2, 0)), 2).shape, (2, 0))

  def test_random_edges_against_a_set(self):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 15, size=(2, 60))
    expected = {(int(a), int(b)) for a, b in raw.T if a != b}
    expected |= {(b, a) for a, b in expected}
    edges = data.symmetrize_edges(raw, 15)
    self.assertEqual(_edge_set(edges), expected)
    self.assertEqual(edges.shape[1], len(expected))
    # Already symmetrized: the same array back, not a copy.
    self.assertIs(data.symmetrize_edges(edges, 15), edges)
    for not_yet in (edges[:, 1:],  # One direction of a pair missing.
                    edges[:, ::-1],  # Not sorted by target.
                    np.concatenate([edges, [[3], [3]]], axis=1)):  # A loop.
      again = data.symmetrize_edges(not_yet, 15)
      self.assertIsNot(again, not_yet)
      self.assertEqual(_edge_set(again), _edge_set(not_yet) - {(3, 3)} | {
          (b, a) for a, b in _edge_set(not_yet) if a != b})


class ToGraphTensorTest(testing_utils.TestCase):

  def test_generated_arrays_are_shared_and_callers_arrays_left_alone(self):
    graph = data.make_csbm(num_nodes=64, n_clusters=2, num_features=16,
                           seed=0)
    self.assertFalse(graph.features.flags.writeable)
    self.assertFalse(graph.edges.flags.writeable)
    shared = data.to_graph_tensor(graph).node_sets["nodes"]["feat"]
    self.assertTrue(np.shares_memory(np.asarray(shared), graph.features))
    mine = dataclasses.replace(graph, features=graph.features.copy())
    copied = data.to_graph_tensor(mine).node_sets["nodes"]["feat"]
    self.assertTrue(mine.features.flags.writeable)  # Still the caller's.
    self.assertFalse(np.shares_memory(np.asarray(copied), mine.features))
    self.assertAllEqual(copied, shared)

  def test_round_trip_of_features_and_edges(self):
    graph = data.make_csbm(num_nodes=50, n_clusters=2, num_features=3, seed=0)
    tensor = data.to_graph_tensor(graph)
    nodes = tensor.node_sets["nodes"]
    adjacency = tensor.edge_sets["edges"].adjacency
    self.assertAllEqual(nodes.sizes, [50])
    self.assertAllEqual(tensor.edge_sets["edges"].sizes,
                        [graph.edges.shape[1]])
    self.assertEqual(nodes["feat"].dtype, tf.float32)
    self.assertAllEqual(nodes["feat"], graph.features)
    self.assertAllEqual(adjacency.source, graph.edges[0])
    self.assertAllEqual(adjacency.target, graph.edges[1])
    self.assertEqual(adjacency.source_name, "nodes")
    self.assertEqual(adjacency.target_name, "nodes")
    self.assertNotIn("label", nodes.features)  # Labels stay outside.

  def test_custom_names(self):
    graph = _graph([[1.0, 2.0], [3.0, 4.0]], [[0, 1], [1, 0]])
    tensor = data.to_graph_tensor(graph, node_set_name="papers",
                                  edge_set_name="cites", feature_name="x")
    self.assertAllEqual(tensor.node_sets["papers"]["x"], [[1, 2], [3, 4]])
    adjacency = tensor.edge_sets["cites"].adjacency
    self.assertAllEqual(adjacency.source, [0, 1])
    self.assertAllEqual(adjacency.target, [1, 0])
    self.assertEqual(adjacency.source_name, "papers")

  def test_invalid_graph_is_refused(self):
    with self.assertRaisesRegex(ValueError, "outside"):
      data.to_graph_tensor(_graph(np.zeros((2, 1)), [[0], [2]]))

  def test_sparse_features_become_two_ragged_features(self):
    dense = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]],
                     np.float32)
    graph = _graph(sp.csr_matrix(dense), [[0, 1], [1, 0]])
    nodes = data.to_graph_tensor(graph).node_sets["nodes"]
    self.assertEqual(sorted(nodes.features), ["feat_columns", "feat_values"])
    self.assertAllEqual(nodes["feat_columns"].to_list(), [[1], [], [0, 2]])
    self.assertAllEqual(nodes["feat_values"].to_list(), [[2.0], [], [1.0, 3.0]])


class WithFeatureFormatTest(testing_utils.TestCase):

  def test_formats(self):
    mostly_zero = np.eye(20, dtype=np.float32)  # 5% non-zero.
    full = np.ones((20, 3), np.float32)
    edges = np.zeros((2, 0))
    auto = data.with_feature_format(_graph(mostly_zero, edges), "auto")
    self.assertTrue(sp.issparse(auto.features))
    self.assertAllEqual(auto.features.toarray(), mostly_zero)
    self.assertIsInstance(
        data.with_feature_format(_graph(full, edges), "auto").features,
        np.ndarray)
    self.assertIsInstance(data.with_feature_format(
        _graph(sp.csr_matrix(full), edges), "auto").features, np.ndarray)
    self.assertTrue(sp.issparse(data.with_feature_format(
        _graph(full, edges), "sparse").features))
    self.assertIsInstance(data.with_feature_format(
        _graph(sp.csr_matrix(mostly_zero), edges), "dense").features,
                          np.ndarray)
    with self.assertRaisesRegex(
        ValueError, "config.data.feature_format must be one of"):
      data.with_feature_format(_graph(full, edges), "csr")


class ValidateTest(testing_utils.TestCase):

  def test_valid_graph_passes(self):
    data.validate(_graph(np.zeros((3, 2)), [[0, 1], [1, 0]],
                         labels=np.array([0, -1, 1])))
    data.validate(_graph(np.zeros((3, 2)), np.zeros((2, 0))))

  @parameterized.named_parameters(
      ("features_1d", np.zeros(3), np.zeros((2, 0)), None,
       r"features must be a \[num_nodes, num_features\] matrix, got shape "
       r"\(3,\)"),
      ("features_3d", np.zeros((3, 2, 1)), np.zeros((2, 0)), None,
       r"got shape \(3, 2, 1\)"),
      ("empty", np.zeros((0, 3)), np.zeros((2, 0)), None,
       "The graph has no nodes: nothing to cluster"),
      ("edges_1d", np.zeros((3, 2)), np.zeros(4), None,
       r"edges must have shape \[2, num_edges\], got \(4,\)"),
      ("edges_transposed", np.zeros((3, 2)), np.zeros((4, 2)), None,
       r"edges must have shape \[2, num_edges\], got \(4, 2\)"),
      ("edge_too_large", np.zeros((3, 2)), [[0, 3], [1, 0]], None,
       r"edges reference node ids outside \[0, 3\): min 0, max 3"),
      ("edge_negative", np.zeros((3, 2)), [[0, -1], [1, 0]], None,
       r"edges reference node ids outside \[0, 3\): min -1, max 1"),
      ("labels_short", np.zeros((3, 2)), np.zeros((2, 0)), np.zeros(2),
       r"labels must have shape \(3,\), got \(2,\)"),
      ("labels_2d", np.zeros((3, 2)), np.zeros((2, 0)), np.zeros((3, 1)),
       r"labels must have shape \(3,\), got \(3, 1\)"),
  )
  def test_errors(self, features, edges, labels, message):
    with self.assertRaisesRegex(ValueError, message):
      data.validate(_graph(features, edges, labels))

  def test_nan_and_inf_rows_are_counted(self):
    features = np.zeros((8, 3), np.float32)
    features[1, 0] = np.nan
    features[1, 2] = np.inf
    features[6, 1] = -np.inf
    with self.assertRaisesRegex(
        ValueError, r"features contain NaN or inf in 2 rows \(first: \[1, 6\]\)"
        r"\. Clean or impute them"):
      data.validate(_graph(features, np.zeros((2, 0))))

  def test_nan_in_sparse_features(self):
    features = sp.csr_matrix(np.array([[0, 1], [np.nan, 0], [0, 0]],
                                      np.float32))
    with self.assertRaisesRegex(ValueError, r"in 1 rows \(first: \[1\]\)"):
      data.validate(_graph(features, np.zeros((2, 0))))

  def test_nan_rows_lists_only_the_first_five(self):
    features = np.full((9, 1), np.nan, np.float32)
    with self.assertRaisesRegex(
        ValueError, r"in 9 rows \(first: \[0, 1, 2, 3, 4\]\)"):
      data.validate(_graph(features, np.zeros((2, 0))))


if __name__ == "__main__":
  testing_utils.main()
