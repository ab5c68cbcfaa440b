"""The command line runs the whole recipe and writes its results."""
import testing_utils  # First: Keras 2 before TensorFlow.

import csv
import json
import subprocess
import sys

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import loaders

_SMALL = ["--config.model.hidden_units=16", "--config.pretrain.steps=20",
          "--config.finetune.steps=5", "--config.steps_per_epoch=10"]


def _cli(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-m", "tensorflow_gnn_dink", *args],
      cwd=str(testing_utils.ROOT), capture_output=True, text=True,
      timeout=600)


def _write_npz(path, graph, with_labels=True):
  n = graph.num_nodes
  adj = sp.csr_matrix((np.ones(graph.edges.shape[1], np.float32),
                       tuple(graph.edges)), shape=(n, n))
  attr = sp.csr_matrix(graph.features)
  parts = dict(adj_data=adj.data, adj_indices=adj.indices,
               adj_indptr=adj.indptr, adj_shape=np.array(adj.shape),
               attr_data=attr.data, attr_indices=attr.indices,
               attr_indptr=attr.indptr, attr_shape=np.array(attr.shape))
  if with_labels:
    parts["labels"] = graph.labels
  np.savez(path, **parts)


class CliTest(testing_utils.TestCase):

  def test_train_on_synthetic_graph_writes_results_and_export(self):
    model_dir = self.create_tempdir().full_path
    proc = _cli(
        "train", "--config=configs/synthetic.py", f"--model_dir={model_dir}",
        "--seed=1", "--config.synthetic.num_nodes=300",
        "--config.synthetic.n_clusters=3",
        "--config.synthetic.feature_noise=1.0",
        "--config.model.hidden_units=32", "--config.pretrain.steps=40",
        "--config.finetune.steps=10", "--config.steps_per_epoch=10")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn("[dink] final clustering: ACC", proc.stdout)
    self.assertIn("fine-tune: kept step", proc.stdout)
    with open(f"{model_dir}/results.json") as f:
      results = json.load(f)
    metrics = results["metrics"]
    for key in ("ACC", "NMI", "ARI", "F1"):
      self.assertBetween(metrics[key], 0.0, 1.0)
    self.assertEqual(results["n_clusters"], 3)
    self.assertEqual(results["config"]["seed"], 1)
    self.assertGreater(metrics["NMI"], 0.5)  # An easy graph.
    self.assertContainsSubset({"pretrain", "initialise_centres", "finetune",
                               "total"}, results["timings_s"])
    self.assertEqual(results["finetune_modularity"][0][0], 0)
    with open(f"{model_dir}/cluster_ids.csv") as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([int(r["node_id"]) for r in rows], list(range(300)))
    # The export, fed the graph as generated (raw features), reproduces the
    # run's assignment: the feature normalisation is inside the model.
    serve = tf.saved_model.load(f"{model_dir}/export").signatures[
        "serving_default"]
    self.assertEqual(set(serve.structured_outputs),
                     {"cluster_id", "cluster_probabilities", "embedding"})
    graph = data.make_csbm(seed=1, num_nodes=300, n_clusters=3,
                           num_features=64, avg_degree=10.0, homophily=0.8,
                           feature_noise=1.0)
    example = tfgnn.write_example(data.to_graph_tensor(graph))
    out = serve(examples=tf.constant([example.SerializeToString()]))
    self.assertAllEqual(out["cluster_id"],
                        [int(r["cluster_id"]) for r in rows])

  def test_command_line_uses_the_bfc_allocator_on_cpu(self):
    # Only BFC allocators report memory info; the command line picks BFC
    # (kept buffers, no page faults per step) unless the user says otherwise.
    code = ("import os; os.environ.pop('TF_CPU_ALLOCATOR_USE_BFC', None)\n"
            "from tensorflow_gnn_dink.recipe import cli\n"
            "import tensorflow as tf\n"
            "tf.zeros([4])\n"
            "print('peak', tf.config.experimental.get_memory_info('CPU:0')"
            "['peak'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=300, cwd=str(testing_utils.ROOT))
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertIn("peak ", proc.stdout)

  def test_unknown_command_and_bad_k_are_clear_errors(self):
    proc = _cli("fly")
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn("Unknown command 'fly'", proc.stderr)
    model_dir = self.create_tempdir().full_path
    proc = _cli("train", f"--model_dir={model_dir}",
                "--config.synthetic.num_nodes=20",
                "--config.synthetic.n_clusters=2", "--config.n_clusters=50")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("error: n_clusters=50 exceeds the number of nodes (20)",
                  proc.stderr)
    self.assertNotIn("flags:", proc.stderr)  # One line, not the --help.
    with open(f"{model_dir}/error.txt") as f:
      trace = f.read()
    self.assertIn("Traceback", trace)
    self.assertIn("resolve_n_clusters", trace)

  def test_train_with_data_file_and_unlabelled_graph(self):
    tmp = self.create_tempdir().full_path
    graph = data.make_csbm(num_nodes=200, n_clusters=3, num_features=16,
                           feature_noise=0.5, seed=4)
    graph = data.Graph(features=np.abs(graph.features), edges=graph.edges,
                       labels=graph.labels)
    _write_npz(f"{tmp}/toy.npz", graph)
    _write_npz(f"{tmp}/unlabelled.npz", graph, with_labels=False)
    proc = _cli("train", f"--data={tmp}/toy.npz", f"--model_dir={tmp}/run",
                *_SMALL)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    with open(f"{tmp}/run/results.json") as f:
      results = json.load(f)
    self.assertEqual(results["n_clusters"], 3)
    self.assertEqual(results["dataset"], "toy")
    self.assertContainsSubset({"modularity", "conductance"},
                              results["metrics"])
    # The export, fed the graph as read from disk, gives cluster_ids.csv.
    with open(f"{tmp}/run/cluster_ids.csv") as f:
      ids = [int(r["cluster_id"]) for r in csv.DictReader(f)]
    serve = tf.saved_model.load(f"{tmp}/run/export").signatures[
        "serving_default"]
    # (In the feature format training chose: config.data.feature_format.)
    example = tfgnn.write_example(data.to_graph_tensor(
        data.with_feature_format(loaders.load(f"{tmp}/toy.npz"), "auto")))
    out = serve(examples=tf.constant([example.SerializeToString()]))
    self.assertAllEqual(out["cluster_id"], ids)
    # In the other format (here: sparse, as the .npz stores them), refused.
    example = tfgnn.write_example(data.to_graph_tensor(
        loaders.load(f"{tmp}/toy.npz")))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "0 rows: the feature is not in the examples"):
      serve(examples=tf.constant([example.SerializeToString()]))
    proc = _cli("train", f"--data={tmp}/unlabelled.npz",
                f"--model_dir={tmp}/run2", *_SMALL)
    self.assertEqual(proc.returncode, 2)
    self.assertIn("pass --config.n_clusters=K", proc.stderr)
    # Following that advice works.
    proc = _cli("train", f"--data={tmp}/unlabelled.npz",
                f"--model_dir={tmp}/run2", "--config.n_clusters=3", *_SMALL)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])


