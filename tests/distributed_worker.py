"""One process of a distributed `runner.run` with both tasks, for the tests.

  python tests/distributed_worker.py OUT_DIR STRATEGY INPUT

STRATEGY: `multi_worker` or `parameter_server` (the cluster from
`TF_CONFIG`; under `parameter_server` the workers and parameter servers
serve until killed and the chief trains), `default` or `mirrored` (two
logical CPUs). INPUT: `full_graph` (every replica trains on
the whole graph) or `node_rows` (batches of `Â X` rows, each input pipeline
its own shard). Trains the pretraining and clustering tasks together on a
seeded synthetic graph, then writes `OUT_DIR/TASK_ID.npz`: the trained
weights (`weight_0`, ...), the cluster id of every node (`cluster_ids`),
the labels and the number of replicas.
"""
import os
import sys

import tensorflow_gnn_dink as dink  # pylint: disable=g-bad-import-order

import numpy as np
from sklearn import cluster
import tensorflow as tf
from tensorflow_gnn import runner

from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import propagation
from tensorflow_gnn_dink.recipe import strategies

NUM_NODES, N_CLUSTERS, HIDDEN_UNITS = 300, 3, 16


def make_strategy(name: str) -> tf.distribute.Strategy:
  if name == "parameter_server" and strategies.tf_config()["task"][
      "type"] != "chief":
    strategies.serve()  # Never returns.
  if name == "mirrored":
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  return strategies.make_strategy(name)


def main(out_dir: str, strategy_name: str, input_name: str) -> None:
  strategy = make_strategy(strategy_name)  # Before any other TensorFlow op.
  tf.keras.utils.set_random_seed(0)
  graph = data.make_csbm(num_nodes=NUM_NODES, n_clusters=N_CLUSTERS,
                         num_features=16, feature_noise=1.0, seed=0)
  graph_tensor = data.to_graph_tensor(graph)
  # The clustering embedding: h + Â^2 h on the graph, h alone on rows.
  steps = 2 if input_name == "full_graph" else 0
  task_kwargs = dict(readout="all_nodes", propagation_steps=steps,
                     edge_set_name="edges" if steps else None)
  if input_name == "full_graph":
    provider = dink.FullGraphDatasetProvider(graph_tensor)
    model_fn = dink.make_gcn_model_fn(hidden_units=HIDDEN_UNITS, seed=0)
    gtspec = graph_tensor.spec
    corruptor = None
  else:
    a_hat = propagation.normalized_adjacency(graph.edges, NUM_NODES)
    rows = propagation.gcn_input_rows(a_hat, graph.features, seed=0)
    features = {"feat": rows["feat"], "negative": rows["feat_negative"]}
    provider = dink.NodeRowsDatasetProvider(features, batch_size=64, seed=0)
    gtspec = provider.to_graph(
        {k: v[:1] for k, v in features.items()}).spec.relax(num_nodes=True)
    model_fn = dink.make_gcn_rows_model_fn(hidden_units=HIDDEN_UNITS, seed=0)
    corruptor = dink.ReplaceFeature(node_set_name="nodes", source="negative",
                                    target="feat")
  # Centres from k-means of the untrained encoder's clustering embedding
  # (the same on every worker: the same seeds).
  with strategy.scope():
    encoder = model_fn(gtspec)
  gcn = dink.make_gcn_model_fn(hidden_units=HIDDEN_UNITS)(graph_tensor.spec)
  embedding = dink.ClusteringEmbedding("nodes", edge_set_name="edges",
                                       propagation_steps=steps)

  def cluster_embedding() -> np.ndarray:
    gcn.set_weights(encoder.get_weights())
    return embedding(gcn(graph_tensor)).numpy()

  centers = cluster.KMeans(N_CLUSTERS, n_init=5, random_state=0).fit(
      cluster_embedding()).cluster_centers_.astype(np.float32)
  tasks = {
      "dgi": dink.DeepGraphInfomaxTask(
          "nodes", seed=1, svd_metrics=False, dgi_loss_weight=0.0,
          corruptor=corruptor, readout="all_nodes"),
      "dink": dink.DinkClusteringTask("nodes", n_clusters=N_CLUSTERS,
                                      dilation_loss_weight=0.1,
                                      cluster_centers=centers,
                                      stop_gradient=True, **task_kwargs)}
  resolver = getattr(strategy, "cluster_resolver", None)
  task_id = resolver.task_id if resolver and resolver.task_type else 0
  trainer = runner.KerasTrainer(
      strategy, model_dir=os.path.join(out_dir, "model"), steps_per_epoch=20,
      verbose=0, summarize_every_n_steps="never",
      checkpoint_every_n_steps="never")
  result = runner.run(
      train_ds_provider=provider, model_fn=lambda _: encoder,
      optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-3), trainer=trainer,
      task=tasks, gtspec=gtspec,
      global_batch_size=strategy.num_replicas_in_sync, epochs=3,
      model_exporters=[])
  # Every node's cluster, from the trained GCN on the whole graph.
  cluster_ids = tasks["dink"].cluster_head.cluster(cluster_embedding())
  weights = result.trained_model.get_weights()
  np.savez(os.path.join(out_dir, f"{task_id}.npz"),
           cluster_ids=cluster_ids.numpy(), labels=graph.labels,
           replicas=strategy.num_replicas_in_sync,
           **{f"weight_{i}": w for i, w in enumerate(weights)})


if __name__ == "__main__":
  main(*sys.argv[1:])
