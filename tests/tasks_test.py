"""Tests for `tensorflow_gnn_dink.tasks`: DGI and Dink-Net clustering tasks.

Outputs, pseudo-labels, losses and metrics are checked against numpy; the
clustering task's loss against `DinkClusterHead.__call__` (one loss path).
`TASK_ERRORS` is the table of bad inputs to the tasks, each with its
exception and message; more clusters than nodes is an error in `preprocess`,
in the loss, and so in `runner.run`, with static and with relaxed shapes.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner
from tensorflow_gnn.models import contrastive_losses

import tensorflow_gnn_dink as dink


def np_bce(labels, logits):
  """Mean binary cross-entropy with logits, in float64."""
  labels = np.asarray(labels, np.float64)
  logits = np.asarray(logits, np.float64)
  return np.mean(np.maximum(logits, 0) - logits * labels +
                 np.log1p(np.exp(-np.abs(logits))))


def np_squared_distances(x, y):
  return ((np.asarray(x, np.float64)[:, None] -
           np.asarray(y, np.float64)[None]) ** 2).sum(-1)


def np_dilation(centers):
  k = len(centers)
  return -np_squared_distances(centers, centers).sum() / (k * (k - 1))


def np_normalize(x):
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def root_indices(graph):
  """The index of each component's first node."""
  sizes = graph.node_sets["nodes"].sizes.numpy()
  return np.concatenate([[0], np.cumsum(sizes)[:-1]])


class DeepGraphInfomaxTaskTest(testing_utils.TestCase):
  """`DeepGraphInfomaxTask`: views, labels, logits and losses."""

  @parameterized.parameters("first_node", "all_nodes")
  def test_outputs_labels_and_losses_match_numpy(self, readout):
    graph = testing_utils.rooted_batch(num_graphs=4)
    task = dink.DeepGraphInfomaxTask("nodes", readout=readout, seed=3,
                                     dgi_loss_weight=0.5,
                                     discrimination_loss_weight=2.0)
    (clean, corrupted), labels = task.preprocess(graph)
    n = (4 if readout == "first_node"
         else int(graph.node_sets["nodes"].total_size))
    self.assertAllEqual(labels["predictions"], np.tile([[0, 1]], (n, 1)))
    self.assertAllEqual(labels["discrimination_logits"],
                        np.tile([[1, 0]], (n, 1)))
    self.assertEqual(labels["representations"].shape, (n, 0))

    gnn = testing_utils.identity_gnn(graph.spec)
    out = task.predict(gnn(clean), gnn(corrupted))
    self.assertSetEqual(
        set(out), {"predictions", "representations", "discrimination_logits"})
    reps = out["representations"].numpy()
    feat = graph.node_sets["nodes"]["feat"].numpy()
    expected_clean = (feat[root_indices(graph)] if readout == "first_node"
                      else feat)
    self.assertAllClose(reps[:, 0], expected_clean)
    # The corrupted view is a row shuffle of the clean one.
    corrupted_feat = corrupted.node_sets["nodes"]["feat"].numpy()
    self.assertAllClose(np.sort(corrupted_feat, axis=0), np.sort(feat, axis=0))
    self.assertNotAllClose(corrupted_feat, feat)

    # Bilinear DGI logits, as in TF-GNN: x . (W^T mean(clean)).
    w = task._logits_layer._bilinear.kernel.numpy()
    summary = reps[:, 0].mean(0) @ w
    self.assertAllClose(out["predictions"], reps @ summary, rtol=1e-4,
                        atol=1e-5)
    # Dink-Net logits: sum_d (x W + b)_d.
    proj = task._discrimination_layer._projection
    expected = (reps @ proj.kernel.numpy() + proj.bias.numpy()).sum(-1)
    self.assertAllClose(out["discrimination_logits"], expected, rtol=1e-4,
                        atol=1e-5)

    loss_fns = task.losses()
    self.assertAllClose(
        loss_fns["discrimination_logits"](labels["discrimination_logits"],
                                          out["discrimination_logits"]),
        2.0 * np_bce(labels["discrimination_logits"],
                     out["discrimination_logits"].numpy()), rtol=1e-5)
    self.assertAllClose(
        loss_fns["predictions"](labels["predictions"], out["predictions"]),
        0.5 * np_bce(labels["predictions"], out["predictions"].numpy()),
        rtol=1e-5)
    self.assertAllClose(
        loss_fns["representations"](labels["representations"],
                                    out["representations"]), 0.0)

  def test_is_drop_in_for_tfgnn_dgi(self):
    graph = testing_utils.rooted_batch()
    kwargs = dict(feature_name=tfgnn.HIDDEN_STATE,
                  representations_layer_name="r", corruptor=None,
                  projector_units=[8], seed=1)
    ours = dink.DeepGraphInfomaxTask("nodes", **kwargs)
    theirs = contrastive_losses.DeepGraphInfomaxTask("nodes", **kwargs)
    self.assertIsInstance(ours, contrastive_losses.ContrastiveLossTask)
    _, our_labels = ours.preprocess(graph)
    _, their_labels = theirs.preprocess(graph)
    for key, value in their_labels.items():
      self.assertAllEqual(our_labels[key], value)
    self.assertContainsSubset(set(theirs.losses()), set(ours.losses()))
    self.assertContainsSubset(set(theirs.metrics()), set(ours.metrics()))
    self.assertLen(ours.metrics()["representations"], 1)  # TF-GNN's SVD.
    fast = dink.DeepGraphInfomaxTask("nodes", svd_metrics=False)
    self.assertEqual(fast.metrics()["representations"], ())

  def test_augmentor_applies_the_same_columns_to_both_views(self):
    graph = testing_utils.rooted_batch(num_graphs=30)
    task = dink.DeepGraphInfomaxTask(
        "nodes", augmentor=dink.DropFeatureColumns(rate=0.5, seed=3),
        corruptor=contrastive_losses.ShuffleFeaturesGlobally(seed=2))
    (clean, corrupted), _ = task.preprocess(graph)
    before = graph.node_sets["nodes"]["feat"].numpy()
    clean = clean.node_sets["nodes"]["feat"].numpy()
    corrupted = corrupted.node_sets["nodes"]["feat"].numpy()
    dropped = np.all(clean == 0, axis=0)
    self.assertBetween(dropped.sum(), 1, before.shape[1] - 1)
    self.assertAllEqual(clean[:, ~dropped], before[:, ~dropped])
    # The negative view shuffles the rows of the augmented positive view.
    self.assertTrue(np.all(corrupted[:, dropped] == 0))
    self.assertAllEqual(np.sort(corrupted, axis=0), np.sort(clean, axis=0))
    self.assertFalse(np.array_equal(corrupted, clean))
    # Without an augmentor the positive view is the input (TF-GNN's DGI).
    (plain, _), _ = dink.DeepGraphInfomaxTask("nodes").preprocess(graph)
    self.assertAllEqual(plain.node_sets["nodes"]["feat"], before)


