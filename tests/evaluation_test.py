"""Tests for `tensorflow_gnn_dink.recipe.evaluation` vs hand computation."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

from absl.testing import parameterized
import numpy as np
from sklearn import metrics as sk_metrics

from tensorflow_gnn_dink.recipe import evaluation

# Two triangles {0, 1, 2} and {3, 4, 5} joined by the edge 2 - 3.
_UNDIRECTED = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
TRIANGLES = np.array(_UNDIRECTED + [(b, a) for a, b in _UNDIRECTED]).T


def _random_graph(seed: int, num_nodes: int = 30, num_pairs: int = 80):
  """Random undirected edges (both directions), no self-loops or repeats."""
  rng = np.random.default_rng(seed)
  pairs = {tuple(sorted(p)) for p in rng.integers(0, num_nodes,
                                                  (num_pairs, 2)).tolist()
           if p[0] != p[1]}
  pairs = sorted(pairs)
  return np.array(pairs + [(b, a) for a, b in pairs]).T, rng


def _dense_modularity(edges, clusters, num_nodes):
  adjacency = np.zeros((num_nodes, num_nodes))
  adjacency[edges[0], edges[1]] = 1
  degree = adjacency.sum(1)
  two_m = adjacency.sum()
  same = clusters[:, None] == clusters[None, :]
  return ((adjacency - np.outer(degree, degree) / two_m) * same).sum() / two_m


def _dense_conductance(edges, clusters, num_nodes):
  adjacency = np.zeros((num_nodes, num_nodes))
  adjacency[edges[0], edges[1]] = 1
  two_m = adjacency.sum()
  values = []
  for c in np.unique(clusters):
    inside = clusters == c
    volume = adjacency[inside].sum()
    cut = adjacency[np.ix_(inside, ~inside)].sum()
    denominator = min(volume, two_m - volume)
    values.append(cut / denominator if denominator > 0 else 0.0)
  return float(np.mean(values))


class MatchClustersTest(testing_utils.TestCase):

  def test_relabels_by_maximum_overlap(self):
    labels = np.array([0, 0, 0, 1, 1, 2])
    clusters = np.array([2, 2, 1, 0, 0, 1])
    # Overlaps: cluster 2 -> label 0 (2 nodes), cluster 0 -> label 1 (2),
    # cluster 1 -> label 2 (1; its other node is label 0, already taken).
    self.assertAllEqual(evaluation.match_clusters(labels, clusters),
                        [0, 0, 2, 1, 1, 2])

  def test_label_ids_need_not_be_contiguous(self):
    labels = np.array([3, 3, 7, 7, 7])
    clusters = np.array([1, 1, 0, 0, 1])
    self.assertAllEqual(evaluation.match_clusters(labels, clusters),
                        [3, 3, 7, 7, 3])

  def test_unmatched_clusters_get_ids_beyond_the_labels(self):
    labels = np.array([0, 0, 1, 1, 1, 1])
    clusters = np.array([5, 5, 6, 6, 8, 9])
    # 5 -> 0, 6 -> 1; clusters 8 and 9 match no label: ids 2 and 3.
    self.assertAllEqual(evaluation.match_clusters(labels, clusters),
                        [0, 0, 1, 1, 2, 3])

  def test_unknown_labels_are_dropped(self):
    labels = np.array([0, -1, 1, 1, -1])
    clusters = np.array([1, 0, 0, 0, 1])
    self.assertAllEqual(evaluation.match_clusters(labels, clusters),
                        [0, 1, 1])


class LabelMetricsTest(testing_utils.TestCase):

  def test_accuracy_uses_the_best_one_to_one_matching(self):
    labels = np.array([0, 0, 0, 1, 1, 2])
    clusters = np.array([2, 2, 1, 0, 0, 1])  # 2->0, 0->1, 1->2: 5 of 6 right.
    self.assertAllClose(evaluation.accuracy(labels, clusters), 5 / 6)
    # Permuted ids are a perfect clustering.
    self.assertEqual(evaluation.accuracy(labels, (labels + 1) % 3), 1.0)

  def test_more_clusters_than_classes_and_unknown_labels(self):
    labels = np.array([0, 0, 1, 1, -1])
    clusters = np.array([0, 1, 2, 2, 0])  # Cluster 0 or 1 stays unmatched.
    self.assertAllClose(evaluation.accuracy(labels, clusters), 3 / 4)

  def test_f1_nmi_ari_hand_computed(self):
    labels = np.array([0, 0, 1, 1])
    clusters = np.array([1, 1, 1, 0])
    # Matching 1->0, 0->1: predicted [0, 0, 0, 1]. Class 0: P=2/3, R=1,
    # F1=0.8; class 1: P=1, R=1/2, F1=2/3.
    result = evaluation.evaluate(clusters, labels)
    self.assertAllClose(result["F1"], (0.8 + 2 / 3) / 2)
    self.assertAllClose(evaluation.macro_f1(labels, clusters),
                        (0.8 + 2 / 3) / 2)
    self.assertAllClose(result["ACC"], 0.75)
    # NMI (arithmetic mean): H(Y)=ln2, H(C)=H(.75,.25), I = H(Y) - H(Y|C),
    # H(Y|C) = 3/4 * H(2/3, 1/3).
    h = lambda *p: -sum(x * np.log(x) for x in p)
    mutual = h(.5, .5) - 0.75 * h(2 / 3, 1 / 3)
    self.assertAllClose(result["NMI"],
                        mutual / ((h(.5, .5) + h(.75, .25)) / 2))
    # ARI: pairs: sum C(n_ij,2) = C(2,2)+C(1,2)=1; rows: C(2,2)*2=2; cols:
    # C(3,2)+C(1,2)=3; expected = 2*3/C(4,2)=1; max = (2+3)/2 = 2.5.
    self.assertAllClose(result["ARI"], (1 - 1) / (2.5 - 1))
    self.assertEqual(result["non_empty_clusters"], 2)
    self.assertEqual(set(evaluation.evaluate(clusters)),
                     {"non_empty_clusters"})

  def test_nmi_ari_f1_as_scikit_learn(self):
    """Random partitions, equal, relabelled and single-part ones."""
    rng = np.random.default_rng(0)
    cases = [(np.zeros(5, int), np.zeros(5, int)),  # One part each: 1.0.
             (np.zeros(5, int), np.arange(5)),  # One part against five.
             (np.arange(6) % 2, np.arange(6) % 3)]
    for _ in range(60):
      n = int(rng.integers(1, 300))
      labels = rng.integers(0, int(rng.integers(1, 8)), n)
      clusters = rng.integers(0, int(rng.integers(1, 9)), n) + 3
      cases += [(labels, clusters), (labels, (labels + 1) % 4)]
    for labels, clusters in cases:
      self.assertAllClose(
          evaluation.normalized_mutual_info(labels, clusters),
          sk_metrics.normalized_mutual_info_score(labels, clusters),
          rtol=1e-12, atol=1e-12)
      self.assertAllClose(
          evaluation.adjusted_rand_index(labels, clusters),
          sk_metrics.adjusted_rand_score(labels, clusters),
          rtol=1e-12, atol=1e-12)
      self.assertAllClose(
          evaluation.macro_f1(labels, clusters),
          sk_metrics.f1_score(labels,
                              evaluation.match_clusters(labels, clusters),
                              labels=np.unique(labels), average="macro"),
          rtol=1e-12, atol=1e-12)

  def test_ari_of_a_million_nodes_does_not_overflow(self):
    labels = np.arange(10**6) % 2
    clusters = np.arange(10**6) % 3
    self.assertAllClose(evaluation.adjusted_rand_index(labels, clusters),
                        sk_metrics.adjusted_rand_score(labels, clusters))

  def test_evaluate_ignores_unknown_labels(self):
    labels = np.array([0, 0, 1, 1])
    clusters = np.array([1, 1, 1, 0])
    expected = evaluation.evaluate(clusters, labels)
    # Unknown labels (-1) with arbitrary clusters change nothing but the
    # count of non-empty clusters (which counts every node).
    with_unknown = evaluation.evaluate(np.array([2, 1, 1, 0, 1, 0, 2]),
                                       np.array([-1, 0, 0, -1, 1, 1, -1]))
    for key in ("ACC", "NMI", "ARI", "F1"):
      self.assertAllClose(with_unknown[key], expected[key], msg=key)
    self.assertEqual(with_unknown["non_empty_clusters"], 3)

  def test_no_known_label_gives_only_label_free_metrics(self):
    clusters = np.array([0, 1, 1])
    edges = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    result = evaluation.evaluate(clusters, np.array([-1, -1, -1]), edges)
    self.assertEqual(set(result),
                     {"non_empty_clusters", "modularity", "conductance"})
    with self.assertRaisesRegex(ValueError, "No known labels"):
      evaluation.match_clusters(np.array([-1, -1, -1]), clusters)

  def test_all_labels_known_perfect_clustering(self):
    labels = np.array([2, 2, 0, 0, 1, 1])
    result = evaluation.evaluate(np.array([0, 0, 1, 1, 2, 2]), labels)
    for key in ("ACC", "NMI", "ARI", "F1"):
      self.assertAllClose(result[key], 1.0, msg=key)

  @parameterized.named_parameters(
      ("match_clusters", evaluation.match_clusters),
      ("accuracy", evaluation.accuracy),
      ("macro_f1", evaluation.macro_f1),
      ("evaluate", lambda labels, clusters: evaluation.evaluate(clusters,
                                                                labels)),
  )
  def test_shape_mismatch_is_an_error(self, fn):
    with self.assertRaisesRegex(
        ValueError, r"labels \(4,\) and clusters \(3,\) must have the same "
        "shape"):
      fn(np.array([0, 0, 1, 1]), np.array([0, 1, 1]))


class GraphMetricsTest(testing_utils.TestCase):

  def test_modularity_and_conductance_hand_computed(self):
    clusters = np.array([0, 0, 0, 1, 1, 1])
    # m = 7; each cluster: L_c = 3, vol_c = 7. Q = 2 * (3/7 - (7/14)^2).
    self.assertAllClose(evaluation.modularity(TRIANGLES, clusters),
                        2 * (3 / 7 - 0.25))
    # cut = 1 edge, vol = 7 each: conductance 1/7.
    self.assertAllClose(evaluation.conductance(TRIANGLES, clusters), 1 / 7)
    # All in one cluster: Q = 1 - 1 = 0, conductance 0.
    one = np.zeros(6, np.int64)
    self.assertAllClose(evaluation.modularity(TRIANGLES, one), 0.0)
    self.assertEqual(evaluation.conductance(TRIANGLES, one), 0.0)
    result = evaluation.evaluate(clusters, edges=TRIANGLES)
    self.assertAllClose(result["modularity"], 2 * (3 / 7 - 0.25))
    self.assertAllClose(result["conductance"], 1 / 7)
    self.assertEqual(result["non_empty_clusters"], 2)
    self.assertNotIn("ACC", result)

  def test_modularity_without_edges_is_zero(self):
    self.assertEqual(evaluation.modularity(np.zeros((2, 0), np.int64),
                                           np.array([0, 1, 1])), 0.0)

  def test_conductance_counts_clusters_without_edges_as_zero(self):
    # Node 6 is isolated in its own cluster: volume 0, counts as 0.
    clusters = np.array([0, 0, 0, 1, 1, 1, 2])
    self.assertAllClose(evaluation.conductance(TRIANGLES, clusters),
                        (1 / 7 + 1 / 7 + 0) / 3)

  @parameterized.parameters(0, 1, 2)
  def test_modularity_brute_force_on_a_random_graph(self, seed):
    edges, rng = _random_graph(seed)
    clusters = rng.integers(0, 4, 30)
    self.assertAllClose(evaluation.modularity(edges, clusters),
                        _dense_modularity(edges, clusters, 30))

  @parameterized.parameters(0, 1, 2)
  def test_conductance_brute_force_on_a_random_graph(self, seed):
    edges, rng = _random_graph(seed)
    # Non-contiguous ids (some cluster ids unused) on purpose.
    clusters = rng.choice([0, 2, 3, 6], size=30)
    self.assertAllClose(evaluation.conductance(edges, clusters),
                        _dense_conductance(edges, clusters, 30))

  def test_edge_chunks_and_many_clusters_count_the_same(self):
    # More than 256 clusters (two-byte ids), edges in chunks of 7.
    rng = np.random.default_rng(4)
    pairs = np.unique(np.sort(rng.integers(0, 1000, (3000, 2)), axis=1),
                      axis=0)
    src, dst = pairs[pairs[:, 0] != pairs[:, 1]].T  # Simple graph.
    edges = np.concatenate([[src, dst], [dst, src]], axis=1)
    clusters = rng.integers(0, 300, 1000)
    clusters[:300] = np.arange(300)  # Every id has a member.
    whole = evaluation._cluster_edge_counts(edges, clusters, chunk=10**9)
    chunked = evaluation._cluster_edge_counts(edges, clusters, chunk=7)
    self.assertAllEqual(whole[0], chunked[0])
    self.assertAllEqual(whole[1], chunked[1])
    self.assertAllEqual(whole[1], np.bincount(clusters[edges[0]],
                                              minlength=300))
    self.assertAllClose(evaluation.modularity(edges, clusters),
                        _dense_modularity(edges, clusters, 1000))
    result = evaluation.evaluate(clusters, edges=edges)
    self.assertAllClose(result["conductance"],
                        _dense_conductance(edges, clusters, 1000))
    self.assertEqual(result["non_empty_clusters"], 300)

  def test_conductance_brute_force_with_a_dominant_cluster(self):
    # One cluster holds most of the volume: min(vol, 2m - vol) is 2m - vol.
    edges, rng = _random_graph(3)
    clusters = np.where(rng.random(30) < 0.8, 0, rng.integers(1, 3, 30))
    self.assertAllClose(evaluation.conductance(edges, clusters),
                        _dense_conductance(edges, clusters, 30))


if __name__ == "__main__":
  testing_utils.main()
