"""Tests for `tensorflow_gnn_dink.recipe.propagation`: `A_hat X` in numpy."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

from unittest import mock

from absl.testing import parameterized
import numpy as np
import scipy.sparse as sp

from tensorflow_gnn_dink import _arrays
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import propagation


def _random_graph(seed: int = 0, num_nodes: int = 40):
  rng = np.random.default_rng(seed)
  edges = data.symmetrize_edges(rng.integers(0, num_nodes, (2, 90)),
                                num_nodes)
  features = rng.normal(size=(num_nodes, 6)).astype(np.float32)
  return edges, features


class NormalizedAdjacencyTest(testing_utils.TestCase):

  @parameterized.parameters(0, 1, 2)
  def test_matches_numpy(self, seed):
    edges, _ = _random_graph(seed)
    a_hat = propagation.normalized_adjacency(edges, 40)
    self.assertIsInstance(a_hat, sp.csr_matrix)
    self.assertEqual(a_hat.dtype, np.float32)
    self.assertEqual(a_hat.shape, (40, 40))
    self.assertAllClose(a_hat.toarray(),
                        testing_utils.np_normalized_adjacency(edges, 40),
                        rtol=1e-6, atol=1e-7)

  def test_hand_computed_path(self):
    # Path 0 - 1 - 2: degrees with self-loops 2, 3, 2.
    edges = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    expected = np.array([[1 / 2, 1 / np.sqrt(6), 0],
                         [1 / np.sqrt(6), 1 / 3, 1 / np.sqrt(6)],
                         [0, 1 / np.sqrt(6), 1 / 2]])
    self.assertAllClose(propagation.normalized_adjacency(edges, 3).toarray(),
                        expected)

  def test_symmetric_for_symmetric_edges(self):
    edges, _ = _random_graph(3)
    a_hat = propagation.normalized_adjacency(edges, 40).toarray()
    self.assertAllClose(a_hat, a_hat.T)

  def test_rows_are_targets(self):
    # One directed edge 0 -> 1: row 1 (the target) sums over source 0.
    a_hat = propagation.normalized_adjacency(np.array([[0], [1]]), 2).toarray()
    self.assertAllClose(a_hat, [[1.0, 0.0], [1 / np.sqrt(2), 0.5]])

  def test_isolated_nodes_get_weight_one_on_the_diagonal(self):
    edges = np.array([[0, 1], [1, 0]])  # Nodes 2 and 3 are isolated.
    a_hat = propagation.normalized_adjacency(edges, 4).toarray()
    self.assertAllClose(a_hat[2], [0, 0, 1, 0])
    self.assertAllClose(a_hat[3], [0, 0, 0, 1])
    self.assertAllClose(a_hat[:2, :2], np.full((2, 2), 0.5))

  def test_no_edges_is_the_identity(self):
    a_hat = propagation.normalized_adjacency(np.zeros((2, 0), np.int64), 5)
    self.assertAllClose(a_hat.toarray(), np.eye(5))


class PropagateTest(testing_utils.TestCase):

  @parameterized.parameters(0, 1, 2, 5)
  def test_matrix_power(self, steps):
    edges, features = _random_graph(4)
    a_hat = propagation.normalized_adjacency(edges, 40)
    dense = testing_utils.np_normalized_adjacency(edges, 40)
    result = propagation.propagate(a_hat, features, steps)
    self.assertEqual(result.dtype, np.float32)
    self.assertAllClose(
        result, np.linalg.matrix_power(dense, steps) @ features.astype(
            np.float64), rtol=1e-5, atol=1e-5)

  def test_float64_input_gives_float32(self):
    edges, features = _random_graph(5)
    a_hat = propagation.normalized_adjacency(edges, 40)
    result = propagation.propagate(a_hat, features.astype(np.float64), 1)
    self.assertEqual(result.dtype, np.float32)
    self.assertAllClose(result, a_hat.toarray() @ features, atol=1e-5)


class GcnInputRowsTest(testing_utils.TestCase):

  @parameterized.parameters(0, 7)
  def test_clean_and_negative_rows(self, seed):
    edges, features = _random_graph(6)
    a_hat = propagation.normalized_adjacency(edges, 40)
    dense = testing_utils.np_normalized_adjacency(edges, 40)
    rows = propagation.gcn_input_rows(a_hat, features, seed=seed)
    self.assertCountEqual(rows, ["feat", "feat_negative"])
    perm = np.random.default_rng(seed).permutation(40)
    for key, expected in (("feat", dense @ features),
                          ("feat_negative", dense @ features[perm])):
      with self.subTest(key):
        self.assertEqual(rows[key].dtype, np.float32)
        self.assertEqual(rows[key].shape, (40, 6))
        self.assertAllClose(rows[key], expected, rtol=1e-5, atol=1e-5)

  @parameterized.parameters(False, True)
  def test_negative_rows_without_a_permuted_copy_are_exact(self, sparse):
    # (A_hat P) X sums the same products in the same order as A_hat (P X).
    edges, features = _random_graph(6)
    features[features < 0.5] = 0.0
    if sparse:
      features = sp.csr_matrix(features)
    a_hat = propagation.normalized_adjacency(edges, 40)
    perm = np.random.default_rng(3).permutation(40)
    with mock.patch.object(propagation, "_BLOCK_ROWS", 7):  # Blocks cross.
      rows = propagation.gcn_input_rows(a_hat, features, seed=3)
    for key, expected in (("feat", a_hat @ features),
                          ("feat_negative", a_hat @ features[perm])):
      with self.subTest(key):
        if sparse:
          rows[key], expected = rows[key].toarray(), expected.toarray()
        else:
          self.assertEqual(rows[key].ctypes.data % _arrays.ALIGNMENT, 0)
        self.assertAllEqual(rows[key], np.asarray(expected, np.float32))

  def test_rows_nonzeros_bound(self):
    edges, features = _random_graph(30)
    features[features < 0.8] = 0.0
    features = sp.csr_matrix(features)
    a_hat = propagation.normalized_adjacency(edges, 40)
    bound = propagation.rows_nonzeros_bound(edges, features.getnnz(axis=1))
    pattern = (a_hat != 0).astype(np.int64) @ (features != 0).astype(
        np.int64)  # Row i, column c: how many of i's rows hold c.
    self.assertEqual(bound, pattern.sum())  # Counted with repeats.
    self.assertGreaterEqual(bound, (a_hat @ features).nnz)
    # One column per node, no two alike: the bound is the exact count.
    distinct = sp.identity(40, format="csr", dtype=np.float32)
    self.assertEqual(propagation.rows_nonzeros_bound(edges, np.ones(40)),
                     (a_hat @ distinct).nnz)

  def test_row_divisors_folded_into_the_adjacency(self):
    edges, features = _random_graph(6)
    features[:3] = 0.0
    divisors = np.abs(features).sum(axis=1)
    divisors[divisors == 0] = 1.0
    a_hat = propagation.normalized_adjacency(edges, 40)
    kept = a_hat.copy()
    folded = propagation.gcn_input_rows(a_hat, features, seed=5,
                                        row_divisors=divisors)
    divided = propagation.gcn_input_rows(a_hat, features / divisors[:, None],
                                         seed=5)
    for key in ("feat", "feat_negative"):
      with self.subTest(key):
        self.assertAllClose(folded[key], divided[key], rtol=1e-5, atol=1e-6)
    self.assertAllEqual(a_hat.data, kept.data)  # The caller's, unchanged.

  def test_different_seeds_permute_differently(self):
    edges, features = _random_graph(6)
    a_hat = propagation.normalized_adjacency(edges, 40)
    a = propagation.gcn_input_rows(a_hat, features, seed=0)
    b = propagation.gcn_input_rows(a_hat, features, seed=1)
    self.assertAllEqual(a["feat"], b["feat"])
    self.assertNotAllClose(a["feat_negative"], b["feat_negative"])


if __name__ == "__main__":
  testing_utils.main()
