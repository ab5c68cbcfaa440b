"""Tests for `layers`: Dink-Net's Keras layers, checked against numpy.

* `DinkClusterHead`: losses, assignments and gradients against numpy for both
  shrinks, sample weights and empty batches, initialisation and reset, errors,
  config and model save/load, the centre-norm constraint, and training with
  `model.fit`: `shrink="assigned"` recovers three blobs, while the paper's
  `shrink="all"` (with a small dilation weight) collapses all centres.
* `DinkDiscriminationLogits`: the summed projection against numpy.
* `PReLU`: values and gradients equal to Keras' layer (zeros included, shared
  axes, mixed precision, in a `tf.function` and compiled by XLA), its config.
* `MultiHopSmoothing` and `ClusteringEmbedding`: `normalize(h + A_hat^p h)`
  against a dense numpy `A_hat`, edges in any order, several components,
  readouts, and their argument errors.
* `NormalizeFeatureRows`, `DropFeatureColumns`, `DropEdges`,
  `ShuffleNodeRows`, `ReplaceFeature` and `make_readout`: the
  feature-processing layers and views, on dense features and on sparse
  ones (`sparse`), whose results must equal the dense ones.
"""
import testing_utils  # pylint: disable=g-bad-import-order

import os
import tempfile

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import losses
from tensorflow_gnn_dink import sparse as dink_sparse
from tensorflow_gnn_dink.recipe import data


np_sq_dist = testing_utils.np_sq_dist
np_dilation = testing_utils.np_dilation
np_shrink = testing_utils.np_shrink
np_soft = testing_utils.np_soft


def np_assigned_shrink(z, c, temperature):
  """Per row `sum_j p_ij |z_i - c_j|^2`, `p = softmax(-d^2 / temperature)`."""
  p = testing_utils.np_assignment_weights(z, c, temperature)
  return (p * np_sq_dist(z, c)).sum(1)


def np_smoothed(h, edges, steps):
  """`h + A_hat^steps h` with the dense normalised adjacency, float64."""
  a_hat = testing_utils.np_normalized_adjacency(edges, h.shape[0])
  smooth = h.astype(np.float64)
  for _ in range(steps):
    smooth = a_hat @ smooth
  return h + smooth


def np_l2_normalize(x):
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_head(centers, **kwargs):
  head = layers.DinkClusterHead(*centers.shape, **kwargs)
  head.reset_cluster_centers(centers)
  return head


def accuracy_up_to_permutation(labels, ids):
  """1.0 iff `ids` is `labels` with the cluster names permuted."""
  pairs = set(zip(labels.tolist(), ids.tolist()))
  one_to_one = (len(pairs) == len({l for l, _ in pairs}) ==
                len({i for _, i in pairs}))
  return 1.0 if one_to_one else 0.0


def three_blobs(seed=0):
  """150 fixed 2-D embeddings, 50 around each of three well-separated means."""
  rng = np.random.default_rng(seed)
  means = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]], np.float32)
  labels = np.repeat(np.arange(3), 50)
  z = means[labels] + 0.3 * rng.normal(size=(150, 2)).astype(np.float32)
  return z, labels


def fit_head(head, z, dilation_weight, epochs):
  """Trains `head`'s centres on fixed `z` with `model.fit`, full batch SGD."""
  inputs = tf.keras.Input((z.shape[1],))
  dilation, shrink = head(inputs)
  model = tf.keras.Model(inputs, head.cluster(inputs, soft=True))
  model.add_loss(shrink + dilation_weight * dilation)
  model.compile(tf.keras.optimizers.SGD(0.5))
  return model.fit(z, epochs=epochs, batch_size=len(z), shuffle=False,
                   verbose=0).history["loss"]


# Tables of bad inputs, one row each: (name, input, message regex); every
# row raises ValueError.
HEAD_ARGUMENT_ERRORS = (
    ("n_clusters_1", dict(n_clusters=1),
     r"^n_clusters must be an integer >= 2, got 1: the dilation loss is a mean "
     r"over pairs of distinct centres\.$"),
    ("n_clusters_0", dict(n_clusters=0), r"integer >= 2, got 0:"),
    ("n_clusters_float", dict(n_clusters=2.5), r"integer >= 2, got 2\.5:"),
    ("n_clusters_str", dict(n_clusters="3"), r"integer >= 2, got '3':"),
    ("n_clusters_bool", dict(n_clusters=True), r"integer >= 2, got True:"),
    ("n_clusters_none", dict(n_clusters=None), r"integer >= 2, got None:"),
    ("n_features_0", dict(n_features=0),
     r"^n_features must be an integer >= 1, got 0: pass the width of the "
     r"embeddings \(the encoder's output size\)\.$"),
    ("n_features_negative", dict(n_features=-4), r"integer >= 1, got -4:"),
    ("n_features_float", dict(n_features=4.5), r"integer >= 1, got 4\.5:"),
    ("max_center_norm_0", dict(max_center_norm=0.0),
     r"^max_center_norm must be a finite number > 0, got 0\.0\.$"),
    ("max_center_norm_negative", dict(max_center_norm=-1),
     r"max_center_norm must be a finite number > 0, got -1\."),
    ("max_center_norm_nan", dict(max_center_norm=float("nan")),
     r"max_center_norm must be a finite number > 0, got nan\."),
    ("max_center_norm_inf", dict(max_center_norm=float("inf")),
     r"max_center_norm must be a finite number > 0, got inf\."),
    ("max_center_norm_str", dict(max_center_norm="1"),
     r"max_center_norm must be a finite number > 0, got '1'\."),
    ("temperature_0", dict(shrink="assigned", temperature=0.0),
     r"^temperature must be a finite number > 0, got 0\.0\.$"),
    ("temperature_negative", dict(temperature=-1.0),
     r"temperature must be a finite number > 0, got -1\.0\."),
    ("shrink", dict(shrink="own"),
     r"^shrink must be one of \('all', 'assigned'\), got 'own'\.$"),
)
HEAD_INPUT_ERRORS = (  # For DinkClusterHead(3, 4, name="head").
    ("rank_3", np.zeros((2, 3, 4), np.float32),
     r"^head expects embeddings of shape \(batch, 4\), got shape "
     r"\(2, 3, 4\)\.$"),
    ("rank_1", np.zeros(4, np.float32),
     r"^head expects embeddings of shape \(batch, 4\), got shape \(4,\)"),
    ("width", np.zeros((2, 5), np.float32),
     r"^head was built for n_features=4 but got embeddings with 5 features "
     r"\(shape \(2, 5\)\)\. Pass n_features=5 or fix the encoder's output "
     r"size\.$"),
    ("int32", np.zeros((2, 4), np.int32),
     r"^head expects float embeddings of shape \(batch, 4\), got dtype "
     r"int32: pass the encoder's float output, or cast with "
     r"tf\.cast\(z, tf\.float32\)\.$"),
    ("int64", np.zeros((2, 4), np.int64), r"got dtype int64: pass"),
    ("bool", np.zeros((2, 4), bool), r"got dtype bool: pass"),
    ("string", np.full((2, 4), "0.5"), r"got dtype string: pass"),
)
HEAD_CENTRE_ERRORS = (  # For reset_cluster_centers of DinkClusterHead(3, 4).
    ("transposed", np.zeros((4, 3)),
     r"^cluster_centers must have shape \(3, 4\) \(n_clusters, n_features = "
     r"the encoder's output size\), got \(4, 3\)\.$"),
    ("rank_1", np.zeros(12), r"must have shape \(3, 4\).*got \(12,\)"),
    ("rank_3", np.zeros((1, 3, 4)),
     r"must have shape \(3, 4\).*got \(1, 3, 4\)"),
    ("nan", np.where(np.eye(3, 4) > 0, np.nan, 1.0),
     r"^cluster_centers contains 3 NaN or inf values \(rows \[0, 1, 2\]\): "
     r"pass finite centres, e.g\. from k-means on finite embeddings\.$"),
    ("inf", np.array([[0.0] * 4, [0.0] * 4, [0.0, -np.inf, 0.0, 0.0]]),
     r"^cluster_centers contains 1 NaN or inf values \(rows \[2\]\)"),
    ("strings", np.full((3, 4), "1"),
     r"^cluster_centers must be an array of real numbers, got dtype <U1: "
     r"pass a float array of shape \(n_clusters, n_features\)\.$"),
    ("bool", np.ones((3, 4), bool),
     r"must be an array of real numbers, got dtype bool"),
)


