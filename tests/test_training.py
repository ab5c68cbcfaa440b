"""End-to-end training: runner.run (default and MirroredStrategy) and model.fit."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import data
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import keras_model
from tensorflow_gnn_dink import models

from helpers import small_graph


def make_tasks(n_clusters=3):
  return {"dgi": dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                           seed=1),
          "dink": dink.DinkClusteringTask("nodes", n_clusters=n_clusters,
                                          readout="all_nodes",
                                          dilation_loss_weight=0.1)}


def falls(values):
  values = np.asarray(values)
  return np.all(np.isfinite(values)) and values[-1] < values[0]


@pytest.mark.parametrize("distributed", [False, True])
def test_runner_trains_both_tasks(tmp_path, distributed):
  if distributed:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  else:
    strategy = tf.distribute.get_strategy()
  _, graph = small_graph()
  tasks = make_tasks()
  history = tf.keras.callbacks.History()
  trainer = runner.KerasTrainer(
      strategy, model_dir=str(tmp_path), steps_per_epoch=5, verbose=0,
      summarize_every_n_steps="never", callbacks=[history])
  result = runner.run(
      train_ds_provider=inputs.FullGraphDatasetProvider(graph),
      model_fn=models.make_gcn_model_fn(hidden_units=16, seed=0),
      optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
      trainer=trainer, task=tasks, gtspec=graph.spec,
      global_batch_size=strategy.num_replicas_in_sync, epochs=4,
      model_exporters=[])
  h = history.history
  assert falls(h["dgi_discrimination_logits_loss"]), h
  assert falls(h["dgi_predictions_loss"]), h
  assert falls(h["dink_embedding_loss"]), h
  assert h["dink_cluster_probabilities_non_empty_clusters"][-1] >= 2
  checkpoints = tf.io.gfile.glob(os.path.join(tmp_path, "ckpnt", "*.index"))
  assert checkpoints, os.listdir(tmp_path)
  # The trained centres are the head's, and the model predicts with them.
  head = tasks["dink"].cluster_head
  assert any(v is head.cluster_centers or v.name == head.cluster_centers.name
             for v in result.trained_model.trainable_variables)


def test_keras_fit_trains_both_tasks():
  _, graph = small_graph()
  tasks = make_tasks()
  gnn = models.make_gcn_model_fn(hidden_units=16, seed=0)(graph.spec)
  model = keras_model.make_training_model(graph.spec, gnn, tasks)
  model.compile(tf.keras.optimizers.Adam(1e-2),
                **keras_model.compile_kwargs(tasks))
  ds = tf.data.Dataset.from_tensors(graph).map(
      keras_model.add_labels(tasks)).repeat()
  h = model.fit(ds, steps_per_epoch=5, epochs=4, verbose=0).history
  assert falls(h["loss"]), h
  keys = [k for k in h if k.endswith("discrimination_logits_loss")]
  assert keys and falls(h[keys[0]]), h
  keys = [k for k in h if k.endswith("embedding_loss")]
  assert keys and falls(h[keys[0]]), h


def test_runner_on_sampled_rooted_subgraphs(tmp_path):
  """Batches of serialized rooted subgraphs; one example per root node."""
  rng = np.random.default_rng(0)
  graph, _ = small_graph(num_nodes=150)
  adjacency = [[] for _ in range(graph.num_nodes)]
  for s, t in graph.edges.T:
    adjacency[s].append(t)
  serialized = []
  for root in range(graph.num_nodes):  # Root first, then sampled neighbours.
    neighbours = rng.permutation(adjacency[root])[:4]
    nodes = np.concatenate([[root], neighbours]).astype(np.int64)
    local = np.arange(1, len(nodes))
    sub = data.Graph(features=graph.features[nodes],
                     edges=data.symmetrize_edges(
                         np.stack([np.zeros_like(local), local]), len(nodes)))
    serialized.append(tfgnn.write_example(
        data.to_graph_tensor(sub)).SerializeToString())
  spec = data.to_graph_tensor(graph).spec.relax(num_components=True,
                                                num_nodes=True, num_edges=True)
  ds = tf.data.Dataset.from_tensor_slices(serialized).repeat()
  tasks = {"dgi": dink.DeepGraphInfomaxTask("nodes", seed=1),
           "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                           dilation_loss_weight=0.1)}
  history = tf.keras.callbacks.History()
  trainer = runner.KerasTrainer(
      tf.distribute.get_strategy(), model_dir=str(tmp_path),
      steps_per_epoch=10, verbose=0, summarize_every_n_steps="never",
      callbacks=[history])
  runner.run(
      train_ds_provider=runner.PassthruDatasetProvider(
          tf.data.Dataset.from_tensors(ds)),
      model_fn=models.make_gcn_model_fn(hidden_units=16, seed=0),
      optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
      trainer=trainer, task=tasks, gtspec=spec, global_batch_size=16,
      epochs=3, model_exporters=[])
  h = history.history
  assert falls(h["dgi_discrimination_logits_loss"]), h
  assert falls(h["dink_embedding_loss"]), h
