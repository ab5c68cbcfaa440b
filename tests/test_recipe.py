"""Pieces of the Dink-Net recipe on real graphs, checked against numpy."""
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from sklearn.cluster import KMeans

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import config as config_lib
from tensorflow_gnn_dink import data
from tensorflow_gnn_dink import evaluation
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import loaders
from tensorflow_gnn_dink import losses
from tensorflow_gnn_dink import pipeline

from conftest import SHARED_DATA


def test_multi_hop_smoothing_matches_numpy():
  graph = data.make_csbm(num_nodes=50, n_clusters=2, num_features=4, seed=1)
  gt = data.to_graph_tensor(graph, feature_name="hidden_state")
  n = graph.num_nodes
  adjacency = sp.coo_matrix((np.ones(graph.edges.shape[1]), tuple(graph.edges)),
                            shape=(n, n)).tocsr() + sp.eye(n)
  d = np.asarray(adjacency.sum(1)).ravel() ** -0.5
  a_hat = sp.diags(d) @ adjacency @ sp.diags(d)
  h = graph.features.astype(np.float64)
  smooth = h.copy()
  for _ in range(3):
    smooth = a_hat @ smooth
  got = layers.MultiHopSmoothing(3, node_set_name="nodes",
                                 edge_set_name="edges")(gt)
  np.testing.assert_allclose(got, h + smooth, rtol=1e-4, atol=1e-5)


def test_assigned_shrink_matches_numpy_and_has_no_gradient_through_weights():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(6, 3)).astype(np.float32)
  c = rng.normal(size=(4, 3)).astype(np.float32)
  d2 = ((z[:, None] - c[None]) ** 2).sum(-1)
  p = np.exp(-d2 / 0.5)
  p /= p.sum(1, keepdims=True)
  np.testing.assert_allclose(
      losses.assigned_shrink_loss_per_example(z, c, 0.5), (p * d2).sum(1),
      rtol=1e-5)
  cv = tf.Variable(c)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(losses.assigned_shrink_loss_per_example(z, cv, 0.5))
  # d/dc_j sum_i p_ij |z_i - c_j|^2 with p fixed = -2 sum_i p_ij (z_i - c_j).
  expected = -2 * (p[:, :, None] * (z[:, None] - c[None])).sum(0)
  np.testing.assert_allclose(tape.gradient(loss, cv), expected, rtol=1e-4)


def test_max_center_norm_keeps_centres_in_the_ball_while_training():
  head = dink.DinkClusterHead(3, 2, max_center_norm=1.5)
  z = tf.constant(np.random.default_rng(0).normal(size=(20, 2)), tf.float32)
  head.build(z.shape)
  opt = tf.keras.optimizers.Adam(0.5)
  for _ in range(50):
    with tf.GradientTape() as tape:
      dilation, shrink = head(z)
      loss = 10.0 * dilation + shrink  # Unbounded without the constraint.
    opt.apply_gradients(zip(tape.gradient(loss, head.trainable_variables),
                            head.trainable_variables))
  norms = np.linalg.norm(head.cluster_centers.numpy(), axis=1)
  assert np.all(norms <= 1.5 + 1e-5) and np.all(norms > 1.4)
  assert dink.DinkClusterHead.from_config(
      head.get_config()).max_center_norm == 1.5


def test_k_from_labels_or_config_and_clear_errors():
  graph = data.make_csbm(num_nodes=30, n_clusters=3, seed=0)
  config = config_lib.default_config()
  assert pipeline.resolve_n_clusters(config, graph) == 3
  config.n_clusters = 5
  assert pipeline.resolve_n_clusters(config, graph) == 5
  unlabelled = data.Graph(features=graph.features, edges=graph.edges)
  config.n_clusters = None
  with pytest.raises(ValueError, match="--config.n_clusters=K"):
    pipeline.resolve_n_clusters(config, unlabelled)
  config.n_clusters = 31
  with pytest.raises(ValueError, match="exceeds the number of nodes"):
    pipeline.resolve_n_clusters(config, graph)


def test_kmeans_keeps_the_restart_with_the_highest_modularity():
  graph = data.make_csbm(num_nodes=300, n_clusters=4, num_features=8,
                         feature_noise=3.0, seed=2)
  z = graph.features
  _, ids = pipeline.kmeans(z, 4, seed=7, n_init=6, edges=graph.edges)
  restarts = [KMeans(4, n_init=1, random_state=7 + i).fit(z).labels_
              for i in range(6)]
  q = [evaluation.modularity(graph.edges, r) for r in restarts]
  assert evaluation.modularity(graph.edges, ids) == pytest.approx(max(q))
  # Without edges: scikit-learn's lowest inertia.
  _, by_inertia = pipeline.kmeans(z, 4, seed=7, n_init=6)
  expected = KMeans(4, n_init=6, random_state=7).fit(z).labels_
  np.testing.assert_array_equal(by_inertia, expected)


@pytest.mark.parametrize("selection", ["modularity", "last"])
def test_selection_rules_are_label_free_and_recorded(tmp_path, selection):
  graph = data.make_csbm(num_nodes=200, n_clusters=3, num_features=16,
                         seed=3)
  config = config_lib.default_config()
  config.selection = selection
  config.model.hidden_units = 16
  config.pretrain.steps = 30
  config.finetune.steps = 20
  config.steps_per_epoch = 10
  results = pipeline.run(config, graph, str(tmp_path), log=lambda _: None)
  assert results["selection"] == selection
  pretrain = np.array(results["pretrain_modularity"])
  finetune = np.array(results["finetune_modularity"])
  if selection == "modularity":  # Every epoch is a candidate.
    np.testing.assert_array_equal(pretrain[:, 0], [10, 20, 30])
    np.testing.assert_array_equal(finetune[:, 0], [0, 10, 20])
    best = pretrain[np.argmax(pretrain[:, 1])]
    assert results["pretrain_selected_step"] == best[0]
    assert results["kmeans_metrics"]["modularity"] == pytest.approx(best[1])
    assert results["metrics"]["modularity"] == pytest.approx(
        finetune[:, 1].max())
  else:  # The last steps.
    assert results["pretrain_selected_step"] == 30
    assert results["finetune_selected_step"] == 20
    assert results["metrics"]["modularity"] == pytest.approx(finetune[-1, 1])
  config.selection = "labels"
  with pytest.raises(ValueError, match="config.selection must be one of"):
    pipeline.run(config, graph, str(tmp_path / "bad"), log=lambda _: None)


def test_short_cora_run_beats_kmeans_on_raw_features(tmp_path):
  graph = loaders.load(str(SHARED_DATA / "cora" / "cora.npz"))
  config = config_lib.default_config()
  config.model.hidden_units = 128
  config.pretrain.steps = 60
  config.finetune.steps = 20
  config.steps_per_epoch = 30
  results = pipeline.run(config, graph, str(tmp_path), log=lambda _: None)
  features = pipeline.prepare_graph(graph, config).features
  raw_ids = KMeans(7, n_init=10, random_state=0).fit(features).labels_
  raw = evaluation.evaluate(raw_ids, graph.labels)
  ours = results["metrics"]
  assert not results["collapsed"] and ours["non_empty_clusters"] == 7
  assert ours["ACC"] > raw["ACC"] + 0.1, (ours, raw)
  assert ours["NMI"] > raw["NMI"] + 0.1, (ours, raw)
  assert ours["modularity"] > 0.5
