"""A run killed at any point, started again in its model directory, resumes.

Each test starts the command line, kills it (SIGKILL, or SIGINT as Ctrl-C)
when its model directory shows it is in a given stage, runs the same
command again and compares the result with an uninterrupted run of the same
seed.
"""
import testing_utils  # First: Keras 2 before TensorFlow.

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn import metrics

_ARGS = ("--config.synthetic.num_nodes=300", "--config.synthetic.n_clusters=3",
         "--config.model.hidden_units=32", "--config.pretrain.steps=300",
         "--config.finetune.steps=300", "--config.steps_per_epoch=10",
         "--config.kmeans.n_init=2")
# The random views of epochs trained after a restart differ from an
# uninterrupted run's (the augmentations' random streams start again), so a
# run resumed in pretraining gives nearly, not exactly, the same partition:
# measured ARI 0.93 against the uninterrupted run, whose own ARI against the
# planted clusters is 0.88; its NMI against them within 0.05 then, and 0.058
# in a fresh-clone CI run (2026-12-02; ARI 0.95), where the kill lands at a
# later epoch under load.
_RESUMED_IN_PRETRAINING_ARI = 0.8
_RESUMED_IN_PRETRAINING_NMI = 0.1


def _command(model_dir: str) -> list[str]:
  return [sys.executable, "-m", "tensorflow_gnn_dink", "train",
          f"--model_dir={model_dir}", *_ARGS]


def _run(model_dir: str) -> subprocess.CompletedProcess:
  return subprocess.run(_command(model_dir), cwd=str(testing_utils.ROOT),
                        capture_output=True, text=True, timeout=600)


def _snapshots(model_dir: str, stage: str) -> list[str]:
  directory = os.path.join(model_dir, stage, "snapshots")
  return os.listdir(directory) if os.path.isdir(directory) else []


def _staging(model_dir: str) -> bool:
  return any(n.startswith(".staging-") for n in os.listdir(model_dir))


def _cluster_ids(model_dir: str) -> np.ndarray:
  return np.loadtxt(os.path.join(model_dir, "cluster_ids.csv"), dtype=int,
                    delimiter=",", skiprows=1)[:, 1]


def _results(model_dir: str) -> dict:
  with open(os.path.join(model_dir, "results.json")) as f:
    return json.load(f)


class ResumeTest(testing_utils.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.reference_dir = tempfile.mkdtemp(prefix="resume_ref-")
    proc = _run(cls.reference_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cls.reference = _cluster_ids(cls.reference_dir)

  def _interrupt(self, when, sig=signal.SIGKILL) -> tuple[str, int]:
    """Starts a run, sends `sig` once `when(model_dir)`; returns dir, code."""
    model_dir = self.create_tempdir().full_path
    with open(model_dir + ".log", "w") as log:
      proc = subprocess.Popen(_command(model_dir), cwd=str(testing_utils.ROOT),
                              stdout=log, stderr=subprocess.STDOUT, text=True)
      deadline = time.monotonic() + 300
      while proc.poll() is None and time.monotonic() < deadline:
        if when(model_dir):
          proc.send_signal(sig)
          break
        time.sleep(0.02)
      code = proc.wait(timeout=120)
    self.assertFalse(
        os.path.exists(os.path.join(model_dir, "results.json")),
        "The run finished before it was interrupted.")
    return model_dir, code

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.reference_dir, ignore_errors=True)
    super().tearDownClass()

  def assertNearlySamePartition(self, model_dir: str):
    ari = metrics.adjusted_rand_score(self.reference, _cluster_ids(model_dir))
    print(f"ARI against the uninterrupted run: {ari:.4f}")
    self.assertGreaterEqual(ari, _RESUMED_IN_PRETRAINING_ARI)
    nmi = [_results(d)["metrics"]["NMI"]
           for d in (self.reference_dir, model_dir)]
    self.assertAllClose(nmi[0], nmi[1], atol=_RESUMED_IN_PRETRAINING_NMI)

  def _resume(self, model_dir: str) -> subprocess.CompletedProcess:
    proc = _run(model_dir)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn("resuming the run", proc.stdout)
    self.assertTrue(_results(model_dir)["resumed"])
    return proc

  def test_killed_in_pretraining_resumes_after_the_last_epoch(self):
    model_dir, _ = self._interrupt(
        lambda d: len(_snapshots(d, "pretrain")) >= 3)
    done = len(_snapshots(model_dir, "pretrain"))
    self.assertBetween(done, 3, 29)  # Killed within the stage.
    proc = self._resume(model_dir)
    self.assertRegex(proc.stdout, r"pretrain: resuming \(epochs saved up to step \d+\)")
    # Every epoch stays a candidate of the selection.
    history = _results(model_dir)["pretrain_modularity"]
    self.assertEqual([s for s, _ in history], list(range(10, 301, 10)))
    self.assertNearlySamePartition(model_dir)

  def test_killed_in_finetuning_resumes_to_the_same_clusters(self):
    model_dir, _ = self._interrupt(
        lambda d: len(_snapshots(d, "finetune")) >= 3)
    proc = self._resume(model_dir)
    self.assertIn("pretrain: done already", proc.stdout)
    self.assertRegex(proc.stdout, r"finetune: resuming \(epochs saved up to step \d+\)")
    self.assertAllEqual(_cluster_ids(model_dir), self.reference)

  def test_killed_during_export_resumes_to_the_same_clusters(self):
    model_dir, _ = self._interrupt(_staging)
    self.assertFalse(os.path.exists(os.path.join(model_dir, "export")))
    proc = self._resume(model_dir)
    self.assertIn("finetune: done already", proc.stdout)
    self.assertFalse(_staging(model_dir))  # The half-written export is gone.
    self.assertAllEqual(_cluster_ids(model_dir), self.reference)

  def test_ctrl_c_stops_cleanly_and_says_how_to_resume(self):
    model_dir, code = self._interrupt(
        lambda d: len(_snapshots(d, "pretrain")) >= 3, signal.SIGINT)
    self.assertEqual(code, 130)
    with open(model_dir + ".log") as f:
      log = f.read()
    self.assertIn(f"interrupted. Run the same command with --model_dir="
                  f"{model_dir} to resume", log)
    self.assertNotIn("Traceback", log)
    self._resume(model_dir)
    self.assertNearlySamePartition(model_dir)

  def test_a_finished_run_is_not_overwritten(self):
    before = os.path.getmtime(os.path.join(self.reference_dir,
                                           "results.json"))
    proc = _run(self.reference_dir)
    self.assertEqual(proc.returncode, 2)
    self.assertIn("holds a finished run (results.json): pass --overwrite",
                  proc.stderr)
    self.assertEqual(
        os.path.getmtime(os.path.join(self.reference_dir, "results.json")),
        before)


if __name__ == "__main__":
  testing_utils.main()
