"""Tests for `tensorflow_gnn_dink.export`: the clustering SavedModel.

The exported model takes serialized graphs as read from disk (its feature
processors normalise them), gives the in-memory model's outputs, is
deterministic, serves graphs of any size, and reloads in a fresh process that
imports neither TF-GNN nor this package.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import export

OUTPUTS = {"cluster_id", "cluster_probabilities", "embedding"}

_RELOAD = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf  # Plain TensorFlow: no TF-GNN, no this package.
    examples = tf.constant([open(sys.argv[2], "rb").read()])
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    for i in range(2):
      out = serve(examples=examples)
      np.savez(sys.argv[3] + f"_{i}.npz",
               **{k: v.numpy() for k, v in out.items()})
    assert "tensorflow_gnn" not in sys.modules
    assert "tensorflow_gnn_dink" not in sys.modules
""")


def serialize(*graphs):
  return tf.constant([tfgnn.write_example(g).SerializeToString()
                      for g in graphs])


def np_normalize_rows_l1(x):
  sums = np.abs(x).sum(1, keepdims=True)
  return x / np.where(sums > 0, sums, 1.0)


def with_features(graph_tensor, features):
  return graph_tensor.replace_features(node_sets={"nodes": {
      "feat": tf.constant(features, tf.float32)}})


def raw_graph(seed=0, num_nodes=60):
  """A graph whose features are far from L1-normalised (rows scaled 0.5..20)."""
  graph, graph_tensor = testing_utils.small_graph(seed=seed,
                                                  num_nodes=num_nodes)
  scale = np.random.default_rng(seed).uniform(0.5, 20.0, (num_nodes, 1))
  raw = (graph.features * scale).astype(np.float32)
  return graph, with_features(graph_tensor, raw), raw


def np_outputs(h, edges, centers, steps):
  """Expected embedding and cluster ids of `DinkClusteringTask`, in numpy."""
  a_hat = testing_utils.np_normalized_adjacency(edges, len(h))
  h = np.asarray(h, np.float64)
  z = h + np.linalg.matrix_power(a_hat, steps) @ h
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  d2 = ((z[:, None] - np.asarray(centers, np.float64)[None]) ** 2).sum(-1)
  return z, d2.argmin(1)


