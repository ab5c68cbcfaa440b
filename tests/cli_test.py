"""The command line runs the whole recipe and writes its results."""
import testing_utils  # First: Keras 2 before TensorFlow.

import csv
import json
import os
import subprocess
import sys

import numpy as np
from pyarrow import parquet as pq
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


def _write_npz(path, graph, with_labels=True, node_names=None):
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
  if node_names is not None:
    parts["node_names"] = np.asarray(node_names)
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
    # Progress as it happens, into a pipe; no TensorFlow start-up log.
    self.assertRegex(proc.stdout, r"\[dink\] pretrain \[=+\.*\] 20/40 "
                     r"steps, [\d.]+ steps/s")
    self.assertRegex(proc.stdout, r"(?m)^\[dink\] finetune: \d+\.\ds$")
    self.assertNotRegex(proc.stderr, r"(?m)^[IWE]\d{4} ")
    self.assertNotIn("cuInit", proc.stderr)

    # predict on the same graph: exactly train's cluster_ids.csv.
    out_csv = f"{self.create_tempdir().full_path}/ids.csv"
    proc = _cli("predict", f"--model_dir={model_dir}", f"--output={out_csv}")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    with open(out_csv) as f, open(f"{model_dir}/cluster_ids.csv") as g:
      self.assertEqual(f.read(), g.read())
    # evaluate: the metrics train reported.
    proc = _cli("evaluate", f"--model_dir={model_dir}",
                f"--assignments={out_csv}")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertEqual(json.loads(proc.stdout), metrics)
    # export: the serving model again, elsewhere.
    export_dir = f"{self.create_tempdir().full_path}/serving"
    proc = _cli("export", f"--model_dir={model_dir}",
                f"--output={export_dir}")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = serve(examples=tf.constant([example.SerializeToString()]))
    self.assertAllEqual(out["cluster_id"],
                        [int(r["cluster_id"]) for r in rows])
    # A second predict to the same file asks for --overwrite.
    proc = _cli("predict", f"--model_dir={model_dir}", f"--output={out_csv}")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("exists: pass --overwrite", proc.stderr)

  def test_a_refused_run_without_model_dir_leaves_no_directory(self):
    tmp = self.create_tempdir().full_path
    for args in (["--config.pretrain.steps=0"],
                 ["--config.n_clusters=100000"]):  # Refused in the pipeline.
      proc = subprocess.run(
          [sys.executable, "-m", "tensorflow_gnn_dink", "train", *args],
          cwd=str(testing_utils.ROOT), capture_output=True, text=True,
          timeout=600, env={**os.environ, "TMPDIR": tmp})
      self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
      self.assertEqual(os.listdir(tmp), [])

  def test_help_exits_0_and_lists_commands_flags_and_config_fields(self):
    proc = _cli("--help")
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    for command in ("train", "predict", "evaluate", "export"):
      self.assertRegex(proc.stdout, rf"(?m)^  {command} ")
    proc = _cli("train", "--help")
    self.assertEqual(proc.returncode, 0)
    self.assertIn("--config.pretrain.steps=200\n", proc.stdout)
    self.assertIn("--config.n_clusters=None\n", proc.stdout)
    self.assertIn("--model_dir:", proc.stdout)
    proc = _cli("predict", "-h")
    self.assertEqual(proc.returncode, 0)
    self.assertIn("usage: tfgnn-dink predict --model_dir=DIR "
                  "--output=FILE.csv", proc.stdout)
    self.assertNotIn("--config", proc.stdout)
    self.assertEmpty(proc.stderr)

  def test_quiet_prints_the_result_only(self):
    model_dir = self.create_tempdir().full_path
    proc = _cli("train", "--verbosity=-1", f"--model_dir={model_dir}",
                "--config.synthetic.num_nodes=200", *_SMALL)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertRegex(proc.stdout, rf"^{model_dir}: ACC [\d.]+, .*\n$")

  def test_command_line_uses_the_bfc_allocator_on_cpu(self):
    # Only BFC allocators report memory info; the command line picks BFC
    # (kept buffers, no page faults per step) unless the user says otherwise.
    code = ("import os, sys; os.environ.pop('TF_CPU_ALLOCATOR_USE_BFC', None)\n"
            "sys.argv[0] = 'tfgnn-dink'  # As the command line starts.\n"
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
    self.assertEqual(proc.returncode, 2)
    self.assertIn("Unknown command 'fly'", proc.stderr)
    proc = _cli("predikt")
    self.assertIn("Did you mean predict?", proc.stderr)
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
    names = [f"paper-{7 * i + 3}" for i in range(200)]
    _write_npz(f"{tmp}/toy.npz", graph, node_names=names)
    _write_npz(f"{tmp}/unlabelled.npz", graph, with_labels=False)
    proc = _cli("train", f"--data={tmp}/toy.npz", f"--model_dir={tmp}/run",
                *_SMALL)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    # The serving signature, with two lines that call it.
    self.assertRegex(
        proc.stdout, r"serving signature of export/: serving_default\("
        r"examples: string \[None\]\) -> cluster_id: int64 \[None\], "
        r"cluster_probabilities: float32 \[None, 3\], embedding: float32 "
        r"\[None, \d+\]\n  serve = tf.saved_model.load\('.*/run/export'\)"
        r".signatures\['serving_default'\]\n  out = serve\(examples=")
    # Cluster ids keyed by the .npz's node_names, in CSV and Parquet.
    with open(f"{tmp}/run/cluster_ids.csv") as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([r["node_id"] for r in rows], names)
    table = pq.read_table(f"{tmp}/run/cluster_ids.parquet")
    self.assertEqual(table.column("node_id").to_pylist(), names)
    self.assertEqual(table.column("cluster_id").to_pylist(),
                     [int(r["cluster_id"]) for r in rows])
    # predict to Parquet gives the same; evaluate scores it as train did.
    proc = _cli("predict", f"--model_dir={tmp}/run",
                f"--output={tmp}/ids.parquet")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertTrue(pq.read_table(f"{tmp}/ids.parquet").equals(table))
    proc = _cli("predict", f"--model_dir={tmp}/run", f"--output={tmp}/ids.csv")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    with open(f"{tmp}/ids.csv") as f, open(f"{tmp}/run/cluster_ids.csv") as g:
      self.assertEqual(f.read(), g.read())
    for _ in range(2):  # The second time over the first, with --overwrite.
      proc = _cli("evaluate", f"--assignments={tmp}/ids.parquet",
                  f"--data={tmp}/toy.npz", f"--output={tmp}/m.json",
                  "--overwrite")
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    with open(f"{tmp}/run/results.json") as f:
      self.assertEqual(json.loads(proc.stdout), json.load(f)["metrics"])
    # The export command prints the signature too; missing directories of
    # --output are made.
    proc = _cli("export", f"--model_dir={tmp}/run",
                f"--output={tmp}/serving/models/1")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn("serving_default(examples: string [None])", proc.stdout)
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
    ("unknown_strategy", lambda d: ["--strategy=mirorred"],
     r"Unknown strategy 'mirorred': choose one of default, mirrored, "
     r"multi_worker, parameter_server, tpu"),
    ("multi_worker_without_tf_config", lambda d: ["--strategy=multi_worker"],
     r"--strategy=multi_worker reads the cluster from TF_CONFIG, which is not "
     r"set: set TF_CONFIG in each process"),
    ("parameter_server", lambda d: ["--strategy=parameter_server"],
     r"--strategy=parameter_server trains on sampled subgraphs: tfgnn-dink "
     r"sample"),
    ("tpu_without_samples", lambda d: ["--strategy=tpu"],
     r"--strategy=tpu trains on sampled subgraphs"),
    ("parameter_server_without_tf_config",
     lambda d: [f"--samples={d}", "--strategy=parameter_server",
                "--config.n_clusters=2"],
     r"--strategy=parameter_server reads the cluster from TF_CONFIG"),
    ("data_text_named_npz",
     lambda d: [f"--data={_write_file(f'{d}/g.npz', 'hello')}"],
     r".*/g.npz is not a .npz file \(no zip header"),
)


