"""TPU-readiness: padding-aware views and losses, `train_padding`, XLA.

No TPU runs here. What a TPU needs is checked on CPU: the tasks do not refuse
`TPUStrategy` (TF-GNN's contrastive tasks do), padded batches (the runner's
`train_padding`, `tfgnn.pad_to_total_sizes`) give the same losses and
gradients as unpadded ones, and `runner.run` trains both tasks on padded
batches with every step compiled by XLA (`trainers.KerasTrainer(
jit_compile=True)`), as a TPU runs it.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

from unittest import mock

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner
from tensorflow_gnn.models import contrastive_losses

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import keras_training
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import trainers


def _fake_tpu_strategy():
  """An instance of `TPUStrategy` (not initialised: there is no TPU here).

  Enough for the `isinstance(tf.distribute.get_strategy(), TPUStrategy)`
  check with which TF-GNN's contrastive tasks refuse TPUs.
  """
  return object.__new__(tf.distribute.TPUStrategy)


def _constraints(graph: tfgnn.GraphTensor, extra_components: int = 2,
                 extra_nodes: int = 7, extra_edges: int = 10):
  return tfgnn.SizeConstraints(
      total_num_components=int(graph.num_components) + extra_components,
      total_num_nodes={"nodes": int(graph.node_sets["nodes"].total_size) +
                       extra_nodes},
      total_num_edges={"edges": int(graph.edge_sets["edges"].total_size) +
                       extra_edges},
      min_nodes_per_component={"nodes": 1})


def _relaxed(spec: tfgnn.GraphTensorSpec) -> tfgnn.GraphTensorSpec:
  return spec.relax(num_components=True, num_nodes=True, num_edges=True)


class TpuStrategyTest(testing_utils.TestCase):

  def test_tfgnn_refuses_tpu_strategy_and_this_task_does_not(self):
    graph = testing_utils.rooted_batch(4)
    gnn = testing_utils.identity_gnn(graph.spec)
    theirs = contrastive_losses.DeepGraphInfomaxTask("nodes")
    ours = dink.DeepGraphInfomaxTask("nodes", seed=1)
    with mock.patch.object(tf.distribute, "get_strategy",
                           return_value=_fake_tpu_strategy()):
      views, _ = theirs.preprocess(graph)
      with self.assertRaisesRegex(AssertionError, "do not support TPU"):
        theirs.predict(*[gnn(v) for v in views])
      views, _ = ours.preprocess(graph)
      outputs = ours.predict(*[gnn(v) for v in views])
    self.assertEqual(outputs["predictions"].shape, (4, 2))


class PaddingAwareViewsTest(testing_utils.TestCase):

  def test_shuffle_keeps_padding_out_of_real_nodes(self):
    graph = layers.mark_real_components(testing_utils.rooted_batch(5))
    num_real = int(graph.node_sets["nodes"].total_size)
    padded, mask = tfgnn.keras.layers.PadToTotalSizes(_constraints(graph))(
        graph)
    self.assertAllEqual(mask, [True] * 5 + [False] * 2)
    self.assertAllEqual(padded.context[layers.REAL_COMPONENT],
                        [1.0] * 5 + [0.0] * 2)
    real = layers.real_nodes(padded, "nodes")
    self.assertAllEqual(real, [True] * num_real + [False] * 7)
    for seed in range(5):
      shuffled = layers.ShuffleNodeRows(seed=seed)(padded)
      x = padded.node_sets["nodes"]["feat"].numpy()
      y = shuffled.node_sets["nodes"]["feat"].numpy()
      # Padding rows stay where they are; real rows are a permutation of the
      # real rows (padding rows are zeros, real ones are not).
      self.assertAllEqual(y[num_real:], x[num_real:])
      self.assertAllClose(np.sort(y[:num_real], axis=0),
                          np.sort(x[:num_real], axis=0))
      self.assertTrue(np.all(np.abs(y[:num_real]).sum(1) > 0))

  def test_permutation_of_real_nodes_anywhere(self):
    real = tf.constant([True, False, True, True, False, True])
    node_set = tfgnn.NodeSet.from_fields(sizes=tf.constant([6]), features={})
    for seed in range(10):
      perm = layers.random_permutation(node_set, seed=seed, real=real).numpy()
      self.assertCountEqual(perm, range(6))
      self.assertAllEqual(perm[[1, 4]], [1, 4])
      self.assertCountEqual(perm[[0, 2, 3, 5]], [0, 2, 3, 5])

  def test_unmarked_graph_shuffles_every_node(self):
    graph = testing_utils.rooted_batch(5)
    self.assertIsNone(layers.real_nodes(graph, "nodes"))
    self.assertIsNone(layers.real_examples(graph, "nodes", "first_node"))
    padded, _ = tfgnn.keras.layers.PadToTotalSizes(_constraints(graph))(graph)
    num_real = int(graph.node_sets["nodes"].total_size)
    moved = [np.any(layers.ShuffleNodeRows(seed=s)(padded).node_sets["nodes"]
                    ["feat"].numpy()[num_real:] != 0) for s in range(10)]
    self.assertTrue(any(moved))  # Real rows land on padding positions.


class PaddedLossesTest(testing_utils.TestCase):
  """Padded and unpadded batches: the same losses and gradients."""

  def _tasks(self, stacked):
    dgi = dink.DeepGraphInfomaxTask(
        "nodes", feature_name=tfgnn.HIDDEN_STATE, seed=3,
        augmentor=dink.DropFeatureColumns(rate=0.3, seed=4),
        dgi_loss_weight=1.0, discrimination_loss_weight=1.0,
        svd_metrics=False, stacked_views=stacked)
    if stacked:
      return {"dgi": dgi}
    return {"dgi": dgi,
            "dink": dink.DinkClusteringTask(
                "nodes", n_clusters=3, dilation_loss_weight=0.5,
                propagation_steps=1, edge_set_name="edges")}

  def _loss_and_gradients(self, model, tasks, graph, sample_weight):
    tf.random.set_seed(11)  # The same draws: see `layers.random_permutation`.

    @tf.function
    def step(graph):
      with tf.GradientTape() as tape:
        y_pred = model(graph, training=True)
        labels = keras_training.add_labels(tasks)(graph)[1]
        loss = model.compute_loss(graph, labels, y_pred, sample_weight)
      return loss, tape.gradient(loss, model.trainable_variables)

    return step(graph)

  def _model(self, spec, tasks):
    # The same initial encoder weights for any spec (the tasks' layers are
    # shared by every model built with them).
    spec = _relaxed(spec)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(spec)
    model = keras_training.make_training_model(spec, gnn, tasks)
    kwargs = keras_training.compile_kwargs(tasks)
    model.compile(tf.keras.optimizers.Adam(), loss=kwargs["loss"],
                  weighted_metrics=kwargs["metrics"])
    return model

  @testing_utils.parameterized.named_parameters(
      ("two_tasks", False), ("stacked_views", True))
  def test_padding_changes_nothing(self, stacked):
    graph = layers.mark_real_components(testing_utils.rooted_batch(6, seed=2))
    padded, mask = tfgnn.keras.layers.PadToTotalSizes(_constraints(graph))(
        graph)
    mask = tf.cast(mask, tf.float32)
    tasks = self._tasks(stacked)
    model = self._model(graph.spec, tasks)
    loss, grads = self._loss_and_gradients(model, tasks, graph, None)
    padded_loss, padded_grads = self._loss_and_gradients(model, tasks, padded,
                                                         mask)
    self.assertGreater(float(loss), 0.1)
    self.assertAllClose(padded_loss, loss, rtol=1e-5)
    self.assertLen(padded_grads, len(grads))
    for g, padded_g, v in zip(grads, padded_grads, model.trainable_variables):
      self.assertAllClose(tf.convert_to_tensor(padded_g),
                          tf.convert_to_tensor(g), rtol=1e-4, atol=1e-6,
                          msg=v.name)
    # Without the mark, padding enters DGI's summary and the negative view.
    unmarked = graph.remove_features(context=[layers.REAL_COMPONENT])
    unmarked_padded, _ = tfgnn.keras.layers.PadToTotalSizes(
        _constraints(unmarked))(unmarked)
    other_model = self._model(unmarked.spec, tasks)
    self.assertAllClose(self._loss_and_gradients(other_model, tasks, unmarked,
                                                 None)[0], loss, rtol=1e-5)
    other_loss, _ = self._loss_and_gradients(other_model, tasks,
                                             unmarked_padded, mask)
    self.assertNotAllClose(other_loss, loss, rtol=1e-3)

  def test_marked_training_model_reloads_with_keras(self):
    graph = layers.mark_real_components(testing_utils.rooted_batch(6, seed=2))
    tasks = self._tasks(stacked=False)
    model = self._model(graph.spec, tasks)
    path = self.create_tempdir().full_path
    model.save(path, include_optimizer=False)
    reloaded = tf.keras.models.load_model(path, compile=False)
    self.assertAllClose(reloaded(graph)["dink"]["embedding"],
                        model(graph)["dink"]["embedding"])

  def test_all_nodes_readout_refuses_component_weights(self):
    graph = testing_utils.rooted_batch(4)
    task = dink.DinkClusteringTask("nodes", n_clusters=2,
                                   readout="all_nodes")
    z = task.predict(testing_utils.identity_gnn(graph.spec)(graph))
    loss = task.losses()["embedding"]
    with self.assertRaisesRegex(ValueError, "readout='first_node'"):
      loss(None, z["embedding"], sample_weight=tf.ones([5]))


class XlaTest(testing_utils.TestCase):

  def test_xla_products_match_the_csr_kernels(self):
    graph = testing_utils.rooted_batch(5, seed=1)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(int(graph.node_sets["nodes"].total_size),
                                     4)), tf.float32)
    features = dink.sparse.from_dense("bow", tf.nn.relu(x - 0.5))

    def products(x):
      propagate = dink.gcn_propagation(graph, "edges")
      bow = dink.sparse.read(features, "bow", width=4,
                             num_rows=graph.node_sets["nodes"].total_size)
      return (propagate(x), dink.sparse.matmul(bow, tf.transpose(x)),
              tf.gradients(tf.reduce_sum(propagate(x) ** 2), x)[0])

    with self.subTest("eager is not XLA"):
      self.assertFalse(dink.sparse.in_xla_context())
    expected = tf.function(products)(x)
    compiled = tf.function(products, jit_compile=True)(x)
    for e, c in zip(expected, compiled):
      self.assertAllClose(c, e, rtol=1e-5, atol=1e-6)
    np_a = testing_utils.np_normalized_adjacency(
        np.stack([graph.edge_sets["edges"].adjacency.source,
                  graph.edge_sets["edges"].adjacency.target]), x.shape[0])
    self.assertAllClose(compiled[0], np_a @ x.numpy(), rtol=1e-5, atol=1e-6)


class PaddedXlaRunnerTest(testing_utils.TestCase):

  def test_runner_trains_padded_batches_with_xla(self):
    graph, _ = testing_utils.small_graph(num_nodes=120)
    subgraphs = [_star(graph.features, root, neighbours) for root, neighbours
                 in testing_utils.sampled_neighbours(graph)]
    spec = subgraphs[0].spec.relax(num_nodes=True, num_edges=True)

    class Provider(runner.DatasetProvider):

      def get_dataset(self, context):
        ds = tf.data.Dataset.from_generator(
            lambda: iter(subgraphs), output_signature=spec)
        return ds.shard(context.num_input_pipelines,
                        context.input_pipeline_id)

    class Repeated(Provider):

      def get_dataset(self, context):
        return super().get_dataset(context).repeat()

    padding = runner.FitOrSkipPadding(spec, Provider(),
                                      fit_or_skip_sample_sample_size=120)
    tasks = {"dgi": dink.DeepGraphInfomaxTask(
                 "nodes", seed=1, svd_metrics=False,
                 augmentor=dink.DropFeatureColumns(rate=0.2, seed=2)),
             "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                             dilation_loss_weight=0.1)}
    history = tf.keras.callbacks.History()
    trainer = trainers.KerasTrainer(
        tf.distribute.get_strategy(), model_dir=self.create_tempdir().full_path,
        steps_per_epoch=6, verbose=0, summarize_every_n_steps="never",
        callbacks=[history], jit_compile=True)
    result = runner.run(
        train_ds_provider=Repeated(),
        model_fn=dink.make_gcn_model_fn(hidden_units=16, seed=0),
        optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
        trainer=trainer, task=tasks, gtspec=spec, global_batch_size=16,
        epochs=3, train_padding=padding, model_exporters=[])
    self.assertTrue(result.trained_model.jit_compile)
    h = history.history
    for key in ("dgi_discrimination_logits_loss", "dgi_predictions_loss",
                "dink_embedding_loss"):
      values = np.asarray(h[key])
      self.assertTrue(np.all(np.isfinite(values)), h)
      self.assertLess(values[-1], values[0], (key, h))


def _star(features, root, neighbours) -> tfgnn.GraphTensor:
  """A rooted subgraph, marked real: root first, edges to and from it."""
  nodes = np.concatenate([[root], neighbours]).astype(np.int64)
  leaves = np.arange(1, len(nodes))
  hub = np.zeros_like(leaves)
  graph = tfgnn.GraphTensor.from_pieces(
      node_sets={"nodes": tfgnn.NodeSet.from_fields(
          sizes=[len(nodes)], features={"feat": features[nodes]})},
      edge_sets={"edges": tfgnn.EdgeSet.from_fields(
          sizes=[2 * len(leaves)],
          adjacency=tfgnn.Adjacency.from_indices(
              ("nodes", np.concatenate([leaves, hub])),
              ("nodes", np.concatenate([hub, leaves]))))})
  return layers.mark_real_components(graph)


if __name__ == "__main__":
  testing_utils.main()
