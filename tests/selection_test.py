"""Tests for `tensorflow_gnn_dink.recipe.selection`: label-free model choice."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

from absl.testing import parameterized
import numpy as np
from sklearn import cluster as sk_cluster
from sklearn import metrics as metrics_lib

from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import selection

# Two triangles {0, 1, 2} and {3, 4, 5} joined by the edge 2 - 3.
_UNDIRECTED = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
TRIANGLES = np.array(_UNDIRECTED + [(b, a) for a, b in _UNDIRECTED]).T
# Candidate partitions and their modularity (m = 7).
SPLIT = np.array([0, 0, 0, 1, 1, 1])  # 2 * (3/7 - (7/14)^2) = 5/14.
ONE = np.zeros(6, np.int64)  # 0.
SHIFTED = np.array([0, 0, 1, 1, 1, 1])  # 1/7 - (4/14)^2 + 4/7 - (10/14)^2.
SPLIT_Q = 5 / 14
SHIFTED_Q = 1 / 7 - (4 / 14) ** 2 + 4 / 7 - (10 / 14) ** 2  # 6/49.


def _chooser(candidates):
  """`cluster_ids_of` over a list, recording which indices were asked for."""
  asked = []

  def cluster_ids_of(i):
    asked.append(i)
    return candidates[i]

  return cluster_ids_of, asked


class BestByModularityTest(testing_utils.TestCase):

  def test_picks_the_highest_modularity(self):
    cluster_ids_of, asked = _chooser([ONE, SHIFTED, SPLIT, ONE])
    choice = selection.best_by_modularity(TRIANGLES, [10, 20, 30, 40],
                                          cluster_ids_of)
    self.assertEqual(choice.index, 2)
    self.assertEqual(choice.step, 30)
    self.assertAllClose(choice.modularity, SPLIT_Q)
    self.assertEqual(asked, [0, 1, 2, 3])  # Every candidate scored once.

  def test_history_is_step_and_modularity(self):
    candidates = [ONE, SHIFTED, SPLIT]
    cluster_ids_of, _ = _chooser(candidates)
    choice = selection.best_by_modularity(TRIANGLES, [0.5, 1.5, 2.5],
                                          cluster_ids_of)
    self.assertLen(choice.history, 3)
    for (step, q), expected_step, ids, hand in zip(
        choice.history, [0.5, 1.5, 2.5], candidates, [0.0, SHIFTED_Q,
                                                      SPLIT_Q]):
      self.assertEqual(step, expected_step)
      self.assertEqual(q, evaluation.modularity(TRIANGLES, ids))
      self.assertAllClose(q, hand)

  def test_first_on_ties(self):
    swapped = 1 - SPLIT  # The same partition, other ids: the same modularity.
    cluster_ids_of, _ = _chooser([SHIFTED, SPLIT, swapped, ONE])
    choice = selection.best_by_modularity(TRIANGLES, range(4), cluster_ids_of)
    self.assertEqual(choice.history[1][1], choice.history[2][1])
    self.assertEqual(choice.index, 1)

  def test_margin_keeps_the_first_unless_a_gain_exceeds_it(self):
    # SPLIT_Q - SHIFTED_Q is the gain of the best over the first candidate.
    gain = SPLIT_Q - SHIFTED_Q
    for margin, expected in ((0.0, 1), (gain - 1e-6, 1), (gain + 1e-6, 0)):
      cluster_ids_of, asked = _chooser([SHIFTED, SPLIT, ONE])
      choice = selection.best_by_modularity(TRIANGLES, [0, 10, 20],
                                            cluster_ids_of, margin=margin)
      self.assertEqual(choice.index, expected, margin)
      self.assertEqual(asked, [0, 1, 2])  # The record is whole either way.
    # The last rule ignores the margin.
    choice = selection.best_by_modularity(TRIANGLES, [0, 10, 20],
                                          _chooser([SHIFTED, SPLIT, ONE])[0],
                                          rule="last", margin=1.0)
    self.assertEqual(choice.index, 2)

  def test_rule_last_keeps_the_last_candidate(self):
    cluster_ids_of, asked = _chooser([SPLIT, SHIFTED, ONE])
    choice = selection.best_by_modularity(TRIANGLES, [5, 6, 7],
                                          cluster_ids_of, rule="last")
    self.assertEqual(choice.index, 2)
    self.assertEqual(choice.step, 7)
    self.assertEqual(choice.modularity, 0.0)
    # The record is the same as under "modularity".
    self.assertAllClose([q for _, q in choice.history],
                        [SPLIT_Q, SHIFTED_Q, 0.0])
    self.assertEqual(asked, [0, 1, 2])

  def test_unknown_rule_is_refused_before_scoring(self):
    cluster_ids_of, asked = _chooser([SPLIT])
    with self.assertRaisesRegex(ValueError, "config.selection must be one of"):
      selection.best_by_modularity(TRIANGLES, [0], cluster_ids_of,
                                   rule="best")
    self.assertEqual(asked, [])


class CheckRuleTest(testing_utils.TestCase):

  @parameterized.parameters("modularity", "last")
  def test_known_rules_pass(self, rule):
    self.assertEqual(selection.check_rule(rule), rule)

  @parameterized.parameters("Modularity", "first", "")
  def test_unknown_rule_message(self, rule):
    with self.assertRaisesRegex(
        ValueError,
        r"config.selection must be one of \('modularity', 'last'\), got "
        f"'{rule}'"):
      selection.check_rule(rule)


def _blobs(seed: int, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
  """Rows around 4 well-separated centres in 8 dimensions, and their blob."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(4, 8)) * 10
  truth = rng.integers(0, 4, num_rows)
  return (centres[truth] + rng.normal(size=(num_rows, 8))).astype(
      np.float32), truth


