"""The command line runs the whole recipe and writes its results."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_on_synthetic_graph_writes_results_and_export(tmp_path):
  model_dir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, "-m", "tensorflow_gnn_dink", "train",
       "--config=configs/synthetic.py", f"--model_dir={model_dir}",
       "--seed=1", "--config.synthetic.num_nodes=300",
       "--config.synthetic.n_clusters=3", "--config.synthetic.feature_noise=1.0",
       "--config.model.hidden_units=32", "--config.pretrain.steps=40",
       "--config.finetune.steps=10", "--config.steps_per_epoch=10"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "[dink] final clustering: ACC" in proc.stdout
  results = json.loads((model_dir / "results.json").read_text())
  metrics = results["metrics"]
  for key in ("ACC", "NMI", "ARI", "F1"):
    assert 0.0 <= metrics[key] <= 1.0
  assert results["n_clusters"] == 3 and results["config"]["seed"] == 1
  assert metrics["non_empty_clusters"] >= 2
  assert metrics["NMI"] > 0.5, metrics  # An easy graph: clustering works.
  assert set(results["timings_s"]) >= {"pretrain", "kmeans", "finetune",
                                       "total"}
  with open(model_dir / "cluster_ids.csv") as f:
    rows = list(csv.DictReader(f))
  assert [int(r["node_id"]) for r in rows] == list(range(300))
  serve = tf.saved_model.load(str(model_dir / "export"))
  assert set(serve.signatures["serving_default"].structured_outputs) == {
      "cluster_id", "cluster_probabilities", "embedding"}
  # The export reproduces the run's assignment from the (prepared) graph.
  from tensorflow_gnn_dink import config as config_lib, data, pipeline  # pylint: disable=g-import-not-at-top,g-multiple-import
  import tensorflow_gnn as tfgnn  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config()
  graph = data.make_csbm(seed=1, **{**config.synthetic.to_dict(),
                                    "num_nodes": 300, "n_clusters": 3,
                                    "feature_noise": 1.0})
  graph = pipeline.prepare_graph(graph, config)
  example = tfgnn.write_example(data.to_graph_tensor(graph))
  out = serve.signatures["serving_default"](
      examples=tf.constant([example.SerializeToString()]))
  np.testing.assert_array_equal(out["cluster_id"].numpy(),
                                [int(r["cluster_id"]) for r in rows])
  assert "fine-tune: kept step" in proc.stdout
  assert results["finetune_modularity"][0][0] == 0


def test_unknown_command_and_bad_k_are_clear_errors(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "tensorflow_gnn_dink", "fly"], cwd=ROOT,
      capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0 and "Unknown command 'fly'" in proc.stderr
  proc = subprocess.run(
      [sys.executable, "-m", "tensorflow_gnn_dink", "train",
       f"--model_dir={tmp_path}", "--config.synthetic.num_nodes=20",
       "--config.synthetic.n_clusters=2", "--config.n_clusters=50"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  assert "error: n_clusters=50 exceeds the number of nodes (20)" in proc.stderr
  assert "flags:" not in proc.stderr  # One line, not the whole --help.
  trace = (tmp_path / "error.txt").read_text()
  assert "Traceback" in trace and "resolve_n_clusters" in trace


def _write_npz(path, graph, with_labels=True):
  import scipy.sparse as sp  # pylint: disable=g-import-not-at-top
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


def test_train_with_data_file_and_unlabelled_graph(tmp_path):
  from tensorflow_gnn_dink import data  # pylint: disable=g-import-not-at-top
  graph = data.make_csbm(num_nodes=200, n_clusters=3, num_features=16,
                         feature_noise=0.5, seed=4)
  graph = data.Graph(features=np.abs(graph.features), edges=graph.edges,
                     labels=graph.labels)
  _write_npz(tmp_path / "toy.npz", graph)
  _write_npz(tmp_path / "unlabelled.npz", graph, with_labels=False)
  common = ["--config.model.hidden_units=16", "--config.pretrain.steps=20",
            "--config.finetune.steps=5", "--config.steps_per_epoch=10"]
  proc = subprocess.run(
      [sys.executable, "-m", "tensorflow_gnn_dink", "train",
       f"--data={tmp_path / 'toy.npz'}", f"--model_dir={tmp_path / 'run'}",
       *common], cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "run" / "results.json").read_text())
  assert results["n_clusters"] == 3 and results["dataset"] == "toy"
  assert {"modularity", "conductance"} <= set(results["metrics"])
  proc = subprocess.run(
      [sys.executable, "-m", "tensorflow_gnn_dink", "train",
       f"--data={tmp_path / 'unlabelled.npz'}",
       f"--model_dir={tmp_path / 'run2'}", *common],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode != 0
  assert "pass --config.n_clusters=K" in proc.stderr