class _Permute(tf.keras.layers.Layer):
  """A corruptor applying one given permutation to the node features."""

  def __init__(self, perm):
    super().__init__()
    self._perm = perm

  def call(self, graph):
    return graph.replace_features(node_sets={"nodes": {
        k: tf.gather(v, self._perm)
        for k, v in graph.node_sets["nodes"].features.items()}})


class StackedViewsTest(testing_utils.TestCase):
  """`DeepGraphInfomaxTask(stacked_views=True)`: one encoder call, two views."""

  def test_same_outputs_losses_and_gradients_as_two_views(self):
    _, graph = testing_utils.small_graph(num_nodes=60)
    stacked_task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", stacked_views=True, seed=4,
        augmentor=dink.DropFeatureColumns(rate=0.3, seed=1),
        dgi_loss_weight=0.5, discrimination_loss_weight=2.0)
    (augmented,), labels = stacked_task.preprocess(graph)
    perm = augmented.node_sets["nodes"][dink.layers.NEGATIVE_VIEW_ROWS]
    self.assertAllEqual(np.sort(perm.numpy()), np.arange(60))
    self.assertFalse(np.array_equal(perm.numpy(), np.arange(60)))
    clean = augmented.replace_features(node_sets={"nodes": {
        "feat": augmented.node_sets["nodes"]["feat"]}})
    two_view_task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", corruptor=_Permute(perm),
        dgi_loss_weight=0.5, discrimination_loss_weight=2.0)
    (clean_view, corrupted_view), two_view_labels = (
        two_view_task.preprocess(clean))
    for key, value in labels.items():
      self.assertAllEqual(two_view_labels[key], value)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(graph.spec)

    def run(task, *views):
      with tf.GradientTape() as tape:
        out = task.predict(*[gnn(v) for v in views])
        loss_fns = task.losses()
        total = sum(loss_fns[k](labels[k], out[k]) for k in loss_fns)
      return out, total, tape.gradient(total, gnn.trainable_variables)

    out, total, grads = run(stacked_task, augmented)
    two_view_task.predict(gnn(clean_view), gnn(corrupted_view))  # Builds.
    for layer in ("_logits_layer", "_discrimination_layer"):
      getattr(two_view_task, layer).set_weights(
          getattr(stacked_task, layer).get_weights())
    expected_out, expected_total, expected_grads = run(
        two_view_task, clean_view, corrupted_view)
    for key, value in expected_out.items():
      self.assertAllClose(out[key], value, rtol=1e-5, atol=1e-6)
    self.assertAllClose(total, expected_total, rtol=1e-5)
    for grad, expected in zip(grads, expected_grads):
      self.assertAllClose(grad, expected, rtol=1e-4, atol=1e-6)
    self.assertEqual(out["representations"].shape, (60, 2, 8))

  def test_errors_name_the_fix(self):
    _, graph = testing_utils.small_graph(num_nodes=30)
    with self.assertRaisesRegex(ValueError,
                                "takes no corruptor: pass corruptor=None, or "
                                "stacked_views=False"):
      dink.DeepGraphInfomaxTask("nodes", stacked_views=True,
                                corruptor=dink.ShuffleNodeRows())
    task = dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                     stacked_views=True)
    (augmented,), _ = task.preprocess(graph)
    flat = testing_utils.identity_gnn(augmented.spec)(augmented)
    with self.assertRaisesRegex(
        ValueError, r"needs an encoder that stacks the 2 views.*returned "
        r"shape \(30, 12\)\. Use stacked_views=False with this encoder"):
      task.predict(flat)
    with self.assertRaisesRegex(ValueError, "one graph holding both views, "
                                "got 2"):
      task.predict(flat, flat)

  def test_switched_off_it_is_the_two_view_task(self):
    _, graph = testing_utils.small_graph(num_nodes=30)
    task = dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                     stacked_views=True, seed=2)
    task.stacked_views = False
    (clean, corrupted), _ = task.preprocess(graph)
    self.assertAllEqual(clean.node_sets["nodes"]["feat"],
                        graph.node_sets["nodes"]["feat"])
    self.assertAllEqual(
        np.sort(corrupted.node_sets["nodes"]["feat"].numpy(), axis=0),
        np.sort(graph.node_sets["nodes"]["feat"].numpy(), axis=0))


