"""Tests for `tensorflow_gnn_dink.keras_training`: `model.fit` with tasks."""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink


def make_tasks(n_clusters=3, **dink_kwargs):
  return {"dgi": dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                           seed=1, svd_metrics=False),
          "dink": dink.DinkClusteringTask("nodes", n_clusters=n_clusters,
                                          readout="all_nodes",
                                          dilation_loss_weight=0.1,
                                          **dink_kwargs)}


class KerasTrainingTest(testing_utils.TestCase):
  """`make_training_model`, `compile_kwargs` and `add_labels`."""

  def assertFalls(self, values, msg=None):
    values = np.asarray(values)
    self.assertTrue(np.all(np.isfinite(values)), msg)
    self.assertLess(values[-1], values[0], msg)

  def test_fit_trains_both_tasks(self):
    _, graph = testing_utils.small_graph()
    tasks = make_tasks()
    gnn = dink.make_gcn_model_fn(hidden_units=16, seed=0)(graph.spec)
    model = dink.make_training_model(graph.spec, gnn, tasks)
    model.compile(tf.keras.optimizers.Adam(1e-2), **dink.compile_kwargs(tasks))
    ds = tf.data.Dataset.from_tensors(graph).map(
        dink.add_labels(tasks)).repeat()
    h = model.fit(ds, steps_per_epoch=5, epochs=4, verbose=0).history
    self.assertFalls(h["loss"], h)
    self.assertFalls(h["dgi_discrimination_logits_loss"], h)
    self.assertFalls(h["dgi_predictions_loss"], h)
    self.assertFalls(h["dink_embedding_loss"], h)
    self.assertGreaterEqual(
        h["dink_cluster_probabilities_non_empty_clusters"][-1], 2)
    # The trained centres are the task's head's.
    centers = tasks["dink"].cluster_head.cluster_centers
    self.assertIn(centers.ref(), {v.ref() for v in model.trainable_variables})

  def test_outputs_are_the_tasks_predictions_on_one_shared_gnn_pass(self):
    _, graph = testing_utils.small_graph(num_nodes=40)
    tasks = make_tasks(propagation_steps=2, edge_set_name="edges")
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(graph.spec)
    model = dink.make_training_model(graph.spec, gnn, tasks)
    # DGI's clean view and the clustering task's input are the same graph:
    # the GNN runs on it once, and once on the corrupted view.
    self.assertLen(gnn.inbound_nodes, 2)
    out = model(graph)
    self.assertSetEqual(set(out), {"dgi", "dink"})
    encoded = gnn(graph)
    h = encoded.node_sets["nodes"][tfgnn.HIDDEN_STATE].numpy()
    self.assertAllClose(out["dgi"]["representations"][:, 0], h, rtol=1e-5,
                        atol=1e-6)
    z = tasks["dink"].embedding_layer(encoded).numpy()
    self.assertAllClose(out["dink"]["embedding"], z, rtol=1e-5, atol=1e-6)
    self.assertAllEqual(out["dink"]["cluster_id"],
                        tasks["dink"].cluster_head.cluster(z))

  def test_add_labels_and_compile_kwargs(self):
    _, graph = testing_utils.small_graph(num_nodes=30)
    tasks = make_tasks()
    same, labels = dink.add_labels(tasks)(graph)
    self.assertIs(same, graph)
    for name, task in tasks.items():
      expected = task.preprocess(graph)[1]
      self.assertSetEqual(set(labels[name]), set(expected))
      for key, value in expected.items():
        self.assertAllEqual(labels[name][key], value)
    self.assertAllEqual(labels["dgi"]["predictions"], np.tile([[0, 1]],
                                                              (30, 1)))
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(graph.spec)
    dink.make_training_model(graph.spec, gnn, tasks)  # Makes the head.
    kwargs = dink.compile_kwargs(tasks)
    self.assertSetEqual(set(kwargs), {"loss", "metrics"})
    for name, task in tasks.items():
      self.assertSetEqual(set(kwargs["loss"][name]), set(task.losses()))
      self.assertSetEqual(set(kwargs["metrics"][name]), set(task.metrics()))


if __name__ == "__main__":
  testing_utils.main()
