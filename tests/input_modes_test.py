"""Full-graph and node-row training inputs: one interface, the same model."""
import testing_utils  # First: Keras 2 before TensorFlow.

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import input_modes


def _config(**changes):
  config = config_lib.default_config()
  config.model.hidden_units = 8
  for key, value in changes.items():
    node = config
    *path, leaf = key.split(".")
    for part in path:
      node = node[part]
    node[leaf] = value
  return config


class InputModesTest(testing_utils.TestCase):

  def setUp(self):
    super().setUp()
    self.graph, self.graph_tensor = testing_utils.small_graph(seed=4)
    self.embedding = dink.ClusteringEmbedding(
        "nodes", edge_set_name="edges", propagation_steps=2)

  def test_make_picks_the_mode_by_batch_size(self):
    self.assertIsInstance(input_modes.make(_config(), self.graph_tensor),
                          input_modes.FullGraph)
    self.assertIsInstance(
        input_modes.make(_config(batch_size=16), self.graph_tensor),
        input_modes.NodeRows)

  def test_full_graph_embedding_matches_numpy(self):
    mode = input_modes.make(_config(), self.graph_tensor)
    self.assertEqual(mode.spec, self.graph_tensor.spec)
    encoder = mode.build_encoder()
    h = encoder(self.graph_tensor).node_sets["nodes"][tfgnn.HIDDEN_STATE]
    self.assertAllClose(mode.encode(encoder), h)
    a_hat = testing_utils.np_normalized_adjacency(self.graph.edges,
                                                  self.graph.num_nodes)
    h = h.numpy().astype(np.float64)
    z = h + a_hat @ a_hat @ h
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    self.assertAllClose(mode.embed(encoder, self.embedding), z, rtol=1e-4,
                        atol=1e-5)
    self.assertIs(mode.serving_encoder(encoder), encoder)

  def test_node_rows_give_the_full_graph_model(self):
    full = input_modes.make(_config(), self.graph_tensor)
    rows = input_modes.make(_config(batch_size=16), self.graph_tensor)
    rows_encoder, gcn = rows.build_encoder(), full.build_encoder()
    rng = np.random.default_rng(0)
    rows_encoder.set_weights([rng.normal(size=w.shape)
                              for w in rows_encoder.get_weights()])
    gcn.set_weights(rows_encoder.get_weights())
    self.assertAllClose(rows.encode(rows_encoder), full.encode(gcn),
                        rtol=1e-4, atol=1e-4)
    self.assertAllClose(rows.embed(rows_encoder, self.embedding),
                        full.embed(gcn, self.embedding), rtol=1e-4, atol=1e-4)
    served = rows.serving_encoder(rows_encoder)
    self.assertAllClose(full.encode(served), full.encode(gcn), rtol=1e-5,
                        atol=1e-6)

  def test_negative_views(self):
    rows = input_modes.make(_config(batch_size=16), self.graph_tensor)
    batch = next(iter(rows.provider.get_dataset(tf.distribute.InputContext())))
    negative = rows.corruptor(0)(batch).node_sets["nodes"]["feat"]
    self.assertAllEqual(negative, batch.node_sets["nodes"]["feat_negative"])
    full = input_modes.make(_config(), self.graph_tensor)
    shuffled = full.corruptor(0)(self.graph_tensor).node_sets["nodes"]["feat"]
    original = self.graph_tensor.node_sets["nodes"]["feat"]
    self.assertAllClose(np.sort(shuffled, axis=0), np.sort(original, axis=0))
    self.assertNotAllClose(shuffled, original)

  def test_sparse_features_setting(self):
    dense = self.graph_tensor.node_sets["nodes"]["feat"]
    mostly_zero = tf.where(tf.abs(dense) > 2.5, dense, 0.0)
    self.assertLess(float(tf.math.count_nonzero(mostly_zero)) /
                    float(tf.size(dense)), 0.1)
    choose = input_modes._sparse_features  # pylint: disable=protected-access
    self.assertFalse(choose("auto", dense))
    self.assertTrue(choose("auto", mostly_zero))
    self.assertTrue(choose("always", dense))
    self.assertFalse(choose("never", mostly_zero))
    with self.assertRaisesRegex(
        ValueError, "config.model.sparse_features must be one of"):
      choose("yes", dense)
    # Either way the encoder computes the same function.
    graph = self.graph_tensor.replace_features(node_sets={"nodes": {
        "feat": mostly_zero}})
    sparse = input_modes.make(_config(**{"model.sparse_features": "always"}),
                              graph)
    dense_mode = input_modes.make(
        _config(**{"model.sparse_features": "never"}), graph)
    sparse_encoder, dense_encoder = (sparse.build_encoder(),
                                     dense_mode.build_encoder())
    dense_encoder.set_weights(sparse_encoder.get_weights())
    self.assertAllClose(sparse.encode(sparse_encoder),
                        dense_mode.encode(dense_encoder), rtol=1e-5, atol=1e-6)

  @testing_utils.parameterized.named_parameters(
      ("two_layers", {"model.num_layers": 2}, "config.model.num_layers=1"),
      ("unfrozen", {"finetune.stop_gradient": False}, "stop_gradient=True"),
      ("too_large", {"batch_size": 121}, r"batch_size must be in \[1, 120\]"),
      ("zero", {"batch_size": 0}, r"batch_size must be in \[1, 120\]"))
  def test_node_rows_errors_name_the_fix(self, changes, message):
    config = _config(**{"batch_size": 16, **changes})
    with self.assertRaisesRegex(ValueError, message):
      input_modes.make(config, self.graph_tensor)


if __name__ == "__main__":
  testing_utils.main()
