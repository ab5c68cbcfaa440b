"""DeepGraphInfomaxTask and DinkClusteringTask: outputs, labels, losses, names."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn.models import contrastive_losses

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import keras_model
from tensorflow_gnn_dink import models

from helpers import rooted_batch, small_graph


def identity_gnn(spec):
  """A GNN without weights: hidden state = input features."""
  inputs = tf.keras.Input(type_spec=spec)
  outputs = tfgnn.keras.layers.MapFeatures(
      node_sets_fn=lambda ns, node_set_name: {
          tfgnn.HIDDEN_STATE: ns["feat"]})(inputs)
  return tf.keras.Model(inputs, outputs)


def np_bce(labels, logits):
  labels = np.asarray(labels, np.float64)
  logits = np.asarray(logits, np.float64)
  return np.mean(np.maximum(logits, 0) - logits * labels +
                 np.log1p(np.exp(-np.abs(logits))))


@pytest.mark.parametrize("readout", ["first_node", "all_nodes"])
def test_dgi_outputs_labels_and_losses_match_numpy(readout):
  graph = rooted_batch(num_graphs=4)
  task = dink.DeepGraphInfomaxTask("nodes", readout=readout, seed=3,
                                   dgi_loss_weight=0.5,
                                   discrimination_loss_weight=2.0)
  (clean, corrupted), labels = task.preprocess(graph)
  n = 4 if readout == "first_node" else int(graph.node_sets["nodes"].total_size)
  np.testing.assert_array_equal(labels["predictions"], np.tile([[0, 1]], (n, 1)))
  np.testing.assert_array_equal(labels["discrimination_logits"],
                                np.tile([[1, 0]], (n, 1)))
  assert labels["representations"].shape == (n, 0)
  gnn = identity_gnn(graph.spec)
  out = task.predict(gnn(clean), gnn(corrupted))
  assert set(out) == {"predictions", "representations", "discrimination_logits"}
  reps = out["representations"].numpy()
  feat = graph.node_sets["nodes"]["feat"].numpy()
  expected_clean = feat[[0, *np.cumsum(graph.node_sets["nodes"].sizes)[:-1]]] \
      if readout == "first_node" else feat
  np.testing.assert_allclose(reps[:, 0], expected_clean)
  # Bilinear DGI logits, as in TF-GNN: x . (W^T mean(clean)).
  w = task._logits_layer._bilinear.kernel.numpy()
  summary = reps[:, 0].mean(0) @ w
  np.testing.assert_allclose(out["predictions"], reps @ summary, rtol=1e-4,
                             atol=1e-5)
  # Dink-Net logits: sum_d (x W + b)_d.
  proj = task._discrimination_layer._projection
  expected = (reps @ proj.kernel.numpy() + proj.bias.numpy()).sum(-1)
  np.testing.assert_allclose(out["discrimination_logits"], expected,
                             rtol=1e-4, atol=1e-5)
  loss_fns = task.losses()
  np.testing.assert_allclose(
      loss_fns["discrimination_logits"](labels["discrimination_logits"],
                                        out["discrimination_logits"]),
      2.0 * np_bce(labels["discrimination_logits"],
                   out["discrimination_logits"].numpy()), rtol=1e-5)
  np.testing.assert_allclose(
      loss_fns["predictions"](labels["predictions"], out["predictions"]),
      0.5 * np_bce(labels["predictions"], out["predictions"].numpy()),
      rtol=1e-5)


def test_dgi_is_drop_in_for_tfgnn_dgi():
  graph = rooted_batch()
  ours = dink.DeepGraphInfomaxTask(
      "nodes", feature_name=tfgnn.HIDDEN_STATE, representations_layer_name="r",
      corruptor=None, projector_units=[8], seed=1)
  theirs = contrastive_losses.DeepGraphInfomaxTask(
      "nodes", feature_name=tfgnn.HIDDEN_STATE, representations_layer_name="r",
      corruptor=None, projector_units=[8], seed=1)
  assert isinstance(ours, contrastive_losses.ContrastiveLossTask)
  _, our_labels = ours.preprocess(graph)
  _, their_labels = theirs.preprocess(graph)
  for key, value in their_labels.items():
    np.testing.assert_array_equal(our_labels[key], value)
  assert set(theirs.losses()) <= set(ours.losses())
  assert set(theirs.metrics()) <= set(ours.metrics())
  assert len(ours.metrics()["representations"]) == 1  # TF-GNN's SVD metrics.
  fast = dink.DeepGraphInfomaxTask("nodes", svd_metrics=False)
  assert fast.metrics()["representations"] == ()


def test_two_dgi_tasks_and_a_clustering_task_share_one_model():
  graph = rooted_batch()
  tasks = {"a": dink.DeepGraphInfomaxTask("nodes"),
           "b": dink.DeepGraphInfomaxTask("nodes"),
           "dink": dink.DinkClusteringTask("nodes", n_clusters=2)}
  assert (tasks["a"].name, tasks["b"].name) == ("dgi", "dgi_1")
  gnn = models.make_gcn_model_fn(hidden_units=8)(graph.spec)
  model = keras_model.make_training_model(graph.spec, gnn, tasks)
  out = model(graph)
  assert out["dink"]["cluster_probabilities"].shape == (3, 2)
  assert len(set(l.name for l in model.layers)) == len(model.layers)


def test_drop_feature_columns_zeroes_whole_columns():
  graph = rooted_batch(num_graphs=30)
  corrupted = dink.DropFeatureColumns(rate=0.5, seed=4)(graph)
  before = graph.node_sets["nodes"]["feat"].numpy()
  after = corrupted.node_sets["nodes"]["feat"].numpy()
  dropped = np.all(after == 0, axis=0)
  assert 0 < dropped.sum() < before.shape[1]
  np.testing.assert_array_equal(after[:, ~dropped], before[:, ~dropped])
  unchanged = dink.DropFeatureColumns(rate=0.0)(graph)
  np.testing.assert_array_equal(unchanged.node_sets["nodes"]["feat"], before)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    dink.DropFeatureColumns(rate=1.5)(graph)


def test_clustering_task_outputs_loss_and_metrics_match_numpy():
  graph = rooted_batch(num_graphs=5)
  centers = np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)
  task = dink.DinkClusteringTask(
      "nodes", n_clusters=3, readout="all_nodes", cluster_centers=centers,
      dilation_loss_weight=0.5, shrink_loss_weight=2.0)
  same, labels = task.preprocess(graph)
  assert same is graph
  out = task.predict(identity_gnn(graph.spec)(graph))
  feat = graph.node_sets["nodes"]["feat"].numpy()
  z = feat / np.linalg.norm(feat, axis=1, keepdims=True)
  np.testing.assert_allclose(out["embedding"], z, rtol=1e-5)
  d2 = ((z[:, None] - centers[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(out["cluster_id"], d2.argmin(1))
  pair = ((centers[:, None] - centers[None]) ** 2).sum(-1)
  dilation = -pair.sum() / 6
  loss = task.losses()["embedding"](labels["embedding"], out["embedding"])
  np.testing.assert_allclose(loss, 2.0 * d2.mean() + 0.5 * dilation, rtol=1e-5)
  non_empty, entropy = task.metrics()["cluster_probabilities"]
  for metric in (non_empty, entropy):
    metric.update_state(labels["cluster_probabilities"],
                        out["cluster_probabilities"])
  counts = np.bincount(d2.argmin(1), minlength=3)
  p = counts[counts > 0] / counts.sum()
  assert float(non_empty.result()) == (counts > 0).sum()
  np.testing.assert_allclose(entropy.result(),
                             -(p * np.log(p)).sum() / np.log(3), rtol=1e-5)


def test_clustering_task_errors():
  with pytest.raises(ValueError, match="n_clusters"):
    dink.DinkClusteringTask("nodes", n_clusters=1)
  with pytest.raises(ValueError, match="readout"):
    dink.DinkClusteringTask("nodes", n_clusters=2, readout="roots")
  graph = rooted_batch()
  with pytest.raises(ValueError, match="Node set 'papers' not in the graph"):
    dink.DinkClusteringTask("papers", n_clusters=2).preprocess(graph)
  task = dink.DinkClusteringTask("nodes", n_clusters=2,
                                 cluster_centers=np.zeros((2, 5)))
  with pytest.raises(ValueError, match=r"shape \(2, 12\)"):
    task.predict(identity_gnn(graph.spec)(graph))


def test_dgi_augmentor_applies_the_same_columns_to_both_views():
  graph = rooted_batch(num_graphs=30)
  task = dink.DeepGraphInfomaxTask(
      "nodes", augmentor=dink.DropFeatureColumns(rate=0.5, seed=3),
      corruptor=dink.ShuffleFeaturesGlobally(seed=2))
  (clean, corrupted), _ = task.preprocess(graph)
  before = graph.node_sets["nodes"]["feat"].numpy()
  clean = clean.node_sets["nodes"]["feat"].numpy()
  corrupted = corrupted.node_sets["nodes"]["feat"].numpy()
  dropped = np.all(clean == 0, axis=0)
  assert 0 < dropped.sum() < before.shape[1]
  np.testing.assert_array_equal(clean[:, ~dropped], before[:, ~dropped])
  # The negative view shuffles the rows of the augmented positive view.
  assert np.all(corrupted[:, dropped] == 0)
  np.testing.assert_array_equal(np.sort(corrupted, axis=0),
                                np.sort(clean, axis=0))
  assert not np.array_equal(corrupted, clean)
  # Without an augmentor the positive view is the input (TF-GNN's DGI).
  (plain, _), _ = dink.DeepGraphInfomaxTask("nodes").preprocess(graph)
  np.testing.assert_array_equal(plain.node_sets["nodes"]["feat"], before)
