"""Tests for `losses`: Dink-Net's loss functions, checked against numpy.

Checks the dilation loss (the off-diagonal mean, not the full mean), the
shrink loss per example and reduced (with sample weights and padding, and
far from the origin, where a matmul form would cancel), the
soft k-means "assigned" shrink and its gradient (assignment weights held
fixed), `weighted_mean` (empty batches and all-zero weights give 0, not NaN)
the analytic gradients of dilation + shrink, and NS4GC's node similarity
terms on sampled pairs (their expectation over all pairs, padding, stacked
views, empty graphs, XLA).
"""
import testing_utils  # pylint: disable=g-bad-import-order

import subprocess
import sys
import textwrap

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink import losses


np_sq_dist = testing_utils.np_sq_dist
np_dilation = testing_utils.np_dilation
np_shrink = testing_utils.np_shrink
np_assignment_weights = testing_utils.np_assignment_weights


class DilationLossTest(testing_utils.TestCase):
  """`losses.dilation_loss`."""

  @parameterized.parameters((2, 3), (5, 8), (7, 16))
  def test_matches_numpy(self, k, d):
    c = np.random.default_rng(k * 10 + d).normal(size=(k, d))
    self.assertAllClose(losses.dilation_loss(tf.constant(c)), np_dilation(c),
                        rtol=1e-10)

  def test_is_off_diagonal_mean_not_full_mean(self):
    c = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)  # |c0 - c1|^2 = 25.
    self.assertAllClose(losses.dilation_loss(c), -25.0)  # Not -12.5.

  def test_identical_centres_give_zero(self):
    self.assertEqual(float(losses.dilation_loss(np.ones((3, 2), np.float32))),
                     0.0)


class ShrinkLossTest(testing_utils.TestCase):
  """`losses.shrink_loss_per_example` and `losses.shrink_loss`."""

  @parameterized.parameters((2, 3, 5), (5, 8, 17), (7, 16, 1))
  def test_matches_numpy(self, k, d, b):
    rng = np.random.default_rng(k * 100 + d)
    c = rng.normal(size=(k, d))
    z = rng.normal(size=(b, d))
    self.assertAllClose(losses.shrink_loss_per_example(z, c),
                        np_sq_dist(z, c).mean(1), rtol=1e-10)
    self.assertAllClose(losses.shrink_loss(z, c), np_shrink(z, c),
                        rtol=1e-10)

  def test_sample_weight_ignores_padding_rows(self):
    rng = np.random.default_rng(1)
    c = rng.normal(size=(3, 4)).astype(np.float32)
    z = rng.normal(size=(5, 4)).astype(np.float32)
    padded = np.concatenate([z, 100 * np.ones((3, 4), np.float32)])
    mask = np.array([1, 1, 1, 1, 1, 0, 0, 0], np.float32)
    self.assertAllClose(losses.shrink_loss(padded, c, mask), np_shrink(z, c),
                        rtol=1e-5)
    weights = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
    self.assertAllClose(losses.shrink_loss(z, c, weights),
                        np_shrink(z, c, weights), rtol=1e-5)
    self.assertEqual(
        float(losses.shrink_loss(z, c, np.zeros(5, np.float32))), 0.0)

  def test_no_cancellation_far_from_the_origin(self):
    # Embeddings and centres near (1000, ..., 1000), 1e-2 apart: the form
    # |z|^2 - 2 z.c + |c|^2 loses every digit in float32 (|z|^2 ~ 4e6); the
    # sum of squares |z - mean(C)|^2 + spread(C) keeps them, as does dilation.
    rng = np.random.default_rng(5)
    c = (1000.0 + 1e-2 * rng.normal(size=(3, 4))).astype(np.float32)
    z = (1000.0 + 1e-2 * rng.normal(size=(8, 4))).astype(np.float32)
    c64, z64 = c.astype(np.float64), z.astype(np.float64)
    self.assertAllClose(losses.shrink_loss_per_example(z, c),
                        np_sq_dist(z64, c64).mean(1), rtol=1e-3)
    self.assertAllClose(losses.dilation_loss(c), np_dilation(c64), rtol=1e-3)

  def test_empty_batch_gives_zero(self):
    c = np.ones((3, 4), np.float32)
    z = np.zeros((0, 4), np.float32)
    self.assertEqual(float(losses.shrink_loss(z, c)), 0.0)
    self.assertEqual(losses.shrink_loss_per_example(z, c).shape, (0,))

  def test_gradients_of_dilation_plus_shrink_match_numpy(self):
    rng = np.random.default_rng(3)
    c = rng.normal(size=(4, 3))
    z = rng.normal(size=(6, 3))
    centres = tf.Variable(c)
    with tf.GradientTape() as tape:
      total = (losses.dilation_loss(centres) +
               losses.shrink_loss(tf.constant(z), centres))
    grad = tape.gradient(total, centres).numpy()
    k, b = c.shape[0], z.shape[0]
    # d/dc_j of -1/(K(K-1)) sum_{i!=j} |c_i-c_j|^2 = -4/(K(K-1)) sum_i (c_j-c_i)
    expected = -4.0 / (k * (k - 1)) * (k * c - c.sum(0))
    # d/dc_j of 1/(BK) sum_i |z_i-c_j|^2 = -2/(BK) sum_i (z_i - c_j)
    expected += -2.0 / (b * k) * (z.sum(0)[None, :] - b * c)
    self.assertAllClose(grad, expected, rtol=1e-8)


