"""`runner.run` with both tasks under tf.distribute, in local processes.

Two worker processes on 127.0.0.1 (`local_cluster`: free ports, a time
limit, every process killed whatever happens) train the pretraining and
clustering tasks together (`distributed_worker.py`), on the whole graph and
on sharded batches of node rows. Both workers must finish with the same
weights, and cluster the synthetic graph as well as one process does; so
must the recipe's command line; ParameterServerStrategy (a chief, two
workers, a parameter server) and MirroredStrategy over two devices must
cluster it as one device does, and so must `train --samples` under
ParameterServerStrategy on subgraphs sampled by Apache Beam.
"""
import testing_utils  # First: Keras 2 before TensorFlow.

import json
import os
import sys

import numpy as np
from sklearn import metrics

import local_cluster
from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import sampling

_WORKER = str(testing_utils.ROOT / "tests" / "distributed_worker.py")
_TIMEOUT_S = 300
# Single process vs two workers: each replica draws its own corruption, so
# the runs differ; their NMI against the planted clusters may differ by this
# much, and both must find them (NMI at least _MIN_NMI).
_NMI_TOLERANCE = 0.1
_MIN_NMI = 0.5


def _load(path: str) -> dict:
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _results(model_dir: str) -> dict:
  with open(os.path.join(model_dir, "results.json")) as f:
    return json.load(f)


