"""Full-graph and node-row training inputs: one interface, the same model.

Both modes, with features dense or held sparse, compute the same encoder and
embedding (checked against numpy and against each other).
"""
import testing_utils  # First: Keras 2 before TensorFlow.

import dataclasses
from unittest import mock
import weakref

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
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

  def _make(self, config, graph_tensor=None):
    return input_modes.make(config, graph_tensor or self.graph_tensor,
                            self.graph.num_features)

  def _mostly_zero(self, feature_format):
    """The graph with 90% of its features zeroed, held dense or sparse."""
    x = np.where(np.abs(self.graph.features) > 1.6, self.graph.features, 0.0)
    graph = data.with_feature_format(
        dataclasses.replace(self.graph, features=x.astype(np.float32)),
        feature_format)
    return data.to_graph_tensor(graph)

  def test_make_picks_the_mode_by_batch_size(self):
    self.assertIsInstance(self._make(_config()),
                          input_modes.FullGraph)
    self.assertIsInstance(
        self._make(_config(batch_size=16)),
        input_modes.NodeRows)

  def test_full_graph_embedding_matches_numpy(self):
    mode = self._make(_config())
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

  def test_embedding_in_place_equals_the_layer(self):
    """Blocks of columns and rows, in place: the layer's numbers exactly."""
    states = np.random.default_rng(2).normal(
        size=(self.graph.num_nodes, 150)).astype(np.float32)
    want = self.embedding(self.graph_tensor.replace_features(node_sets={
        "nodes": {tfgnn.HIDDEN_STATE: states}}))
    five_columns = self.graph.num_nodes * 4 * 5  # Bytes of a block.
    # Blocks cross both ways; the byte budget narrows them.
    for columns, rows, budget in ((32, 8192, 1 << 28), (7, 11, 1 << 28),
                                  (32, 8192, five_columns)):
      with mock.patch.multiple(input_modes, _EMBED_BLOCK_COLUMNS=columns,
                               _EMBED_MIN_BLOCK_COLUMNS=1,
                               _EMBED_BLOCK_BYTES=budget,
                               _EMBED_CHUNK_ROWS=rows):
        buffer = states.copy()
        got = input_modes.embed_in_place(self.graph_tensor, buffer,
                                         self.embedding)
      self.assertIs(got, buffer)
      self.assertAllClose(got, want, rtol=1e-6, atol=1e-7)
    plain = dink.ClusteringEmbedding("nodes", normalize=False)
    self.assertAllEqual(input_modes.embed_in_place(
        self.graph_tensor, states.copy(), plain), states)
    with self.assertRaisesRegex(ValueError, "readout='first_node'"):
      input_modes.embed_in_place(
          self.graph_tensor, states.copy(),
          dink.ClusteringEmbedding("nodes", readout="first_node"))

  def test_node_rows_give_the_full_graph_model(self):
    full = self._make(_config())
    rows = self._make(_config(batch_size=16))
    rows_encoder, gcn = rows.build_encoder(), full.build_encoder()
    rng = np.random.default_rng(0)
    rows_encoder.set_weights([rng.normal(size=w.shape)
                              for w in rows_encoder.get_weights()])
    gcn.set_weights(rows_encoder.get_weights())
    self.assertAllClose(rows.encode(rows_encoder), full.encode(gcn),
                        rtol=1e-4, atol=1e-4)
    self.assertAllClose(rows.embed(rows_encoder, self.embedding),
                        full.embed(gcn, self.embedding), rtol=1e-4, atol=1e-4)
    # The features are held once, in the rows; the spec keeps them.
    self.assertEmpty(rows.graph_tensor.node_sets["nodes"].features)
    self.assertEqual(rows.graph_spec, self.graph_tensor.spec)
    served = rows.serving_encoder(rows_encoder)
    self.assertAllClose(full.encode(served), full.encode(gcn), rtol=1e-5,
                        atol=1e-6)

  def test_negative_views(self):
    rows = self._make(_config(batch_size=16))
    batch = next(iter(rows.provider.get_dataset(tf.distribute.InputContext())))
    negative = rows.corruptor(0)(batch).node_sets["nodes"]["feat"]
    self.assertAllEqual(negative, batch.node_sets["nodes"]["feat_negative"])
    full = self._make(_config())
    shuffled = full.corruptor(0)(self.graph_tensor).node_sets["nodes"]["feat"]
    original = self.graph_tensor.node_sets["nodes"]["feat"]
    self.assertAllClose(np.sort(shuffled, axis=0), np.sort(original, axis=0))
    self.assertNotAllClose(shuffled, original)

  def test_sparse_features_give_the_same_model_in_both_modes(self):
    dense_graph, sparse_graph = (self._mostly_zero("dense"),
                                 self._mostly_zero("sparse"))
    self.assertIn("feat_values", sparse_graph.node_sets["nodes"].features)
    modes = [self._make(_config(**changes), graph)
             for changes in ({}, {"batch_size": 16})
             for graph in (dense_graph, sparse_graph)]
    encoders = [mode.build_encoder() for mode in modes]
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape) for w in encoders[0].get_weights()]
    for encoder in encoders:
      encoder.set_weights(weights)
    want = modes[0].embed(encoders[0], self.embedding)
    for mode, encoder in zip(modes[1:], encoders[1:]):
      self.assertAllClose(mode.embed(encoder, self.embedding), want,
                          rtol=1e-4, atol=1e-5)
    # Node rows of sparse features are sparse rows of A_hat X.
    sparse_rows = modes[3]
    batch = next(iter(sparse_rows.provider.get_dataset(
        tf.distribute.InputContext())))
    features = batch.node_sets["nodes"].features
    self.assertEqual(
        sorted(features), ["feat_columns", "feat_negative_columns",
                           "feat_negative_values", "feat_values"])
    negative = sparse_rows.corruptor(0)(batch).node_sets["nodes"].features
    self.assertAllEqual(negative["feat_values"],
                        features["feat_negative_values"])

  def test_release_frees_the_negative_rows_and_keeps_the_embedding(self):
    for feature_format in ("dense", "sparse"):
      with self.subTest(feature_format):
        rows = self._make(_config(batch_size=16),
                          self._mostly_zero(feature_format))
        encoder = rows.build_encoder()
        want = rows.embed(encoder, self.embedding)
        next(iter(rows.provider.get_dataset(tf.distribute.InputContext())))
        released = weakref.ref(rows.provider)
        rows.release_pretraining_inputs()
        self.assertIsNone(released())  # Nothing else holds its rows.
        self.assertAllEqual(rows.embed(encoder, self.embedding), want)
        with self.assertRaisesRegex(RuntimeError, "released after pretrain"):
          rows.provider.get_dataset(tf.distribute.InputContext())
    full = self._make(_config())
    provider = full.provider
    full.release_pretraining_inputs()  # Fine-tuning trains on it again.
    self.assertIs(full.provider, provider)

  def test_release_of_embedding_inputs_frees_the_rows(self):
    rows = self._make(_config(batch_size=16))
    encoder = rows.build_encoder()
    want = rows.embed(encoder, self.embedding)
    self.assertAllEqual(rows.embed(encoder, self.embedding), want)  # Reused.
    held = [weakref.ref(t) for t in rows._rows.values()]  # pylint: disable=protected-access
    rows.release_embedding_inputs()
    self.assertEqual([r() for r in held], [None])  # Nothing else holds them.
    with self.assertRaisesRegex(RuntimeError, "frozen fine-tune"):
      rows.encode(encoder)
    with self.assertRaisesRegex(RuntimeError, "released after pretrain"):
      rows.provider.get_dataset(tf.distribute.InputContext())
    served = rows.serving_encoder(encoder)(self.graph_tensor)
    self.assertAllClose(self.embedding(served), want, rtol=1e-5, atol=1e-6)
    full = self._make(_config())
    encoder = full.build_encoder()
    want = full.embed(encoder, self.embedding)
    full.release_embedding_inputs()  # Its graph is fine-tuning's input.
    self.assertAllEqual(full.embed(encoder, self.embedding), want)

  def test_memory_check_refuses_what_will_not_fit_and_names_the_fix(self):
    config = _config()
    big = dict(num_nodes=10**9, num_edges=10**10, num_features=128)
    self.assertGreater(input_modes.full_graph_bytes(
        config, **big, feature_nonzeros=None), 10**12)
    # A second positive view (alignment, the default) holds more.
    for nonzeros in (None, 10**10):
      self.assertGreater(
          input_modes.full_graph_bytes(config, **big,
                                       feature_nonzeros=nonzeros),
          input_modes.full_graph_bytes(
              _config(**{"pretrain.alignment_loss_weight": 0.0}), **big,
              feature_nonzeros=nonzeros))
    with self.assertRaisesRegex(
        ValueError, r"needs about \d+.*GiB.*config.batch_size=8192.*"
        r"config.model.hidden_units.*feature_format='sparse'.*"
        r"config.check_memory=False"):
      input_modes.check_fits(config, **big, feature_nonzeros=None)
    with self.assertRaisesRegex(ValueError, r"sparse features"):
      input_modes.check_fits(config, **big, feature_nonzeros=10**10)
    input_modes.check_fits(_config(check_memory=False), **big,
                           feature_nonzeros=None)
    input_modes.check_fits(config, 120, 1000, 12, None)  # Small: fits.
    self.assertGreater(input_modes.available_bytes(), 0)

  def test_memory_check_counts_what_the_process_holds_already(self):
    # The estimate is the process's peak: the graph this process has read
    # and the interpreter are parts of it. A run whose peak fits in what the
    # process holds plus what is available goes ahead.
    config = _config()
    big = (10**7, 10**8, 128, None)  # Tens of GiB: more than is held.
    needed = input_modes.full_graph_bytes(config, *big)
    held = input_modes.resident_bytes()
    self.assertGreater(held, 100 * 2**20)  # TensorFlow alone: some 600 MiB.
    margin = 64 * 2**20
    with mock.patch.object(input_modes, "available_bytes",
                           return_value=needed - held + margin):
      input_modes.check_fits(config, *big)
    with mock.patch.object(input_modes, "available_bytes",
                           return_value=needed - held - margin):
      with self.assertRaisesRegex(
          ValueError, r"this process holds \d+\.\d GiB and \d+\.\d GiB "
          r"more are available"):
        input_modes.check_fits(config, *big)

  def test_node_rows_memory_check_names_sampled_subgraphs(self):
    config = _config(batch_size=8192)
    big = dict(num_nodes=10**8, num_edges=10**9, num_features=2000,
               feature_nonzeros=2 * 10**9)
    total, rows, states = input_modes.node_rows_bytes(
        config, 10**8, 10**9, 2000, 2 * 10**10)
    self.assertGreater(rows, states)  # Sparse rows of 200 non-zeros each.
    self.assertGreaterEqual(total, rows)
    with self.assertRaisesRegex(
        ValueError, r"Node-row training .* needs about \d+.*GiB .*A_hat X "
        r"rows of both views, up to 20000000000 non-zeros each.*"
        r"config.model.hidden_units"
        r".*tfgnn-dink sample --data=.*train --samples=DIR.*"
        r"config.check_memory=False"):
      input_modes.check_fits(config, **big, rows_nonzeros=2 * 10**10)
    with self.assertRaisesRegex(ValueError, r"128 dense features"):
      input_modes.check_fits(config, 10**9, 10**10, 128, None)  # Dense.
    input_modes.check_fits(_config(batch_size=8192, check_memory=False),
                           **big, rows_nonzeros=2 * 10**10)
    input_modes.check_fits(config, 120, 1000, 12, 100, rows_nonzeros=1000)

  @testing_utils.parameterized.named_parameters(
      ("two_layers", {"model.num_layers": 2}, "config.model.num_layers=1"),
      ("unfrozen", {"finetune.stop_gradient": False}, "stop_gradient=True"),
      ("too_large", {"batch_size": 121}, r"batch_size must be in \[1, 120\]"),
      ("zero", {"batch_size": 0}, r"batch_size must be in \[1, 120\]"))
  def test_node_rows_errors_name_the_fix(self, changes, message):
    config = _config(**{"batch_size": 16, **changes})
    with self.assertRaisesRegex(ValueError, message):
      self._make(config)


if __name__ == "__main__":
  testing_utils.main()