class AssignedShrinkLossTest(testing_utils.TestCase):
  """`losses.assigned_shrink_loss_per_example` (soft k-means)."""

  @parameterized.parameters(0.05, 0.5, 5.0)
  def test_matches_numpy(self, temperature):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 3)).astype(np.float32)
    c = rng.normal(size=(4, 3)).astype(np.float32)
    p = np_assignment_weights(z, c, temperature)
    self.assertAllClose(
        losses.assigned_shrink_loss_per_example(z, c, temperature),
        (p * np_sq_dist(z, c)).sum(1), rtol=1e-5, atol=1e-6)

  def test_low_temperature_is_distance_to_nearest_centre(self):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(10, 2))
    c = rng.normal(size=(3, 2)) * 3
    self.assertAllClose(
        losses.assigned_shrink_loss_per_example(z, c, 1e-4),
        np_sq_dist(z, c).min(1), rtol=1e-6)

  def test_gradients_hold_assignment_weights_fixed(self):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 3))
    c = rng.normal(size=(4, 3))
    p = np_assignment_weights(z, c, 0.5)
    zv, cv = tf.Variable(z), tf.Variable(c)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(losses.assigned_shrink_loss_per_example(zv, cv,
                                                                   0.5))
    grad_z, grad_c = tape.gradient(loss, [zv, cv])
    diff = z[:, None] - c[None]  # [B, K, d]
    # With p fixed: d/dc_j = -2 sum_i p_ij (z_i - c_j),
    # d/dz_i = 2 sum_j p_ij (z_i - c_j).
    self.assertAllClose(grad_c, -2 * (p[:, :, None] * diff).sum(0),
                        rtol=1e-8)
    self.assertAllClose(grad_z, 2 * (p[:, :, None] * diff).sum(1),
                        rtol=1e-8)