class NodeSimilarityTest(testing_utils.TestCase):
  """`DeepGraphInfomaxTask` with NS4GC's neighbour and sparsity terms."""

  @parameterized.parameters(False, True)
  def test_output_and_loss_are_the_weighted_terms(self, stacked):
    _, graph = testing_utils.small_graph(num_nodes=40)
    task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", stacked_views=stacked, seed=5,
        neighbour_loss_weight=2.0, sparsity_loss_weight=0.5,
        similarity_pairs=200_000, sparsity_threshold=0.3)
    views, labels = task.preprocess(graph)
    self.assertEqual(labels["node_similarity"].shape, (40, 0))
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(views[0].spec)
    out = task.predict(*[gnn(v) for v in views])
    terms = out["node_similarity"].numpy()
    self.assertEqual(terms.shape, (40, 3))
    self.assertAllClose(terms, np.tile(terms[:1], (40, 1)))
    # The terms of the clean view's states (the first of stacked views).
    states = gnn(views[0]).node_sets["nodes"][tfgnn.HIDDEN_STATE].numpy()
    clean = states[:, 0] if stacked else states
    edges = graph.edge_sets["edges"].adjacency
    z = np_normalize(clean.astype(np.float64))
    sim = z @ z.T
    off_diagonal = ~np.eye(40, dtype=bool)
    expected = [0.0,
                -sim[edges.source.numpy(), edges.target.numpy()].mean(),
                (1 / (1 + np.exp(-(sim - 0.3) / 0.1)))[off_diagonal].mean()]
    self.assertAllClose(terms[0], expected, atol=5e-3)
    loss = task.losses()["node_similarity"](labels["node_similarity"],
                                            out["node_similarity"])
    self.assertAllClose(loss, 2.0 * terms[0, 1] + 0.5 * terms[0, 2])

  @parameterized.parameters(False, True)
  def test_second_view_is_aligned_with_the_first(self, stacked):
    _, graph = testing_utils.small_graph(num_nodes=40)
    task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", seed=5, stacked_views=stacked,
        augmentor=dink.DropFeatureColumns(rate=0.5, seed=1),
        second_augmentor=dink.DropFeatureColumns(rate=0.5, seed=2),
        alignment_loss_weight=3.0, similarity_pairs=200_000)
    views, labels = task.preprocess(graph)
    # Clean, corrupted, second positive view; stacked: one graph carrying
    # the second view's features.
    self.assertLen(views, 1 if stacked else 3)
    first = views[0].node_sets["nodes"]["feat"].numpy()
    second = (views[0].node_sets["nodes"]["second_view_feat"] if stacked
              else views[2].node_sets["nodes"]["feat"]).numpy()
    self.assertFalse(np.array_equal(first == 0, second == 0))
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(views[0].spec)
    outputs = [gnn(v) for v in views]
    out = task.predict(*outputs)
    terms = out["node_similarity"].numpy()
    if stacked:
      states = outputs[0].node_sets["nodes"][tfgnn.HIDDEN_STATE].numpy()
      self.assertEqual(states.shape, (40, 3, 8))
      z1, z2 = (np_normalize(states[:, v].astype(np.float64))
                for v in (0, 2))
    else:
      z1, z2 = (np_normalize(o.node_sets["nodes"][tfgnn.HIDDEN_STATE]
                             .numpy().astype(np.float64))
                for o in (outputs[0], outputs[2]))
    edges = graph.edge_sets["edges"].adjacency
    sim = z1 @ z2.T
    self.assertAllClose(
        terms[0, :2],
        [-np.diag(sim).mean(),
         -sim[edges.source.numpy(), edges.target.numpy()].mean()],
        atol=5e-3)
    loss = task.losses()["node_similarity"](labels["node_similarity"],
                                            out["node_similarity"])
    self.assertAllClose(loss, 3.0 * terms[0, 0])
    if stacked:  # An encoder that stacks two views, not three.
      two = views[0].replace_features(node_sets={"nodes": {
          k: v for k, v in views[0].node_sets["nodes"].features.items()
          if k != "second_view_feat"}})
      with self.assertRaisesRegex(ValueError, "stacks the 3 views .*"
                                  "'second_view_' \\+ the input feature"):
        task.predict(gnn(two))
    else:
      with self.assertRaisesRegex(ValueError, "and the second view, got 2"):
        task.predict(*outputs[:2])
    self.assertEqual(task.metrics()["node_similarity"], ())

  @parameterized.parameters(("clean", False), ("clean", True),
                            ("inputs", True))
  def test_second_view_with_dropped_edges(self, source, stacked):
    _, graph = testing_utils.small_graph(num_nodes=40)
    task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", seed=5, stacked_views=stacked,
        augmentor=dink.DropFeatureColumns(rate=0.5, seed=1),
        second_augmentor=dink.DropEdges(rate=0.4, seed=2),
        second_view_from=source, alignment_loss_weight=1.0)
    views, _ = task.preprocess(graph)
    first = views[0].node_sets["nodes"]
    if stacked:
      self.assertLen(views, 1)
      self.assertNotIn("kept_edges", views[0].edge_sets["edges"].features)
      kept = views[0].edge_sets["edges"]["second_view_kept_edges"]
      # From the clean view: its columns, nothing to project again; from
      # the inputs: the input's columns.
      second = first.features.get("second_view_feat", first["feat"])
      self.assertEqual("second_view_feat" in first.features,
                       source == "inputs")
    else:
      self.assertLen(views, 3)
      kept = views[2].edge_sets["edges"]["kept_edges"]
      second = views[2].node_sets["nodes"]["feat"]
    self.assertAllEqual(second, first["feat"] if source == "clean" else
                        graph.node_sets["nodes"]["feat"])
    self.assertBetween(1.0 - float(tf.reduce_mean(kept)), 0.2, 0.6)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(views[0].spec)
    outputs = [gnn(v) for v in views]
    out = task.predict(*outputs)
    self.assertAllEqual(tf.math.is_finite(out["node_similarity"]),
                        tf.ones_like(out["node_similarity"], tf.bool))
    if stacked:
      states = outputs[0].node_sets["nodes"][tfgnn.HIDDEN_STATE]
      self.assertNotAllClose(states[:, 0], states[:, 2], atol=1e-3)
    with self.assertRaisesRegex(ValueError, "second_view_from must be one "
                                "of .*'inputs', 'clean'.*got 'input'"):
      dink.DeepGraphInfomaxTask("nodes", second_view_from="input")

  def test_without_weights_the_task_is_unchanged(self):
    task = dink.DeepGraphInfomaxTask("nodes", readout="all_nodes")
    _, graph = testing_utils.small_graph(num_nodes=20)
    _, labels = task.preprocess(graph)
    self.assertNotIn("node_similarity", labels)
    self.assertNotIn("node_similarity", task.losses())

  def test_training_on_the_terms_lowers_them(self):
    _, graph = testing_utils.small_graph(num_nodes=60)
    task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", stacked_views=True, seed=1,
        discrimination_loss_weight=0.0, dgi_loss_weight=0.0,
        neighbour_loss_weight=1.0, sparsity_loss_weight=1.0)
    (view,), labels = task.preprocess(graph)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(view.spec)
    optimizer = tf.keras.optimizers.Adam(0.05)
    loss_fn = task.losses()["node_similarity"]
    history = []
    for step in range(30):
      (view,), labels = task.preprocess(graph)
      with tf.GradientTape() as tape:
        out = task.predict(gnn(view))
        loss = loss_fn(labels["node_similarity"], out["node_similarity"])
      if step in (0, 29):
        history.append(float(loss))
      grads = tape.gradient(loss, gnn.trainable_variables)
      self.assertTrue(any(g is not None for g in grads))
      optimizer.apply_gradients(
          (g, v) for g, v in zip(grads, gnn.trainable_variables)
          if g is not None)
    self.assertLess(history[1], history[0] - 0.1)

  def test_errors_name_the_fix(self):
    with self.assertRaisesRegex(ValueError, "neighbour_loss_weight must be a "
                                "finite number >= 0"):
      dink.DeepGraphInfomaxTask("nodes", neighbour_loss_weight=-1.0)
    with self.assertRaisesRegex(ValueError, "pass second_augmentor="):
      dink.DeepGraphInfomaxTask("nodes", alignment_loss_weight=1.0)
    with self.assertRaisesRegex(ValueError, "num_pairs must be a positive"):
      dink.DeepGraphInfomaxTask("nodes", sparsity_loss_weight=1.0,
                                similarity_pairs=0)
    _, graph = testing_utils.small_graph(num_nodes=20)
    task = dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                     sparsity_loss_weight=1.0,
                                     edge_set_name="cites")
    views, _ = task.preprocess(graph)
    gnn = testing_utils.identity_gnn(graph.spec)
    with self.assertRaisesRegex(ValueError, "Edge set 'cites' not in the "
                                "graph"):
      task.predict(*[gnn(v) for v in views])
    with self.assertRaisesRegex(ValueError, "one edge set joining 'nodes' to "
                                "itself; the graph has none"):
      dink.layers.self_edge_set(tfgnn.GraphTensorSpec.from_piece_specs(
          node_sets_spec={"nodes": graph.node_sets["nodes"].spec}),
                                "nodes")


