"""Tests for `tensorflow_gnn_dink.recipe.kmeans` against scikit-learn's KMeans.

The same partitions as `sklearn.cluster.KMeans(K, n_init, max_iter,
random_state=seed)` on synthetic rows and on a real graph's features; the
centres to float32's last bits (sums in another order).
"""
import testing_utils  # Keras 2 before TensorFlow: the first import.

from unittest import mock

from absl.testing import parameterized
import numpy as np
import scipy.sparse as sp
from sklearn import cluster as sk_cluster

from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import kmeans
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import propagation


class KMeansTest(testing_utils.TestCase):

  def assert_as_scikit_learn(self, z, n_clusters, seed, **kwargs):
    centres, labels, inertia = kmeans.fit(z, n_clusters, seed=seed, **kwargs)
    expected = sk_cluster.KMeans(n_clusters, random_state=seed,
                                 **kwargs).fit(z)
    self.assertAllEqual(labels, expected.labels_)
    self.assertEqual(labels.dtype, np.int32)
    self.assertEqual(centres.dtype, z.dtype)
    scale = np.abs(expected.cluster_centers_).max()
    self.assertAllClose(centres, expected.cluster_centers_, rtol=0,
                        atol=1e-5 * scale)
    self.assertAllClose(inertia, expected.inertia_, rtol=1e-5)
    return labels

  @parameterized.parameters(0, 1, 2, 3, 4)
  def test_as_scikit_learn_on_noisy_communities(self, seed):
    graph = data.make_csbm(num_nodes=300, n_clusters=4, num_features=8,
                           feature_noise=3.0, seed=seed)
    self.assert_as_scikit_learn(graph.features, 4, seed)

  def test_restarts_keep_the_lowest_inertia_as_scikit_learn(self):
    graph = data.make_csbm(num_nodes=300, n_clusters=4, num_features=8,
                           feature_noise=3.0, seed=2)
    self.assert_as_scikit_learn(graph.features, 4, 7, n_init=6)
    self.assert_as_scikit_learn(graph.features, 5, 3, n_init=3)

  def test_max_iter_and_float64_rows(self):
    rows = np.random.default_rng(0).normal(size=(500, 16))
    self.assert_as_scikit_learn(rows, 6, 1, max_iter=1)
    self.assert_as_scikit_learn(rows, 6, 1, max_iter=3, n_init=2)
    self.assert_as_scikit_learn(rows.astype(np.float32), 6, 1)
    centres, labels, _ = kmeans.fit(rows.astype(np.float16), 6, seed=1)
    self.assertEqual(centres.dtype, np.float64)  # Computed as float64.
    self.assertAllEqual(labels, kmeans.fit(
        rows.astype(np.float16).astype(np.float64), 6, seed=1)[1])

  def test_as_scikit_learn_on_cora(self):
    """A real graph: Cora's propagated bag-of-words rows, K = 7."""
    graph = loaders.load(str(testing_utils.SHARED_DATA / "cora"))
    words = np.asarray(graph.features.sum(0)).ravel().argsort()[-128:]
    rows = propagation.normalized_adjacency(  # The commonest words, smoothed.
        graph.edges, graph.num_nodes) @ graph.features[:, words]
    rows = np.asarray(rows.todense() if sp.issparse(rows) else rows,
                      np.float32)
    for seed in range(3):
      labels = self.assert_as_scikit_learn(rows, 7, seed)
      self.assertLen(np.unique(labels), 7)

  def test_row_blocks_and_the_upcast_per_block_change_nothing(self):
    """Many small blocks, and k-means++ without the one float64 copy."""
    graph = data.make_csbm(num_nodes=1000, n_clusters=5, num_features=16,
                           feature_noise=3.0, seed=3)
    expected = kmeans.fit(graph.features, 5, seed=4, n_init=2)
    small_blocks = lambda z: (slice(i, i + 96) for i in range(0, len(z), 96))
    with mock.patch.object(kmeans, "_blocks", small_blocks), \
         mock.patch.object(kmeans, "_UPCAST_ONCE_BYTES", 0):
      got = kmeans.fit(graph.features, 5, seed=4, n_init=2)
    self.assertAllEqual(got[1], expected[1])
    self.assertAllClose(got[0], expected[0], rtol=1e-6, atol=1e-6)
    self.assertAllClose(got[2], expected[2], rtol=1e-6)

  def test_assign_is_the_nearest_centre(self):
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(1000, 5)).astype(np.float32)
    centres = rng.normal(size=(7, 5)).astype(np.float32)
    distances = ((rows[:, None] - centres[None]) ** 2).sum(-1)
    self.assertAllEqual(kmeans.assign(rows, centres),
                        np.argmin(distances, axis=1))

  def test_an_empty_cluster_takes_the_farthest_row(self):
    rows = np.array([[0.], [1.], [2.], [10.]], np.float32)
    centres = np.array([[1.], [100.]], np.float32)  # Centre 1 gets no row.
    labels, means = kmeans._lloyd_step(rows, centres)
    self.assertAllEqual(labels, [0, 0, 0, 0])
    # Row 3 is farthest from its centre: it moves to the empty cluster.
    self.assertAllClose(means, [[1.], [10.]])

  def test_more_clusters_than_rows_is_an_error(self):
    with self.assertRaisesRegex(ValueError, "3 rows into 4 clusters"):
      kmeans.fit(np.zeros((3, 2), np.float32), 4, seed=0)


if __name__ == "__main__":
  testing_utils.main()
