r"""Tutorial: Dink-Net clustering of your own TF-GNN data with `runner.run`.

Your graph is in TF-GNN's own files: a `GraphSchema` (`schema.pbtxt`) and a
TFRecord file of `tf.Example`s, each a GraphTensor (`tfgnn.write_example`),
here one record holding the whole graph. This script clusters the nodes of
one node set with the two tasks of this package, trained by TF-GNN's runner:

  1. pretrain  `runner.run(task=DeepGraphInfomaxTask(...))`: Dink-Net's
               discrimination (the same feature columns dropped in both
               views, rows shuffled in the negative one);
  2. k-means   on the clustering embedding `normalize(h + Â^p h)`
               (`ClusteringEmbedding`), for the initial centres;
  3. fine-tune `runner.run(task={"dgi": ..., "dink": DinkClusteringTask(...)})`:
               both tasks in one model on one GNN pass, the cluster centres
               moved by the dilation and shrink losses; the runner exports
               the serving SavedModel (`DinkModelExporter`);
  4. serve     the SavedModel on the TFRecord as it is on disk, and write
               `node_id,cluster_id` (node ids from the node feature `#id`
               where the graph has one).

Run it on your files:

  python docs/tutorial_runner.py --schema=DIR/schema.pbtxt \
      --tfrecords=DIR/graph.tfrecord --node_set=paper --edge_set=cites \
      --feature=feat --n_clusters=7 --work_dir=/tmp/dink_tutorial

or with no flags on a demo graph it writes first (`WORK_DIR/demo/`). With
`--label_feature=NAME` it also reports ACC/NMI against that node feature;
labels are read only for that, after training. The model reads only
`--feature` (row-normalised inside the model, so the export takes the graph
as stored).

`tfgnn-dink train --data=DIR/schema.pbtxt` runs the same recipe with the
package's label-free model selection, resuming and reports; this script
shows the pieces, for a model of your own.
"""
import os
import sys

# The package before TensorFlow: it arranges Keras 2 for TF-GNN.
import tensorflow_gnn_dink as dink  # pylint: disable=g-bad-import-order

from absl import app
from absl import flags
from absl import logging
import numpy as np
from sklearn import cluster as sk_cluster
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import evaluation

_SCHEMA = flags.DEFINE_string("schema", None, "The GraphSchema (.pbtxt); "
                              "default: a demo graph written to WORK_DIR/demo")
_TFRECORDS = flags.DEFINE_string("tfrecords", None,
                                 "The TFRecord file of the graph.")
_NODE_SET = flags.DEFINE_string("node_set", "nodes", "The node set to cluster.")
_EDGE_SET = flags.DEFINE_string("edge_set", "edges",
                                "Its edge set (both directions of each edge).")
_FEATURE = flags.DEFINE_string("feature", "feat", "The node feature to read.")
_LABEL_FEATURE = flags.DEFINE_string(
    "label_feature", None, "Optional node feature of labels, for evaluation "
    "only.")
_N_CLUSTERS = flags.DEFINE_integer("n_clusters", 4, "K, the clusters.")
_WORK_DIR = flags.DEFINE_string("work_dir", "/tmp/dink_tutorial",
                                "Where models and outputs go.")
_HIDDEN_UNITS = flags.DEFINE_integer("hidden_units", 256, "Encoder width.")
_PRETRAIN_STEPS = flags.DEFINE_integer("pretrain_steps", 200,
                                       "Pretraining steps.")
_FINETUNE_STEPS = flags.DEFINE_integer("finetune_steps", 100,
                                       "Fine-tuning steps.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_FINETUNE_LR = flags.DEFINE_float(
    "finetune_learning_rate", 1e-3, "Fine-tuning learning rate (Adam). "
    "Dink-Net's loss is unbounded below: compare the modularity of steps 2 "
    "and 4 (label-free) before you raise it.")

_PROPAGATION_STEPS = 5  # p of the embedding normalize(h + Â^p h).


