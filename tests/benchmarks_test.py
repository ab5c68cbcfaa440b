"""Smoke runs of the benchmark scripts' measuring functions (tiny sizes).

The benchmarks are scripts (their figures come from full runs, see README);
these tests check that what they count and time works and is right where it
can be checked: the FLOP count against a hand count, the bare TensorFlow step
and the runner step on a small sparse graph, and the serving benchmark's
export matching the in-memory model.
"""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import os
import sys

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import stages

sys.path.insert(0, os.path.join(str(testing_utils.ROOT), "benchmarks"))
import serving  # pylint: disable=g-import-not-at-top,g-bad-import-order
import step_limit  # pylint: disable=g-import-not-at-top


class StepLimitTest(testing_utils.TestCase):

  def test_flops_match_a_hand_count(self):
    # 10 nodes, 30 feature non-zeros, 40 directed edges, 20 features, 8 units.
    counted = step_limit.flops(n=10, nnz=30, edges=40, features=20, hidden=8)
    x_w, a_y = 2 * 30 * 8, 2 * (40 + 10) * 8  # Forward, one view.
    # X W once for both views; A_hat per view; forward and backward.
    self.assertAlmostEqual(counted["ours_sparse_gflop"],
                           2 * (x_w + 2 * a_y) / 1e9)
    dense_x_w, projection = 2 * 10 * 20 * 8, 2 * 10 * 8 * 8
    self.assertAlmostEqual(counted["dense_formulation_matmul_gflop"],
                           2 * (2 * dense_x_w + 3 * projection) / 1e9)
    self.assertGreater(counted["ours_total_gflop"],
                       counted["ours_sparse_gflop"])

  def test_bare_and_runner_steps_run_on_sparse_features(self):
    config = config_lib.default_config()
    config.model.hidden_units = 16
    config.data.feature_format = "sparse"
    graph = data.make_csbm(num_nodes=120, n_clusters=3, num_features=50,
                           words_per_node=5, seed=0)
    prepared = stages.prepare(config, graph)
    bare = step_limit.bare_step_seconds(prepared, graph.num_features, 16,
                                        rate=0.2, steps=3)
    ours = step_limit.ours_step_seconds(config, prepared, 3,
                                        self.create_tempdir().full_path)
    self.assertGreater(bare, 0.0)
    self.assertGreater(ours, 0.0)


class ServingBenchmarkTest(testing_utils.TestCase):

  def test_served_ids_match_the_in_memory_model(self):
    result = serving.measure(300, repeats=1,
                             work_dir=self.create_tempdir().full_path)
    self.assertEqual(result["num_nodes"], 300)
    self.assertEqual(result["same_cluster_ids"], 1.0)
    self.assertGreater(result["saved_model_nodes_per_s"], 0.0)
    self.assertGreater(result["in_memory_nodes_per_s"], 0.0)


if __name__ == "__main__":
  testing_utils.main()