class ZeroWeightOutputTest(testing_utils.TestCase):

  @parameterized.parameters((0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
  def test_logits_of_a_zero_weight_loss_do_not_reach_the_encoder(
      self, dgi_weight, discrimination_weight):
    graph = testing_utils.rooted_batch(num_graphs=6)
    task = dink.DeepGraphInfomaxTask(
        "nodes", dgi_loss_weight=dgi_weight,
        discrimination_loss_weight=discrimination_weight)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(graph.spec)
    model = dink.make_training_model(graph.spec, gnn, {"dgi": task})
    tf.keras.utils.set_random_seed(1)
    for output, weight in (("predictions", dgi_weight),
                           ("discrimination_logits", discrimination_weight)):
      with tf.GradientTape() as tape:
        logits = model(graph)["dgi"][output]
        total = tf.reduce_sum(logits)
      grads = tape.gradient(total, gnn.trainable_variables)
      # Reported either way; trained only with a non-zero weight.
      self.assertEqual(logits.shape, (6, 2))
      reached = any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
                    for g in grads)
      self.assertEqual(reached, weight != 0, output)


class SharedModelTest(testing_utils.TestCase):
  """Several tasks in one Keras model."""

  def test_two_dgi_tasks_and_a_clustering_task_share_one_model(self):
    graph = testing_utils.rooted_batch()
    tasks = {"a": dink.DeepGraphInfomaxTask("nodes"),
             "b": dink.DeepGraphInfomaxTask("nodes"),
             "dink": dink.DinkClusteringTask("nodes", n_clusters=2),
             "dink2": dink.DinkClusteringTask("nodes", n_clusters=2)}
    self.assertEqual((tasks["a"].name, tasks["b"].name), ("dgi", "dgi_1"))
    self.assertEqual((tasks["dink"].name, tasks["dink2"].name),
                     ("dink", "dink_1"))
    gnn = dink.make_gcn_model_fn(hidden_units=8)(graph.spec)
    model = dink.make_training_model(graph.spec, gnn, tasks)
    out = model(graph)
    self.assertEqual(out["dink"]["cluster_probabilities"].shape, (3, 2))
    self.assertEqual(out["a"]["predictions"].shape, (3, 2))
    names = [layer.name for layer in model.layers]
    self.assertLen(set(names), len(names))


class DinkClusteringTaskTest(testing_utils.TestCase):
  """`DinkClusteringTask`: embedding, assignments, loss, metrics, errors."""

  def test_outputs_loss_and_metrics_match_numpy(self):
    graph = testing_utils.rooted_batch(num_graphs=5)
    centers = np.random.default_rng(0).normal(size=(3, 12)).astype(np.float32)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=3, readout="all_nodes", cluster_centers=centers,
        dilation_loss_weight=0.5, shrink_loss_weight=2.0)
    self.assertIsInstance(task.embedding_layer, dink.ClusteringEmbedding)
    self.assertIsNone(task.cluster_head)
    same, labels = task.preprocess(graph)
    self.assertIs(same, graph)
    out = task.predict(testing_utils.identity_gnn(graph.spec)(graph))
    self.assertAllClose(task.cluster_head.cluster_centers, centers)
    feat = graph.node_sets["nodes"]["feat"].numpy()
    z = np_normalize(feat)
    self.assertAllClose(out["embedding"], z, rtol=1e-5)
    d2 = np_squared_distances(z, centers)
    self.assertAllEqual(out["cluster_id"], d2.argmin(1))
    d = np.sqrt(d2)
    soft = np.exp(-d) / np.exp(-d).sum(1, keepdims=True)
    self.assertAllClose(out["cluster_probabilities"], soft, rtol=1e-4,
                        atol=1e-6)
    loss = task.losses()["embedding"](labels["embedding"], out["embedding"])
    self.assertAllClose(loss, 2.0 * d2.mean() + 0.5 * np_dilation(centers),
                        rtol=1e-5)
    for key in ("cluster_id", "cluster_probabilities"):
      self.assertAllClose(task.losses()[key](labels[key], out[key]), 0.0)

    non_empty, entropy = task.metrics()["cluster_probabilities"]
    for metric in (non_empty, entropy):
      metric.update_state(labels["cluster_probabilities"],
                          out["cluster_probabilities"])
    counts = np.bincount(d2.argmin(1), minlength=3)
    p = counts[counts > 0] / counts.sum()
    self.assertEqual(float(non_empty.result()), (counts > 0).sum())
    self.assertAllClose(entropy.result(), -(p * np.log(p)).sum() / np.log(3),
                        rtol=1e-5)

  @parameterized.named_parameters(
      ("all_nodes", "all_nodes", 1),
      ("all_nodes_3_hops", "all_nodes", 3),
      ("first_node_2_hops", "first_node", 2))
  def test_propagation_embedding_matches_numpy(self, readout, steps):
    if readout == "all_nodes":
      graph, graph_tensor = testing_utils.small_graph(num_nodes=60)
      edges, feat, rows = graph.edges, graph.features, np.arange(60)
    else:
      graph_tensor = testing_utils.rooted_batch(num_graphs=4, seed=1)
      adjacency = graph_tensor.edge_sets["edges"].adjacency
      edges = np.stack([adjacency.source.numpy(), adjacency.target.numpy()])
      feat = graph_tensor.node_sets["nodes"]["feat"].numpy()
      rows = root_indices(graph_tensor)
    num_nodes = len(feat)
    centers = np.random.default_rng(1).normal(size=(4, 12)).astype(np.float32)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=4, readout=readout, cluster_centers=centers,
        propagation_steps=steps, edge_set_name="edges")
    self.assertEqual(task.embedding_layer.propagation_steps, steps)
    out = task.predict(testing_utils.identity_gnn(graph_tensor.spec)(
        graph_tensor))
    a_hat = testing_utils.np_normalized_adjacency(edges, num_nodes)
    h = feat.astype(np.float64)
    expected = np_normalize(h + np.linalg.matrix_power(a_hat, steps) @ h)[rows]
    self.assertAllClose(out["embedding"], expected, rtol=1e-4, atol=1e-5)
    # Smoothing changes the embedding: the check above is not vacuous.
    self.assertNotAllClose(expected, np_normalize(h)[rows], atol=1e-2)
    self.assertAllEqual(out["cluster_id"],
                        np_squared_distances(expected, centers).argmin(1))

  def test_assigned_shrink_is_soft_kmeans(self):
    graph = testing_utils.rooted_batch(num_graphs=6)
    centers = np.random.default_rng(2).normal(
        scale=0.3, size=(3, 12)).astype(np.float32)
    temperature = 0.5
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=3, readout="all_nodes", cluster_centers=centers,
        shrink="assigned", temperature=temperature, dilation_loss_weight=0.3,
        shrink_loss_weight=1.5)
    _, labels = task.preprocess(graph)
    out = task.predict(testing_utils.identity_gnn(graph.spec)(graph))
    loss = task.losses()["embedding"](labels["embedding"], out["embedding"])
    z = np_normalize(graph.node_sets["nodes"]["feat"].numpy())
    d2 = np_squared_distances(z, centers)
    logits = -d2 / temperature
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    soft_kmeans = (p * d2).sum(1).mean()
    self.assertAllClose(loss, 1.5 * soft_kmeans + 0.3 * np_dilation(centers),
                        rtol=1e-5)
    # It differs from Dink-Net's "all" shrink (the mean over all centres).
    self.assertGreater(abs(soft_kmeans - d2.mean()), 1e-2)

  @parameterized.parameters("all", "assigned")
  def test_loss_is_the_heads_loss(self, shrink):
    graph = testing_utils.rooted_batch(num_graphs=6, seed=2)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=4, readout="all_nodes", shrink=shrink,
        cluster_centers_initializer=tf.keras.initializers.RandomNormal(
            seed=3),
        dilation_loss_weight=0.25, shrink_loss_weight=3.0)
    _, labels = task.preprocess(graph)
    out = task.predict(testing_utils.identity_gnn(graph.spec)(graph))
    z = out["embedding"]
    loss_fn = task.losses()["embedding"]
    dilation, shrink_loss = task.cluster_head(z)
    self.assertAllClose(loss_fn(labels["embedding"], z),
                        3.0 * shrink_loss + 0.25 * dilation, rtol=1e-5)
    # With a padding mask, padded rows add nothing: the loss is the weighted
    # mean over the real rows (Keras' own reduction would divide by all rows).
    mask = np.zeros(z.shape[0], np.float32)
    mask[:7] = 1.0
    dilation, masked_shrink = task.cluster_head(z, sample_weight=mask)
    self.assertAllClose(
        loss_fn(labels["embedding"], z, sample_weight=mask),
        3.0 * masked_shrink + 0.25 * dilation, rtol=1e-5)
    self.assertAllClose(masked_shrink,
                        task.cluster_head(z[:7])[1], rtol=1e-5)

  @parameterized.parameters(True, False)
  def test_stop_gradient_trains_only_the_centres(self, stop_gradient):
    graph = testing_utils.rooted_batch(num_graphs=5)
    gnn = dink.make_gcn_model_fn(hidden_units=6, seed=0)(graph.spec)
    task = dink.DinkClusteringTask("nodes", n_clusters=3, readout="all_nodes",
                                   stop_gradient=stop_gradient)
    _, labels = task.preprocess(graph)
    with tf.GradientTape() as tape:
      out = task.predict(gnn(graph))
      loss = task.losses()["embedding"](labels["embedding"], out["embedding"])
    centers = task.cluster_head.cluster_centers
    grads = tape.gradient(loss, [centers] + gnn.trainable_variables,
                          unconnected_gradients="zero")
    self.assertGreater(np.abs(grads[0].numpy()).max(), 0.0)
    encoder_grad = max(np.abs(g.numpy()).max() for g in grads[1:])
    if stop_gradient:
      self.assertEqual(encoder_grad, 0.0)
    else:
      self.assertGreater(encoder_grad, 0.0)