def write_demo_graph(directory: str) -> tuple[str, str]:
  """Writes a planted-partition graph as TF-GNN files; returns their paths.

  Node set "nodes" (features "feat", labels "label" and ids "#id"), edge set
  "edges": the layout TF-GNN's tools and samplers use.
  """
  graph = data.make_csbm(num_nodes=600, n_clusters=4, num_features=32,
                         feature_noise=1.5, seed=_SEED.value)
  graph_tensor = data.to_graph_tensor(graph)
  nodes = graph_tensor.node_sets["nodes"]
  graph_tensor = graph_tensor.replace_features(node_sets={"nodes": {
      "feat": nodes["feat"], "label": tf.constant(graph.labels),
      "#id": tf.constant([f"user-{i:04d}" for i in range(graph.num_nodes)])}})
  os.makedirs(directory, exist_ok=True)
  schema_path = os.path.join(directory, "schema.pbtxt")
  tfrecord_path = os.path.join(directory, "graph.tfrecord")
  tfgnn.write_schema(tfgnn.create_schema_pb_from_graph_spec(graph_tensor.spec),
                     schema_path)
  with tf.io.TFRecordWriter(tfrecord_path) as writer:
    writer.write(tfgnn.write_example(graph_tensor).SerializeToString())
  return schema_path, tfrecord_path