class ServingModelTest(testing_utils.TestCase):
  """`make_serving_model`, `save_serving_model` and `DinkModelExporter`."""

  def test_feature_processors_make_the_raw_graph_servable(self):
    graph, raw, raw_features = raw_graph()
    normalised = with_features(raw, np_normalize_rows_l1(raw_features))
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(raw.spec)
    centers = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=3, readout="all_nodes", cluster_centers=centers,
        propagation_steps=2, edge_set_name="edges")
    serving = dink.make_serving_model(
        gnn, task, raw.spec, feature_processors=[dink.NormalizeFeatureRows()])
    got = serving(serialize(raw))
    self.assertSetEqual(set(got), OUTPUTS)
    # The in-memory model on the pre-normalised graph.
    h = gnn(normalised).node_sets["nodes"][tfgnn.HIDDEN_STATE].numpy()
    z = task.embedding_layer(gnn(normalised))
    self.assertAllClose(got["embedding"], z, rtol=1e-5, atol=1e-6)
    self.assertAllEqual(got["cluster_id"], task.cluster_head.cluster(z))
    self.assertAllClose(got["cluster_probabilities"],
                        task.cluster_head.cluster(z, soft=True), rtol=1e-5,
                        atol=1e-6)
    # ... and in numpy.
    z_np, ids_np = np_outputs(h, graph.edges, centers, steps=2)
    self.assertAllClose(got["embedding"], z_np, rtol=1e-4, atol=1e-5)
    self.assertAllEqual(got["cluster_id"], ids_np)
    # Not vacuous: without the processor the raw graph gives other outputs.
    unprocessed = dink.make_serving_model(gnn, task, raw.spec)
    self.assertNotAllClose(unprocessed(serialize(raw))["embedding"],
                           got["embedding"], atol=1e-2)
    # Deterministic: no corruption or dropout at serving time.
    again = serving(serialize(raw))
    for key in OUTPUTS:
      self.assertAllEqual(again[key], got[key])

  def test_saved_model_and_exporter_subdirectory(self):
    _, raw, _ = raw_graph(seed=1, num_nodes=30)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(raw.spec)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=2, readout="all_nodes",
        cluster_centers=np.eye(2, 8, dtype=np.float32))
    processors = [dink.NormalizeFeatureRows()]
    expected = dink.make_serving_model(
        gnn, task, raw.spec, feature_processors=processors)(serialize(raw))
    exporter = dink.DinkModelExporter(task, raw.spec,
                                      feature_processors=processors,
                                      subdirectory="clusters")
    export_dir = self.create_tempdir().full_path
    exporter.save(runner.RunResult(preprocess_model=None, base_model=gnn,
                                   trained_model=None), export_dir)
    self.assertEqual(os.listdir(export_dir), ["clusters"])
    serve = tf.saved_model.load(os.path.join(export_dir, "clusters"))
    got = serve.signatures["serving_default"](examples=serialize(raw))
    self.assertSetEqual(set(got), OUTPUTS)
    self.assertEqual(got["cluster_id"].dtype, tf.int64)
    for key in OUTPUTS:
      self.assertAllClose(got[key], expected[key], rtol=1e-6, atol=1e-6)
    # The signature as saved_model.pb states it, read without loading.
    path = os.path.join(export_dir, "clusters")
    inputs, outputs = dink.serving_signature(path)
    self.assertEqual(inputs, {"examples": ("string", (None,))})
    self.assertEqual(outputs, {"cluster_id": ("int64", (None,)),
                               "cluster_probabilities": ("float32",
                                                         (None, 2)),
                               "embedding": ("float32", (None, 8))})
    text = dink.describe_serving_signature(path)
    self.assertEqual(text.splitlines()[0], (
        "serving_default(examples: string [None]) -> cluster_id: int64 "
        "[None], cluster_probabilities: float32 [None, 2], embedding: "
        "float32 [None, 8]"))
    # Its two lines of code run as printed.
    code = "\n".join(line.strip() for line in text.splitlines()[1:])
    namespace = {"tf": tf, "tfgnn": tfgnn, "graph": raw}
    exec(code, namespace)  # pylint: disable=exec-used
    self.assertAllEqual(namespace["out"]["cluster_id"], got["cluster_id"])
    with self.assertRaisesRegex(ValueError, "holds no readable SavedModel"):
      dink.serving_signature(export_dir)

  def test_serving_takes_graphs_of_any_size_and_batches(self):
    _, graph = testing_utils.small_graph(num_nodes=120)
    _, other = testing_utils.small_graph(seed=3, num_nodes=45)
    gnn = dink.make_gcn_model_fn(hidden_units=8, seed=0)(graph.spec)
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=3, readout="all_nodes",
        cluster_centers=np.eye(3, 8, dtype=np.float32),
        propagation_steps=1, edge_set_name="edges")
    serving = dink.make_serving_model(gnn, task, graph.spec)

    def serve(*graphs):
      return serving(serialize(*graphs))["cluster_id"].numpy()

    alone = [serve(graph), serve(other)]
    self.assertEqual([len(a) for a in alone], [120, 45])
    # Batched graphs become components: smoothing stays inside each graph.
    self.assertAllEqual(serve(graph, other), np.concatenate(alone))
    self.assertLen(np.unique(np.concatenate(alone)), 3)  # Not all one id.

  def test_needs_cluster_centres(self):
    _, graph = testing_utils.small_graph(num_nodes=20)
    gnn = dink.make_gcn_model_fn(hidden_units=4, seed=0)(graph.spec)
    task = dink.DinkClusteringTask("nodes", n_clusters=2, readout="all_nodes")
    with self.assertRaisesRegex(ValueError, "has no cluster centres"):
      dink.make_serving_model(gnn, task, graph.spec)

  def test_export_replaces_atomically(self):
    inputs = tf.keras.Input((2,))
    model = tf.keras.Model(inputs, {"y": tf.keras.layers.Dense(1)(inputs)})
    parent = self.create_tempdir().full_path
    target = os.path.join(parent, "export")
    export.save_model_atomically(model, target, output_names={"y": "y"})
    x = tf.ones((1, 2))
    first = tf.saved_model.load(target).signatures["serving_default"](x)["y"]
    model.layers[-1].kernel.assign(model.layers[-1].kernel + 1.0)
    export.save_model_atomically(model, target, output_names={"y": "y"})
    self.assertEqual(os.listdir(parent), ["export"])
    second = tf.saved_model.load(target).signatures["serving_default"](x)["y"]
    self.assertAllClose(second, first + 2.0)  # The new export replaced it.
    # A failing export leaves the previous one in place, and no leftovers.
    with self.assertRaisesRegex(ValueError, "same nested structure"):
      export.save_model_atomically(model, target,
                                   output_names={"y": "y", "z": "z"})
    self.assertEqual(os.listdir(parent), ["export"])
    kept = tf.saved_model.load(target).signatures["serving_default"](x)["y"]
    self.assertAllClose(kept, second)