def _gnn_out(graph=None):
  graph = testing_utils.rooted_batch() if graph is None else graph
  return testing_utils.identity_gnn(graph.spec)(graph)


def _predict_twice_with_a_narrower_encoder():
  task = dink.DinkClusteringTask("nodes", n_clusters=2)
  gnn_out = _gnn_out()
  task.predict(gnn_out)
  states = gnn_out.node_sets["nodes"][tfgnn.HIDDEN_STATE]
  task.predict(gnn_out.replace_features(
      node_sets={"nodes": {tfgnn.HIDDEN_STATE: states[:, :5]}}))


def _dink_loss(n_clusters, num_rows, readout="all_nodes", dynamic=False):
  """Calls the task's loss on `num_rows` embeddings (unknown rows if dynamic)."""
  task = dink.DinkClusteringTask("nodes", n_clusters=n_clusters,
                                 readout=readout)
  task.predict(_gnn_out())
  loss_fn = task.losses()["embedding"]
  z = tf.math.l2_normalize(tf.ones((num_rows, 12)), axis=-1)
  labels = tf.zeros((num_rows, 0), tf.int32)
  if dynamic:
    return tf.function(loss_fn, input_signature=[
        tf.TensorSpec((None, 0), tf.int32),
        tf.TensorSpec((None, 12), tf.float32)])(labels, z)
  return loss_fn(labels, z)


