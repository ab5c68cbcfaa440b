"""Tests for `metrics`: the label-free cluster-size metrics, against numpy.

Checks `NonEmptyClusters` and `ClusterSizeEntropy` on arg-max cluster counts
with and without sample weights, their accumulation over several
`update_state` calls, `reset_state`, the extreme values (one cluster, all
balanced) and the config round trip.
"""
import testing_utils  # pylint: disable=g-bad-import-order

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink import metrics


def np_cluster_sizes(y_pred, n_clusters, sample_weight=None):
  """Weighted counts of each row's arg-max cluster."""
  ids = np.argmax(y_pred, axis=-1)
  return np.bincount(ids, weights=sample_weight, minlength=n_clusters)


def np_entropy(sizes, n_clusters):
  """Normalised entropy of the cluster-size distribution (0 log 0 = 0)."""
  p = sizes[sizes > 0] / sizes.sum()
  return -(p * np.log(p)).sum() / np.log(n_clusters)


def random_soft_assignments(rng, n, k):
  logits = rng.normal(size=(n, k)) * 2.0
  e = np.exp(logits)
  return (e / e.sum(1, keepdims=True)).astype(np.float32)


class ClusterSizeMetricsTest(testing_utils.TestCase):
  """`NonEmptyClusters` and `ClusterSizeEntropy`."""

  @parameterized.parameters(False, True)
  def test_match_numpy(self, weighted):
    rng = np.random.default_rng(0)
    k = 5
    y_pred = random_soft_assignments(rng, 12, k)
    y_pred[:, 4] = -1.0  # Cluster 4 stays empty.
    weight = rng.uniform(0.1, 2.0, size=12).astype(np.float32)
    if weighted:
      weight[np.argmax(y_pred, 1) == 3] = 0.0  # Cluster 3 only zero weights.
    else:
      weight = None
    sizes = np_cluster_sizes(y_pred, k, weight)
    non_empty = metrics.NonEmptyClusters(k)
    entropy = metrics.ClusterSizeEntropy(k)
    for metric in (non_empty, entropy):
      metric.update_state(None, y_pred, sample_weight=weight)
    self.assertEqual(float(non_empty.result()), (sizes > 0).sum())
    self.assertEqual(float(non_empty.result()), 3.0 if weighted else 4.0)
    self.assertAllClose(entropy.result(), np_entropy(sizes, k), rtol=1e-5)

  def test_accumulate_over_updates_and_reset(self):
    rng = np.random.default_rng(1)
    k = 4
    first = random_soft_assignments(rng, 7, k)
    first[:, 2:] = 0.0  # Only clusters 0 and 1 in the first batch.
    second = random_soft_assignments(rng, 9, k)
    w1 = rng.uniform(size=7).astype(np.float32)
    w2 = rng.uniform(size=9).astype(np.float32)
    non_empty = metrics.NonEmptyClusters(k)
    entropy = metrics.ClusterSizeEntropy(k)
    for metric in (non_empty, entropy):
      metric.update_state(None, first, sample_weight=w1)
    self.assertEqual(float(non_empty.result()), 2.0)
    for metric in (non_empty, entropy):
      metric.update_state(None, second, sample_weight=w2)
    sizes = (np_cluster_sizes(first, k, w1) + np_cluster_sizes(second, k, w2))
    self.assertEqual(float(non_empty.result()), (sizes > 0).sum())
    self.assertAllClose(entropy.result(), np_entropy(sizes, k), rtol=1e-5)
    for metric in (non_empty, entropy):
      metric.reset_state()
    self.assertEqual(float(non_empty.result()), 0.0)
    self.assertEqual(float(entropy.result()), 0.0)  # No NaN when empty.
    entropy.update_state(None, second)
    self.assertAllClose(entropy.result(),
                        np_entropy(np_cluster_sizes(second, k), k), rtol=1e-5)

  def test_extremes(self):
    k = 4
    entropy = metrics.ClusterSizeEntropy(k)
    entropy.update_state(None, np.tile(np.eye(k, dtype=np.float32), (3, 1)))
    self.assertAllClose(entropy.result(), 1.0)  # Perfectly balanced.
    collapsed = np.zeros((10, k), np.float32)
    collapsed[:, 2] = 1.0
    entropy.reset_state()
    entropy.update_state(None, collapsed)
    self.assertAllClose(entropy.result(), 0.0)  # All rows in one cluster.

  def test_config_round_trip(self):
    for cls in (metrics.NonEmptyClusters, metrics.ClusterSizeEntropy):
      metric = cls(6, name="m")
      clone = tf.keras.metrics.deserialize(
          tf.keras.metrics.serialize(metric))
      self.assertIsInstance(clone, cls)
      self.assertEqual((clone.n_clusters, clone.name), (6, "m"))


if __name__ == "__main__":
  testing_utils.main()
