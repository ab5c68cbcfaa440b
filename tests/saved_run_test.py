"""A finished run used again: predict, evaluate and export from its model."""
import testing_utils  # First: Keras 2 before TensorFlow.

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import pipeline
from tensorflow_gnn_dink.recipe import saved_run


def _config(**changes):
  config = config_lib.default_config()
  config.model.hidden_units = 16
  config.pretrain.steps = 20
  config.finetune.steps = 10
  config.steps_per_epoch = 10
  config.synthetic.num_nodes = 200
  config.synthetic.n_clusters = 3
  config.update_from_flattened_dict(changes)
  return config


class RestoreTest(testing_utils.TestCase):

  @testing_utils.parameterized.named_parameters(
      ("full_graph", {}),
      ("node_rows", {"batch_size": 64}),
      ("trained_encoder", {"finetune.stop_gradient": False,
                           "finetune.shrink": "assigned"}))
  def test_predict_on_the_trained_graph_gives_the_runs_cluster_ids(
      self, changes):
    config = _config(**changes)
    model_dir = self.create_tempdir().full_path
    graph = saved_run.read_graph(config)
    results = pipeline.run(config, graph, model_dir, log=lambda _: None,
                           verbosity=-1)
    tf.keras.backend.clear_session()
    loaded = saved_run.load_config(model_dir)
    self.assertEqual(config_lib.flatten(loaded),
                     config_lib.flatten(config))
    restored = saved_run.restore(model_dir, saved_run.read_graph(loaded))
    cluster_ids = saved_run.predict(restored)
    expected = assignments.read(os.path.join(model_dir, "cluster_ids.csv"),
                                graph)
    self.assertAllEqual(cluster_ids, expected)
    self.assertEqual(saved_run.evaluate(graph, cluster_ids),
                     results["metrics"])
    # The export written again serves the same ids.
    export_dir = os.path.join(self.create_tempdir().full_path, "serving")
    saved_run.export(restored, export_dir)
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    example = tfgnn.write_example(data.to_graph_tensor(
        data.with_feature_format(graph, "auto")))
    out = serve(examples=tf.constant([example.SerializeToString()]))
    self.assertAllEqual(out["cluster_id"], expected)

  def test_another_graph_with_the_same_features_and_without_labels(self):
    config = _config()
    model_dir = self.create_tempdir().full_path
    pipeline.run(config, saved_run.read_graph(config), model_dir,
                 log=lambda _: None, verbosity=-1)
    other = data.make_csbm(num_nodes=50, n_clusters=2, num_features=64,
                           seed=9)
    other = data.Graph(features=other.features, edges=other.edges)
    cluster_ids = saved_run.predict(saved_run.restore(model_dir, other))
    self.assertEqual(cluster_ids.shape, (50,))
    self.assertTrue(np.all((cluster_ids >= 0) & (cluster_ids < 3)))
    # Other features: refused, naming both widths.
    narrow = data.make_csbm(num_nodes=50, n_clusters=2, num_features=8,
                            seed=9)
    with self.assertRaisesRegex(ValueError, "The graph has 8 feature columns; "
                                "the model in .* was trained on 64"):
      saved_run.restore(model_dir, narrow)
    # Fewer nodes than K, and all alike: fine for inference (not training).
    tiny = data.Graph(features=np.ones([2, 64], np.float32),
                      edges=np.array([[0], [1]]))
    self.assertEqual(saved_run.predict(saved_run.restore(model_dir,
                                                         tiny)).shape, (2,))

  def test_a_directory_without_a_finished_run_is_refused(self):
    empty = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, "holds no finished run .*train "
                                "one there first"):
      saved_run.load_config(empty)
    with self.assertRaisesRegex(ValueError, "is not a directory"):
      saved_run.load_config(os.path.join(empty, "nosuch"))

  def test_a_run_from_before_a_field_existed_reads_its_default(self):
    model_dir = self.create_tempdir().full_path
    config = _config(seed=3)
    record = config.to_dict()
    del record["pretrain"]["similarity_pairs"]  # Added after such runs.
    del record["pretrain"]["sparsity_threshold"]
    _write_run(model_dir, record)
    loaded = saved_run.load_config(model_dir)
    self.assertEqual(config_lib.flatten(loaded), config_lib.flatten(config))
    config_lib.validate(loaded)

  def test_a_run_from_before_a_default_changed_keeps_its_behaviour(self):
    """A field absent from an older run takes what that run did instead."""
    model_dir = self.create_tempdir().full_path
    config = _config(seed=3)
    record = config.to_dict()
    for name in config_lib.FORMER_DEFAULTS:
      parent, _, leaf = name.rpartition(".")
      del record[parent][leaf]
    _write_run(model_dir, record)
    loaded = config_lib.flatten(saved_run.load_config(model_dir))
    self.assertEqual(loaded["model.activation"], "prelu")
    self.assertEqual(loaded["kmeans.restarts_by"], "modularity")
    for name, value in config_lib.FORMER_DEFAULTS.items():
      self.assertEqual(loaded[name], value, msg=name)
    # A field the run has is its own, whatever FORMER_DEFAULTS says.
    record["model"]["activation"] = "tanh"
    _write_run(model_dir, record)
    self.assertEqual(
        saved_run.load_config(model_dir).model.activation, "tanh")


def _write_run(model_dir, record):
  """The files of a finished run with config `record` (empty checkpoint)."""
  with open(os.path.join(model_dir, "run.json"), "w") as f:
    json.dump({"config": record}, f)
  for name in ("results.json", "checkpoint/model.index"):
    os.makedirs(os.path.dirname(os.path.join(model_dir, name)), exist_ok=True)
    open(os.path.join(model_dir, name), "w").close()


if __name__ == "__main__":
  testing_utils.main()
