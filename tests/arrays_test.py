"""Arrays shared between numpy and TensorFlow without copies (`_arrays`)."""
import testing_utils  # First: Keras 2 before TensorFlow.

import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink import _arrays


class ArraysTest(testing_utils.TestCase):

  def test_aligned_buffers_are_adopted_and_then_read_only(self):
    array = _arrays.aligned_empty((5, 3), np.float32)
    self.assertEqual(array.ctypes.data % _arrays.ALIGNMENT, 0)
    array[...] = np.arange(15).reshape(5, 3)
    tensor = _arrays.as_tensor(array)
    self.assertAllEqual(tensor, np.arange(15).reshape(5, 3))
    self.assertTrue(np.shares_memory(np.asarray(tensor), array))
    with self.assertRaises(ValueError):  # Would change the tensor.
      array[0, 0] = 7.0
    self.assertAllEqual(tf.reduce_sum(tensor[1:]), 102.0)  # Kernels take it.

  def test_someone_elses_array_is_shared_only_if_read_only(self):
    array = _arrays.aligned_empty([6], np.float32)
    array[...] = 2.0
    tensor = _arrays.as_tensor(array, take=False)
    self.assertFalse(np.shares_memory(np.asarray(tensor), array))
    self.assertTrue(array.flags.writeable)  # Left as the caller had it.
    array.flags.writeable = False
    tensor = _arrays.as_tensor(array, take=False)
    self.assertTrue(np.shares_memory(np.asarray(tensor), array))
    self.assertFalse(array.flags.writeable)
    self.assertAllEqual(tensor, [2.0] * 6)

  def test_other_arrays_are_copied_once(self):
    misaligned = _arrays.aligned_empty([8], np.int64)[1:]  # 8 bytes off.
    misaligned[...] = np.arange(7)
    for array, dtype in ((np.arange(12.0).reshape(3, 4)[:, ::2], np.float32),
                         (misaligned, None),
                         (np.arange(-3, 4, dtype=np.int32), np.int64),
                         (np.ones((0, 4), np.float32), None),
                         (np.array(["a", "b"]), None)):
      tensor = _arrays.as_tensor(array, dtype)
      self.assertAllEqual(tensor, np.asarray(array, dtype))
      if tensor.dtype != tf.string:
        self.assertEqual(tensor.dtype.as_numpy_dtype,
                         np.asarray(array, dtype).dtype)
      self.assertTrue(array.flags.writeable)  # The caller's array: untouched.

  def test_asarray_of_a_tensor_is_a_view(self):
    # The recipe reads large tensors back with np.asarray, never .numpy().
    tensor = tf.random.normal([64, 8])
    view = np.asarray(tensor)
    self.assertTrue(np.shares_memory(view, np.asarray(tensor)))
    self.assertFalse(view.flags.writeable)
    del tensor
    self.assertEqual(view.shape, (64, 8))  # The view keeps the buffer.
    self.assertTrue(np.isfinite(view).all())

  def test_variable_shares_the_buffer(self):
    array = _arrays.aligned_empty([4], np.int64)
    array[...] = [3, 1, 4, 1]
    variable = _arrays.as_variable(array)
    self.assertFalse(variable.trainable)
    self.assertTrue(np.shares_memory(np.asarray(variable.value()), array))
    dataset = tf.data.Dataset.range(4).map(lambda i: tf.gather(variable, i))
    self.assertEqual(list(dataset.as_numpy_iterator()), [3, 1, 4, 1])


if __name__ == "__main__":
  testing_utils.main()