_NUM_NODES = int(testing_utils.rooted_batch().node_sets["nodes"].total_size)
_CENTERS_WITH_NAN = np.where(np.eye(2, 12) > 0, np.nan, 0.0)

# One row per bad input: (name, call, exception, message regex).
TASK_ERRORS = (
    ("n_clusters_1", lambda: dink.DinkClusteringTask("nodes", n_clusters=1),
     ValueError, r"n_clusters must be an integer >= 2, got 1: the dilation"),
    ("n_clusters_float", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2.5), ValueError,
     r"n_clusters must be an integer >= 2, got 2\.5"),
    ("readout", lambda: dink.DinkClusteringTask("nodes", n_clusters=2,
                                                readout="roots"),
     ValueError, r"readout must be one of \('first_node', 'all_nodes'\), "
     r"got 'roots'"),
    ("shrink", lambda: dink.DinkClusteringTask("nodes", n_clusters=2,
                                               shrink="nearest"),
     ValueError, r"shrink must be one of \('all', 'assigned'\), got "
     r"'nearest'"),
    ("temperature", lambda: dink.DinkClusteringTask("nodes", n_clusters=2,
                                                    temperature=0.0),
     ValueError, r"temperature must be a finite number > 0, got 0\.0"),
    ("max_center_norm", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, max_center_norm=-1.0), ValueError,
     r"max_center_norm must be a finite number > 0, got -1\.0"),
    ("propagation_without_edge_set", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, propagation_steps=2), ValueError,
     r"propagation_steps > 0 needs the edge_set_name"),
    ("centers_nan", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, cluster_centers=_CENTERS_WITH_NAN),
     ValueError, r"cluster_centers contains 2 NaN or inf values \(rows "
     r"\[0, 1\]\): pass finite centres"),
    ("centers_inf", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2,
        cluster_centers=np.array([[0.0, 1.0], [np.inf, 0.0]])),
     ValueError, r"cluster_centers contains 1 NaN or inf values \(rows "
     r"\[1\]\)"),
    ("centers_rows", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, cluster_centers=np.zeros((3, 12))),
     ValueError, r"cluster_centers must have shape \(2, n_features\) "
     r"\(n_clusters, n_features = the encoder's output size\), got "
     r"\(3, 12\)"),
    ("centers_rank", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, cluster_centers=np.zeros(2)),
     ValueError, r"must have shape \(2, n_features\).*got \(2,\)"),
    ("centers_strings", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, cluster_centers=[["a", "b"], ["c", "d"]]),
     ValueError, r"cluster_centers must be an array of real numbers, got "
     r"dtype <U1"),
    ("centers_width", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, cluster_centers=np.zeros((2, 5))).predict(
            _gnn_out()),
     ValueError, r"must have shape \(2, 12\).*got \(2, 5\)"),
    ("losses_before_predict", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2).losses(), ValueError, r"Call predict\(\) before "
     r"losses\(\)"),
    ("preprocess_node_set", lambda: dink.DinkClusteringTask(
        "papers", n_clusters=2).preprocess(testing_utils.rooted_batch()),
     ValueError, r"Node set 'papers' not in the graph; it has node sets "
     r"\['nodes'\]\. Pass one of them as node_set_name\."),
    ("predict_node_set", lambda: dink.DinkClusteringTask(
        "papers", n_clusters=2).predict(_gnn_out()),
     ValueError, r"Node set 'papers' not in the graph; it has node sets "
     r"\['nodes'\]"),
    ("predict_feature", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=2, feature_name="h").predict(_gnn_out()),
     ValueError, r"Node feature 'h' not in node set 'nodes'; it has "
     r"\['hidden_state'\]\. Pass feature_name=\.\.\. \."),
    ("narrower_encoder", _predict_twice_with_a_narrower_encoder,
     ValueError, r"holds centres for 12 features but the encoder now outputs "
     r"5"),
    ("k_above_nodes_preprocess", lambda: dink.DinkClusteringTask(
        "nodes", n_clusters=_NUM_NODES + 1, readout="all_nodes").preprocess(
            testing_utils.rooted_batch()),
     ValueError, rf"DinkClusteringTask 'dink': an input has {_NUM_NODES} "
     rf"nodes of node set 'nodes', fewer than n_clusters={_NUM_NODES + 1} "
     r"\(readout='all_nodes' clusters every node of each input\): pass "
     r"n_clusters <= the number of nodes, or batches of at least "
     rf"{_NUM_NODES + 1} node rows\."),
    ("k_above_rows_loss_static", lambda: _dink_loss(8, 7),
     ValueError, r"an input has 7 nodes of node set 'nodes', fewer than "
     r"n_clusters=8"),
    ("k_above_rows_loss_dynamic", lambda: _dink_loss(8, 7, dynamic=True),
     tf.errors.InvalidArgumentError, r"DinkClusteringTask `dink`: an input "
     r"has too few nodes of node set `nodes`, fewer than n_clusters=8 "
     r"\(readout=`all_nodes` clusters every node of each input\): pass "
     r"n_clusters <= the number of nodes, or batches of at least 8 node "
     r"rows\.\] \[Nodes:\] \[7\]"),
    ("dgi_preprocess_node_set", lambda: dink.DeepGraphInfomaxTask(
        "papers").preprocess(testing_utils.rooted_batch()),
     ValueError, r"Node set 'papers' not in the graph; it has node sets "
     r"\['nodes'\]"),
    ("dgi_predict_node_set", lambda: dink.DeepGraphInfomaxTask(
        "papers").predict(_gnn_out(), _gnn_out()),
     ValueError, r"Node set 'papers' not in the graph; it has node sets "
     r"\['nodes'\]"),
    ("dgi_predict_feature", lambda: dink.DeepGraphInfomaxTask(
        "nodes", feature_name="h").predict(_gnn_out(), _gnn_out()),
     ValueError, r"Node feature 'h' not in node set 'nodes'; it has "
     r"\['hidden_state'\]"),
)