def _write_file(path: str, text: str) -> str:
  with open(path, "w") as f:
    f.write(text)
  return path


# Bad command lines: (name, arguments given a scratch directory, expected
# message). Each must exit with status 2 and one line naming the problem and
# the fix, before any training.
BAD_COMMAND_LINES = (
    ("config_file_missing", lambda d: [f"--config={d}/nosuch.py"],
     r"cannot load the config file .*/nosuch.py: it does not exist"),
    ("config_file_does_not_parse",
     lambda d: [f"--config={_write_file(f'{d}/c.py', 'x = (')}"],
     r"the config file .*/c.py does not parse: '\(' was never closed"),
    ("config_file_without_get_config",
     lambda d: [f"--config={_write_file(f'{d}/c.py', 'x = 1')}"],
     r"the config file .*/c.py has no get_config\(\)"),
    ("get_config_returns_none",
     lambda d: [f"--config={_write_file(f'{d}/c.py', 'def get_config(): pass')}"],
     r"cannot load the config file .*/c.py: .* or its get_config\(\) "
     r"returns no ConfigDict"),
    ("unknown_field", lambda d: ["--config.nosuch=1"],
     r"--config.nosuch: no such config field"),
    ("mistyped_field", lambda d: ["--config.pretrain.step=5"],
     r"--config.pretrain.step: no such config field. Did you mean "
     r"pretrain.steps"),
    ("override_before_config_file",
     lambda d: ["--config.pretrain.steps=5", "--config=configs/cora.py"],
     r"--config.FIELD=VALUE overrides come after --config=FILE"),
    ("empty_data_path", lambda d: ["--data="], r"--data is empty"),
    ("zero_steps", lambda d: ["--config.pretrain.steps=0"],
     r"config.pretrain.steps must be an integer >= 1, got 0"),
    ("negative_learning_rate", lambda d: ["--config.finetune.learning_rate=-1"],
     r"config.finetune.learning_rate must be a number > 0.0, got -1.0"),
    ("zero_hidden_units", lambda d: ["--config.model.hidden_units=0"],
     r"config.model.hidden_units must be an integer >= 1, got 0"),
    ("model_dir_is_a_file",
     lambda d: [f"--model_dir={_write_file(f'{d}/f', '')}"],
     r"--model_dir .*/f is a file, not a directory"),
    ("model_dir_under_a_file",
     lambda d: [f"--model_dir={_write_file(f'{d}/f', '')}/sub"],
     r"Cannot create the model directory .*/f/sub: Not a directory"),
    ("data_missing", lambda d: [f"--data={d}/nosuch.npz"],
     r"No such file or directory: .*/nosuch.npz"),
    ("data_text_named_npz",
     lambda d: [f"--data={_write_file(f'{d}/g.npz', 'hello')}"],
     r".*/g.npz is not a .npz file \(no zip header"),
)


class BadCommandLineTest(testing_utils.TestCase):

  @testing_utils.parameterized.named_parameters(*BAD_COMMAND_LINES)
  def test_is_one_clear_line(self, args, message):
    scratch = self.create_tempdir().full_path
    proc = _cli("train", *args(scratch))
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    self.assertRegex(proc.stderr, "tfgnn-dink: error: " + message)
    self.assertNotIn("Traceback", proc.stderr)
    self.assertEmpty(proc.stdout)  # Refused before any training.


if __name__ == "__main__":
  testing_utils.main()