class DinkClusterHeadTest(testing_utils.TestCase):
  """`layers.DinkClusterHead`."""

  @parameterized.parameters((2, 3, 5), (5, 8, 17), (7, 16, 1))
  def test_losses_and_assignments_match_numpy(self, k, d, b):
    rng = np.random.default_rng(k * 100 + d)
    c = rng.normal(size=(k, d)).astype(np.float32)
    z = rng.normal(size=(b, d)).astype(np.float32)
    head = make_head(c)
    dilation, shrink = head(tf.constant(z))
    self.assertAllClose(dilation, np_dilation(c), rtol=1e-5)
    self.assertAllClose(shrink, np_shrink(z, c), rtol=1e-5)
    self.assertAllEqual(head.cluster(z), np_sq_dist(z, c).argmin(1))
    self.assertAllEqual(head.predict(z), head.cluster(z))
    soft = head.cluster(z, soft=True).numpy()
    self.assertAllClose(soft, np_soft(z, c), rtol=1e-5, atol=1e-6)
    self.assertAllClose(soft.sum(1), np.ones(b), rtol=1e-6)
    ids, probabilities = head.assign(z)
    self.assertAllEqual(ids, head.cluster(z))
    self.assertAllClose(probabilities, soft, rtol=1e-6, atol=1e-7)

  def test_k2_edge_cases(self):
    c = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
    head = make_head(c)
    z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]], np.float32)
    dilation, shrink = head(z)
    self.assertAllClose(dilation, -4.0)
    self.assertAllClose(shrink, np_shrink(z, c), rtol=1e-6)
    # Equidistant row: soft assignment is exactly uniform.
    self.assertAllClose(head.cluster(z, soft=True)[2], [0.5, 0.5])
    self.assertAllEqual(head.cluster(z)[:2], [0, 1])
    # Two identical centres: dilation 0, no NaN.
    dilation, _ = make_head(np.ones((2, 2), np.float32))(z)
    self.assertEqual(float(dilation), 0.0)

  @parameterized.parameters("all", "assigned")
  def test_no_nan_when_embedding_equals_a_centre_gradients_included(
      self, shrink_kind):
    c = np.array([[0.5, -0.5, 1.0], [2.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                 np.float32)
    head = make_head(c, shrink=shrink_kind)
    z = tf.Variable(np.concatenate([c, c[:1] + 1e-3]))  # Rows equal centres.
    with tf.GradientTape(persistent=True) as tape:
      dilation, shrink = head(z)
      soft = head.cluster(z, soft=True)
      soft_sum = tf.reduce_sum(soft * tf.constant([1.0, 2.0, 3.0]))
    for value in (dilation, shrink, soft):
      self.assertTrue(np.all(np.isfinite(value.numpy())))
    for target in (dilation, shrink, soft_sum):
      for grad in tape.gradient(target, [z, head.cluster_centers]):
        if grad is not None:
          self.assertTrue(np.all(np.isfinite(grad.numpy())))
    # The matmul form |z|^2 + |c|^2 - 2 z.c loses digits to cancellation near
    # a centre (float32): distances of ~1e-3 are off by ~1e-4 at most.
    self.assertAllClose(soft.numpy(), np_soft(z.numpy(), c), atol=1e-4)
    self.assertAllClose(soft.numpy()[:3], np_soft(c, c), atol=1e-6)

  def test_gradients_match_numpy(self):
    rng = np.random.default_rng(3)
    c = rng.normal(size=(4, 3))
    z = rng.normal(size=(6, 3))
    head = layers.DinkClusterHead(4, 3, dtype="float64")
    head.reset_cluster_centers(c)
    with tf.GradientTape() as tape:
      dilation, shrink = head(tf.constant(z))
      total = dilation + shrink
    grad = tape.gradient(total, head.cluster_centers).numpy()
    k, b = c.shape[0], z.shape[0]
    # d/dc_j of -1/(K(K-1)) sum_{i!=j} |c_i-c_j|^2 = -4/(K(K-1)) sum_i (c_j-c_i)
    expected = -4.0 / (k * (k - 1)) * (k * c - c.sum(0))
    # d/dc_j of 1/(BK) sum_i |z_i-c_j|^2 = -2/(BK) sum_i (z_i - c_j)
    expected += -2.0 / (b * k) * (z.sum(0)[None, :] - b * c)
    self.assertAllClose(grad, expected, rtol=1e-8)

  @parameterized.parameters("all", "assigned")
  def test_sample_weight_ignores_padding_rows(self, shrink_kind):
    rng = np.random.default_rng(1)
    c = rng.normal(size=(3, 4)).astype(np.float32)
    z = rng.normal(size=(5, 4)).astype(np.float32)
    if shrink_kind == "all":
      per_row = np_sq_dist(z, c).mean(1)
    else:
      per_row = np_assigned_shrink(z, c, 0.5)
    padded = np.concatenate([z, 100 * np.ones((3, 4), np.float32)])
    mask = np.array([1, 1, 1, 1, 1, 0, 0, 0], np.float32)
    head = make_head(c, shrink=shrink_kind, temperature=0.5)
    _, shrink = head(padded, sample_weight=mask)
    self.assertAllClose(shrink, per_row.mean(), rtol=1e-5)
    weights = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
    _, shrink = head(z, sample_weight=weights)
    self.assertAllClose(shrink, (per_row * weights).sum() / weights.sum(),
                        rtol=1e-5)
    _, shrink = head(z, sample_weight=np.zeros(5, np.float32))
    self.assertEqual(float(shrink), 0.0)

  @parameterized.parameters("all", "assigned")
  def test_empty_batch_gives_finite_losses_and_gradients(self, shrink_kind):
    c = np.array([[1.0, 0.0], [0.0, 3.0]], np.float32)
    head = make_head(c, shrink=shrink_kind)
    z = tf.zeros((0, 2))
    with tf.GradientTape() as tape:
      dilation, shrink = head(z)
      total = dilation + shrink
    self.assertEqual(float(shrink), 0.0)
    self.assertAllClose(dilation, -10.0)
    grad = tape.gradient(total, head.cluster_centers).numpy()
    # Only the dilation term: -4/(K(K-1)) (K c_j - sum_i c_i).
    self.assertAllClose(grad, -2.0 * (2 * c - c.sum(0)))
    self.assertEqual(head.cluster(z).shape, (0,))
    self.assertEqual(head.cluster(z, soft=True).shape, (0, 2))

  def test_assigned_shrink_is_the_loss_function(self):
    rng = np.random.default_rng(5)
    c = rng.normal(size=(4, 3)).astype(np.float32)
    z = rng.normal(size=(9, 3)).astype(np.float32)
    head = make_head(c, shrink="assigned", temperature=0.7)
    per_example = head.shrink_loss_per_example(z)
    self.assertAllClose(
        per_example, losses.assigned_shrink_loss_per_example(z, c, 0.7))
    self.assertAllClose(per_example, np_assigned_shrink(z, c, 0.7),
                        rtol=1e-5, atol=1e-6)
    # Lower than the "all" shrink: each row only to its soft centres.
    self.assertTrue(np.all(per_example.numpy() <
                           np_sq_dist(z, c).mean(1)))
    dilation, shrink = head(z)
    self.assertAllClose(dilation, np_dilation(c), rtol=1e-5)
    self.assertAllClose(shrink, np_assigned_shrink(z, c, 0.7).mean(),
                        rtol=1e-5)
    # shrink="all" is the paper's loss.
    head_all = make_head(c, shrink="all")
    self.assertAllClose(head_all.shrink_loss_per_example(z),
                        losses.shrink_loss_per_example(z, c))
    self.assertAllClose(head_all(z)[1], np_shrink(z, c), rtol=1e-5)

  def test_centres_are_xavier_uniform_and_reset(self):
    head = layers.DinkClusterHead(4, 60)
    head.build((None, 60))
    limit = np.sqrt(6.0 / (4 + 60))
    before = head.cluster_centers.numpy()
    self.assertEqual(before.shape, (4, 60))
    self.assertLessEqual(np.abs(before).max(), limit)
    self.assertGreater(np.abs(before).max(), limit / 2)
    head.reset_cluster_centers()  # Unseeded: a new draw.
    after = head.cluster_centers.numpy()
    self.assertNotAllClose(before, after)
    self.assertLessEqual(np.abs(after).max(), limit)
    given = np.arange(240, dtype=np.float32).reshape(4, 60)
    head.reset_cluster_centers(given)
    self.assertAllEqual(head.cluster_centers.numpy(), given)

  def test_seeded_initializer_reset_gives_the_initial_centres(self):
    head = layers.DinkClusterHead(
        3, 5, cluster_centers_initializer=tf.keras.initializers.RandomNormal(
            stddev=2.0, seed=7))
    head.build((None, 5))
    initial = head.cluster_centers.numpy()
    self.assertGreater(np.abs(initial).max(), 1.0)  # Not glorot's range.
    head.reset_cluster_centers(np.zeros((3, 5)))
    head.reset_cluster_centers()
    self.assertAllEqual(head.cluster_centers.numpy(), initial)

  @parameterized.named_parameters(*HEAD_ARGUMENT_ERRORS)
  def test_argument_errors(self, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      layers.DinkClusterHead(**{"n_clusters": 3, "n_features": 4, **kwargs})

  @parameterized.product(bad_input=HEAD_INPUT_ERRORS,
                         method=("__call__", "cluster", "cluster_soft",
                                 "assign", "shrink_loss_per_example"))
  def test_input_errors(self, bad_input, method):
    _, z, message = bad_input
    head = layers.DinkClusterHead(3, 4, name="head")
    call = {"__call__": head, "cluster_soft": lambda z: head.cluster(z, True)
           }.get(method) or getattr(head, method)
    # (?m): Keras wraps errors from `call` with lines of context.
    with self.assertRaisesRegex(ValueError, "(?m)" + message):
      call(z)

  @parameterized.named_parameters(*HEAD_CENTRE_ERRORS)
  def test_reset_cluster_centers_errors(self, centers, message):
    head = layers.DinkClusterHead(3, 4)
    head.reset_cluster_centers(np.ones((3, 4)))
    with self.assertRaisesRegex(ValueError, message):
      head.reset_cluster_centers(centers)
    self.assertAllEqual(head.cluster_centers, np.ones((3, 4)))  # Unchanged.

  def test_config_round_trip_and_model_save(self):
    head = layers.DinkClusterHead(
        3, 4, name="head", shrink="assigned", temperature=0.3,
        max_center_norm=2.5,
        cluster_centers_initializer=tf.keras.initializers.RandomNormal(
            seed=1))
    config = head.get_config()
    clone = layers.DinkClusterHead.from_config(config)
    self.assertEqual(
        (clone.n_clusters, clone.n_features, clone.name, clone.shrink,
         clone.temperature, clone.max_center_norm),
        (3, 4, "head", "assigned", 0.3, 2.5))
    self.assertIsInstance(clone.cluster_centers_initializer,
                          tf.keras.initializers.RandomNormal)
    self.assertEqual(clone.get_config(), config)

    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, layers.DinkClusterHead(
        3, 4, name="head", shrink="assigned", temperature=0.3)(inputs))
    z = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    centres = model.get_layer("head").cluster_centers.numpy()
    expected = [v.numpy() for v in model(z)]
    self.assertAllClose(expected[1], np_assigned_shrink(z, centres, 0.3).mean(),
                        rtol=1e-5)
    tmp = tempfile.mkdtemp(dir=self.get_temp_dir())
    for path in (os.path.join(tmp, "model.keras"),
                 os.path.join(tmp, "saved_model")):
      model.save(path)
      restored = tf.keras.models.load_model(path)
      restored_head = restored.get_layer("head")
      self.assertIsInstance(restored_head, layers.DinkClusterHead)
      self.assertEqual((restored_head.shrink, restored_head.temperature),
                       ("assigned", 0.3))
      self.assertAllClose(restored_head.cluster_centers, centres)
      self.assertAllClose([v.numpy() for v in restored(z)], expected)

  def test_max_center_norm_keeps_centres_in_the_ball_while_training(self):
    z = tf.constant(np.random.default_rng(0).normal(size=(20, 2)), tf.float32)
    start = np.array([[0.1, 0.0], [0.0, 0.1], [0.0, 0.0]], np.float32)

    def train(head):
      head.build(z.shape)
      head.reset_cluster_centers(start)
      opt = tf.keras.optimizers.Adam(0.5)

      for _ in range(20):
        with tf.GradientTape() as tape:
          dilation, shrink = head(z)
          loss = 10.0 * dilation + shrink  # Unbounded without constraint.
        opt.apply_gradients(zip(tape.gradient(loss, head.trainable_variables),
                                head.trainable_variables))
      return np.linalg.norm(head.cluster_centers.numpy(), axis=1)

    norms = train(layers.DinkClusterHead(3, 2, max_center_norm=1.5))
    self.assertTrue(np.all(norms <= 1.5 + 1e-5), norms)
    self.assertTrue(np.all(norms > 1.4), norms)
    # Without it, the same training leaves the ball.
    self.assertGreater(train(layers.DinkClusterHead(3, 2)).max(), 3.0)

  def test_fit_with_assigned_shrink_recovers_the_blobs(self):
    """`model.fit` on fixed embeddings of 3 blobs: centres go to the blobs."""
    z, labels = three_blobs()
    head = layers.DinkClusterHead(3, 2, shrink="assigned", temperature=0.1)
    head.build((None, 2))
    # Near the data mean, with small offsets in three distinct directions.
    offsets = np.array([[0.4, -0.2], [-0.3, -0.3], [0.1, 0.4]], np.float32)
    head.reset_cluster_centers(z.mean(0) + offsets)
    w = 0.01
    history = fit_head(head, z, dilation_weight=w, epochs=60)
    self.assertTrue(np.all(np.isfinite(history)))
    ids = head.cluster(z).numpy()
    self.assertEqual(accuracy_up_to_permutation(labels, ids), 1.0)
    self.assertLen(set(ids.tolist()), 3)
    centres = head.cluster_centers.numpy()
    blob_means = np.stack([z[labels == j].mean(0) for j in range(3)])
    # Centre of each cluster id, in blob order.
    matched = centres[[np.bincount(ids[labels == j]).argmax()
                       for j in range(3)]]
    self.assertLess(np.linalg.norm(matched - blob_means, axis=1).max(), 0.2)
    # Exactly the minimum of, with hard assignments and 50 rows per blob,
    # (1/3) sum_j |c_j - m_j|^2 - w sum_j |c_j - c_mean|^2, which is
    # c_j = (m_j - w sum_i m_i) / (1 - 3w); full-batch SGD converges to it.
    expected = (blob_means - w * blob_means.sum(0)) / (1 - 3 * w)
    self.assertAllClose(matched, expected, atol=1e-4)

  def test_fit_with_shrink_all_collapses_the_centres(self):
    """Why `shrink="assigned"` exists: the paper's loss merges the centres.

    With K=3 and weight w on dilation, `shrink + w dilation` is, up to a
    constant, `|c_mean - z_mean|^2 + (1/K - 2w/(K-1)) sum_j |c_j - c_mean|^2`
    (c_mean, z_mean: mean centre and mean embedding): for w = 0.1 < 1/3 its
    minimum has every centre at the data mean, however well the centres
    start. Full-batch SGD with step 0.5 shrinks the spread
    `c_j - c_mean` by the factor `1 - 0.5 * 2 * (1/3 - 0.1)` per step.
    """
    z, labels = three_blobs()
    blob_means = np.stack([z[labels == j].mean(0) for j in range(3)])
    head = layers.DinkClusterHead(3, 2, shrink="all")
    head.build((None, 2))
    head.reset_cluster_centers(blob_means)  # Start at the right answer.
    epochs = 20
    fit_head(head, z, dilation_weight=0.1, epochs=epochs)
    centres = head.cluster_centers.numpy()

    def max_pairwise(c):
      return np.sqrt(np_sq_dist(c, c).max())

    self.assertGreater(max_pairwise(blob_means), 5.0)
    self.assertLess(max_pairwise(centres), 0.01 * max_pairwise(blob_means))
    factor = (1 - 0.5 * 2 * (1 / 3 - 0.1)) ** epochs
    spread = blob_means - blob_means.mean(0)
    self.assertAllClose(centres - centres.mean(0), factor * spread,
                        rtol=1e-3, atol=1e-5)
    self.assertAllClose(centres.mean(0), z.mean(0), atol=1e-4)


class DinkDiscriminationLogitsTest(testing_utils.TestCase):
  """`layers.DinkDiscriminationLogits`."""

  def test_matches_dense_projection_summed(self):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(7, 2, 5)).astype(np.float32)
    layer = layers.DinkDiscriminationLogits()
    layer.build(h.shape)
    kernel = rng.normal(size=(5, 5)).astype(np.float32)
    bias = rng.normal(size=(5,)).astype(np.float32)
    layer._projection.kernel.assign(kernel)  # pylint: disable=protected-access
    layer._projection.bias.assign(bias)  # pylint: disable=protected-access
    got = layer(h)
    self.assertEqual(got.shape, (7, 2))
    self.assertAllClose(got, (h @ kernel + bias).sum(-1), rtol=1e-5,
                        atol=1e-5)
    with self.assertRaisesRegex(ValueError, "defined inner dimension"):
      layers.DinkDiscriminationLogits().build(tf.TensorShape([None, 2, None]))


class PReLUTest(testing_utils.TestCase, parameterized.TestCase):
  """`layers.PReLU` against Keras' `PReLU`."""

  @parameterized.named_parameters(
      ("eager", False, None), ("function", True, False),
      ("xla", True, True))
  def test_same_values_and_gradients_as_keras(self, function, jit_compile):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3, 4)).astype(np.float32)
    x[0, 0, :2] = 0.0  # The kink: slope 0 in both.
    for shared_axes in (None, [1]):
      ours = layers.PReLU(shared_axes=shared_axes)
      theirs = tf.keras.layers.PReLU(shared_axes=shared_axes)
      ours.build(x.shape)
      theirs.build(x.shape)
      alpha = rng.uniform(-0.5, 1.5, size=ours.alpha.shape)
      ours.alpha.assign(alpha)
      theirs.alpha.assign(alpha)
      upstream = tf.constant(rng.normal(size=x.shape), tf.float32)

      def value_and_grads(layer, x=tf.constant(x), upstream=upstream):
        with tf.GradientTape() as tape:
          tape.watch(x)
          y = layer(x)
        return (y,) + tuple(tape.gradient(y, [x, layer.alpha],
                                          output_gradients=upstream))

      if function:
        ours_fn = tf.function(lambda l=ours: value_and_grads(l),
                              jit_compile=jit_compile)
        got = ours_fn()
      else:
        got = value_and_grads(ours)
      want = value_and_grads(theirs)
      for g, w, name in zip(got, want, ("y", "dx", "dalpha")):
        self.assertAllClose(g, w, rtol=1e-6, atol=1e-6, msg=name)
      self.assertEqual(got[2].shape, ours.alpha.shape)
      self.assertAllEqual(got[1][0, 0, :2], [0.0, 0.0])

  def test_mixed_precision_and_config(self):
    layer = layers.PReLU(dtype="mixed_float16", shared_axes=[1])
    x = tf.constant([[-2.0, 3.0], [1.0, -1.0]], tf.float16)
    layer.build(x.shape)
    with tf.GradientTape() as tape:
      y = layer(x)
      total = tf.reduce_sum(y)
    self.assertEqual(y.dtype, tf.float16)
    self.assertAllClose(y, [[0.0, 3.0], [1.0, 0.0]])  # alpha 0 at first.
    (grad,) = tape.gradient(total, [layer.alpha])
    self.assertEqual(grad.dtype, tf.float32)
    self.assertAllClose(grad, [-3.0])
    clone = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    self.assertIsInstance(clone, layers.PReLU)
    self.assertEqual(clone.get_config(), layer.get_config())


