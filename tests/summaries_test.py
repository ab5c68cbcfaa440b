"""TensorBoard summaries of a run: scalars, selections, projector."""
import testing_utils  # First: Keras 2 before TensorFlow.

import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins.projector import projector_config_pb2
from google.protobuf import text_format

from tensorflow_gnn_dink.recipe import progress
from tensorflow_gnn_dink.recipe import summaries


class MeaningfulMetricsTest(testing_utils.TestCase):

  def test_keeps_the_loss_and_the_metrics_that_mean_something(self):
    logs = {"loss": 0.69, "dgi_discrimination_logits_loss": 0.69,
            "dgi_predictions_loss": 0.0, "dgi_representations_loss": 0.0,
            "dgi_discrimination_logits_binary_accuracy": 0.51,
            "dgi_predictions_binary_accuracy": 0.5,
            "dink_cluster_id_loss": 0.0,
            "dink_cluster_probabilities_non_empty_clusters": 5.0,
            "dink_cluster_probabilities_cluster_size_entropy": 0.99}
    self.assertEqual(progress.meaningful_metrics(logs), {
        "loss": 0.69, "discrimination_accuracy": 0.51,
        "non_empty_clusters": 5.0, "cluster_size_entropy": 0.99})
    self.assertEqual(progress.meaningful_metrics(None), {})


class SummariesTest(testing_utils.TestCase):

  def test_training_scalars_every_n_steps(self):
    log_dir = self.create_tempdir().full_path
    model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((20, 3), np.float32)
    model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0,
              callbacks=[summaries.TrainingScalars(log_dir, 4)])
    losses = summaries.read_scalars(log_dir)["loss"]
    self.assertEqual(sorted(losses), [4, 8])

  def test_choices_by_step_and_final_metrics(self):
    model_dir = self.create_tempdir().full_path
    summaries.write_choices(
        model_dir, {"pretrain": [[50, 0.61], [100, 0.65]],
                    "finetune": [[0, 0.65], [50, 0.66]]},
        {"ACC": 0.7, "non_empty_clusters": 7})
    scalars = summaries.read_scalars(
        summaries.directory(model_dir, "selection"))
    self.assertAllClose(scalars["pretrain_modularity"], {50: 0.61, 100: 0.65})
    self.assertAllClose(scalars["finetune_modularity"], {0: 0.65, 50: 0.66})
    self.assertAllClose(scalars["final/non_empty_clusters"], {0: 7.0})
    # Written again (a resumed run): still one value per step.
    summaries.write_choices(model_dir, {"pretrain": [[50, 0.6]]}, {})
    log_dir = summaries.directory(model_dir, "selection")
    self.assertLen(os.listdir(log_dir), 1)
    self.assertEqual(summaries.read_scalars(log_dir),
                     {"pretrain_modularity": {50: 0.6000000238418579}})

  def test_projector_embedding_and_metadata(self):
    model_dir = self.create_tempdir().full_path
    z = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    cluster_ids = np.arange(50) % 3
    labels = np.arange(50) % 2
    # Twice (a resumed run writes it again): one checkpoint, the last.
    for max_points in (50, 20):
      points = summaries.write_projector(model_dir, z, cluster_ids, labels,
                                         max_points=max_points)
    self.assertEqual(points, 20)
    log_dir = summaries.directory(model_dir, "projector")
    with open(os.path.join(log_dir, "metadata.tsv")) as f:
      rows = [line.rstrip("\n").split("\t") for line in f]
    self.assertEqual(rows[0], ["node_id", "cluster_id", "label"])
    nodes = np.array([int(r[0]) for r in rows[1:]])
    self.assertLen(nodes, 20)
    self.assertAllEqual([int(r[1]) for r in rows[1:]], cluster_ids[nodes])
    self.assertAllEqual([int(r[2]) for r in rows[1:]], labels[nodes])
    with open(os.path.join(log_dir, "projector_config.pbtxt")) as f:
      config = text_format.Parse(f.read(),
                                 projector_config_pb2.ProjectorConfig())
    tensor_name = config.embeddings[0].tensor_name
    self.assertEqual(config.embeddings[0].metadata_path, "metadata.tsv")
    # What the projector plugin reads: the latest checkpoint in the dir.
    checkpoint = tf.train.latest_checkpoint(log_dir)
    self.assertAllClose(tf.train.load_variable(checkpoint, tensor_name),
                        z[nodes])
    # Without labels: no label column.
    summaries.write_projector(model_dir, z, cluster_ids, None)
    with open(os.path.join(log_dir, "metadata.tsv")) as f:
      self.assertEqual(f.readline(), "node_id\tcluster_id\n")
    # The graph's own node ids, made safe for the TSV.
    names = np.array([f"n {i}\tx" for i in range(49)] + [""])
    summaries.write_projector(model_dir, z, cluster_ids, None,
                              node_ids=names)
    with open(os.path.join(log_dir, "metadata.tsv")) as f:
      rows = [line.rstrip("\n").split("\t") for line in f]
    self.assertEqual(rows[1], ["n 0 x", "0"])
    self.assertEqual(rows[-1], ["_", str(cluster_ids[-1])])
    self.assertLen(rows, 51)


if __name__ == "__main__":
  testing_utils.main()
