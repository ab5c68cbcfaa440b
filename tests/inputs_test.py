"""Tests for `tensorflow_gnn_dink.inputs`: the in-memory dataset providers."""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import numpy as np
import tensorflow as tf
from tensorflow_gnn import runner

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink.recipe import data


def node_rows(graph, feature="feat"):
  return graph.node_sets["nodes"][feature].numpy()


class FullGraphDatasetProviderTest(testing_utils.TestCase):
  """`FullGraphDatasetProvider`: the whole graph, every step."""

  def test_yields_the_same_graph_repeatedly(self):
    graph, graph_tensor = testing_utils.small_graph(num_nodes=40)
    provider = dink.FullGraphDatasetProvider(graph_tensor)
    ds = provider.get_dataset(tf.distribute.InputContext(2, 1, 2))
    self.assertEqual(ds.element_spec, graph_tensor.spec)
    elements = list(ds.take(3))
    self.assertLen(elements, 3)
    for element in elements:
      self.assertAllEqual(node_rows(element), graph.features)
      adjacency = element.edge_sets["edges"].adjacency
      self.assertAllEqual(
          np.stack([adjacency.source.numpy(), adjacency.target.numpy()]),
          graph.edges)
      self.assertAllEqual(element.node_sets["nodes"].sizes, [40])

  def test_holds_few_copies_of_the_graph_between_steps(self):
    """The runner's batching copies every element: few may wait ahead.

    With tf.data's default parallelism and prefetching, the tensors held
    between `runner.run`'s training steps were about seven copies of the
    features (Amazon-Photo: 154 MiB for 22 MiB of features).
    """
    graph = data.make_csbm(num_nodes=2000, n_clusters=3, num_features=1000,
                           avg_degree=4.0, seed=0)
    graph_tensor = data.to_graph_tensor(graph)
    feature_bytes = graph.features.nbytes  # 7.6 MiB.
    held = []

    class Held(tf.keras.callbacks.Callback):

      def on_train_batch_begin(self, batch, logs=None):
        if batch >= 2:  # The pipeline is full.
          held.append(tf.config.experimental.get_memory_info("CPU:0")[
              "current"])

    trainer = runner.KerasTrainer(
        tf.distribute.get_strategy(),
        model_dir=self.create_tempdir().full_path, steps_per_epoch=6,
        verbose=0, summarize_every_n_steps="never",
        checkpoint_every_n_steps="never", callbacks=[Held()])
    task = dink.DeepGraphInfomaxTask(
        "nodes", readout="all_nodes", svd_metrics=False, seed=0,
        augmentor=dink.DropFeatureColumns(rate=0.2, seed=0))
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    runner.run(
        train_ds_provider=dink.FullGraphDatasetProvider(graph_tensor),
        model_fn=dink.make_gcn_model_fn(hidden_units=8, seed=0),
        optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-3),
        trainer=trainer, task=task, gtspec=graph_tensor.spec,
        global_batch_size=1, epochs=1, model_exporters=[])
    self.assertNotEmpty(held)
    copies = (max(held) - before) / feature_bytes
    self.assertLess(copies, 4.5)

  def test_rejects_a_batched_graph(self):
    _, graph_tensor = testing_utils.small_graph(num_nodes=20)
    batched = next(iter(tf.data.Dataset.from_tensors(graph_tensor).batch(2)))
    self.assertEqual(batched.rank, 1)
    with self.assertRaisesRegex(ValueError,
                                "Expected a scalar GraphTensor, got rank 1"):
      dink.FullGraphDatasetProvider(batched)


class NodeRowsDatasetProviderTest(testing_utils.TestCase):
  """`NodeRowsDatasetProvider`: fixed-size shuffled batches of node rows."""

  def test_fixed_shapes_and_each_pass_covers_distinct_rows(self):
    ids = np.arange(10, dtype=np.float32)[:, None]
    provider = dink.NodeRowsDatasetProvider(
        {"feat": ids, "twice": 2 * ids}, 3, seed=2)
    ds = provider.get_dataset(tf.distribute.InputContext())
    self.assertEqual(ds.element_spec.rank, 0)
    self.assertEqual(
        ds.element_spec.node_sets_spec["nodes"]["feat"].shape, [3, 1])
    graphs = list(ds.take(10))
    batches = [node_rows(g).ravel() for g in graphs]
    for graph, batch in zip(graphs, batches):
      self.assertLen(batch, 3)
      self.assertAllEqual(graph.node_sets["nodes"].sizes, [3])
      self.assertEmpty(graph.edge_sets)
      # Each row keeps its features together.
      self.assertAllEqual(node_rows(graph, "twice").ravel(), 2 * batch)
    # Every pass gives 3 full batches of distinct rows (the 10th is dropped),
    # so no batch ever holds a row twice.
    passes = [np.concatenate(batches[i:i + 3]) for i in (0, 3, 6)]
    for rows in passes:
      self.assertLen(set(rows), 9)
      self.assertContainsSubset(set(rows), set(range(10)))
    # Every row is seen, and the order is reshuffled (not the same again).
    self.assertSetEqual(set(np.concatenate(passes)), set(range(10)))
    self.assertFalse(np.array_equal(passes[1], passes[0]))

  def test_shards_are_disjoint_per_input_pipeline(self):
    ids = np.arange(10, dtype=np.float32)[:, None]
    provider = dink.NodeRowsDatasetProvider({"feat": ids}, 2, seed=0)
    seen = []
    for i in range(2):
      ds = provider.get_dataset(tf.distribute.InputContext(2, i, 2))
      seen.append(set(np.concatenate([node_rows(g).ravel()
                                      for g in ds.take(2)])))
    self.assertLen(seen[0], 4)
    self.assertLen(seen[1], 4)
    self.assertEmpty(seen[0] & seen[1])  # Each replica reads its own rows.

  def test_to_graph(self):
    provider = dink.NodeRowsDatasetProvider(
        {"feat": np.zeros((4, 2), np.float32)}, 2, node_set_name="papers")
    graph = provider.to_graph({"feat": tf.ones((5, 2))})
    self.assertAllEqual(graph.node_sets["papers"].sizes, [5])
    self.assertAllEqual(graph.node_sets["papers"]["feat"], np.ones((5, 2)))

  def test_errors(self):
    ids = np.arange(10, dtype=np.float32)[:, None]
    with self.assertRaisesRegex(ValueError, r"batch_size must be in \[1, 10\]"):
      dink.NodeRowsDatasetProvider({"feat": ids}, 11)
    with self.assertRaisesRegex(ValueError, r"batch_size must be in \[1, 10\]"):
      dink.NodeRowsDatasetProvider({"feat": ids}, 0)
    with self.assertRaisesRegex(ValueError, "one common number of rows"):
      dink.NodeRowsDatasetProvider({"feat": ids, "b": ids[:5]}, 2)
    with self.assertRaisesRegex(ValueError, "one common number of rows"):
      dink.NodeRowsDatasetProvider({}, 2)
    # Each of 4 input pipelines holds 2 or 3 of the 10 rows: too few for 3.
    provider = dink.NodeRowsDatasetProvider({"feat": ids}, 3)
    with self.assertRaisesRegex(ValueError, "holds 2 rows, fewer than "
                                "batch_size=3: lower the batch size"):
      provider.get_dataset(tf.distribute.InputContext(4, 3, 4))


if __name__ == "__main__":
  testing_utils.main()