class DeepGraphInfomaxLogitsTest(testing_utils.TestCase):
  """`layers.DeepGraphInfomaxLogits` against TF-GNN's layer."""

  def test_same_values_and_gradients_as_tfgnn(self):
    from tensorflow_gnn.models import contrastive_losses  # pylint: disable=g-import-not-at-top
    h = tf.constant(np.random.default_rng(0).normal(size=(9, 2, 4)),
                    tf.float32)
    ours, theirs = (layers.DeepGraphInfomaxLogits(),
                    contrastive_losses.DeepGraphInfomaxLogits())
    theirs(h)
    ours(h)
    ours.set_weights(theirs.get_weights())
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(h)
      got, want = ours(h), theirs(h)
    self.assertAllClose(got, want, rtol=1e-5, atol=1e-6)
    self.assertAllClose(tape.gradient(got, h), tape.gradient(want, h),
                        rtol=1e-5, atol=1e-6)
    self.assertAllClose(tape.gradient(got, ours.trainable_weights),
                        tape.gradient(want, theirs.trainable_weights),
                        rtol=1e-5, atol=1e-6)


class ProjectedGCNConvTest(testing_utils.TestCase):
  """`ProjectedGCNConv` is TF-GNN's `GCNConv`, projected before propagation."""

  def _directed_graph(self):
    """Two components, edges in no order, some one-way (in != out degree)."""
    rng = np.random.default_rng(7)
    src = rng.integers(0, 9, size=30)
    dst = rng.integers(0, 9, size=30)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    src = np.concatenate([src, 9 + rng.integers(0, 6, size=10)])
    dst = np.concatenate([dst, 9 + rng.integers(0, 6, size=10)])
    return tfgnn.GraphTensor.from_pieces(
        node_sets={"nodes": tfgnn.NodeSet.from_fields(
            sizes=tf.constant([9, 6], tf.int64),
            features={tfgnn.HIDDEN_STATE: tf.constant(
                rng.normal(size=(15, 5)), tf.float32)})},
        edge_sets={"edges": tfgnn.EdgeSet.from_fields(
            sizes=tf.constant([len(src) - 10, 10], tf.int64),
            adjacency=tfgnn.Adjacency.from_indices(
                ("nodes", tf.constant(src, tf.int64)),
                ("nodes", tf.constant(dst, tf.int64))))})

  @parameterized.parameters((True, None, False, None),
                            (True, "relu", False, None),
                            (False, None, False, None),
                            (True, "relu", True, None),
                            (True, None, False, "kept"),
                            (False, "relu", True, "weights"))
  def test_equals_tfgnn_gcnconv_values_and_gradients(self, self_loops,
                                                     activation, sparse,
                                                     edge_weights):
    from tensorflow_gnn.models.gcn import gcn_conv  # pylint: disable=g-import-not-at-top
    graph = self._directed_graph()
    if edge_weights:  # `KEPT_EDGES`: 0/1 from `DropEdges`, or any weights.
      graph = layers.DropEdges(0.4, seed=3)(graph)
      kept = graph.edge_sets["edges"][layers.KEPT_EDGES]
      self.assertBetween(float(tf.reduce_mean(kept)), 0.3, 0.9)
      if edge_weights == "weights":
        graph = graph.replace_features(edge_sets={"edges": {
            layers.KEPT_EDGES: tf.random.stateless_uniform(
                tf.shape(kept), seed=(1, 2), maxval=2.0)}})
    ours_graph = graph
    if sparse:  # Mostly zeros, as bag-of-words features are, held sparse.
      x = graph.node_sets["nodes"][tfgnn.HIDDEN_STATE]
      x = tf.where(tf.abs(x) > 1.0, x, 0.0)
      graph = graph.replace_features(node_sets={"nodes": {
          tfgnn.HIDDEN_STATE: x}})
      ours_graph = graph.replace_features(node_sets={
          "nodes": dink_sparse.from_dense(tfgnn.HIDDEN_STATE, x)})
    ours = layers.ProjectedGCNConv(4, activation=activation,
                                   add_self_loops=self_loops,
                                   input_width=5 if sparse else None)
    theirs = gcn_conv.GCNConv(
        4, activation=activation, add_self_loops=self_loops,
        edge_weight_feature_name=layers.KEPT_EDGES if edge_weights else None)
    theirs(graph, edge_set_name="edges")
    ours(ours_graph, edge_set_name="edges")
    weights = [np.random.default_rng(1).normal(size=w.shape)
               for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    with tf.GradientTape(persistent=True) as tape:
      got = ours(ours_graph, edge_set_name="edges")
      want = theirs(graph, edge_set_name="edges")
      got_sum, want_sum = tf.reduce_sum(got ** 2), tf.reduce_sum(want ** 2)
    self.assertAllClose(got, want, rtol=1e-5, atol=1e-5)
    for g, w in zip(tape.gradient(got_sum, ours.trainable_weights),
                    tape.gradient(want_sum, theirs.trainable_weights)):
      self.assertAllClose(g, w, rtol=1e-4, atol=1e-4)

  def test_propagation_matches_numpy_on_symmetric_edges(self):
    graph, graph_tensor = testing_utils.small_graph(seed=2)
    x = np.random.default_rng(0).normal(size=(graph.num_nodes, 3))
    propagate = layers.gcn_propagation(graph_tensor, "edges",
                                       dtype=tf.float64)
    a_hat = testing_utils.np_normalized_adjacency(graph.edges,
                                                  graph.num_nodes)
    self.assertAllClose(propagate(tf.constant(x)), a_hat @ x, rtol=1e-6)

  def test_propagation_matches_numpy_with_self_loop_and_unsorted_edges(self):
    # Edges in no order, one duplicated, one self-loop, one node without any.
    source = np.array([3, 0, 2, 2, 1, 4, 0, 3, 3])
    target = np.array([0, 3, 2, 1, 2, 0, 3, 1, 0])
    graph = tfgnn.GraphTensor.from_pieces(
        node_sets={"nodes": tfgnn.NodeSet.from_fields(sizes=[6])},
        edge_sets={"edges": tfgnn.EdgeSet.from_fields(
            sizes=[len(source)], adjacency=tfgnn.Adjacency.from_indices(
                ("nodes", source), ("nodes", target)))})
    a = np.eye(6)
    np.add.at(a, (target, source), 1.0)
    in_scale = 1 / np.sqrt(a.sum(axis=1))
    out_scale = 1 / np.sqrt(a.sum(axis=0))
    a_hat = in_scale[:, None] * a * out_scale[None, :]
    x = np.random.default_rng(0).normal(size=(6, 4))
    propagate = layers.gcn_propagation(graph, "edges", dtype=tf.float64)
    self.assertAllClose(propagate(tf.constant(x)), a_hat @ x, rtol=1e-6)

  def test_weighted_propagation_is_the_same_under_xla(self):
    graph = layers.DropEdges(0.3, seed=1)(self._directed_graph())
    x = tf.constant(np.random.default_rng(2).normal(size=(15, 3)), tf.float32)

    def propagate(graph, x):
      return layers.gcn_propagation(graph, "edges", edge_weight=graph.edge_sets[
          "edges"][layers.KEPT_EDGES])(x)

    eager = propagate(graph, x)
    self.assertNotAllClose(eager, layers.gcn_propagation(graph, "edges")(x))
    self.assertAllClose(tf.function(propagate, jit_compile=True)(graph, x),
                        eager, rtol=1e-5, atol=1e-6)

  def test_diagonal_entries_keep_the_entries_ordered_by_row(self):
    rng = np.random.default_rng(1)
    dense = rng.random((7, 7)) * (rng.random((7, 7)) < 0.4)
    coo = tf.sparse.from_dense(dense)
    # Ordered by row, columns within a row in any order (as `row_major`
    # accepts them).
    order = np.lexsort((rng.random(len(coo.values)),
                        coo.indices[:, 0].numpy()))
    a = tf.sparse.SparseTensor(tf.gather(coo.indices, order),
                               tf.gather(coo.values, order), coo.dense_shape)
    diagonal = np.arange(1.0, 8.0)
    merged = layers._with_diagonal(a, tf.constant(diagonal))
    rows = merged.indices[:, 0].numpy()
    self.assertTrue(np.all(rows[1:] >= rows[:-1]))
    self.assertAllClose(
        dink_sparse_matmul(merged, np.eye(7)), dense + np.diag(diagonal))

  def test_config_round_trip_and_errors(self):
    layer = layers.ProjectedGCNConv(3, activation="relu", use_bias=False,
                                    add_self_loops=False, name="conv")
    clone = layers.ProjectedGCNConv.from_config(layer.get_config())
    self.assertEqual(clone.get_config(), layer.get_config())
    with self.assertRaisesRegex(ValueError, "units must be an integer >= 1"):
      layers.ProjectedGCNConv(0)
    graph = self._directed_graph()
    with self.assertRaisesRegex(ValueError, "Edge set 'cites' not in"):
      layers.ProjectedGCNConv(2)(graph, edge_set_name="cites")
    hetero = tfgnn.GraphTensor.from_pieces(
        node_sets={"a": tfgnn.NodeSet.from_fields(sizes=[2]),
                   "b": tfgnn.NodeSet.from_fields(sizes=[2])},
        edge_sets={"ab": tfgnn.EdgeSet.from_fields(
            sizes=[1], adjacency=tfgnn.Adjacency.from_indices(
                ("a", [0]), ("b", [1])))})
    with self.assertRaisesRegex(ValueError, "needs one node set"):
      layers.gcn_propagation(hetero, "ab")


def dink_sparse_matmul(a, b):
  """`a @ b` by the CSR kernel (sums duplicate entries, any column order)."""
  return layers.sparse.matmul(a, tf.constant(b, a.values.dtype),
                              is_row_major=True)


class MultiHopSmoothingTest(testing_utils.TestCase):
  """`layers.MultiHopSmoothing`."""

  @parameterized.parameters(1, 3)
  def test_matches_numpy(self, steps):
    graph, gt = testing_utils.small_graph(seed=1, num_nodes=60)
    got = layers.MultiHopSmoothing(steps, node_set_name="nodes",
                                   edge_set_name="edges",
                                   feature_name="feat")(gt)
    self.assertAllClose(got, np_smoothed(graph.features, graph.edges, steps),
                        rtol=1e-4, atol=1e-5)

  def test_edges_in_any_order(self):
    graph, _ = testing_utils.small_graph(seed=2, num_nodes=60)
    perm = np.random.default_rng(0).permutation(graph.edges.shape[1])
    shuffled = data.Graph(features=graph.features, edges=graph.edges[:, perm])
    self.assertFalse(np.all(np.diff(shuffled.edges[1]) >= 0))  # Unsorted.
    gt = data.to_graph_tensor(shuffled, feature_name=tfgnn.HIDDEN_STATE)
    got = layers.MultiHopSmoothing(2, node_set_name="nodes",
                                   edge_set_name="edges")(gt)
    self.assertAllClose(got, np_smoothed(graph.features, graph.edges, 2),
                        rtol=1e-4, atol=1e-5)

  def test_several_components(self):
    gt = testing_utils.rooted_batch(num_graphs=4, seed=3)
    adjacency = gt.edge_sets["edges"].adjacency
    edges = np.stack([adjacency.source.numpy(), adjacency.target.numpy()])
    h = gt.node_sets["nodes"]["feat"].numpy()
    got = layers.MultiHopSmoothing(2, node_set_name="nodes",
                                   edge_set_name="edges",
                                   feature_name="feat")(gt)
    self.assertAllClose(got, np_smoothed(h, edges, 2), rtol=1e-4, atol=1e-5)

  def test_zero_steps_returns_states_and_needs_no_edge_set(self):
    h = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    gt = tfgnn.GraphTensor.from_pieces(node_sets={
        "nodes": tfgnn.NodeSet.from_fields(sizes=[5], features={"feat": h})})
    got = layers.MultiHopSmoothing(0, node_set_name="nodes",
                                   edge_set_name="edges",
                                   feature_name="feat")(gt)
    self.assertAllEqual(got, h)  # h alone, not h + h.
    with self.assertRaisesRegex(ValueError,
                                "Edge set 'edges' not in the graph"):
      layers.MultiHopSmoothing(1, node_set_name="nodes",
                               edge_set_name="edges", feature_name="feat")(gt)

  def test_errors_and_config(self):
    with self.assertRaisesRegex(ValueError, "steps must be an integer >= 0"):
      layers.MultiHopSmoothing(-1, node_set_name="nodes",
                               edge_set_name="edges")
    _, gt = testing_utils.small_graph(num_nodes=30)
    with self.assertRaisesRegex(ValueError, "Node set 'papers' not in"):
      layers.MultiHopSmoothing(1, node_set_name="papers",
                               edge_set_name="edges")(gt)
    layer = layers.MultiHopSmoothing(2, node_set_name="nodes",
                                     edge_set_name="edges",
                                     feature_name="feat")
    clone = layers.MultiHopSmoothing.from_config(layer.get_config())
    self.assertEqual(clone.get_config(), layer.get_config())
    self.assertAllClose(clone(gt), layer(gt))


class ClusteringEmbeddingTest(testing_utils.TestCase):
  """`layers.ClusteringEmbedding` and `layers.make_readout`."""

  def test_matches_numpy(self):
    graph, gt = testing_utils.small_graph(seed=4, num_nodes=60)
    got = layers.ClusteringEmbedding("nodes", edge_set_name="edges",
                                     propagation_steps=3,
                                     feature_name="feat")(gt)
    expected = np_l2_normalize(np_smoothed(graph.features, graph.edges, 3))
    self.assertAllClose(got, expected, rtol=1e-4, atol=1e-5)
    self.assertAllClose(np.linalg.norm(got, axis=1), np.ones(60), rtol=1e-5)

  def test_first_node_readout_picks_component_roots(self):
    gt = testing_utils.rooted_batch(num_graphs=4, seed=1)
    sizes = gt.node_sets["nodes"].sizes.numpy()
    roots = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    adjacency = gt.edge_sets["edges"].adjacency
    edges = np.stack([adjacency.source.numpy(), adjacency.target.numpy()])
    h = gt.node_sets["nodes"]["feat"].numpy()
    got = layers.ClusteringEmbedding("nodes", edge_set_name="edges",
                                     propagation_steps=2, readout="first_node",
                                     feature_name="feat")(gt)
    self.assertEqual(got.shape, (4, 12))
    expected = np_l2_normalize(np_smoothed(h, edges, 2))[roots]
    self.assertAllClose(got, expected, rtol=1e-4, atol=1e-5)

  def test_without_normalize(self):
    graph, gt = testing_utils.small_graph(seed=5, num_nodes=40)
    got = layers.ClusteringEmbedding("nodes", edge_set_name="edges",
                                     propagation_steps=1, normalize=False,
                                     feature_name="feat")(gt)
    self.assertAllClose(got, np_smoothed(graph.features, graph.edges, 1),
                        rtol=1e-4, atol=1e-5)

  def test_zero_steps_needs_no_edge_set(self):
    h = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    gt = tfgnn.GraphTensor.from_pieces(node_sets={
        "nodes": tfgnn.NodeSet.from_fields(
            sizes=[6], features={tfgnn.HIDDEN_STATE: h})})
    got = layers.ClusteringEmbedding("nodes")(gt)  # No edge_set_name.
    self.assertAllClose(got, np_l2_normalize(h), rtol=1e-5)

  @parameterized.named_parameters(
      ("no_edge_set", dict(propagation_steps=2), None,
       r"^propagation_steps > 0 needs the edge_set_name to propagate over\.$"),
      ("negative_steps", dict(propagation_steps=-1), None,
       r"^propagation_steps must be an integer >= 0, got -1\.$"),
      ("readout", dict(readout="roots"), None,
       r"^readout must be one of \('first_node', 'all_nodes'\), got "
       r"'roots'\.$"),
      ("node_set", dict(feature_name="feat"), "papers",
       r"Node set 'papers' not in the graph; it has node sets \['nodes'\]\. "
       r"Pass one of them as node_set_name\."),
      ("feature", dict(feature_name="h"), "nodes",
       r"Node feature 'h' not in node set 'nodes'; it has \['feat'\]\. Pass "
       r"feature_name=\.\.\. \."))
  def test_errors(self, kwargs, node_set_name, message):
    _, gt = testing_utils.small_graph(num_nodes=30)
    with self.assertRaisesRegex(ValueError, "(?m)" + message):
      layers.ClusteringEmbedding(node_set_name or "nodes", **kwargs)(gt)

  @parameterized.parameters(1e30, 1e-30, 1.0, 3e38, 1e-34)
  def test_normalizes_rows_of_any_magnitude(self, magnitude):
    """`tf.math.l2_normalize` gives 0 rows at 1e30, 1e-24 norms at 1e-30."""
    h = np.random.default_rng(0).normal(size=(5, 3)) / 4
    h[4] = 0.0  # An all-zero row stays 0.
    x = (h * magnitude).astype(np.float32)
    gt = tfgnn.GraphTensor.from_pieces(node_sets={
        "nodes": tfgnn.NodeSet.from_fields(
            sizes=[5], features={tfgnn.HIDDEN_STATE: x})})
    got = layers.ClusteringEmbedding("nodes")(gt).numpy()
    expected = np.zeros_like(h)
    expected[:4] = np_l2_normalize(h[:4])
    self.assertAllClose(got, expected, rtol=1e-6, atol=1e-7)

  def test_normalizes_float16_rows_beyond_256(self):
    x = np.full((2, 8), 300.0, np.float16)  # |x|^2 overflows float16.
    got = layers.l2_normalize_rows(tf.constant(x))
    self.assertEqual(got.dtype, tf.float16)
    self.assertAllClose(got, np.full((2, 8), 8 ** -0.5), rtol=1e-3)
    self.assertAllEqual(tf.math.l2_normalize(x, axis=-1), np.zeros((2, 8)))

  def test_config_round_trip(self):
    _, gt = testing_utils.small_graph(seed=6, num_nodes=30)
    layer = layers.ClusteringEmbedding(
        "nodes", edge_set_name="edges", propagation_steps=2,
        readout="all_nodes", feature_name="feat", normalize=False,
        name="embed")
    config = layer.get_config()
    clone = layers.ClusteringEmbedding.from_config(config)
    self.assertEqual(clone.get_config(), config)
    self.assertEqual(
        (clone.propagation_steps, clone.edge_set_name, clone.normalize,
         clone.name), (2, "edges", False, "embed"))
    self.assertAllClose(clone(gt), layer(gt))

  def test_make_readout(self):
    self.assertIsInstance(layers.make_readout("nodes", "feat", "first_node"),
                          tfgnn.keras.layers.ReadoutFirstNode)
    self.assertIsInstance(layers.make_readout("nodes", "feat", "all_nodes"),
                          tfgnn.keras.layers.Readout)
    with self.assertRaisesRegex(
        ValueError, r"readout must be one of \('first_node', 'all_nodes'\), "
        r"got 'mean'"):
      layers.make_readout("nodes", "feat", "mean")


class NormalizeFeatureRowsTest(testing_utils.TestCase):
  """`layers.NormalizeFeatureRows`."""

  def _graph(self):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3)).astype(np.float32)
    a[2] = 0.0  # An all-zero row.
    b = rng.uniform(size=(2, 3)).astype(np.float32)
    other = rng.normal(size=(4, 2)).astype(np.float32)
    c = rng.normal(size=(3, 3)).astype(np.float32)
    gt = tfgnn.GraphTensor.from_pieces(node_sets={
        "a": tfgnn.NodeSet.from_fields(
            sizes=[4], features={"feat": a, "other": other}),
        "b": tfgnn.NodeSet.from_fields(sizes=[2], features={"feat": b}),
        "c": tfgnn.NodeSet.from_fields(sizes=[3], features={"x": c})})
    return gt, a, b, other, c

  def test_every_node_set_with_the_feature(self):
    gt, a, b, other, c = self._graph()
    out = layers.NormalizeFeatureRows()(gt)
    l1 = np.abs(a).sum(1, keepdims=True)
    expected_a = np.where(l1 > 0, a / np.where(l1 > 0, l1, 1.0), a)
    self.assertAllClose(out.node_sets["a"]["feat"], expected_a, rtol=1e-6)
    self.assertAllEqual(out.node_sets["a"]["feat"][2], np.zeros(3))
    self.assertAllClose(np.abs(out.node_sets["a"]["feat"].numpy()).sum(1),
                        [1.0, 1.0, 0.0, 1.0], rtol=1e-6)
    self.assertAllClose(out.node_sets["b"]["feat"],
                        b / b.sum(1, keepdims=True), rtol=1e-6)
    self.assertAllEqual(out.node_sets["a"]["other"], other)  # Untouched.
    self.assertAllEqual(out.node_sets["c"]["x"], c)

  def test_only_the_named_node_sets_and_feature(self):
    gt, a, b, other, _ = self._graph()
    out = layers.NormalizeFeatureRows(node_set_names=["b"])(gt)
    self.assertAllEqual(out.node_sets["a"]["feat"], a)
    self.assertAllClose(out.node_sets["b"]["feat"],
                        b / b.sum(1, keepdims=True), rtol=1e-6)
    out = layers.NormalizeFeatureRows("other")(gt)
    self.assertAllEqual(out.node_sets["a"]["feat"], a)
    self.assertAllClose(out.node_sets["a"]["other"],
                        other / np.abs(other).sum(1, keepdims=True),
                        rtol=1e-6)

  def test_errors_name_what_is_missing(self):
    gt = self._graph()[0]
    with self.assertRaisesRegex(ValueError, "Node set 'papers' not in the"):
      layers.NormalizeFeatureRows(node_set_names=["papers"])(gt)
    with self.assertRaisesRegex(
        ValueError, "Node feature 'feat' not in node set 'c'"):
      layers.NormalizeFeatureRows(node_set_names=["c"])(gt)
    with self.assertRaisesRegex(
        ValueError, "No node set has the feature 'typo'.*Pass one of them"):
      layers.NormalizeFeatureRows("typo")(gt)

  def test_sparse_feature_equals_dense(self):
    gt, a, *_ = self._graph()
    held_sparse = gt.replace_features(node_sets={
        "a": dink_sparse.from_dense("feat", tf.constant(a))})
    out = layers.NormalizeFeatureRows()(held_sparse).node_sets["a"]
    got = tf.sparse.to_dense(dink_sparse.read(out.features, "feat", width=3))
    want = layers.NormalizeFeatureRows()(gt).node_sets["a"]["feat"]
    self.assertAllClose(got, want, rtol=1e-6)

  def test_config_round_trip(self):
    layer = layers.NormalizeFeatureRows("x", node_set_names=("c",))
    clone = layers.NormalizeFeatureRows.from_config(layer.get_config())
    self.assertEqual((clone.feature_name, clone.node_set_names),
                     ("x", ["c"]))


