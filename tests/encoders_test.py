"""Tests for `tensorflow_gnn_dink.encoders`: the GCN encoders.

The GCN on the graph is checked against numpy, and the GCN on precomputed
`A_hat X` rows against the GCN on the graph with the same weights.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import propagation


def np_prelu(x, alpha):
  return np.where(x > 0, x, alpha * x)


def random_weights(model, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=w.shape).astype(np.float32)
          for w in model.get_weights()]


def hidden_state(graph):
  return graph.node_sets["nodes"][tfgnn.HIDDEN_STATE].numpy()


class GcnModelFnTest(testing_utils.TestCase):
  """`make_gcn_model_fn`: PReLU(A_hat X W + b), layer by layer."""

  def test_two_layers_match_numpy(self):
    graph, graph_tensor = testing_utils.small_graph(seed=1, num_nodes=50)
    gcn = dink.make_gcn_model_fn(hidden_units=6, num_layers=2, seed=0)(
        graph_tensor.spec)
    weights = random_weights(gcn, seed=1)
    gcn.set_weights(weights)
    k0, b0, a0, k1, b1, a1 = [w.astype(np.float64) for w in weights]
    self.assertEqual(k0.shape, (12, 6))
    a_hat = testing_utils.np_normalized_adjacency(graph.edges, graph.num_nodes)
    h = np_prelu(a_hat @ graph.features @ k0 + b0, a0)
    h = np_prelu(a_hat @ h @ k1 + b1, a1)
    out = gcn(graph_tensor)
    self.assertAllClose(hidden_state(out), h, rtol=1e-4, atol=1e-4)

  def test_other_activations_match_numpy(self):
    graph, graph_tensor = testing_utils.small_graph(seed=3, num_nodes=40)
    a_hat = testing_utils.np_normalized_adjacency(graph.edges, graph.num_nodes)
    for activation, np_fn in (("linear", lambda x: x),
                              ("relu", lambda x: np.maximum(x, 0.0)),
                              ("tanh", np.tanh)):
      gcn = dink.make_gcn_model_fn(hidden_units=5, num_layers=2, seed=0,
                                   activation=activation)(graph_tensor.spec)
      weights = random_weights(gcn, seed=2)
      self.assertLen(weights, 4, msg=activation)  # No PReLU slopes.
      gcn.set_weights(weights)
      k0, b0, k1, b1 = [w.astype(np.float64) for w in weights]
      h = np_fn(a_hat @ np_fn(a_hat @ graph.features @ k0 + b0) @ k1 + b1)
      self.assertAllClose(hidden_state(gcn(graph_tensor)), h, rtol=1e-4,
                          atol=1e-4, msg=activation)
      rows = {"feat": a_hat @ graph.features}
      row_graph = dink.NodeRowsDatasetProvider(
          {k: v.astype(np.float32) for k, v in rows.items()}, 8).to_graph(
              {k: tf.constant(v, tf.float32) for k, v in rows.items()})
      rows_model = dink.make_gcn_rows_model_fn(
          hidden_units=5, seed=0, activation=activation)(row_graph.spec)
      rows_model.set_weights(weights[:2])
      self.assertAllClose(hidden_state(rows_model(row_graph)),
                          np_fn(rows["feat"] @ k0 + b0), rtol=1e-4, atol=1e-4)
    with self.assertRaisesRegex(
        ValueError, r"activation must be one of \('prelu', 'linear'.*"
        r"got 'swish'"):
      dink.make_gcn_model_fn(activation="swish")
    with self.assertRaisesRegex(ValueError, "got 'swish'"):
      dink.make_gcn_rows_model_fn(activation="swish")

  def test_seed_fixes_the_initial_weights(self):
    _, graph_tensor = testing_utils.small_graph(num_nodes=30)
    def weights(seed):
      return dink.make_gcn_model_fn(hidden_units=5, seed=seed)(
          graph_tensor.spec).get_weights()
    for a, b in zip(weights(3), weights(3)):
      self.assertAllEqual(a, b)
    self.assertNotAllClose(weights(3)[0], weights(4)[0])
    prelu_alpha = weights(3)[2]
    self.assertAllClose(prelu_alpha, np.full(5, 0.25))

  def test_errors_name_the_fix(self):
    _, graph_tensor = testing_utils.small_graph(num_nodes=30)
    spec = graph_tensor.spec
    with self.assertRaisesRegex(
        ValueError, r"Node set 'papers' not in the graph; it has node sets "
        r"\['nodes'\]\. Pass one of them as node_set_name"):
      dink.make_gcn_model_fn(node_set_name="papers")(spec)
    with self.assertRaisesRegex(
        ValueError, r"Node feature 'x' not in node set 'nodes'; it has "
        r"\['feat'\]\. Pass feature_name="):
      dink.make_gcn_model_fn(feature_name="x")(spec)
    with self.assertRaisesRegex(
        ValueError, r"Edge set 'cites' not in the graph; it has \['edges'\]\. "
        r"Pass edge_set_name="):
      dink.make_gcn_model_fn(edge_set_name="cites")(spec)
    with self.assertRaisesRegex(ValueError,
                                "Pass one of them as node_set_name"):
      dink.make_gcn_rows_model_fn(node_set_name="papers")(spec)
    with self.assertRaisesRegex(ValueError, "Pass feature_name="):
      dink.make_gcn_rows_model_fn(feature_name="x")(spec)


  def test_sparse_features_need_their_width_and_give_the_dense_model(self):
    graph, graph_tensor = testing_utils.small_graph(num_nodes=30)
    x = graph_tensor.node_sets["nodes"]["feat"]
    held_sparse = graph_tensor.replace_features(node_sets={
        "nodes": dink.sparse.from_dense("feat", x)})
    for model_fn in (dink.make_gcn_model_fn, dink.make_gcn_rows_model_fn):
      with self.assertRaisesRegex(ValueError,
                                  "held sparse.*pass its number of columns "
                                  "as input_width"):
        model_fn(hidden_units=4)(held_sparse.spec)
    width = graph.num_features
    dense_model = dink.make_gcn_model_fn(hidden_units=4, num_layers=2)(
        graph_tensor.spec)
    sparse_model = dink.make_gcn_model_fn(
        hidden_units=4, num_layers=2, input_width=width)(held_sparse.spec)
    sparse_model.set_weights(dense_model.get_weights())
    self.assertAllClose(
        sparse_model(held_sparse).node_sets["nodes"][tfgnn.HIDDEN_STATE],
        dense_model(graph_tensor).node_sets["nodes"][tfgnn.HIDDEN_STATE],
        rtol=1e-5, atol=1e-6)


class StackedViewsTest(testing_utils.TestCase):
  """`make_gcn_model_fn` on a graph with `NEGATIVE_VIEW_ROWS`: both views,
  and a second positive view's features as a third."""

  def test_stacked_views_are_the_graph_and_its_row_shuffle(self):
    graph, dense = testing_utils.small_graph(seed=2, num_nodes=40)
    held_sparse = dense.replace_features(node_sets={
        "nodes": dink.sparse.from_dense("feat",
                                        dense.node_sets["nodes"]["feat"])})
    perm = np.random.default_rng(0).permutation(graph.num_nodes)
    for num_layers in (1, 2):
      for graph_tensor, width in ((dense, None),
                                  (held_sparse, graph.num_features)):
        gcn = dink.make_gcn_model_fn(hidden_units=6, num_layers=num_layers,
                                     seed=0, input_width=width)(
                                         graph_tensor.spec)
        gcn.set_weights(random_weights(gcn, seed=num_layers))
        features = graph_tensor.node_sets["nodes"].features
        with_rows = graph_tensor.replace_features(node_sets={"nodes": {
            **features, dink.layers.NEGATIVE_VIEW_ROWS: tf.constant(perm)}})
        shuffled = graph_tensor.replace_features(node_sets={"nodes": {
            k: tf.gather(v, perm) for k, v in features.items()}})
        # A second positive view's features (other columns dropped),
        # given as SECOND_VIEW_PREFIX + "feat": its states come third.
        x = dense.node_sets["nodes"]["feat"].numpy()
        other = x * (np.arange(x.shape[1]) % 3 != 0)
        other_features = (
            {"feat": tf.constant(other)} if width is None else
            dink.sparse.from_dense("feat", tf.constant(other)))
        three = with_rows.replace_features(node_sets={"nodes": {
            **with_rows.node_sets["nodes"].features,
            **{dink.layers.SECOND_VIEW_PREFIX + k: v
               for k, v in other_features.items()}}})
        expected = [hidden_state(gcn(g)) for g in (
            graph_tensor, shuffled,
            graph_tensor.replace_features(
                node_sets={"nodes": other_features}))]
        for inputs, num_views in ((with_rows, 2), (three, 3)):
          stacked = hidden_state(gcn(inputs))
          self.assertEqual(stacked.shape, (graph.num_nodes, num_views, 6))
          for view in range(num_views):
            self.assertAllClose(stacked[:, view], expected[view],
                                rtol=1e-5, atol=1e-5)


  def test_dropped_edges_are_the_graph_without_them(self):
    """`KEPT_EDGES` (every view) and a stacked second view's own."""
    graph, graph_tensor = testing_utils.small_graph(seed=3, num_nodes=40)
    rng = np.random.default_rng(1)
    kept, second_kept = (rng.random(graph.edges.shape[1]) >= 0.3
                         for _ in range(2))
    perm = rng.permutation(graph.num_nodes)
    x = graph.features
    other = x * (np.arange(x.shape[1]) % 3 != 0)

    def with_edges(keep, features=x):
      return data.to_graph_tensor(dataclasses.replace(
          graph, edges=graph.edges[:, keep], features=features))

    def kept_edges(g, **features):
      return g.replace_features(edge_sets={"edges": {
          name: tf.constant(value, tf.float32)
          for name, value in features.items()}})

    for num_layers in (1, 2):
      gcn = dink.make_gcn_model_fn(hidden_units=6, num_layers=num_layers,
                                   seed=0)(graph_tensor.spec)
      weights = random_weights(gcn, seed=num_layers)

      def expected(g):
        model = dink.make_gcn_model_fn(hidden_units=6, num_layers=num_layers,
                                       seed=0)(g.spec)
        model.set_weights(weights)
        return hidden_state(model(g))

      gcn.set_weights(weights)
      dropped = kept_edges(graph_tensor, kept_edges=kept)
      self.assertAllClose(hidden_state(gcn(dropped)), expected(
          with_edges(kept)), rtol=1e-5, atol=1e-5)
      self.assertNotAllClose(hidden_state(gcn(dropped)),
                             hidden_state(gcn(graph_tensor)), atol=1e-2)
      # Stacked: clean and negative over the kept edges, the second view
      # over its own kept edges, from the clean features or its own.
      stacked = dropped.replace_features(node_sets={"nodes": {
          "feat": tf.constant(x),
          dink.layers.NEGATIVE_VIEW_ROWS: tf.constant(perm)}}, edge_sets={
              "edges": {"kept_edges": tf.constant(kept, tf.float32),
                        "second_view_kept_edges": tf.constant(
                            second_kept, tf.float32)}})
      own = stacked.replace_features(node_sets={"nodes": {
          **stacked.node_sets["nodes"].features,
          "second_view_feat": tf.constant(other)}})
      for inputs, second_features in ((stacked, x), (own, other)):
        states = hidden_state(gcn(inputs))
        self.assertEqual(states.shape, (graph.num_nodes, 3, 6))
        for view, want in enumerate((
            expected(with_edges(kept)), expected(with_edges(kept, x[perm])),
            expected(with_edges(second_kept, second_features)))):
          self.assertAllClose(states[:, view], want, rtol=1e-5, atol=1e-5)