# Other commands' bad command lines: (name, arguments, expected message).
BAD_SUBCOMMAND_LINES = (
    ("predict_without_model_dir", lambda d: ["predict", f"--output={d}/a"],
     r"predict needs --model_dir"),
    ("predict_without_output", lambda d: ["predict", f"--model_dir={d}"],
     r"predict needs --output"),
    ("predict_with_a_train_flag",
     lambda d: ["predict", f"--model_dir={d}", f"--output={d}/a", "--seed=3"],
     r"predict does not take --seed \(predict, evaluate and export use the "
     r"config saved in --model_dir\)"),
    ("predict_from_a_directory_without_a_run",
     lambda d: ["predict", f"--model_dir={d}", f"--output={d}/a.csv"],
     r".* holds no finished run \(no run.json, results.json, "
     r"checkpoint/model.index\): train one there first"),
    ("predict_to_a_text_file",
     lambda d: ["predict", f"--model_dir={d}", f"--output={d}/ids.txt"],
     r".*/ids.txt: cluster ids are written as .csv or .parquet files, not "
     r".txt: name the file FILE.csv or FILE.parquet"),
    ("evaluate_without_inputs", lambda d: ["evaluate"],
     r"evaluate needs --assignments=FILE.csv and --data=PATH, or "
     r"--model_dir"),
    ("export_into_a_file",
     lambda d: ["export", f"--model_dir={d}",
                f"--output={_write_file(f'{d}/f', '')}", "--overwrite"],
     r"--output .*/f exists and is not a SavedModel"),
    ("train_with_a_predict_flag", lambda d: ["train", f"--output={d}/a"],
     r"train does not take --output"),
)


class BadCommandLineTest(testing_utils.TestCase):

  @testing_utils.parameterized.named_parameters(*BAD_SUBCOMMAND_LINES)
  def test_other_commands_are_one_clear_line(self, args, message):
    scratch = self.create_tempdir().full_path
    proc = _cli(*args(scratch))
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    self.assertRegex(proc.stderr, "^tfgnn-dink: error: " + message)
    self.assertEqual(proc.stderr.count("\n"), 1)
    self.assertEmpty(proc.stdout)

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
