"""Tests for `sparse`: sparse node features in GraphTensors, and products.

* The two ragged features of a CSR matrix (or a dense one) read back as the
  same matrix, survive `tf.Example` serialisation, and name their errors;
  `from_csr` keeps its copies out of TensorFlow's allocator.
* `matmul` against numpy: unsorted entries, empty rows, a matrix without
  rows, dense inputs; its gradient in `b` against numpy, none in the values;
  inside a `tf.function` of unknown sizes and in a reloaded SavedModel.
"""
import testing_utils  # pylint: disable=g-bad-import-order

import subprocess
import sys
import tempfile

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import sparse


def _random_csr(rows=30, cols=20, density=0.2, seed=0) -> sp.csr_matrix:
  x = sp.random(rows, cols, density=density, format="csr", dtype=np.float32,
                random_state=seed)
  x = sp.diags((np.arange(rows) != 3).astype(np.float32)) @ x  # Empty row 3.
  x = sp.csr_matrix(x)
  x.eliminate_zeros()
  x.sort_indices()
  return x


def _to_sparse_tensor(x: sp.csr_matrix) -> tf.SparseTensor:
  coo = x.tocoo()
  return tf.sparse.SparseTensor(np.stack([coo.row, coo.col], 1), coo.data,
                                coo.shape)


class FeaturesTest(testing_utils.TestCase):
  """Sparse features as two ragged features of a node set."""

  def test_from_csr_reads_back_the_matrix(self):
    x = _random_csr()
    features = sparse.from_csr("feat", x.indptr, x.indices, x.data)
    self.assertEqual(sorted(features), ["feat_columns", "feat_values"])
    self.assertTrue(sparse.is_sparse(features, "feat"))
    self.assertTrue(sparse.has_feature(features, "feat"))
    self.assertFalse(sparse.is_sparse({"feat": 1, **features}, "feat"))
    self.assertFalse(sparse.has_feature(features, "other"))
    got = tf.sparse.to_dense(sparse.read(features, "feat", width=20))
    self.assertAllEqual(got, x.toarray())
    from_dense = sparse.from_dense("feat", tf.constant(x.toarray()))
    self.assertAllEqual(from_dense["feat_columns"], features["feat_columns"])
    self.assertAllEqual(from_dense["feat_values"], features["feat_values"])

  def test_from_csr_stays_outside_tensorflows_allocator(self):
    # 2M non-zeros (24 MB as int64 ids + float32 values): copied once each
    # into buffers the tensors adopt. tf.constant would have put two copies
    # into TensorFlow's allocator, whose high-water mark a BFC allocator
    # keeps for the rest of the process.
    code = (
        "import os; os.environ['TF_CPU_ALLOCATOR_USE_BFC'] = 'true'\n"
        "import numpy as np, tensorflow as tf\n"
        "from tensorflow_gnn_dink import sparse\n"
        "tf.zeros([4])\n"
        "n, nnz = 1000, 2_000_000\n"
        "indptr = np.linspace(0, nnz, n + 1).astype(np.int32)\n"
        "indices = (np.arange(nnz) % 3000).astype(np.int32)\n"
        "values = np.ones(nnz, np.float32)\n"
        "f = sparse.from_csr('feat', indptr, indices, values)\n"
        "assert f['feat_columns'].flat_values.dtype == tf.int64\n"
        "assert int(tf.reduce_sum(f['feat_columns'].flat_values)) == int("
        "indices.astype(np.int64).sum())\n"
        "print('peak', tf.config.experimental.get_memory_info('CPU:0')"
        "['peak'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=300, cwd=str(testing_utils.ROOT))
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    peak = int(proc.stdout.split("peak ")[1])
    self.assertLess(peak, 4 << 20, proc.stdout)  # Not the 24 MB of arrays.

  def test_read_of_a_dense_feature_and_errors(self):
    dense = {"feat": tf.ones((2, 3), tf.float64)}
    self.assertEqual(sparse.read(dense, "feat").dtype, tf.float32)
    x = _random_csr()
    features = sparse.from_csr("feat", x.indptr, x.indices, x.data)
    with self.assertRaisesRegex(ValueError, "held sparse.*input_width"):
      sparse.read(features, "feat")
    with self.assertRaisesRegex(
        ValueError, "No feature 'words', dense or sparse.*feat_columns"):
      sparse.read(features, "words")

  def test_out_of_range_columns_and_wrong_row_counts_are_errors(self):
    features = sparse.from_csr("feat", np.array([0, 1, 2]), np.array([0, 7]),
                               np.array([1.0, 2.0]))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "column ids >= its width 5"):
      sparse.read(features, "feat", width=5)
    negative = sparse.from_csr("feat", np.array([0, 1]), np.array([-1]),
                               np.array([1.0]))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "negative column ids"):
      sparse.read(negative, "feat", width=5)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "does not have one row per node"):
      sparse.read(features, "feat", width=8, num_rows=3)
    self.assertEqual(sparse.read(features, "feat", width=8,
                                 num_rows=2).dense_shape.numpy().tolist(),
                     [2, 8])

  def test_serialised_and_parsed_as_tf_examples(self):
    x = _random_csr()
    graph = tfgnn.GraphTensor.from_pieces(node_sets={
        "nodes": tfgnn.NodeSet.from_fields(
            sizes=[x.shape[0]],
            features=sparse.from_csr("feat", x.indptr, x.indices, x.data))})
    example = tfgnn.write_example(graph).SerializeToString()
    spec = graph.spec.relax(num_nodes=True)
    parsed = tfgnn.parse_single_example(spec, tf.constant(example))
    got = sparse.read(parsed.node_sets["nodes"].features, "feat", width=20)
    self.assertAllEqual(tf.sparse.to_dense(got), x.toarray())


