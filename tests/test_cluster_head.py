"""DinkClusterHead and the loss functions, checked against numpy."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import losses


def np_sq_dist(x, y):
  return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def np_dilation(c):
  k = c.shape[0]
  d = np_sq_dist(c, c)
  return -(d.sum() - np.trace(d)) / (k * (k - 1))


def np_shrink(z, c, w=None):
  per_row = np_sq_dist(z, c).mean(1)
  if w is None:
    return per_row.mean()
  return (per_row * w).sum() / w.sum()


def np_soft(z, c):
  logits = -np.sqrt(np_sq_dist(z, c))
  e = np.exp(logits - logits.max(1, keepdims=True))
  return e / e.sum(1, keepdims=True)


def make_head(centers):
  head = dink.DinkClusterHead(*centers.shape)
  head.reset_cluster_centers(centers)
  return head


@pytest.mark.parametrize("k,d,b", [(2, 3, 5), (5, 8, 17), (7, 16, 1)])
def test_losses_and_assignments_match_numpy(k, d, b):
  rng = np.random.default_rng(k * 100 + d)
  c = rng.normal(size=(k, d)).astype(np.float32)
  z = rng.normal(size=(b, d)).astype(np.float32)
  head = make_head(c)
  dilation, shrink = head(tf.constant(z))
  np.testing.assert_allclose(dilation, np_dilation(c), rtol=1e-5)
  np.testing.assert_allclose(shrink, np_shrink(z, c), rtol=1e-5)
  np.testing.assert_array_equal(head.cluster(z), np_sq_dist(z, c).argmin(1))
  np.testing.assert_array_equal(head.predict(z), head.cluster(z))
  soft = head.cluster(z, soft=True).numpy()
  np.testing.assert_allclose(soft, np_soft(z, c), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(soft.sum(1), np.ones(b), rtol=1e-6)


def test_dilation_is_off_diagonal_mean_not_full_mean():
  c = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)  # |c0 - c1|^2 = 25.
  np.testing.assert_allclose(losses.dilation_loss(c), -25.0)  # Not -12.5.


def test_k2_edge_cases():
  c = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
  head = make_head(c)
  z = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]], np.float32)
  dilation, shrink = head(z)
  np.testing.assert_allclose(dilation, -4.0)
  np.testing.assert_allclose(shrink, np_shrink(z, c), rtol=1e-6)
  # Equidistant row: soft assignment is exactly uniform.
  np.testing.assert_allclose(head.cluster(z, soft=True)[2], [0.5, 0.5])
  np.testing.assert_array_equal(head.cluster(z)[:2], [0, 1])
  # Two identical centres: dilation 0, no NaN.
  same = make_head(np.ones((2, 2), np.float32))
  dilation, _ = same(z)
  assert float(dilation) == 0.0


def test_no_nan_when_embedding_equals_a_centre_gradients_included():
  c = np.array([[0.5, -0.5, 1.0], [2.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
               np.float32)
  head = make_head(c)
  z = tf.Variable(np.concatenate([c, c[:1] + 1e-3]))  # Rows equal centres.
  with tf.GradientTape(persistent=True) as tape:
    dilation, shrink = head(z)
    soft = head.cluster(z, soft=True)
    soft_sum = tf.reduce_sum(soft * tf.constant([1.0, 2.0, 3.0]))
  for value in (dilation, shrink, soft):
    assert np.all(np.isfinite(value.numpy()))
  for target in (dilation, shrink, soft_sum):
    for grad in tape.gradient(target, [z, head.cluster_centers]):
      if grad is not None:
        assert np.all(np.isfinite(grad.numpy()))
  # The matmul form |z|^2 + |c|^2 - 2 z.c loses digits to cancellation near a
  # centre (float32): distances of ~1e-3 are off by ~1e-4 at most.
  np.testing.assert_allclose(soft.numpy(), np_soft(z.numpy(), c), atol=1e-4)
  np.testing.assert_allclose(soft.numpy()[:3], np_soft(c, c), atol=1e-6)


def test_gradients_match_numpy():
  rng = np.random.default_rng(3)
  c = rng.normal(size=(4, 3)).astype(np.float64)
  z = rng.normal(size=(6, 3)).astype(np.float64)
  zc = tf.Variable(c)
  with tf.GradientTape() as tape:
    total = losses.dilation_loss(zc) + losses.shrink_loss(tf.constant(z), zc)
  grad = tape.gradient(total, zc).numpy()
  k, b = c.shape[0], z.shape[0]
  # d/dc_j of -1/(K(K-1)) sum_{i!=j} |c_i-c_j|^2 is -4/(K(K-1)) sum_i (c_j-c_i)
  expected = -4.0 / (k * (k - 1)) * (k * c - c.sum(0))
  # d/dc_j of 1/(BK) sum_i |z_i-c_j|^2 is -2/(BK) sum_i (z_i - c_j)
  expected += -2.0 / (b * k) * (z.sum(0)[None, :] - b * c)
  np.testing.assert_allclose(grad, expected, rtol=1e-8)


def test_sample_weight_ignores_padding_rows():
  rng = np.random.default_rng(1)
  c = rng.normal(size=(3, 4)).astype(np.float32)
  z = rng.normal(size=(5, 4)).astype(np.float32)
  padded = np.concatenate([z, 100 * np.ones((3, 4), np.float32)])
  mask = np.array([1, 1, 1, 1, 1, 0, 0, 0], np.float32)
  head = make_head(c)
  _, shrink = head(padded, sample_weight=mask)
  np.testing.assert_allclose(shrink, np_shrink(z, c), rtol=1e-5)
  weights = np.array([0.5, 2.0, 1.0, 0.0, 3.0], np.float32)
  _, shrink = head(z, sample_weight=weights)
  np.testing.assert_allclose(shrink, np_shrink(z, c, weights), rtol=1e-5)
  _, shrink = head(z, sample_weight=np.zeros(5, np.float32))
  assert float(shrink) == 0.0


def test_centres_are_xavier_uniform_and_reset():
  head = dink.DinkClusterHead(4, 60)
  head.build((None, 60))
  limit = np.sqrt(6.0 / (4 + 60))
  before = head.cluster_centers.numpy()
  assert before.shape == (4, 60)
  assert np.abs(before).max() <= limit and np.abs(before).max() > limit / 2
  head.reset_cluster_centers()
  after = head.cluster_centers.numpy()
  assert not np.allclose(before, after) and np.abs(after).max() <= limit
  given = np.arange(240, dtype=np.float32).reshape(4, 60)
  head.reset_cluster_centers(given)
  np.testing.assert_array_equal(head.cluster_centers.numpy(), given)


def test_clear_errors():
  with pytest.raises(ValueError, match="n_clusters >= 2"):
    dink.DinkClusterHead(1, 4)
  head = dink.DinkClusterHead(3, 4)
  with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
    head.reset_cluster_centers(np.zeros((4, 3)))
  with pytest.raises(ValueError, match="NaN or inf"):
    head.reset_cluster_centers(np.full((3, 4), np.nan))
  with pytest.raises(ValueError, match="n_features=4 but got embeddings with 5"):
    head(np.zeros((2, 5), np.float32))


def test_config_round_trip_and_model_save(tmp_path):
  head = dink.DinkClusterHead(3, 4, name="head")
  clone = dink.DinkClusterHead.from_config(head.get_config())
  assert (clone.n_clusters, clone.n_features, clone.name) == (3, 4, "head")
  inputs = tf.keras.Input((4,))
  model = tf.keras.Model(inputs, dink.DinkClusterHead(3, 4, name="head")(inputs))
  z = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
  expected = [v.numpy() for v in model(z)]
  for path in (str(tmp_path / "model.keras"), str(tmp_path / "saved_model")):
    model.save(path)
    restored = tf.keras.models.load_model(path)
    assert isinstance(restored.get_layer("head"), dink.DinkClusterHead)
    np.testing.assert_allclose([v.numpy() for v in restored(z)], expected)


def test_fit_learns_centres_with_keras():
  """`model.fit` on fixed embeddings of 3 blobs: losses fall, clusters form."""
  rng = np.random.default_rng(0)
  means = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]], np.float32)
  labels = np.repeat(np.arange(3), 50)
  z = means[labels] + 0.3 * rng.normal(size=(150, 2)).astype(np.float32)
  inputs = tf.keras.Input((2,))
  head = dink.DinkClusterHead(3, 2)
  dilation, shrink = head(inputs)
  model = tf.keras.Model(inputs, head.cluster(inputs, soft=True))
  model.add_loss(shrink + 0.1 * dilation)
  model.compile(tf.keras.optimizers.Adam(0.05))
  hist = model.fit(z, epochs=30, batch_size=150, verbose=0).history["loss"]
  assert hist[-1] < hist[0]
  assert np.all(np.isfinite(hist))