class WeightedMeanTest(testing_utils.TestCase):
  """`losses.weighted_mean`."""

  def test_plain_mean(self):
    self.assertAllClose(losses.weighted_mean(tf.constant([1.0, 2.0, 6.0])),
                        3.0)

  def test_weighted(self):
    values = np.array([1.0, 2.0, 6.0], np.float32)
    weights = np.array([3.0, 1.0, 0.0], np.float32)
    self.assertAllClose(losses.weighted_mean(values, weights), 5.0 / 4.0)
    # Weights of shape [B, 1] (as Keras passes them) are flattened.
    self.assertAllClose(losses.weighted_mean(values, weights[:, None]),
                        5.0 / 4.0)
    # Integer weights are cast to the values' dtype.
    self.assertAllClose(losses.weighted_mean(values, np.array([3, 1, 0])),
                        5.0 / 4.0)

  def test_all_zero_weights_give_zero(self):
    got = losses.weighted_mean(tf.constant([1.0, 2.0]), tf.zeros([2]))
    self.assertEqual(float(got), 0.0)

  def test_empty_batch_gives_zero_not_nan(self):
    empty = tf.zeros([0])
    self.assertEqual(float(losses.weighted_mean(empty)), 0.0)
    self.assertEqual(float(losses.weighted_mean(empty, tf.zeros([0]))), 0.0)


def np_similarity_terms(states, edges, threshold=0.6, temperature=0.1,
                        second=None):
  """NS4GC's terms over every node, edge and pair `i != j`, in float64."""
  def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
  z = unit(states)
  s = z @ (z if second is None else unit(second)).T
  n = len(z)
  off_diagonal = ~np.eye(n, dtype=bool)
  sigmoid = 1.0 / (1.0 + np.exp(-(s - threshold) / temperature))
  alignment = 0.0 if second is None else -np.diag(s).mean()
  return (alignment, -s[edges[0], edges[1]].mean(),
          sigmoid[off_diagonal].mean())


