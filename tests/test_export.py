"""SavedModel export: named outputs, no corruption, same outputs after reload."""
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
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import models

from helpers import small_graph

_RELOAD = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf  # Plain TensorFlow: no TF-GNN, no this package.
    examples = tf.constant([open(sys.argv[2], "rb").read()])
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    for i in range(2):
      out = serve(examples=examples)
      np.savez(sys.argv[3] + f"_{i}.npz", **{k: v.numpy() for k, v in out.items()})
    assert "tensorflow_gnn" not in sys.modules
""")


def test_runner_export_reloads_in_a_fresh_process(tmp_path):
  _, graph = small_graph()
  tasks = {"dgi": dink.DeepGraphInfomaxTask("nodes", readout="all_nodes",
                                            seed=2),
           "dink": dink.DinkClusteringTask("nodes", n_clusters=3,
                                           readout="all_nodes")}
  trainer = runner.KerasTrainer(tf.distribute.get_strategy(),
                                model_dir=str(tmp_path / "run"),
                                steps_per_epoch=3, verbose=0,
                                summarize_every_n_steps="never")
  export_dir = str(tmp_path / "export")
  result = runner.run(
      train_ds_provider=inputs.FullGraphDatasetProvider(graph),
      model_fn=models.make_gcn_model_fn(hidden_units=16, seed=0),
      optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
      trainer=trainer, task=tasks, gtspec=graph.spec, global_batch_size=1,
      epochs=1, export_dirs=[export_dir],
      model_exporters=[export.DinkModelExporter(tasks["dink"], graph.spec)])
  # In memory: the trained model's clustering outputs on the clean graph.
  serving = export.make_serving_model(result.base_model, tasks["dink"],
                                      graph.spec)
  serialized = tfgnn.write_example(graph).SerializeToString()
  expected = {k: v.numpy() for k, v in serving(tf.constant([serialized])).items()}
  gnn_out = result.base_model(graph)
  z = gnn_out.node_sets["nodes"][tfgnn.HIDDEN_STATE].numpy()
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  np.testing.assert_allclose(expected["embedding"], z, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(
      expected["cluster_id"], tasks["dink"].cluster_head.cluster(z).numpy())

  examples_file = tmp_path / "graph.bin"
  examples_file.write_bytes(serialized)
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  subprocess.run([sys.executable, "-c", _RELOAD, export_dir,
                  str(examples_file), str(tmp_path / "out")],
                 check=True, env=env, timeout=300)
  for i in range(2):
    got = dict(np.load(tmp_path / f"out_{i}.npz"))
    assert set(got) == {"cluster_id", "cluster_probabilities", "embedding"}
    for key, value in expected.items():
      np.testing.assert_array_equal(got[key], value, err_msg=key)
  assert got["cluster_id"].dtype == np.int64
  assert got["cluster_probabilities"].shape == (graph.node_sets["nodes"]
                                                .total_size, 3)


def test_serving_model_takes_graphs_of_any_size_and_batches():
  _, graph = small_graph(num_nodes=120)
  _, other = small_graph(seed=3, num_nodes=45)
  gnn = models.make_gcn_model_fn(hidden_units=8, seed=0)(graph.spec)
  task = dink.DinkClusteringTask(
      "nodes", n_clusters=3, readout="all_nodes",
      cluster_centers=np.eye(3, 8, dtype=np.float32))
  serving = export.make_serving_model(gnn, task, graph.spec)
  def serve(*graphs):
    return serving(tf.constant([tfgnn.write_example(g).SerializeToString()
                                for g in graphs]))["cluster_id"].numpy()
  alone = [serve(graph), serve(other)]
  assert [len(a) for a in alone] == [120, 45]
  np.testing.assert_array_equal(serve(graph, other), np.concatenate(alone))


def test_export_replaces_atomically(tmp_path):
  inputs_ = tf.keras.Input((2,))
  model = tf.keras.Model(inputs_, {"y": tf.keras.layers.Dense(1)(inputs_)})
  target = str(tmp_path / "export")
  export.save_model_atomically(model, target, output_names={"y": "y"})
  export.save_model_atomically(model, target, output_names={"y": "y"})
  assert os.listdir(tmp_path) == ["export"]
  assert tf.saved_model.load(target).signatures["serving_default"]