class RunnerExportTest(testing_utils.TestCase):
  """`DinkModelExporter` in `runner.run`, reloaded in plain TensorFlow."""

  def test_runner_export_reloads_in_a_fresh_process(self):
    graph, raw, raw_features = raw_graph(num_nodes=80)
    normalised = with_features(raw, np_normalize_rows_l1(raw_features))
    tasks = {"dgi": dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                              seed=2, svd_metrics=False),
             "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                             readout="all_nodes",
                                             propagation_steps=2,
                                             edge_set_name="edges")}
    tmp = self.create_tempdir()
    trainer = runner.KerasTrainer(
        tf.distribute.get_strategy(), model_dir=os.path.join(tmp, "run"),
        steps_per_epoch=3, verbose=0, summarize_every_n_steps="never")
    export_dir = os.path.join(tmp, "export")
    processors = [dink.NormalizeFeatureRows()]
    result = runner.run(
        train_ds_provider=dink.FullGraphDatasetProvider(raw),
        model_fn=dink.make_gcn_model_fn(hidden_units=16, seed=0),
        optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
        trainer=trainer, task=tasks, gtspec=raw.spec, global_batch_size=1,
        epochs=1, feature_processors=processors, export_dirs=[export_dir],
        model_exporters=[dink.DinkModelExporter(
            tasks["dink"], raw.spec, feature_processors=processors)])
    # In memory: the trained model on the pre-normalised graph, and numpy.
    head = tasks["dink"].cluster_head
    h = result.base_model(normalised).node_sets["nodes"][
        tfgnn.HIDDEN_STATE].numpy()
    z, ids = np_outputs(h, graph.edges, head.cluster_centers.numpy(), 2)
    serving = dink.make_serving_model(result.base_model, tasks["dink"],
                                      raw.spec, feature_processors=processors)
    expected = {k: v.numpy() for k, v in serving(serialize(raw)).items()}
    self.assertAllClose(expected["embedding"], z, rtol=1e-4, atol=1e-5)
    self.assertAllEqual(expected["cluster_id"], ids)

    examples_file = os.path.join(tmp, "graph.bin")
    with open(examples_file, "wb") as f:
      f.write(serialize(raw).numpy()[0])
    subprocess.run([sys.executable, "-c", _RELOAD, export_dir, examples_file,
                    os.path.join(tmp, "out")],
                   check=True, env=testing_utils.run_subprocess_env(),
                   timeout=300)
    for i in range(2):
      got = dict(np.load(os.path.join(tmp, f"out_{i}.npz")))
      self.assertSetEqual(set(got), OUTPUTS)
      for key, value in expected.items():
        self.assertAllClose(got[key], value, rtol=1e-6, atol=1e-6, msg=key)
      self.assertAllEqual(got["cluster_id"], expected["cluster_id"])
    self.assertEqual(got["cluster_id"].dtype, np.int64)
    self.assertEqual(got["cluster_probabilities"].shape, (80, 3))


if __name__ == "__main__":
  testing_utils.main()
