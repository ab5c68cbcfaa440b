"""End-to-end `runner.run` with Dink-Net's tasks, providers and encoders.

Full-graph training under the default strategy and under `MirroredStrategy`
over two logical CPUs, training on sampled rooted subgraphs (one example per
root) and on batches of precomputed node rows: every loss must fall.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import os

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import propagation


def make_strategy(distributed):
  if distributed:
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  return tf.distribute.get_strategy()


def make_trainer(strategy, model_dir, steps_per_epoch):
  history = tf.keras.callbacks.History()
  trainer = runner.KerasTrainer(
      strategy, model_dir=model_dir, steps_per_epoch=steps_per_epoch,
      verbose=0, summarize_every_n_steps="never", callbacks=[history])
  return trainer, history


class RunnerIntegrationTest(testing_utils.TestCase):
  """`runner.run` with `DeepGraphInfomaxTask` and `DinkClusteringTask`."""

  def assertFalls(self, values, msg=None):
    values = np.asarray(values)
    self.assertTrue(np.all(np.isfinite(values)), msg)
    self.assertLess(values[-1], values[0], msg)

  @parameterized.named_parameters(("default_strategy", False),
                                  ("mirrored_strategy", True))
  def test_full_graph_trains_both_tasks(self, distributed):
    strategy = make_strategy(distributed)
    self.assertEqual(strategy.num_replicas_in_sync, 2 if distributed else 1)
    _, graph = testing_utils.small_graph()
    tasks = {"dgi": dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                              seed=1, svd_metrics=False),
             "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                             readout="all_nodes",
                                             dilation_loss_weight=0.1)}
    model_dir = self.create_tempdir().full_path
    trainer, history = make_trainer(strategy, model_dir, steps_per_epoch=4)
    result = runner.run(
        train_ds_provider=dink.FullGraphDatasetProvider(graph),
        model_fn=dink.make_gcn_model_fn(hidden_units=16, seed=0),
        optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
        trainer=trainer, task=tasks, gtspec=graph.spec,
        global_batch_size=strategy.num_replicas_in_sync, epochs=3,
        model_exporters=[])
    h = history.history
    self.assertFalls(h["dgi_discrimination_logits_loss"], h)
    self.assertFalls(h["dgi_predictions_loss"], h)
    self.assertFalls(h["dink_embedding_loss"], h)
    self.assertGreaterEqual(
        h["dink_cluster_probabilities_non_empty_clusters"][-1], 2)
    checkpoints = tf.io.gfile.glob(os.path.join(model_dir, "ckpnt", "*.index"))
    self.assertNotEmpty(checkpoints, os.listdir(model_dir))
    # The trained centres are the head's, and the head predicts with them.
    head = tasks["dink"].cluster_head
    self.assertIn(head.cluster_centers.name,
                  [v.name for v in result.trained_model.trainable_variables])
    z = tasks["dink"].embedding_layer(result.base_model(graph))
    self.assertAllEqual(
        head.cluster(z),
        np.argmin(((z.numpy()[:, None] -
                    head.cluster_centers.numpy()[None]) ** 2).sum(-1), 1))

  def test_sampled_rooted_subgraphs(self):
    """Batches of serialized rooted subgraphs; one example per root node."""
    graph, _ = testing_utils.small_graph(num_nodes=150)
    serialized = []
    # Root first, then sampled neighbours.
    for root, neighbours in testing_utils.sampled_neighbours(graph):
      nodes = np.concatenate([[root], neighbours]).astype(np.int64)
      local = np.arange(1, len(nodes))
      sub = data.Graph(features=graph.features[nodes],
                       edges=data.symmetrize_edges(
                           np.stack([np.zeros_like(local), local]),
                           len(nodes)))
      serialized.append(tfgnn.write_example(
          data.to_graph_tensor(sub)).SerializeToString())
    spec = data.to_graph_tensor(graph).spec.relax(
        num_components=True, num_nodes=True, num_edges=True)
    ds = tf.data.Dataset.from_tensor_slices(serialized).repeat()
    tasks = {"dgi": dink.DeepGraphInfomaxTask("nodes", seed=1,
                                              svd_metrics=False),
             "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                             dilation_loss_weight=0.1,
                                             propagation_steps=1,
                                             edge_set_name="edges")}
    trainer, history = make_trainer(tf.distribute.get_strategy(),
                                    self.create_tempdir().full_path,
                                    steps_per_epoch=8)
    result = runner.run(
        train_ds_provider=runner.PassthruDatasetProvider(
            tf.data.Dataset.from_tensors(ds)),
        model_fn=dink.make_gcn_model_fn(hidden_units=16, seed=0),
        optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
        trainer=trainer, task=tasks, gtspec=spec, global_batch_size=16,
        epochs=2, model_exporters=[])
    h = history.history
    self.assertFalls(h["dgi_discrimination_logits_loss"], h)
    self.assertFalls(h["dink_embedding_loss"], h)
    # One example per subgraph: the batch of 16 roots gives 16 rows.
    batch = tfgnn.parse_example(
        spec, tf.constant(serialized[:16])).merge_batch_to_components()
    out = tasks["dink"].predict(result.base_model(batch))
    self.assertEqual(out["cluster_id"].shape, (16,))

  def test_node_rows_under_mirrored_strategy(self):
    """The recipe's large-graph mode: A_hat X rows, a GCN on rows."""
    graph, _ = testing_utils.small_graph(num_nodes=200)
    a_hat = propagation.normalized_adjacency(graph.edges, graph.num_nodes)
    rows = propagation.gcn_input_rows(a_hat, graph.features, seed=0)
    strategy = make_strategy(True)
    tasks = {"dgi": dink.DeepGraphInfomaxTask(
                 "nodes", readout="all_nodes", svd_metrics=False,
                 corruptor=dink.ReplaceFeature(node_set_name="nodes",
                                               source="feat_negative")),
             "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                             readout="all_nodes",
                                             dilation_loss_weight=0.1)}
    provider = dink.NodeRowsDatasetProvider(rows, 32, seed=0)
    spec = provider.get_dataset(tf.distribute.InputContext()).element_spec
    trainer, history = make_trainer(strategy, self.create_tempdir().full_path,
                                    steps_per_epoch=5)
    runner.run(
        train_ds_provider=provider,
        model_fn=dink.make_gcn_rows_model_fn(hidden_units=16, seed=0),
        optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
        trainer=trainer, task=tasks, gtspec=spec, global_batch_size=2,
        epochs=3, model_exporters=[])
    h = history.history
    self.assertFalls(h["dgi_discrimination_logits_loss"], h)
    self.assertFalls(h["dink_embedding_loss"], h)


if __name__ == "__main__":
  testing_utils.main()