class GcnRowsModelFnTest(testing_utils.TestCase):
  """`make_gcn_rows_model_fn`: the one-layer GCN on `A_hat X` rows."""

  def test_gcn_on_rows_equals_gcn_on_the_graph(self):
    graph, graph_tensor = testing_utils.small_graph(seed=4)
    a_hat = propagation.normalized_adjacency(graph.edges, graph.num_nodes)
    dense = a_hat.toarray()
    self.assertAllClose(dense, dense.T, rtol=1e-6)
    self.assertAllClose(
        dense, testing_utils.np_normalized_adjacency(graph.edges,
                                                     graph.num_nodes),
        rtol=1e-5, atol=1e-7)
    rows = propagation.gcn_input_rows(a_hat, graph.features, seed=0)
    provider = dink.NodeRowsDatasetProvider(rows, 16)
    row_graph = provider.to_graph({k: tf.constant(v) for k, v in rows.items()})
    self.assertEmpty(row_graph.edge_sets)
    rows_model = dink.make_gcn_rows_model_fn(hidden_units=8, seed=1)(
        row_graph.spec)
    gcn = dink.make_gcn_model_fn(hidden_units=8, seed=5)(graph_tensor.spec)
    rows_model.set_weights(random_weights(rows_model))
    gcn.set_weights(rows_model.get_weights())
    got = hidden_state(rows_model(row_graph))
    want = hidden_state(gcn(graph_tensor))
    self.assertAllClose(got, want, rtol=1e-4, atol=1e-4)
    # Not vacuous: the GCN's propagation matters (X W differs from A_hat X W).
    self.assertNotAllClose(
        got, hidden_state(rows_model(provider.to_graph(
            {"feat": tf.constant(graph.features),
             "feat_negative": tf.constant(graph.features)}))), atol=1e-2)
    # The negative rows are the GCN's input on row-shuffled features.
    perm = np.random.default_rng(0).permutation(graph.num_nodes)
    self.assertAllClose(rows["feat_negative"], dense @ graph.features[perm],
                        rtol=1e-5, atol=1e-5)
    # Dink-Net's smoothed embedding of the GCN's output, as MultiHopSmoothing
    # computes it inside the model.
    smoothed = dink.MultiHopSmoothing(
        3, node_set_name="nodes", edge_set_name="edges")(gcn(graph_tensor))
    expected = want + np.linalg.matrix_power(dense.astype(np.float64), 3) @ want
    self.assertAllClose(smoothed, expected, rtol=1e-4, atol=1e-4)

  def test_rows_model_trained_weights_carry_over(self):
    """Weights trained on rows give the graph GCN the same outputs."""
    graph, graph_tensor = testing_utils.small_graph(seed=2, num_nodes=40)
    a_hat = propagation.normalized_adjacency(graph.edges, graph.num_nodes)
    rows = {"feat": propagation.propagate(a_hat, graph.features, 1)}
    row_graph = dink.NodeRowsDatasetProvider(rows, 8).to_graph(
        {"feat": tf.constant(rows["feat"])})
    rows_model = dink.make_gcn_rows_model_fn(hidden_units=4, seed=0)(
        row_graph.spec)
    before = hidden_state(rows_model(row_graph))
    optimizer = tf.keras.optimizers.SGD(0.5)
    for _ in range(3):  # Push the states towards 1.
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(
            rows_model(row_graph).node_sets["nodes"][tfgnn.HIDDEN_STATE] - 1))
      optimizer.apply_gradients(zip(
          tape.gradient(loss, rows_model.trainable_variables),
          rows_model.trainable_variables))
    after = hidden_state(rows_model(row_graph))
    self.assertNotAllClose(before, after)
    gcn = dink.make_gcn_model_fn(hidden_units=4, seed=9)(graph_tensor.spec)
    gcn.set_weights(rows_model.get_weights())
    self.assertAllClose(hidden_state(gcn(graph_tensor)), after, rtol=1e-4,
                        atol=1e-4)


if __name__ == "__main__":
  testing_utils.main()
