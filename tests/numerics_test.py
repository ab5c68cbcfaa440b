"""Numerics of the cluster head, losses, geometry and clustering task.

For extreme inputs -- embeddings and centres of magnitude 1e30 and 1e-30,
all-identical embeddings, embeddings exactly at a centre, all centres equal,
one huge cluster, all zeros, empty batches, all-zero sample weights, float16
and bfloat16 inputs, a mixed-precision model -- the outputs (hard ids, soft
assignments, embeddings), the losses and their gradients (w.r.t. embeddings
and centres, by `tf.GradientTape`) are checked to be free of NaN, and equal
to float64 numpy wherever the true value is representable; a loss whose true
value is beyond float32 (a squared distance above ~3e38) must be +-inf, with
finite gradients. A long fine-tune (2,000 Adam steps of dilation + shrink)
keeps the centres in the ball of `max_center_norm`; without it (the paper's
loss, the documented default) they drift off.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import layers

np_sq_dist = testing_utils.np_sq_dist


def f64(x):
  return np.asarray(tf.cast(x, tf.float64) if tf.is_tensor(x) else x,
                    np.float64)


def np_hard(z, c):
  """Nearest centres, float64: argmin of `|c_j|^2 - 2 z.c_j`."""
  z, c = f64(z), f64(c)
  return np.argmin((c ** 2).sum(1) - 2.0 * z @ c.T, axis=1)


def np_references(z, c, shrink, temperature):
  """Float64 `(dilation, shrink, soft)` of embeddings z and centres c."""
  z, c = f64(z), f64(c)
  d2 = np_sq_dist(z, c)
  if shrink == "all":
    per_row = d2.mean(1)
  else:
    per_row = (testing_utils.np_softmax(-d2 / temperature) * d2).sum(1)
  soft = testing_utils.np_softmax(-np.sqrt(d2))
  return (testing_utils.np_dilation(c),
          per_row.mean() if len(per_row) else 0.0, soft)


def np_gradients_of_all(z, c):
  """Float64 gradients of dilation + shrink("all") w.r.t. (z, c)."""
  z, c = f64(z), f64(c)
  b, k = len(z), len(c)
  grad_z = 2.0 / b * (z - c.mean(0)) if b else np.zeros_like(z)
  grad_c = -4.0 / (k - 1) * (c - c.mean(0))
  if b:
    grad_c += -2.0 / (b * k) * (z.sum(0)[None] - b * c)
  return grad_z, grad_c


def as_float32(value):
  """A float64 value as float32 would hold it (inf where it overflows)."""
  with np.errstate(over="ignore"):
    return np.float32(value)


# (name, embeddings, centres): K = 3 centres of 4 features.
_RNG = np.random.default_rng(0)
_Z = _RNG.normal(size=(6, 4)).astype(np.float32)
_C = _RNG.normal(size=(3, 4)).astype(np.float32)
EXTREMES = (
    ("unit", _Z, _C),
    ("embeddings_1e30", _Z * 1e30, _C),
    ("embeddings_and_centres_1e30", _Z * 1e30, _C * 1e30),
    ("embeddings_1e-30", _Z * 1e-30, _C),
    ("embeddings_and_centres_1e-30", _Z * 1e-30, _C * 1e-30),
    ("centres_1e30", _Z, _C * 1e30),
    ("identical_embeddings", np.tile(_Z[:1], (6, 1)), _C),
    ("embeddings_at_the_centres", np.concatenate([_C, _C]), _C),
    ("embeddings_at_centres_1e30", np.concatenate([_C, _C]) * 1e30,
     _C * 1e30),
    ("equal_centres", _Z, np.tile(_C[:1], (3, 1))),
    ("equal_centres_at_the_embeddings", np.tile(_C[:1], (6, 1)),
     np.tile(_C[:1], (3, 1))),
    ("one_huge_cluster", np.tile(_Z[:1], (20000, 1)), _C),
    ("all_zero", np.zeros((6, 4), np.float32), np.zeros((3, 4), np.float32)),
    ("empty_batch", np.zeros((0, 4), np.float32), _C),
)


class HeadExtremesTest(testing_utils.TestCase):
  """`DinkClusterHead` (and so `losses`, `geometry`) on `EXTREMES`."""

  @parameterized.product(case=EXTREMES, shrink=("all", "assigned"))
  def test_outputs_losses_and_gradients(self, case, shrink):
    _, z, c = case
    head = layers.DinkClusterHead(3, 4, shrink=shrink, temperature=0.5)
    head.reset_cluster_centers(c)
    zv = tf.Variable(z)
    weights = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape(persistent=True) as tape:
      dilation, shrink_loss = head(zv)
      hard, soft = head.assign(zv)
      soft_target = tf.reduce_sum(soft * weights)
    np_dilation, np_shrink, np_soft = np_references(z, c, shrink, 0.5)

    # Outputs: the float64 nearest centre and soft assignment, rows sum to 1.
    self.assertAllEqual(hard, np_hard(z, c))
    self.assertAllEqual(head.cluster(zv), hard)
    self.assertTrue(np.all(np.isfinite(soft.numpy())))
    self.assertAllClose(soft, np_soft, atol=1e-5, rtol=0)
    self.assertAllClose(soft.numpy().sum(1), np.ones(len(z)), atol=1e-6)
    # Losses: float64's value as float32 holds it (+-inf beyond its range,
    # never NaN).
    self.assertAllClose(dilation, as_float32(np_dilation), rtol=1e-5)
    self.assertAllClose(shrink_loss, as_float32(np_shrink), rtol=1e-5,
                        atol=1e-12)
    self.assertFalse(np.isnan(dilation.numpy()) or
                     np.isnan(shrink_loss.numpy()))
    # Gradients: finite for every term, w.r.t. embeddings and centres.
    sources = [zv, head.cluster_centers]
    for target in (dilation, shrink_loss, soft_target):
      for grad in tape.gradient(target, sources,
                                unconnected_gradients="zero"):
        self.assertTrue(np.all(np.isfinite(grad.numpy())), target)
    if shrink == "all":
      grad_z, grad_c = tape.gradient([dilation, shrink_loss], sources)
      expected_z, expected_c = np_gradients_of_all(z, c)
      rtol = 1e-4 if len(z) < 1000 else 1e-3  # float32 sums over rows.
      atol = 1e-6 * max(np.abs(f64(z)).max(initial=0), np.abs(f64(c)).max())
      self.assertAllClose(grad_z, expected_z, rtol=rtol, atol=atol)
      self.assertAllClose(grad_c, expected_c, rtol=rtol, atol=atol)

  def test_equal_centres_are_a_fixed_point(self):
    """All centres equal: dilation 0, every centre the same gradient.

    Gradient descent cannot separate them (a saddle of the loss): start from
    k-means or a random draw, never from equal centres.
    """
    c = np.tile(_C[:1], (3, 1))
    head = layers.DinkClusterHead(3, 4)
    head.reset_cluster_centers(c)
    with tf.GradientTape() as tape:
      dilation, shrink = head(_Z)
      total = dilation + shrink
    grad = tape.gradient(total, head.cluster_centers).numpy()
    self.assertLess(abs(float(dilation)), 1e-12)  # 0 up to mean's rounding.
    self.assertAllClose(grad, np.tile(grad[:1], (3, 1)), rtol=0, atol=0)
    self.assertAllEqual(head.cluster(_Z), np.zeros(6))  # Ties: the first.
    self.assertAllClose(head.cluster(_Z, soft=True), np.full((6, 3), 1 / 3))

  def test_sample_weights_all_zero_or_empty_give_zero_shrink(self):
    for shrink in ("all", "assigned"):
      head = layers.DinkClusterHead(3, 4, shrink=shrink)
      head.reset_cluster_centers(_C)
      for z, weights in ((_Z, np.zeros(6, np.float32)),
                         (_Z[:0], np.zeros(0, np.float32)),
                         (_Z[:0], None)):
        zv = tf.Variable(z)
        with tf.GradientTape() as tape:
          dilation, shrink_loss = head(zv, sample_weight=weights)
          total = dilation + shrink_loss
        self.assertEqual(float(shrink_loss), 0.0)
        self.assertAllClose(dilation, testing_utils.np_dilation(f64(_C)),
                            rtol=1e-5)
        grad_z, grad_c = tape.gradient(total, [zv, head.cluster_centers],
                                       unconnected_gradients="zero")
        self.assertAllEqual(grad_z, np.zeros_like(z))
        self.assertAllClose(grad_c, np_gradients_of_all(_Z[:0], _C)[1],
                            rtol=1e-5)


class GeometryExtremesTest(testing_utils.TestCase):
  """`geometry` on its own: distances and their gradients."""

  @parameterized.named_parameters(*EXTREMES[:6])
  def test_squared_distances_and_gradients(self, z, c):
    zv, cv = tf.Variable(z), tf.Variable(c)
    g = np.random.default_rng(1).uniform(size=(len(z), 3)).astype(np.float32)
    with tf.GradientTape() as tape:
      d2 = geometry.squared_distances(zv, cv)
      target = tf.reduce_sum(d2 * g)
    expected = np_sq_dist(f64(z), f64(c))
    self.assertAllClose(d2, as_float32(expected), rtol=1e-4, atol=1e-30)
    self.assertFalse(np.any(np.isnan(d2.numpy())))
    grad_z, grad_c = tape.gradient(target, [zv, cv])
    diff = f64(z)[:, None] - f64(c)[None]  # d/dz_i = 2 sum_j g_ij (z_i - c_j).
    self.assertAllClose(grad_z, 2 * (g[:, :, None] * diff).sum(1), rtol=1e-4,
                        atol=1e-6 * np.abs(diff).max())
    self.assertAllClose(grad_c, -2 * (g[:, :, None] * diff).sum(0),
                        rtol=1e-4, atol=1e-6 * np.abs(diff).max())

  @parameterized.parameters(tf.float16, tf.bfloat16, tf.float32, tf.float64)
  def test_scale_is_an_exact_power_of_two(self, dtype):
    big = float(dtype.max) / 4
    tiny = 4 * float(np.finfo(np.float16).tiny) if dtype == tf.float16 else (
        1e-30)
    for value in (big, 3.0, tiny, 0.0):
      x = tf.cast(tf.constant([[value, -value / 2]], tf.float64), dtype)
      s = float(geometry.scale(x))
      self.assertEqual(np.log2(s), np.round(np.log2(s)))
      self.assertLessEqual(float(tf.reduce_max(tf.abs(x))) / s, 2.0)


class HalfPrecisionTest(testing_utils.TestCase):
  """float16 / bfloat16 embeddings: computed in float32, float32 outputs."""

  @parameterized.product(dtype=(tf.float16, tf.bfloat16), scale=(1.0, 300.0),
                         shrink=("all", "assigned"))
  def test_half_embeddings(self, dtype, scale, shrink):
    z = tf.Variable(tf.cast(_Z * scale, dtype))  # |z|^2 > 65504 at 300.
    head = layers.DinkClusterHead(3, 4, shrink=shrink, temperature=0.5)
    head.reset_cluster_centers(_C)
    with tf.GradientTape() as tape:
      dilation, shrink_loss = head(z)
      total = dilation + shrink_loss
    hard, soft = head.assign(z)
    for value in (dilation, shrink_loss, soft):
      self.assertEqual(value.dtype, tf.float32)
    np_dilation, np_shrink, np_soft = np_references(z, _C, shrink, 0.5)
    self.assertAllClose(dilation, np_dilation, rtol=1e-5)
    self.assertAllClose(shrink_loss, np_shrink, rtol=1e-5)
    self.assertAllClose(soft, np_soft, atol=1e-5)
    self.assertAllEqual(hard, np_hard(z, _C))
    grad = tape.gradient(total, z)
    self.assertEqual(grad.dtype, dtype)
    self.assertTrue(np.all(np.isfinite(f64(grad))))

  def test_mixed_float16_model(self):
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
      inputs = tf.keras.Input((4,))
      head = layers.DinkClusterHead(3, 4)
      head.reset_cluster_centers(_C)
      dilation, shrink = head(inputs)
      model = tf.keras.Model(inputs, [dilation, shrink,
                                      head.cluster(inputs, soft=True)])
    finally:
      tf.keras.mixed_precision.set_global_policy("float32")
    self.assertEqual(head.cluster_centers.dtype, tf.float32)
    z = (_Z * 300).astype(np.float16)
    with tf.GradientTape() as tape:
      outputs = model(z)
      total = outputs[0] + outputs[1]
    for value in outputs:
      self.assertEqual(value.dtype, tf.float32)
    np_dilation, np_shrink, np_soft = np_references(z, _C, "all", 0.1)
    self.assertAllClose(outputs[0], np_dilation, rtol=1e-5)
    self.assertAllClose(outputs[1], np_shrink, rtol=1e-5)
    self.assertAllClose(outputs[2], np_soft, atol=1e-5)
    grad = tape.gradient(total, head.cluster_centers)
    self.assertTrue(np.all(np.isfinite(grad.numpy())))


def _graph(features: np.ndarray) -> tfgnn.GraphTensor:
  return tfgnn.GraphTensor.from_pieces(node_sets={
      "nodes": tfgnn.NodeSet.from_fields(
          sizes=[len(features)],
          features={tfgnn.HIDDEN_STATE: tf.constant(features)})})


class TaskExtremesTest(testing_utils.TestCase):
  """`DinkClusteringTask`: embeddings, outputs, loss and its gradients."""

  @parameterized.named_parameters(
      ("features_1e30", _Z * 1e30), ("features_1e-30", _Z * 1e-30),
      ("features_3e38", _Z / np.abs(_Z).max() * 3e38),
      ("identical_features", np.tile(_Z[:1], (6, 1))),
      ("zero_row", np.concatenate([_Z, np.zeros((1, 4), np.float32)])),
      ("one_huge_cluster", np.tile(_Z[:1] * 1e30, (20000, 1))))
  def test_features(self, features):
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=3, readout="all_nodes", cluster_centers=_C,
        shrink_loss_weight=2.0, dilation_loss_weight=0.5)
    x = tf.constant(features)
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      graph = _graph(x)
      _, labels = task.preprocess(graph)
      out = task.predict(graph)
      loss = task.losses()["embedding"](labels["embedding"], out["embedding"])
    norms = np.linalg.norm(f64(features), axis=1, keepdims=True)
    z = np.divide(f64(features), norms, out=np.zeros_like(f64(features)),
                  where=norms > 0)
    self.assertAllClose(out["embedding"], z, rtol=1e-6, atol=1e-7)
    self.assertAllEqual(out["cluster_id"], np_hard(z, _C))
    _, np_shrink, np_soft = np_references(z, _C, "all", 0.1)
    self.assertAllClose(out["cluster_probabilities"], np_soft, atol=1e-5)
    self.assertAllClose(
        loss, 2.0 * np_shrink + 0.5 * testing_utils.np_dilation(f64(_C)),
        rtol=1e-5)
    for grad in tape.gradient(loss, [x, task.cluster_head.cluster_centers]):
      self.assertTrue(np.all(np.isfinite(grad.numpy())))
    non_empty, entropy = task.metrics()["cluster_probabilities"]
    for metric in (non_empty, entropy):
      metric.update_state(labels["cluster_probabilities"],
                          out["cluster_probabilities"])
      self.assertTrue(np.isfinite(float(metric.result())))
    self.assertEqual(float(non_empty.result()),
                     len(set(np_hard(z, _C).tolist())))

  def test_empty_graph_and_zero_weights(self):
    task = dink.DinkClusteringTask("nodes", n_clusters=3, readout="all_nodes",
                                   cluster_centers=_C)
    task.predict(_graph(_Z))
    empty = _graph(_Z[:0])
    _, labels = task.preprocess(empty)
    out = task.predict(empty)
    self.assertEqual(
        {k: tuple(v.shape) for k, v in out.items()},
        {"cluster_id": (0,), "cluster_probabilities": (0, 3),
         "embedding": (0, 4)})
    loss_fn = task.losses()["embedding"]
    centres = task.cluster_head.cluster_centers
    for z, weights in ((out["embedding"], None),
                       (tf.constant(_Z), tf.zeros(6)),
                       (tf.constant(_Z), tf.zeros((6, 1)))):
      with tf.GradientTape() as tape:
        tape.watch(z)
        loss = loss_fn(tf.zeros((len(z), 0)), z, sample_weight=weights)
      self.assertEqual(float(loss), 0.0)
      for grad in tape.gradient(loss, [z, centres],
                                unconnected_gradients="zero"):
        self.assertAllEqual(grad, tf.zeros_like(grad))


class LongFineTuneTest(testing_utils.TestCase):
  """2,000 Adam steps of dilation + shrink on fixed embeddings."""

  def _fine_tune(self, shrink, max_center_norm, steps=2000):
    features = np.random.default_rng(2).normal(size=(40, 4)).astype(
        np.float32)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=4, readout="all_nodes", shrink=shrink,
        max_center_norm=max_center_norm,
        cluster_centers_initializer=tf.keras.initializers.RandomNormal(
            stddev=0.1, seed=0))
    out = task.predict(_graph(features))
    z = out["embedding"]
    labels = tf.zeros((len(z), 0))
    loss_fn = task.losses()["embedding"]
    centres = task.cluster_head.cluster_centers
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = loss_fn(labels, z)
      optimizer.apply_gradients([(tape.gradient(loss, centres), centres)])
      return loss, tf.reduce_max(tf.norm(centres, axis=1))

    history = np.array([[float(v) for v in step()] for _ in range(steps)])
    self.assertTrue(np.all(np.isfinite(history)))
    self.assertTrue(np.all(np.isfinite(centres.numpy())))
    return history[:, 0], history[:, 1]

  @parameterized.parameters("all", "assigned")
  def test_bounded_centres_stay_in_the_ball(self, shrink):
    radius = 1.0
    loss, norms = self._fine_tune(shrink, max_center_norm=radius)
    self.assertLessEqual(norms.max(), radius * (1 + 1e-6))
    self.assertGreater(norms[-1], 0.99 * radius)  # The bound is active.
    # shrink >= 0 and, in the ball, dilation >= -2K/(K-1) r^2: bounded below.
    self.assertGreaterEqual(loss.min(), -2 * 4 / 3 * radius ** 2 - 1e-5)

  def test_unbounded_default_drifts_and_is_documented(self):
    self.assertIn("the centres are unbounded",
                  " ".join(layers.DinkClusterHead.__init__.__doc__.split()))
    loss, norms = self._fine_tune("all", max_center_norm=None)
    self.assertGreater(norms[-1], 20.0)  # Far outside the unit sphere of z.
    self.assertLess(loss[-1], -100.0)  # And the loss keeps falling.
    self.assertTrue(np.all(np.diff(norms[-100:]) > 0))


if __name__ == "__main__":
  testing_utils.main()
