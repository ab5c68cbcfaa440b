"""Training on batches of precomputed A_hat X node rows (large graphs)."""
import csv

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import config as config_lib
from tensorflow_gnn_dink import data
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import models
from tensorflow_gnn_dink import pipeline
from tensorflow_gnn_dink import propagation

from helpers import small_graph


def test_gcn_on_rows_equals_gcn_on_the_graph():
  graph, graph_tensor = small_graph(seed=4)
  a_hat = propagation.normalized_adjacency(graph.edges, graph.num_nodes)
  dense = a_hat.toarray()
  np.testing.assert_allclose(dense, dense.T, rtol=1e-6)
  rows = propagation.gcn_input_rows(a_hat, graph.features, seed=0)
  provider = inputs.NodeRowsDatasetProvider(rows, 16)
  row_graph = provider.to_graph({k: tf.constant(v) for k, v in rows.items()})
  rows_model = models.make_gcn_rows_model_fn(hidden_units=8, seed=1)(
      row_graph.spec)
  gcn = models.make_gcn_model_fn(hidden_units=8, seed=5)(graph_tensor.spec)
  rows_model.set_weights([np.random.default_rng(0).normal(size=w.shape)
                          for w in rows_model.get_weights()])
  gcn.set_weights(rows_model.get_weights())
  got = rows_model(row_graph).node_sets["nodes"][tfgnn.HIDDEN_STATE]
  want = gcn(graph_tensor).node_sets["nodes"][tfgnn.HIDDEN_STATE]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  # The negative rows are the GCN's input on row-shuffled features.
  perm = np.random.default_rng(0).permutation(graph.num_nodes)
  np.testing.assert_allclose(rows["feat_negative"],
                             dense @ graph.features[perm], rtol=1e-5,
                             atol=1e-6)
  # Dink-Net's smoothed embedding, as MultiHopSmoothing computes it.
  h = want.numpy()
  smoothed = dink.layers.MultiHopSmoothing(
      3, node_set_name="nodes", edge_set_name="edges")(
          gcn(graph_tensor))
  np.testing.assert_allclose(
      propagation.smoothed_embedding(a_hat, h, 3),
      tf.math.l2_normalize(smoothed, axis=-1), rtol=1e-4, atol=1e-5)


def test_node_rows_have_fixed_shapes_and_cover_each_pass_once():
  ids = np.arange(10, dtype=np.float32)[:, None]
  provider = inputs.NodeRowsDatasetProvider({"feat": ids}, 3, seed=2)
  ds = provider.get_dataset(tf.distribute.InputContext())
  batches = [g.node_sets["nodes"]["feat"].numpy().ravel()
             for g in ds.take(6)]
  assert all(len(b) == 3 for b in batches)
  # A pass is 3 full batches of distinct rows; the remainder is dropped.
  assert len(set(np.concatenate(batches[:3]))) == 9
  shards = [inputs.NodeRowsDatasetProvider({"feat": ids}, 2).get_dataset(
      tf.distribute.InputContext(2, i, 1)).take(2) for i in range(2)]
  seen = [set(np.concatenate([g.node_sets["nodes"]["feat"].numpy().ravel()
                              for g in s])) for s in shards]
  assert not seen[0] & seen[1]  # Each replica reads its own rows.
  with pytest.raises(ValueError, match="batch_size must be in"):
    inputs.NodeRowsDatasetProvider({"feat": ids}, 11)
  with pytest.raises(ValueError, match="one common number of rows"):
    inputs.NodeRowsDatasetProvider({"feat": ids, "b": ids[:5]}, 2)


def test_replace_feature_swaps_in_the_negative_view():
  graph = inputs.NodeRowsDatasetProvider(
      {"feat": np.zeros((4, 2), np.float32)}, 2).to_graph(
          {"feat": tf.zeros((4, 2)), "feat_negative": tf.ones((4, 2))})
  out = dink.ReplaceFeature(node_set_name="nodes", source="feat_negative")(
      graph)
  np.testing.assert_array_equal(out.node_sets["nodes"]["feat"], np.ones((4, 2)))
  with pytest.raises(ValueError, match="no feature 'missing'"):
    dink.ReplaceFeature(node_set_name="nodes", source="missing")(graph)


def test_batch_training_clusters_and_exports_the_same_gcn(tmp_path):
  graph = data.make_csbm(num_nodes=400, n_clusters=4, num_features=32,
                         feature_noise=1.5, seed=6)
  config = config_lib.default_config()
  config.batch_size = 64
  config.model.hidden_units = 32
  config.pretrain.steps = 60
  config.finetune.steps = 20
  config.steps_per_epoch = 20
  results = pipeline.run(config, graph, str(tmp_path), log=lambda _: None)
  assert results["metrics"]["NMI"] > 0.5, results["metrics"]
  assert "precompute" in results["timings_s"]
  with open(tmp_path / "cluster_ids.csv") as f:
    ids = [int(r["cluster_id"]) for r in csv.DictReader(f)]
  serve = tf.saved_model.load(str(tmp_path / "export"))
  example = tfgnn.write_example(data.to_graph_tensor(
      pipeline.prepare_graph(graph, config)))
  out = serve.signatures["serving_default"](
      examples=tf.constant([example.SerializeToString()]))
  np.testing.assert_array_equal(out["cluster_id"].numpy(), ids)


def test_batch_training_errors_name_the_fix(tmp_path):
  graph = data.make_csbm(num_nodes=60, n_clusters=3, seed=0)
  config = config_lib.default_config()
  config.batch_size = 16
  config.model.num_layers = 2
  with pytest.raises(ValueError, match="config.model.num_layers=1"):
    pipeline.run(config, graph, str(tmp_path), log=lambda _: None)
  config.model.num_layers = 1
  config.finetune.stop_gradient = False
  with pytest.raises(ValueError, match="stop_gradient=True"):
    pipeline.run(config, graph, str(tmp_path), log=lambda _: None)
  config.finetune.stop_gradient = True
  config.batch_size = 61
  with pytest.raises(ValueError, match=r"batch_size must be in \[1, 60\]"):
    pipeline.run(config, graph, str(tmp_path), log=lambda _: None)