class NodeSimilarityTermsTest(testing_utils.TestCase):
  """`losses.node_similarity_terms`."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.states = rng.normal(size=(7, 5)).astype(np.float32)
    self.states[1] = self.states[0] + 0.1  # A pair above the threshold.
    self.edges = np.array([[0, 1, 2, 3, 5], [1, 0, 3, 2, 6]])

  def terms(self, states, edges, **kwargs):
    return [float(v) for v in losses.node_similarity_terms(
        states, edges[0], edges[1], num_pairs=400_000, seed=1, **kwargs)]

  @parameterized.parameters((0.6, 0.1), (0.2, 0.5))
  def test_sampled_terms_estimate_the_terms_over_all_pairs(self, threshold,
                                                           temperature):
    got = self.terms(self.states, self.edges, threshold=threshold,
                     temperature=temperature)
    expected = np_similarity_terms(self.states, self.edges, threshold,
                                   temperature)
    self.assertAllClose(got, expected, atol=5e-3)

  def test_padding_nodes_and_their_edges_are_left_out(self):
    padded = np.concatenate([self.states, np.full((3, 5), 1e3, np.float32)])
    edges = np.concatenate([self.edges, [[7, 8], [8, 9]]], axis=1)
    real = np.arange(10) < 7
    got = self.terms(padded, edges, real=real)
    self.assertAllClose(got, np_similarity_terms(self.states, self.edges),
                        atol=5e-3)

  def test_view_of_stacked_states(self):
    stacked = np.stack([self.states, np.ones_like(self.states)], axis=1)
    self.assertAllClose(self.terms(stacked, self.edges, view=0),
                        np_similarity_terms(self.states, self.edges),
                        atol=5e-3)

  def test_alignment_and_similarities_across_two_views(self):
    second = self.states + np.random.default_rng(1).normal(
        size=self.states.shape).astype(np.float32)
    got = self.terms(self.states, self.edges, second_states=second)
    self.assertAllClose(got, np_similarity_terms(self.states, self.edges,
                                                 second=second), atol=5e-3)
    self.assertLess(got[0], -0.3)  # The two views of a node are alike.

  def test_second_view_of_stacked_states(self):
    second = self.states + np.random.default_rng(1).normal(
        size=self.states.shape).astype(np.float32)
    stacked = np.stack([self.states, np.ones_like(self.states), second],
                       axis=1)
    got = self.terms(stacked, self.edges, view=0, second_view=2)
    self.assertAllClose(got, np_similarity_terms(self.states, self.edges,
                                                 second=second), atol=5e-3)
    for bad in (dict(second_view=2),  # No view: states are not stacked.
                dict(view=0, second_view=2, second_states=second)):
      with self.assertRaisesRegex(ValueError, "second_view picks a view"):
        self.terms(stacked, self.edges, **bad)

  def test_nothing_to_draw_gives_zero(self):
    no_edges = np.zeros((2, 0), np.int64)
    self.assertEqual(self.terms(np.zeros((0, 5), np.float32), no_edges),
                     [0.0, 0.0, 0.0])
    alignment, neighbour, sparsity = self.terms(self.states, no_edges)
    self.assertEqual((alignment, neighbour), (0.0, 0.0))
    self.assertGreater(sparsity, 0.0)
    self.assertEqual(self.terms(self.states[:1], no_edges), [0.0, 0.0, 0.0])

  def test_gradients_pull_neighbours_together_and_push_pairs_apart(self):
    states = tf.Variable(self.states)
    with tf.GradientTape() as tape:
      _, neighbour, sparsity = losses.node_similarity_terms(
          states, self.edges[0], self.edges[1], num_pairs=4096, seed=2)
      total = neighbour + sparsity
    grads = tape.gradient(total, states)
    moved = states - 0.5 * tf.convert_to_tensor(grads)
    before = np_similarity_terms(self.states, self.edges)
    after = np_similarity_terms(moved.numpy(), self.edges)
    self.assertLess(sum(after), sum(before))

  def test_compiles_with_xla(self):
    fn = tf.function(lambda x: losses.node_similarity_terms(
        x, self.edges[0], self.edges[1], num_pairs=400_000),
                     jit_compile=True)
    self.assertAllClose([float(v) for v in fn(self.states)],
                        np_similarity_terms(self.states, self.edges),
                        atol=5e-3)

  def test_xla_compiles_a_training_step_once(self):
    """A padded batch's step compiles once, not once per batch.

    A tf.cond around the gathers once made XLA need the states' shape as a
    compile-time constant in the gradient: every batch was folded in as a
    constant and compiled anew (7 s a step on sampled subgraphs). XLA's
    compilations are counted in its log, in a fresh process.
    """
    script = textwrap.dedent("""
        from tensorflow_gnn_dink import losses  # Before TensorFlow.
        import numpy as np
        import tensorflow as tf
        w = tf.Variable(tf.random.normal([8, 4], seed=0))
        @tf.function(jit_compile=True)
        def step(x, source, target, real):
          with tf.GradientTape() as tape:
            loss = tf.add_n(losses.node_similarity_terms(
                tf.matmul(x, w), source, target, num_pairs=64, real=real))
          return tape.gradient(loss, w)
        rng = np.random.default_rng(0)
        for k in range(3):  # Same shapes, other values.
          grad = step(rng.normal(size=[100, 8]).astype(np.float32),
                      rng.integers(0, 100, 300), rng.integers(0, 100, 300),
                      np.arange(100) < 90 - k)
          assert np.all(np.isfinite(grad.numpy())), grad
        """)
    env = dict(testing_utils.run_subprocess_env(), TF_CPP_MIN_LOG_LEVEL="0",
               TF_CPP_VMODULE="device_compiler=2")
    run = subprocess.run([sys.executable, "-c", script], env=env,
                         capture_output=True, text=True, check=False)
    self.assertEqual(run.returncode, 0, run.stderr[-3000:])
    compiles = run.stderr.count("Instantly compiling for signature")
    self.assertEqual(compiles, 1, run.stderr[-3000:])

  @parameterized.parameters(dict(num_pairs=0), dict(num_pairs=2.5),
                            dict(temperature=0.0))
  def test_bad_arguments(self, **kwargs):
    with self.assertRaisesRegex(ValueError, "must be"):
      losses.node_similarity_terms(self.states, self.edges[0],
                                   self.edges[1], **kwargs)


if __name__ == "__main__":
  testing_utils.main()