class TaskErrorsTest(testing_utils.TestCase):
  """Each bad input to the tasks: its exception and message (`TASK_ERRORS`)."""

  @parameterized.named_parameters(*TASK_ERRORS)
  def test_error(self, call, error, message):
    with self.assertRaisesRegex(error, message):
      call()

  @parameterized.named_parameters(
      ("k_equals_rows", dict(n_clusters=7, num_rows=7)),
      ("k_equals_rows_dynamic", dict(n_clusters=7, num_rows=7, dynamic=True)),
      ("empty_batch", dict(n_clusters=8, num_rows=0)),
      ("empty_batch_dynamic", dict(n_clusters=8, num_rows=0, dynamic=True)),
      # A batch of roots may be smaller than K (an epoch's last batch).
      ("first_node", dict(n_clusters=8, num_rows=3, readout="first_node")),
      ("first_node_dynamic", dict(n_clusters=8, num_rows=3,
                                  readout="first_node", dynamic=True)))
  def test_enough_rows_or_none_pass_the_node_count_check(self, kwargs):
    self.assertTrue(np.isfinite(float(_dink_loss(**kwargs))))

  def test_serving_accepts_fewer_nodes_than_clusters(self):
    task = dink.DinkClusteringTask("nodes", n_clusters=_NUM_NODES + 5,
                                   readout="all_nodes")
    out = task.predict(_gnn_out())
    self.assertEqual(out["cluster_probabilities"].shape,
                     (_NUM_NODES, _NUM_NODES + 5))

  @parameterized.named_parameters(("static_spec", False),
                                  ("relaxed_spec", True))
  def test_runner_run_with_more_clusters_than_nodes_fails(self, relax):
    """K=200 on a 100-node graph: an error, not 200 centres for 100 nodes."""
    _, graph = testing_utils.small_graph(num_nodes=100)
    spec = graph.spec.relax(num_nodes=True, num_edges=True) if relax else (
        graph.spec)
    trainer = runner.KerasTrainer(
        tf.distribute.get_strategy(), model_dir=self.create_tempdir().full_path,
        steps_per_epoch=2, verbose=0, summarize_every_n_steps="never")
    error, message = ((tf.errors.InvalidArgumentError,
                       r"too few nodes of node set `nodes`, fewer than "
                       r"n_clusters=200.*Nodes:\] \[100\]") if relax else
                      (ValueError, r"an input has 100 nodes of node set "
                       r"'nodes', fewer than n_clusters=200"))
    with self.assertRaisesRegex(error, message):
      runner.run(
          train_ds_provider=dink.FullGraphDatasetProvider(graph),
          model_fn=dink.make_gcn_model_fn(hidden_units=8, seed=0),
          optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
          trainer=trainer,
          task={"dink": dink.DinkClusteringTask("nodes", n_clusters=200,
                                                readout="all_nodes")},
          gtspec=spec, global_batch_size=1, epochs=1, model_exporters=[])

if __name__ == "__main__":
  testing_utils.main()
