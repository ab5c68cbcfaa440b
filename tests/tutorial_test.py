"""The tutorial script (docs/tutorial_runner.py) runs and clusters its data."""
import testing_utils  # First: Keras 2 before TensorFlow.

import csv
import os
import re
import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "docs/tutorial_runner.py", "--hidden_units=64",
       "--pretrain_steps=100", "--finetune_steps=30", *args],
      cwd=str(testing_utils.ROOT), capture_output=True, text=True,
      timeout=600)


class TutorialTest(testing_utils.TestCase):

  def test_demo_then_the_same_files_given_as_a_users(self):
    work_dir = self.create_tempdir().full_path
    proc = _run(f"--work_dir={work_dir}")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn("serving_default(examples: string [None]) -> cluster_id: "
                  "int64 [None], cluster_probabilities: float32 [None, 4]",
                  proc.stdout)
    final = re.search(r"4\. wrote .*: ACC ([\d.]+), .*modularity ([\d.]+)",
                      proc.stdout)
    self.assertIsNotNone(final, proc.stdout)
    self.assertGreater(float(final.group(1)), 0.8)  # An easy graph.
    with open(os.path.join(work_dir, "cluster_ids.csv")) as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([r["node_id"] for r in rows],
                     [f"user-{i:04d}" for i in range(600)])
    self.assertEqual({r["cluster_id"] for r in rows}, {"0", "1", "2", "3"})
    # The demo's files, passed as a user passes theirs.
    demo = os.path.join(work_dir, "demo")
    other = self.create_tempdir().full_path
    proc = _run(f"--schema={demo}/schema.pbtxt",
                f"--tfrecords={demo}/graph.tfrecord", "--n_clusters=3",
                f"--work_dir={other}")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertRegex(proc.stdout, r"4\. wrote .*: conductance [\d.]+, "
                     r"modularity [\d.]+, non_empty_clusters 3")
    self.assertNotIn("ACC", proc.stdout)  # No --label_feature: no labels.


if __name__ == "__main__":
  testing_utils.main()
