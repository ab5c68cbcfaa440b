"""Sparse node features inside a GraphTensor, and fast sparse-dense products.

A GraphTensor holds dense and ragged features only. A sparse
`[num_nodes, width]` feature matrix `X` named `name` (e.g. bag-of-words) is
held as two ragged features of its node set, row `i` holding the non-zeros of
node `i`:

  * `{name}_columns`: int64 `[num_nodes, (nnz_i)]`, column ids, ascending;
  * `{name}_values`: float32 `[num_nodes, (nnz_i)]`, the values.

Both serialise to `tf.Example`s (a GraphSchema with `shape { dim { size: -1 }
}`), batch and merge like any TF-GNN feature, and a permutation of the nodes
(`tf.gather` of every feature, `layers.ShuffleNodeRows`) keeps each node's
non-zeros together. Memory and work grow with the non-zeros, never with
`num_nodes x width`. The width itself is not stored: layers that multiply
`X` by a kernel take it as an argument (`input_width`).

Products use TensorFlow's CSR kernels (`SparseMatrixMatMul`), several times
faster on CPU than `tf.sparse.sparse_dense_matmul`; they need the row-major
order that these features (and `gcn_propagation`'s adjacency) have. Code
compiled by XLA (`jit_compile`, TPUs), which has no CSR kernels, multiplies
by a gather and a segment sum instead (`in_xla_context`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Optional, Union

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow.python.ops import control_flow_util  # pylint: disable=g-direct-tensorflow-import

from tensorflow_gnn_dink import _arrays
from tensorflow_gnn_dink import _custom_gradients

COLUMNS_SUFFIX = "_columns"
VALUES_SUFFIX = "_values"

Matrix = Union[tf.Tensor, tf.SparseTensor]


def feature_names(name: str) -> tuple[str, str]:
  """The names `({name}_columns, {name}_values)` of sparse feature `name`."""
  return name + COLUMNS_SUFFIX, name + VALUES_SUFFIX


def is_sparse(features: Mapping[str, object], name: str) -> bool:
  """Whether `features` (of a node set, or their specs) hold `name` sparse."""
  return name not in features and all(n in features
                                      for n in feature_names(name))


def has_feature(features: Mapping[str, object], name: str) -> bool:
  """Whether `features` hold `name`, dense or sparse."""
  return name in features or is_sparse(features, name)


def from_csr(name: str, indptr: np.ndarray, indices: np.ndarray,
             values: np.ndarray) -> dict[str, tf.RaggedTensor]:
  """The two ragged features of a CSR matrix (scipy's `indptr, indices, data`).

  Column ids must be ascending within each row (scipy: `sort_indices()`).
  The arrays are copied once each (converted by that copy) into buffers the
  tensors adopt (`_arrays.as_tensor`), outside TensorFlow's allocator, which
  would keep the high-water mark of `tf.constant`'s two copies; the caller's
  arrays can be freed afterwards.
  """
  splits = _arrays.as_tensor(indptr, np.int64, take=False)
  columns_name, values_name = feature_names(name)
  return {
      columns_name: tf.RaggedTensor.from_row_splits(
          _arrays.as_tensor(indices, np.int64, take=False), splits,
          validate=False),
      values_name: tf.RaggedTensor.from_row_splits(
          _arrays.as_tensor(values, np.float32, take=False), splits,
          validate=False)}


def from_dense(name: str, x: tf.Tensor) -> dict[str, tf.RaggedTensor]:
  """The two ragged features holding the non-zeros of a dense matrix `x`."""
  mask = tf.not_equal(x, 0)
  columns = tf.ragged.boolean_mask(
      tf.broadcast_to(tf.range(tf.shape(x, out_type=tf.int64)[1]),
                      tf.shape(x, out_type=tf.int64)), mask)
  columns_name, values_name = feature_names(name)
  return {columns_name: columns, values_name: tf.ragged.boolean_mask(x, mask)}


def to_sparse_tensor(columns: tf.RaggedTensor, values: tf.RaggedTensor,
                     width: Union[int, tf.Tensor]) -> tf.SparseTensor:
  """The `[num_rows, width]` `tf.SparseTensor` of two ragged features."""
  rows = columns.value_rowids()
  return tf.sparse.SparseTensor(
      indices=tf.stack([rows, tf.cast(columns.flat_values, tf.int64)], axis=1),
      values=values.flat_values,
      dense_shape=tf.stack([columns.nrows(out_type=tf.int64),
                            tf.cast(width, tf.int64)]))


def read(features: Mapping[str, tfgnn.Field], name: str, *,
         width: Optional[int] = None,
         num_rows: Optional[tf.Tensor] = None) -> Matrix:
  """Feature `name` as a dense float32 matrix or, if held sparse, a SparseTensor.

  A SparseTensor's entries are in row-major order.

  Args:
    features: A node set's features.
    name: The feature.
    width: The number of columns; required if `name` is held sparse.
    num_rows: If given, the number of nodes: a sparse feature with another
      number of rows (e.g. absent from parsed `tf.Example`s, which gives
      empty ragged features) is an error at run time.
  """
  if name in features:
    return tf.cast(features[name], tf.float32)
  if not is_sparse(features, name):
    raise ValueError(
        f"No feature {name!r}, dense or sparse ({' + '.join(feature_names(name))}"
        f"); the node set has {sorted(features)}.")
  if width is None:
    raise ValueError(
        f"Feature {name!r} is held sparse ({' + '.join(feature_names(name))}):"
        " pass its number of columns as input_width.")
  columns, values = (features[n] for n in feature_names(name))
  names = " + ".join(feature_names(name))
  checks = [tf.debugging.assert_less(
      columns.flat_values, tf.cast(width, columns.dtype),
      message=f"Sparse feature {name!r} ({names}) has column ids >= its "
      f"width {width}: feed features of the width the model was trained on."),
            tf.debugging.assert_non_negative(
                columns.flat_values,
                message=f"Sparse feature {name!r} ({names}) has negative "
                "column ids.")]
  if num_rows is not None:
    checks.append(tf.debugging.assert_equal(
        columns.nrows(out_type=tf.int64), tf.cast(num_rows, tf.int64),
        message=f"Sparse feature {name!r} ({names}) does not have one row "
        "per node: feed the features as the model was trained on them (for "
        "a model trained on sparse features, the two ragged features, not a "
        "dense matrix)."))
  with tf.control_dependencies(checks):  # O(nnz); the CSR kernels trust ids.
    columns = tf.identity(columns)
  return to_sparse_tensor(columns, tf.cast(values, tf.float32), width)


def in_xla_context() -> bool:
  """Whether the ops being built will be compiled by XLA.

  True inside `tf.function(jit_compile=True)` (e.g. Keras' `jit_compile`)
  and on TPU; False in eager mode and in other `tf.function`s. (TF-Keras
  asks TensorFlow the same way.)
  """
  return control_flow_util.GraphOrParentsInXlaContext(
      tf.compat.v1.get_default_graph())


def row_major(a: tf.SparseTensor) -> tf.SparseTensor:
  """`a` with its entries sorted by row: as it is if they are (an O(nnz) check).

  Under XLA (`in_xla_context`), `a` as it is: `matmul` then needs no order.
  """
  if in_xla_context():
    return a
  rows = a.indices[:, 0]
  return tf.cond(tf.reduce_all(rows[1:] >= rows[:-1]), lambda: a,
                 lambda: tf.sparse.reorder(a))


def matmul(a: Matrix, b: tf.Tensor, *, is_row_major: bool = False
           ) -> tf.Tensor:
  """`a @ b` for a dense or sparse `a` and a dense `b`.

  Sparse `a`: TensorFlow's CSR kernel, differentiable in `b` (not in the
  values of `a`); work and memory grow with the non-zeros of `a` times the
  columns of `b`. Entries in row-major order are used as they are; others
  are reordered first (a sort per call). Pass `is_row_major=True` for
  entries known to be in order (`to_sparse_tensor`, `row_major`) to skip the
  O(nnz) check. Under XLA (`in_xla_context`): a gather of `b`'s rows and a
  segment sum, in any order of entries, differentiable in both; it needs the
  number of rows of `a` as a compile-time constant (static shapes, e.g.
  the runner's `train_padding`).
  """
  if not isinstance(a, tf.SparseTensor):
    return tf.matmul(a, b)
  if in_xla_context():
    b = tf.convert_to_tensor(b)
    return tf.math.unsorted_segment_sum(
        tf.gather(b, a.indices[:, 1]) * tf.cast(a.values, b.dtype)[:, None],
        a.indices[:, 0], a.dense_shape[0])
  if not is_row_major:
    a = row_major(a)
  b = tf.convert_to_tensor(b)
  result = _csr_matmul(a.indices, tf.cast(a.values, b.dtype), a.dense_shape, b)
  return tf.ensure_shape(result, [a.shape[0], b.shape[1]])


def product_by(a: tf.SparseTensor, *, is_row_major: bool = False
               ) -> Callable[[tf.Tensor], tf.Tensor]:
  """Returns `b -> a @ b` with `a`'s CSR matrix built once, for eager calls.

  The same kernel and so the same numbers as `matmul(a, b)`, without the
  conversion of `a` to CSR (and its `[nnz, 2]` int64 temporaries) in every
  call: for many products by one matrix, e.g. the hops of an embedding over
  column blocks. Not differentiable; call it eagerly (it holds the CSR
  matrix as a tensor, not as ops that a `tf.function` could rebuild).
  """
  if not is_row_major:
    a = row_major(a)
  if not bool(tf.reduce_all(a.dense_shape > 0)):  # The CSR kernels refuse.
    rows = a.dense_shape[0]
    return lambda b: tf.zeros(tf.stack([rows, tf.shape(b, tf.int64)[1]]),
                              b.dtype)
  csr = tf.raw_ops.SparseTensorToCSRSparseMatrix(
      indices=a.indices, values=a.values, dense_shape=a.dense_shape)
  shape = [a.shape[0]]

  def product(b: tf.Tensor) -> tf.Tensor:
    result = tf.raw_ops.SparseMatrixMatMul(a=csr, b=tf.convert_to_tensor(b))
    return tf.ensure_shape(result, shape + [b.shape[1]])

  return product


@_custom_gradients.traced_apart
@tf.custom_gradient
def _csr_matmul(indices: tf.Tensor, values: tf.Tensor, dense_shape: tf.Tensor,
                b: tf.Tensor):
  """`a @ b` for `a` in COO parts (row-major), differentiable in `b` only.

  TensorFlow's own gradient of `SparseMatrixMatMul` also computes one for
  `a` (work with the non-zeros times the columns of `b`, wasted here). The
  CSR matrix is built from the inputs in both directions, so that a
  SavedModel can hold the gradient (no captured tensors). The CSR kernels
  fail on a matrix without rows or columns: those products are zeros.
  """
  def csr():
    return tf.raw_ops.SparseTensorToCSRSparseMatrix(
        indices=indices, values=values, dense_shape=dense_shape)

  def zeros(rows, operand):
    return lambda: tf.zeros(tf.stack([rows, tf.shape(operand, tf.int64)[1]]),
                            operand.dtype)

  def grad(upstream):  # a^T upstream, with a^T made by a counting transpose.
    def transposed_product():
      transposed = tf.raw_ops.SparseMatrixTranspose(input=csr(),
                                                    type=values.dtype)
      return tf.raw_ops.SparseMatrixMatMul(a=transposed, b=upstream)
    return None, None, None, tf.cond(
        tf.reduce_all(dense_shape > 0), transposed_product,
        zeros(dense_shape[1], upstream))

  result = tf.cond(tf.reduce_all(dense_shape > 0),
                   lambda: tf.raw_ops.SparseMatrixMatMul(a=csr(), b=b),
                   zeros(dense_shape[0], b))
  return result, grad