def main(argv) -> None:
  del argv
  logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines.
  work_dir = _WORK_DIR.value
  schema_path, tfrecord_path = _SCHEMA.value, _TFRECORDS.value
  label_feature = _LABEL_FEATURE.value
  if schema_path is None:
    schema_path, tfrecord_path = write_demo_graph(
        os.path.join(work_dir, "demo"))
    label_feature = label_feature or "label"
  elif tfrecord_path is None:
    sys.exit("--schema needs --tfrecords=FILE, the GraphTensors it describes.")
  node_set, edge_set = _NODE_SET.value, _EDGE_SET.value
  k, seed = _N_CLUSTERS.value, _SEED.value
  tf.keras.utils.set_random_seed(seed)

  # Your data, as TF-GNN reads it: the runner parses the records with gtspec.
  gtspec = tfgnn.create_graph_spec_from_schema_pb(
      tfgnn.read_schema(schema_path))
  train_ds_provider = runner.TFRecordDatasetProvider(file_pattern=tfrecord_path)
  # Row-normalised features (Dink-Net's), computed inside the model: the
  # export then takes the graph as stored.
  feature_processors = [dink.NormalizeFeatureRows(_FEATURE.value,
                                                  node_set_names=[node_set])]
  strategy = tf.distribute.get_strategy()  # Or MirroredStrategy(), ...

  def trainer(stage: str, steps: int) -> runner.KerasTrainer:
    return runner.KerasTrainer(
        strategy, model_dir=os.path.join(work_dir, stage),
        steps_per_epoch=steps, verbose=0, checkpoint_every_n_steps="never",
        summarize_every_n_steps="never")

  # 1. Pretrain the encoder with Dink-Net's discrimination task. readout=
  # "all_nodes": every node is an example (full-graph training).
  encoder = dink.make_gcn_model_fn(
      node_set_name=node_set, edge_set_name=edge_set,
      feature_name=_FEATURE.value, hidden_units=_HIDDEN_UNITS.value,
      seed=seed)(gtspec)
  dgi = dink.DeepGraphInfomaxTask(
      node_set, readout="all_nodes", seed=seed,
      augmentor=dink.DropFeatureColumns(rate=0.2, seed=seed),
      dgi_loss_weight=0.0, discrimination_loss_weight=1.0, svd_metrics=False)
  runner.run(
      train_ds_provider=train_ds_provider, model_fn=lambda _: encoder,
      optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-3),
      trainer=trainer("pretrain", _PRETRAIN_STEPS.value), task=dgi,
      gtspec=gtspec, global_batch_size=strategy.num_replicas_in_sync,
      epochs=1, feature_processors=feature_processors, model_exporters=[])
  print(f"1. pretrained {_PRETRAIN_STEPS.value} steps")

  # 2. k-means on the clustering embedding gives the initial centres.
  records = list(tf.data.TFRecordDataset(tfrecord_path).take(2))
  if len(records) != 1:
    sys.exit(f"{tfrecord_path} holds {len(records) or 'no'} records; this "
             "tutorial expects the whole graph as one GraphTensor (one "
             "record). `tfgnn-dink train --data=SCHEMA` merges several.")
  serialized = records[0]
  graph = tfgnn.parse_single_example(gtspec, serialized)
  for processor in feature_processors:
    graph = processor(graph)
  embedding = dink.ClusteringEmbedding(
      node_set, edge_set_name=edge_set, propagation_steps=_PROPAGATION_STEPS)
  z = embedding(encoder(graph)).numpy()
  kmeans = sk_cluster.KMeans(k, n_init=10, random_state=seed).fit(z)
  adjacency = graph.edge_sets[edge_set].adjacency
  edges = data.symmetrize_edges(  # Both directions, no self-loops.
      np.stack([adjacency.source.numpy(), adjacency.target.numpy()]),
      z.shape[0])
  nodes = graph.node_sets[node_set]
  labels = (nodes[label_feature].numpy().reshape(-1).astype(np.int64)
            if label_feature else None)  # Evaluation only.
  print(f"2. k-means on the {z.shape} embedding: "
        f"{_format(evaluation.evaluate(kmeans.labels_, labels, edges))}")

  # 3. Fine-tune the centres next to the discrimination task: one model,
  # one GNN pass per step, the runner's two-task training. The encoder stays
  # as pretrained (stop_gradient, as Dink-Net's official code); the runner
  # exports the serving model.
  clustering = dink.DinkClusteringTask(
      node_set, n_clusters=k, readout="all_nodes",
      cluster_centers=kmeans.cluster_centers_.astype(np.float32),
      propagation_steps=_PROPAGATION_STEPS, edge_set_name=edge_set,
      stop_gradient=True)
  export_dir = os.path.join(work_dir, "finetune", "export")
  runner.run(
      train_ds_provider=train_ds_provider, model_fn=lambda _: encoder,
      optimizer_fn=lambda: tf.keras.optimizers.Adam(_FINETUNE_LR.value),
      trainer=trainer("finetune", _FINETUNE_STEPS.value),
      task={"dgi": dgi, "dink": clustering}, gtspec=gtspec,
      global_batch_size=strategy.num_replicas_in_sync, epochs=1,
      feature_processors=feature_processors,
      model_exporters=[dink.DinkModelExporter(
          clustering, gtspec, feature_processors=feature_processors)])
  print(f"3. fine-tuned {_FINETUNE_STEPS.value} steps; exported to "
        f"{export_dir}:\n   {dink.describe_serving_signature(export_dir)}")

  # 4. Serve the graph as stored; write the cluster of every node.
  serve = tf.saved_model.load(export_dir).signatures["serving_default"]
  cluster_ids = serve(examples=tf.reshape(serialized, [1]))["cluster_id"]
  cluster_ids = cluster_ids.numpy()
  node_ids = None
  if "#id" in nodes.features:  # Strings or integers.
    node_ids = nodes["#id"].numpy().reshape(-1)
    if node_ids.dtype == object:
      node_ids = np.array([v.decode() for v in node_ids])
  output = os.path.join(work_dir, "cluster_ids.csv")
  assignments.write(output, cluster_ids, node_ids)
  print(f"4. wrote {output}: "
        f"{_format(evaluation.evaluate(cluster_ids, labels, edges))}")


def _format(metrics: dict[str, float]) -> str:
  return ", ".join(f"{name} {value:.4f}" if isinstance(value, float) else
                   f"{name} {value}" for name, value in sorted(metrics.items()))


if __name__ == "__main__":
  app.run(main)