class DistributeTest(testing_utils.TestCase):

  @testing_utils.parameterized.parameters("full_graph", "node_rows")
  def test_two_workers_agree_and_match_one_process(self, input_name):
    out = self.create_tempdir().full_path
    finished = local_cluster.run(
        {"worker": [[sys.executable, _WORKER, out, "multi_worker",
                     input_name]] * 2},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
    for task in finished:
      self.assertEqual(task.returncode, 0, task.output[-3000:])
    workers = [_load(os.path.join(out, f"{i}.npz")) for i in range(2)]
    self.assertEqual(int(workers[0]["replicas"]), 2)
    weights = sorted(k for k in workers[0] if k.startswith("weight_"))
    self.assertNotEmpty(weights)
    for key in weights:  # In step: the same weights on both workers.
      self.assertAllEqual(workers[0][key], workers[1][key], msg=key)
    self.assertAllEqual(workers[0]["cluster_ids"], workers[1]["cluster_ids"])

    single = self.create_tempdir().full_path
    local_cluster.run({"worker": [[sys.executable, _WORKER, single,
                                   "default", input_name]]},
                      timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
    one = _load(os.path.join(single, "0.npz"))
    labels = workers[0]["labels"]
    nmi = [metrics.normalized_mutual_info_score(labels, r["cluster_ids"])
           for r in (one, workers[0])]
    self.assertGreater(min(nmi), _MIN_NMI, nmi)
    self.assertLess(abs(nmi[0] - nmi[1]), _NMI_TOLERANCE, nmi)

  def test_the_recipe_command_line_in_two_workers(self):
    model_dir = self.create_tempdir().full_path
    command = [sys.executable, "-m", "tensorflow_gnn_dink", "train",
               f"--model_dir={model_dir}", "--verbosity=-1",
               "--config.model.hidden_units=16", "--config.pretrain.steps=40",
               "--config.finetune.steps=20", "--config.steps_per_epoch=10",
               "--config.synthetic.num_nodes=300",
               "--config.synthetic.n_clusters=3",
               "--config.synthetic.feature_noise=1.0"]
    finished = local_cluster.run(
        {"worker": [command + ["--strategy=multi_worker"]] * 2},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
    for task in finished:
      self.assertEqual(task.returncode, 0, task.output[-3000:])
    # Worker 0 writes --model_dir; worker 1, in step, its own directory.
    results = [_results(model_dir),
               _results(os.path.join(model_dir, "workers", "worker_1"))]
    self.assertEqual(results[0]["metrics"], results[1]["metrics"])
    with open(os.path.join(model_dir, "cluster_ids.csv")) as f, open(
        os.path.join(model_dir, "workers", "worker_1",
                     "cluster_ids.csv")) as g:
      self.assertEqual(f.read(), g.read())
    single = self.create_tempdir().full_path
    finished = local_cluster.run(
        {"worker": [[*command[:4], f"--model_dir={single}", *command[5:]]]},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
    self.assertEqual(finished[0].returncode, 0, finished[0].output[-3000:])
    nmi = [results[0]["metrics"]["NMI"], _results(single)["metrics"]["NMI"]]
    self.assertGreater(min(nmi), _MIN_NMI, nmi)
    self.assertLess(abs(nmi[0] - nmi[1]), _NMI_TOLERANCE, nmi)

  @testing_utils.parameterized.parameters("full_graph", "node_rows")
  def test_mirrored_over_two_devices_matches_one_device(self, input_name):
    runs = {}
    for strategy in ("mirrored", "default"):
      out = self.create_tempdir().full_path
      task, = local_cluster.run(
          {"worker": [[sys.executable, _WORKER, out, strategy, input_name]]},
          timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
      self.assertEqual(task.returncode, 0, task.output[-3000:])
      runs[strategy] = _load(os.path.join(out, "0.npz"))
    self.assertEqual(int(runs["mirrored"]["replicas"]), 2)
    labels = runs["default"]["labels"]
    nmi = [metrics.normalized_mutual_info_score(labels, r["cluster_ids"])
           for r in runs.values()]
    self.assertGreater(min(nmi), _MIN_NMI, nmi)
    self.assertLess(abs(nmi[0] - nmi[1]), _NMI_TOLERANCE, nmi)

  @testing_utils.parameterized.parameters("full_graph", "node_rows")
  def test_parameter_servers_match_one_process(self, input_name):
    out = self.create_tempdir().full_path
    command = [sys.executable, _WORKER, out, "parameter_server", input_name]
    finished = local_cluster.run(
        {"chief": [command], "worker": [command] * 2, "ps": [command]},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT),
        wait_for=["chief"])  # The servers serve until killed.
    chief = finished[0]
    self.assertEqual((chief.task_type, chief.returncode), ("chief", 0),
                     chief.output[-3000:])
    single = self.create_tempdir().full_path
    task, = local_cluster.run(
        {"worker": [[sys.executable, _WORKER, single, "default",
                     input_name]]},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
    self.assertEqual(task.returncode, 0, task.output[-3000:])
    runs = [_load(os.path.join(d, "0.npz")) for d in (out, single)]
    nmi = [metrics.normalized_mutual_info_score(r["labels"], r["cluster_ids"])
           for r in runs]
    self.assertGreater(min(nmi), _MIN_NMI, nmi)
    self.assertLess(abs(nmi[0] - nmi[1]), _NMI_TOLERANCE, nmi)

  def test_sampled_training_under_parameter_servers(self):
    """`train --samples --strategy=parameter_server`, as on a real cluster."""
    tmp = self.create_tempdir().full_path
    graph = data.make_csbm(num_nodes=300, n_clusters=3, num_features=16,
                           feature_noise=1.0, seed=0)
    samples = os.path.join(tmp, "samples")
    sampling.sample(sampling.write_unigraph(graph, os.path.join(tmp, "g")),
                    samples, fanouts=(8, 4), num_shards=4)
    flags = [f"--samples={samples}", "--config.n_clusters=3",
             "--config.model.hidden_units=32", "--config.pretrain.steps=150",
             "--config.finetune.steps=10"]
    command = [sys.executable, "-m", "tensorflow_gnn_dink", "train",
               "--strategy=parameter_server", f"--model_dir={tmp}/ps",
               *flags]
    finished = local_cluster.run(
        {"chief": [command], "worker": [command] * 2, "ps": [command]},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT),
        wait_for=["chief"])
    chief = finished[0]
    self.assertEqual((chief.task_type, chief.returncode), ("chief", 0),
                     chief.output[-3000:])
    self.assertIn("(ParameterServerStrategy", chief.output)
    for task in finished[1:]:
      self.assertIn("of the parameter-server cluster: serving", task.output)
    single, = local_cluster.run(
        {"worker": [[sys.executable, "-m", "tensorflow_gnn_dink", "train",
                     f"--model_dir={tmp}/one", *flags]]},
        timeout_s=_TIMEOUT_S, cwd=str(testing_utils.ROOT))
    self.assertEqual(single.returncode, 0, single.output[-3000:])
    nmi = [metrics.normalized_mutual_info_score(
        graph.labels, assignments.read(f"{tmp}/{run}/cluster_ids.csv", graph))
           for run in ("ps", "one")]
    print(f"NMI: parameter servers {nmi[0]:.3f}, one process {nmi[1]:.3f}")
    self.assertGreater(min(nmi), _MIN_NMI, nmi)
    self.assertLess(abs(nmi[0] - nmi[1]), _NMI_TOLERANCE, nmi)

  def test_a_hanging_cluster_times_out_and_is_killed(self):
    # One worker of two: MultiWorkerMirroredStrategy waits for the other.
    out = self.create_tempdir().full_path
    with self.assertRaisesRegex(local_cluster.ClusterTimeout,
                                "did not finish within 20s"):
      local_cluster.run(
          {"worker": [[sys.executable, _WORKER, out, "multi_worker",
                       "full_graph"],
                      [sys.executable, "-c", "import time; time.sleep(600)"]]},
          timeout_s=20, cwd=str(testing_utils.ROOT))


if __name__ == "__main__":
  testing_utils.main()
