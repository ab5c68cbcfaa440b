"""Large arrays shared between numpy and TensorFlow, without copies.

`tf.constant(array)` of a large numpy array costs twice its size in
TensorFlow's CPU allocator (which keeps its high-water mark), a tensor
captured by a `tf.data` function is copied again, and `tensor.numpy()` is a
copy too. For the `[num_nodes, dim]` arrays of a large graph (features,
`A_hat X` rows, embeddings) the recipe instead allocates 64-byte aligned
numpy buffers, which TensorFlow adopts through DLPack without a copy
(`as_tensor`) and hands `tf.data` a variable over the same buffer
(`as_variable`). `np.asarray(tensor)` reads a CPU tensor back as a
read-only view of its buffer; `tensor.numpy()` would copy it.

Contract: an array handed to `as_tensor` or `as_variable` is not written
afterwards (TensorFlow treats tensors as immutable).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

ALIGNMENT = 64  # Bytes; TensorFlow's CPU kernels check it (Tensor::IsAligned).


def aligned_empty(shape, dtype=np.float32) -> np.ndarray:
  """An uninitialised C-contiguous array whose buffer TensorFlow can adopt."""
  dtype = np.dtype(dtype)
  shape = (int(shape),) if np.isscalar(shape) else tuple(int(n) for n in shape)
  size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  raw = np.empty(size + ALIGNMENT, np.uint8)
  start = -raw.ctypes.data % ALIGNMENT
  return raw[start:start + size].view(dtype).reshape(shape)


def _adoptable(array: np.ndarray) -> bool:
  return (array.size > 0 and array.dtype.kind in "biuf"
          and array.flags.c_contiguous
          and array.ctypes.data % ALIGNMENT == 0)


def _adopt(array: np.ndarray) -> tf.Tensor:
  """The tensor over `array`'s buffer; `array` is read-only afterwards."""
  array.flags.writeable = True  # DLPack exports writeable arrays only.
  try:
    with tf.device("/cpu:0"):
      return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
  finally:
    array.flags.writeable = False


def as_tensor(array, dtype=None, *, take: bool = True) -> tf.Tensor:
  """`array` as an eager CPU tensor sharing its buffer where it can.

  An aligned, C-contiguous numeric array (e.g. from `aligned_empty`) is
  adopted as it is: with `take=True` (the caller's own buffer) a writeable
  one too, which becomes read-only (a write would change the tensor); with
  `take=False` (someone else's array) only one that is read-only already,
  so that no caller finds its array frozen. Any other is copied once into
  an aligned buffer, converted to `dtype` by that copy (`tf.constant` would
  copy twice, into TensorFlow's allocator). Empty and non-numeric arrays
  take `tf.convert_to_tensor`.
  """
  source = np.asarray(array)
  dtype = source.dtype if dtype is None else np.dtype(dtype)
  if (source.size == 0 or source.dtype.kind not in "biuf"
      or dtype.kind not in "biuf"):
    return tf.convert_to_tensor(np.asarray(source, dtype=dtype))
  if (source.dtype == dtype and _adoptable(source)
      and (take or not source.flags.writeable)):
    try:
      return _adopt(source)
    except ValueError:  # Read-only memory (e.g. a memory-mapped file).
      pass
  copy = aligned_empty(source.shape, dtype)  # A conversion is this copy.
  copy[...] = source
  return _adopt(copy)


def as_variable(value) -> tf.Variable:
  """A non-trainable CPU variable over `value`'s buffer (a numpy array or a
  tensor), for `tf.data` functions to capture: a captured tensor would be
  copied into the dataset, a captured variable is read where it is."""
  if not isinstance(value, tf.Tensor):
    value = as_tensor(value)
  with tf.init_scope(), tf.device("/cpu:0"):
    return tf.Variable(value, trainable=False)