class MatmulTest(testing_utils.TestCase):
  """`sparse.matmul` against numpy."""

  def test_values_against_numpy(self):
    x = _random_csr()
    b = np.random.default_rng(1).normal(size=(20, 7)).astype(np.float32)
    want = x.toarray() @ b
    self.assertAllClose(sparse.matmul(_to_sparse_tensor(x), b), want,
                        rtol=1e-5, atol=1e-5)
    self.assertAllClose(sparse.matmul(tf.constant(x.toarray()), b), want,
                        rtol=1e-5, atol=1e-5)
    # Entries out of row order are sorted first.
    coo = x.tocoo()
    order = np.random.default_rng(2).permutation(coo.nnz)
    shuffled = tf.sparse.SparseTensor(
        np.stack([coo.row, coo.col], 1)[order], coo.data[order], coo.shape)
    self.assertAllClose(sparse.matmul(shuffled, b), want, rtol=1e-5,
                        atol=1e-5)

  def test_matrix_without_rows_or_entries(self):
    b = tf.ones((4, 3))
    no_rows = tf.sparse.SparseTensor(tf.zeros((0, 2), tf.int64),
                                     tf.zeros((0,)), [0, 4])
    self.assertAllEqual(sparse.matmul(no_rows, b), np.zeros((0, 3)))
    no_entries = tf.sparse.SparseTensor(tf.zeros((0, 2), tf.int64),
                                        tf.zeros((0,)), [5, 4])
    self.assertAllEqual(sparse.matmul(no_entries, b), np.zeros((5, 3)))

  def test_product_by_one_matrix_gives_matmul_exactly(self):
    x = _random_csr()
    a = _to_sparse_tensor(x)
    product = sparse.product_by(a)
    for width in (7, 1):
      b = np.random.default_rng(width).normal(size=(20, width)).astype(
          np.float32)
      self.assertAllEqual(product(b), sparse.matmul(a, b))
      self.assertAllClose(product(b), x.toarray() @ b, rtol=1e-5, atol=1e-5)
    coo = x.tocoo()  # Entries out of row order are sorted first.
    order = np.random.default_rng(2).permutation(coo.nnz)
    shuffled = tf.sparse.SparseTensor(
        np.stack([coo.row, coo.col], 1)[order], coo.data[order], coo.shape)
    self.assertAllEqual(sparse.product_by(shuffled)(b), sparse.matmul(a, b))
    no_rows = tf.sparse.SparseTensor(tf.zeros((0, 2), tf.int64),
                                     tf.zeros((0,)), [0, 4])
    self.assertAllEqual(sparse.product_by(no_rows)(tf.ones((4, 3))),
                        np.zeros((0, 3)))

  def test_gradient_in_b_only(self):
    x = _random_csr()
    a = _to_sparse_tensor(x)
    values = tf.Variable(a.values)
    b = tf.Variable(np.random.default_rng(1).normal(size=(20, 4)),
                    dtype=tf.float32)
    upstream = np.random.default_rng(3).normal(size=(30, 4)).astype(
        np.float32)
    with tf.GradientTape() as tape:
      product = sparse.matmul(
          tf.sparse.SparseTensor(a.indices, values, a.dense_shape), b)
      loss = tf.reduce_sum(product * upstream)
    grad_b, grad_values = tape.gradient(loss, [b, values])
    self.assertAllClose(grad_b, x.toarray().T @ upstream, rtol=1e-5,
                        atol=1e-5)
    self.assertIsNone(grad_values)

  def test_in_a_function_of_unknown_sizes_and_a_saved_model(self):
    x = _random_csr()
    coo = x.tocoo()

    class Model(tf.Module):

      def __init__(self):
        super().__init__()
        self.kernel = tf.Variable(
            np.random.default_rng(4).normal(size=(20, 5)), dtype=tf.float32)

      @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int64),
                                    tf.TensorSpec([None], tf.float32),
                                    tf.TensorSpec([2], tf.int64)])
      def __call__(self, indices, values, dense_shape):
        return sparse.matmul(
            tf.sparse.SparseTensor(indices, values, dense_shape), self.kernel)

      @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.int64),
                                    tf.TensorSpec([None], tf.float32),
                                    tf.TensorSpec([2], tf.int64)])
      def gradient(self, indices, values, dense_shape):
        with tf.GradientTape() as tape:
          loss = tf.reduce_sum(self(indices, values, dense_shape) ** 2)
        return tape.gradient(loss, self.kernel)

    model = Model()
    args = (np.stack([coo.row, coo.col], 1).astype(np.int64), coo.data,
            np.array(coo.shape, np.int64))
    want = x.toarray() @ model.kernel.numpy()
    self.assertAllClose(model(*args), want, rtol=1e-5, atol=1e-5)
    self.assertAllClose(model.gradient(*args),
                        2 * x.toarray().T @ want, rtol=1e-4, atol=1e-4)
    path = tempfile.mkdtemp()
    tf.saved_model.save(model, path)
    restored = tf.saved_model.load(path)
    self.assertAllClose(restored(*args), want, rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
  testing_utils.main()