def _path_edges(num_nodes: int) -> np.ndarray:
  """Both directions of the edges of a path through the nodes in order."""
  edges = np.stack([np.arange(num_nodes - 1), np.arange(1, num_nodes)])
  return np.concatenate([edges, edges[::-1]], axis=1)


class KMeansTest(testing_utils.TestCase):

  def setUp(self):
    super().setUp()
    self.graph = data.make_csbm(num_nodes=300, n_clusters=4, num_features=8,
                                feature_noise=3.0, seed=2)

  def test_kmeans_keeps_the_restart_with_the_highest_modularity(self):
    z = self.graph.features
    edges = self.graph.edges
    centres, ids = selection.kmeans(z, 4, seed=7, n_init=6, edges=edges)
    restarts = [sk_cluster.KMeans(4, n_init=1, random_state=7 + i).fit(z)
                for i in range(6)]
    q = [evaluation.modularity(edges, r.labels_) for r in restarts]
    best = restarts[int(np.argmax(q))]
    self.assertAllClose(evaluation.modularity(edges, ids), max(q))
    self.assertAllEqual(ids, best.labels_)
    self.assertEqual(centres.dtype, np.float32)
    self.assertAllClose(centres, best.cluster_centers_, atol=1e-5)
    # The restarts differ, so the choice matters in this case.
    self.assertGreater(len(set(np.round(q, 6))), 1)

  def test_without_edges_is_scikit_learn(self):
    z = self.graph.features
    centres, ids = selection.kmeans(z, 4, seed=7, n_init=6)
    expected = sk_cluster.KMeans(4, n_init=6, random_state=7).fit(z)
    self.assertAllEqual(ids, expected.labels_)
    self.assertEqual(centres.dtype, np.float32)
    self.assertEqual(centres.shape, (4, 8))
    self.assertAllClose(centres, expected.cluster_centers_, atol=1e-5)

  def test_max_iter_is_passed_on(self):
    z = self.graph.features
    _, ids = selection.kmeans(z, 4, seed=3, n_init=2, max_iter=1)
    expected = sk_cluster.KMeans(4, n_init=2, max_iter=1,
                                 random_state=3).fit(z)
    self.assertAllEqual(ids, expected.labels_)

  def test_mini_batch_kmeans_is_scikit_learns_and_finds_the_blobs(self):
    z, truth = _blobs(seed=0, num_rows=2000)
    got_centres, ids = selection.kmeans(z, 4, seed=5, n_init=2,
                                        batch_size=256)
    expected = sk_cluster.MiniBatchKMeans(4, n_init=2, batch_size=256,
                                          max_iter=300, random_state=5).fit(z)
    self.assertAllEqual(ids, expected.labels_)
    self.assertAllClose(got_centres, expected.cluster_centers_)
    self.assertGreater(metrics_lib.normalized_mutual_info_score(truth, ids),
                       0.99)
    # With edges: restarts chosen by modularity, ids still near-perfect.
    _, ids = selection.kmeans(z, 4, seed=5, n_init=2, batch_size=256,
                              edges=_path_edges(2000))
    self.assertGreater(metrics_lib.normalized_mutual_info_score(truth, ids),
                       0.99)

  def test_sampled_kmeans_fits_a_sample_and_assigns_every_row(self):
    z, truth = _blobs(seed=1, num_rows=3000)
    got_centres, ids = selection.kmeans(z, 4, seed=5, n_init=1,
                                        sample_size=500)
    sample = z[np.sort(np.random.default_rng(5).choice(3000, 500,
                                                       replace=False))]
    expected = sk_cluster.KMeans(4, n_init=1, random_state=5).fit(sample)
    # Float32 sums in another order: the last bits of values up to ~30.
    self.assertAllClose(got_centres, expected.cluster_centers_, atol=1e-5)
    distances = ((z[:, None, :] - got_centres[None]) ** 2).sum(-1)
    self.assertAllEqual(ids, np.argmin(distances, axis=1))  # Every row.
    self.assertGreater(metrics_lib.normalized_mutual_info_score(truth, ids),
                       0.99)
    # Restarts draw their own samples; with edges, chosen by modularity.
    _, ids = selection.kmeans(z, 4, seed=5, n_init=3, sample_size=500,
                              edges=_path_edges(3000))
    self.assertGreater(metrics_lib.normalized_mutual_info_score(truth, ids),
                       0.99)
    # A sample of all rows or more is no sample.
    _, whole = selection.kmeans(z, 4, seed=5, n_init=1, sample_size=3000)
    self.assertAllEqual(
        whole, sk_cluster.KMeans(4, n_init=1, random_state=5).fit(z).labels_)

  @parameterized.named_parameters(
      ("sample_size_zero", dict(sample_size=0), r"config.kmeans.sample_size "
       r"must be an integer >= 1, got 0"),
      ("sample_below_k", dict(sample_size=3), r"config.kmeans.sample_size=3 "
       r"is below n_clusters=4"),
      ("batch_size_zero", dict(batch_size=0), r"config.kmeans.batch_size "
       r"must be an integer >= 1, got 0"),
      ("n_init_zero", dict(n_init=0), r"config.kmeans.n_init must be an "
       r"integer >= 1, got 0"),
      ("n_init_fraction", dict(n_init=1.5), r"config.kmeans.n_init .* 1.5"),
      ("max_iter_zero", dict(max_iter=0), r"config.kmeans.max_iter must be "
       r"an integer >= 1, got 0"),
      ("max_iter_negative", dict(max_iter=-3), r"config.kmeans.max_iter .* "
       r"-3"),
  )
  def test_bad_arguments(self, kwargs, message):
    for edges in (None, self.graph.edges):
      with self.assertRaisesRegex(ValueError, message):
        selection.kmeans(self.graph.features, 4, seed=0, edges=edges,
                         **kwargs)


if __name__ == "__main__":
  testing_utils.main()
