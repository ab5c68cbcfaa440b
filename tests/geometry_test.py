"""Tests for `geometry`: distances and assignments, checked against numpy.

Checks `squared_distances`, `scaled_squared_distances` (and their custom,
exact gradients at any magnitude), `safe_sqrt`, `soft_assignments`,
`hard_assignments` and `assignments` against direct numpy computations,
including the places where the matmul form of the distances could go wrong:
rounding below zero, and embeddings that coincide with a centre (no NaN,
gradients included). Extreme magnitudes: `numerics_test`.
"""
import testing_utils  # pylint: disable=g-bad-import-order

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink import geometry


np_squared_distances = testing_utils.np_sq_dist
np_soft_assignments = testing_utils.np_soft


class GeometryTest(testing_utils.TestCase):
  """The four functions of `geometry`."""

  @parameterized.parameters((1, 1, 1), (5, 3, 2), (17, 7, 16))
  def test_squared_distances_match_numpy(self, n, m, d):
    rng = np.random.default_rng(n * 100 + m)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d))
    got = geometry.squared_distances(tf.constant(x), tf.constant(y))
    self.assertEqual(got.shape, (n, m))
    self.assertAllClose(got, np_squared_distances(x, y), rtol=1e-10,
                        atol=1e-12)

  def test_squared_distances_never_negative(self):
    # Large, nearly equal rows: |x|^2 + |y|^2 - 2 x.y loses all digits to
    # cancellation in float32 and the unclamped form goes below 0; the clamp
    # must keep every value >= 0.
    rng = np.random.default_rng(0)
    x = tf.constant(1000.0 + rng.normal(size=(50, 8)) * 1e-4, tf.float32)
    xx = tf.reduce_sum(tf.square(x), axis=-1, keepdims=True)
    unclamped = (xx + tf.transpose(xx) - 2.0 * tf.matmul(x, x,
                                                       transpose_b=True))
    self.assertLess(float(tf.reduce_min(unclamped)), 0.0)  # The case exists.
    got = geometry.squared_distances(x, x).numpy()
    self.assertGreaterEqual(got.min(), 0.0)
    self.assertAllEqual(got, np.maximum(unclamped.numpy(), 0.0))

  @parameterized.parameters(1e-100, 1.0, 1e100)
  def test_scaled_squared_distances_and_their_exact_gradients(self, magnitude):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 3)) * magnitude
    y = rng.normal(size=(4, 3)) * magnitude
    g, g_scaled = rng.uniform(size=(2, 5, 4))
    xv, yv = tf.Variable(x), tf.Variable(y)
    with tf.GradientTape() as tape:
      d2, scaled, s = geometry.scaled_squared_distances(xv, yv)
      target = tf.reduce_sum(d2 * g) + tf.reduce_sum(scaled * g_scaled)
    s = float(s)
    self.assertEqual(np.log2(s), np.round(np.log2(s)))  # A power of two.
    self.assertBetween(np.abs(np.concatenate([x, y])).max() / s, 1.0, 2.0)
    expected = np_squared_distances(x, y)
    self.assertAllClose(d2, expected, rtol=1e-10)
    self.assertAllClose(scaled, expected / s ** 2, rtol=1e-10)
    # d/dx_i sum_ij w_ij |x_i - y_j|^2 = 2 sum_j w_ij (x_i - y_j), with
    # w = g + g_scaled / s^2.
    w = g + g_scaled / s ** 2
    diff = x[:, None] - y[None]
    grad_x, grad_y = tape.gradient(target, [xv, yv])
    self.assertAllClose(grad_x, 2 * (w[:, :, None] * diff).sum(1),
                        rtol=1e-8)
    self.assertAllClose(grad_y, -2 * (w[:, :, None] * diff).sum(0),
                        rtol=1e-8)

  def test_safe_sqrt_values_and_zero_gradient_at_and_below_zero(self):
    x = tf.Variable([-4.0, 0.0, 4.0, 0.25])
    with tf.GradientTape() as tape:
      y = geometry.safe_sqrt(x)
    self.assertAllClose(y, [0.0, 0.0, 2.0, 0.5])
    grad = tape.gradient(y, x).numpy()
    # d sqrt(x)/dx = 1 / (2 sqrt(x)) for x > 0, and 0 (not inf/NaN) else.
    self.assertAllClose(grad, [0.0, 0.0, 0.25, 1.0])

  @parameterized.parameters((2, 3, 5), (5, 8, 17), (7, 16, 1))
  def test_assignments_match_numpy(self, k, d, b):
    rng = np.random.default_rng(k * 100 + d)
    c = rng.normal(size=(k, d)).astype(np.float32)
    z = rng.normal(size=(b, d)).astype(np.float32)
    hard = geometry.hard_assignments(z, c)
    self.assertEqual(hard.dtype, tf.int64)
    self.assertAllEqual(hard, np_squared_distances(z, c).argmin(1))
    soft = geometry.soft_assignments(z, c).numpy()
    self.assertAllClose(soft, np_soft_assignments(z, c), rtol=1e-5,
                        atol=1e-6)
    self.assertAllClose(soft.sum(1), np.ones(b), rtol=1e-6)
    both = geometry.assignments(z, c)  # One distance matrix for the two.
    self.assertAllEqual(both[0], hard)
    self.assertAllClose(both[1], soft, rtol=1e-6, atol=1e-7)

  def test_hard_assignments_far_from_the_origin(self):
    # Without |z|^2 in the argmin; still the nearest centre where |z|^2
    # dwarfs the distances.
    rng = np.random.default_rng(3)
    c = 50.0 + rng.normal(size=(6, 4))
    z = 50.0 + rng.normal(size=(300, 4))
    self.assertAllEqual(geometry.hard_assignments(z, c),
                        np_squared_distances(z, c).argmin(1))

  def test_soft_assignments_finite_with_gradients_where_z_is_a_centre(self):
    c = np.array([[0.5, -0.5, 1.0], [2.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                 np.float32)
    z = tf.Variable(c)
    centres = tf.Variable(c)
    with tf.GradientTape() as tape:
      soft = geometry.soft_assignments(z, centres)
      target = tf.reduce_sum(soft * tf.constant([1.0, 2.0, 3.0]))
    self.assertAllClose(soft, np_soft_assignments(c, c), atol=1e-6)
    for grad in tape.gradient(target, [z, centres]):
      self.assertTrue(np.all(np.isfinite(grad.numpy())))


if __name__ == "__main__":
  testing_utils.main()