class ViewsTest(testing_utils.TestCase):
  """`DropFeatureColumns`, `ShuffleNodeRows` and `ReplaceFeature`."""

  def test_drop_feature_columns_zeroes_whole_columns(self):
    graph = testing_utils.rooted_batch(num_graphs=30)
    corrupted = layers.DropFeatureColumns(rate=0.5, seed=4)(graph)
    before = graph.node_sets["nodes"]["feat"].numpy()
    after = corrupted.node_sets["nodes"]["feat"].numpy()
    dropped = np.all(after == 0, axis=0)
    self.assertBetween(dropped.sum(), 1, before.shape[1] - 1)
    # Kept columns are not rescaled (unlike tf.nn.dropout).
    self.assertAllEqual(after[:, ~dropped], before[:, ~dropped])
    self.assertFalse(np.any(before[:, dropped] == 0))  # Zeros come from drop.
    unchanged = layers.DropFeatureColumns(rate=0.0)(graph)
    self.assertAllEqual(unchanged.node_sets["nodes"]["feat"], before)
    everything = layers.DropFeatureColumns(rate=1.0)(graph)
    self.assertAllEqual(everything.node_sets["nodes"]["feat"],
                        np.zeros_like(before))
    with self.assertRaisesRegex(ValueError, r"\[0, 1\]"):
      layers.DropFeatureColumns(rate=1.5)(graph)

  def test_drop_edges_marks_kept_edges_in_static_shapes(self):
    graph = testing_utils.rooted_batch(num_graphs=40)
    num_edges = int(graph.edge_sets["edges"].total_size)
    out = layers.DropEdges(rate=0.3, seed=4)(graph)
    kept = out.edge_sets["edges"][layers.KEPT_EDGES].numpy()
    self.assertEqual(kept.shape, (num_edges,))
    self.assertSetEqual(set(kept.tolist()), {0.0, 1.0})
    self.assertBetween(1.0 - kept.mean(), 0.15, 0.45)
    # Nothing else changes: the same edges, sizes and node features.
    self.assertAllEqual(out.edge_sets["edges"].adjacency.source,
                        graph.edge_sets["edges"].adjacency.source)
    self.assertAllEqual(out.node_sets["nodes"]["feat"],
                        graph.node_sets["nodes"]["feat"])
    self.assertEqual(out.edge_sets["edges"].spec.total_size,
                     graph.edge_sets["edges"].spec.total_size)
    # Dropping again drops among the kept edges only.
    again = layers.DropEdges(rate=0.5, seed=5)(out).edge_sets["edges"][
        layers.KEPT_EDGES].numpy()
    self.assertTrue(np.all(again <= kept))
    self.assertLess(again.sum(), kept.sum())
    self.assertIs(layers.DropEdges(rate=0.0)(graph), graph)
    self.assertAllEqual(layers.DropEdges(rate=1.0)(graph).edge_sets["edges"][
        layers.KEPT_EDGES], np.zeros(num_edges))
    with self.assertRaisesRegex(ValueError, r"Edge drop rate .*\[0, 1\]"):
      layers.DropEdges(rate=-0.1)
    clone = layers.DropEdges.from_config(
        layers.DropEdges(rate=0.3, seed=2).get_config())
    self.assertEqual((clone.rate, clone.seed), (0.3, 2))

  def _sparse_graph(self):
    """Nodes with a dense feature `x` and the same values held sparse."""
    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 2.0, size=(40, 12)) * (rng.random((40, 12)) < 0.3)
    x = tf.constant(x, tf.float32)
    return tfgnn.GraphTensor.from_pieces(node_sets={
        "nodes": tfgnn.NodeSet.from_fields(sizes=[40], features={
            "x": x, **dink_sparse.from_dense("feat", x)}),
        "other": tfgnn.NodeSet.from_fields(sizes=[3], features={
            "y": tf.range(3)})}), x.numpy()

  def _dense(self, graph, name="feat", width=12):
    return tf.sparse.to_dense(dink_sparse.read(
        graph.node_sets["nodes"].features, name, width=width)).numpy()

  def test_drop_feature_columns_of_sparse_features(self):
    graph, x = self._sparse_graph()
    out = layers.DropFeatureColumns(rate=0.5, seed=1)(graph)
    after = self._dense(out)
    kept = np.all(after == x, axis=0)
    dropped = np.all(after == 0, axis=0)
    self.assertAllEqual(kept | dropped, np.ones(12, bool))  # Whole columns.
    self.assertBetween(int((dropped & np.any(x != 0, axis=0)).sum()), 1, 11)
    # The structure stays: the same non-zero positions, some now zero.
    self.assertAllEqual(out.node_sets["nodes"]["feat_columns"],
                        graph.node_sets["nodes"]["feat_columns"])
    self.assertEqual(out.spec, graph.spec)
    clone = layers.DropFeatureColumns.from_config(
        layers.DropFeatureColumns(rate=0.3, seed=2).get_config())
    self.assertEqual((clone.rate, clone.seed), (0.3, 2))

  def test_shuffle_node_rows_moves_all_features_of_a_node_together(self):
    graph, x = self._sparse_graph()
    out = layers.ShuffleNodeRows(seed=3)(graph)
    self.assertEqual(out.spec, graph.spec)  # Static shapes kept.
    shuffled_dense = out.node_sets["nodes"]["x"].numpy()
    self.assertAllEqual(self._dense(out), shuffled_dense)  # Same rows.
    self.assertNotAllClose(shuffled_dense, x)
    self.assertAllClose(np.sort(shuffled_dense, axis=0), np.sort(x, axis=0))
    self.assertAllEqual(np.sort(out.node_sets["other"]["y"]), [0, 1, 2])
    only = layers.ShuffleNodeRows(seed=3, node_set_names=["other"])(graph)
    self.assertAllEqual(only.node_sets["nodes"]["x"], x)
    with self.assertRaisesRegex(ValueError, "Node set 'papers' not in the"):
      layers.ShuffleNodeRows(node_set_names=["papers"])(graph)

  def test_replace_feature_with_a_sparse_source(self):
    graph, x = self._sparse_graph()
    features = dict(graph.node_sets["nodes"].features)
    features.update(dink_sparse.from_dense("neg", tf.constant(2 * x)))
    graph = graph.replace_features(node_sets={"nodes": features})
    out = layers.ReplaceFeature(node_set_name="nodes", source="neg")(graph)
    self.assertAllClose(self._dense(out), 2 * x)

  def test_replace_feature_swaps_in_the_negative_view(self):
    gt = tfgnn.GraphTensor.from_pieces(node_sets={
        "nodes": tfgnn.NodeSet.from_fields(sizes=[4], features={
            "feat": tf.zeros((4, 2)), "feat_negative": tf.ones((4, 2)),
            "other": tf.fill((4, 1), 3.0)})})
    out = layers.ReplaceFeature(node_set_name="nodes",
                                source="feat_negative")(gt)
    self.assertAllEqual(out.node_sets["nodes"]["feat"], np.ones((4, 2)))
    self.assertAllEqual(out.node_sets["nodes"]["feat_negative"],
                        np.ones((4, 2)))
    self.assertAllEqual(out.node_sets["nodes"]["other"], np.full((4, 1), 3.0))
    out = layers.ReplaceFeature(node_set_name="nodes", source="other",
                                target="extra")(gt)
    self.assertAllEqual(out.node_sets["nodes"]["extra"], np.full((4, 1), 3.0))
    self.assertAllEqual(out.node_sets["nodes"]["feat"], np.zeros((4, 2)))
    with self.assertRaisesRegex(ValueError, "no feature 'missing'"):
      layers.ReplaceFeature(node_set_name="nodes", source="missing")(gt)


if __name__ == "__main__":
  testing_utils.main()
