"""Smoke runs of the benchmark scripts' measuring functions (tiny sizes).

The benchmarks are scripts (their figures come from full runs, see README);
these tests check that what they count and time works and is right where it
can be checked: the FLOP count against a hand count, the bare TensorFlow step
and the runner step on a small sparse graph, the serving benchmark's
export matching the in-memory model, the streamed serving of sampled
subgraphs matching training, the scale plot's slopes, the children's own
peak memory, the selection-ceiling rules against a hand-made table of
candidates, the seed ensembles' embeddings and table, and the heterogeneous
comparison's table of every variant.
"""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import glob
import json
import os
import sys

import numpy as np

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import stages

sys.path.insert(0, os.path.join(str(testing_utils.ROOT), "benchmarks"))
import many_node_sets  # pylint: disable=g-import-not-at-top,g-bad-import-order
import ns4gc_reference  # pylint: disable=g-import-not-at-top
import plot_scale  # pylint: disable=g-import-not-at-top
import seed_ensemble  # pylint: disable=g-import-not-at-top
import selection_ceiling  # pylint: disable=g-import-not-at-top
import serving  # pylint: disable=g-import-not-at-top
import side_by_side  # pylint: disable=g-import-not-at-top
import step_limit  # pylint: disable=g-import-not-at-top
import streamed_serving  # pylint: disable=g-import-not-at-top


class RunMeasuredTest(testing_utils.TestCase):

  def test_peak_is_the_childs_own_not_this_processs(self):
    held = np.ones(2**28, np.uint8)  # This process' high-water mark: 256 MiB+.
    del held
    log = os.path.join(self.create_tempdir().full_path, "child.log")
    small = side_by_side.run_measured([sys.executable, "-c", "pass"], log)
    self.assertLess(small.peak_rss_mib, 100)  # An interpreter: some 10 MiB.
    large = side_by_side.run_measured(
        [sys.executable, "-c",
         "import time\nb = bytearray(300 * 2**20)\n"
         "for i in range(0, len(b), 4096): b[i] = 1\ntime.sleep(0.3)"], log)
    self.assertBetween(large.peak_rss_mib, 300, 400)
    # The bytearray is anonymous memory; the interpreter's file pages not.
    self.assertBetween(large.peak_anon_mib, 300, large.peak_rss_mib)

  def test_a_failed_command_names_its_log(self):
    log = os.path.join(self.create_tempdir().full_path, "child.log")
    with self.assertRaisesRegex(RuntimeError, "Exit status 3.*boom"):
      side_by_side.run_measured(
          [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log)


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


class StreamedServingBenchmarkTest(testing_utils.TestCase):

  def test_streams_every_root_as_training_assigned_it(self):
    runs = streamed_serving.measure([150], batch_size=32,
                                    work_dir=self.create_tempdir().full_path)
    (run,) = runs
    self.assertEqual((run["roots_served"], run["requests"]), (150, 5))
    self.assertEqual(run["same_as_training"], 1.0)
    self.assertGreater(run["nodes_per_s"], 0.0)
    self.assertGreater(run["peak_rss_mib"], run["loaded_rss_mib"] * 0.5)
    self.assertIn("| 150 |", streamed_serving.markdown(
        {"date": "d", "machine": {"cpu": "c", "cpu_count": 2},
         "git": {"commit": "0" * 40}, "batch_size": 32, "runs": runs}))


class PlotScaleTest(testing_utils.TestCase):

  def test_slopes_and_newest_runs(self):
    self.assertAlmostEqual(plot_scale.slope([10, 100, 1000], [3, 30, 300]), 1)
    self.assertIsNone(plot_scale.slope([10], [3]))

    def run(graph, total, edges=None):
      result = {"graph": graph, "config": "default", "num_nodes": 10_000,
                "stages_s": {"total": total, "pretrain": 1.0,
                             "initialise_centres": 1.0},
                "peak_rss_mib": 1024.0}
      return result if edges is None else {**result, "num_edges": edges}

    directory = self.create_tempdir().full_path
    for date, runs in (("2026-01-01", [run("dense_1e4", 9.0),
                                       run("dense_1e5", 90.0)]),
                       ("2026-02-01", [run("dense_1e4", 5.0, 49_000)])):
      with open(os.path.join(directory, f"scale_{date}.json"), "w") as f:
        json.dump({"date": date, "runs": runs}, f)
    runs = plot_scale.newest_runs(
        sorted(glob.glob(os.path.join(directory, "*.json"))))
    self.assertEqual(runs["dense_1e4"][0]["stages_s"]["total"], 5.0)
    self.assertEqual(runs["dense_1e4"][1:], (True, "2026-02-01"))
    self.assertEqual(runs["dense_1e5"][1], False)  # Placed at nominal edges.
    out = os.path.join(directory, "scale.png")
    slopes = plot_scale.plot(runs, out)
    self.assertGreater(os.path.getsize(out), 1000)
    # 49,000 measured edges and 500,000 nominal ones: time x18 for x10.2.
    self.assertAlmostEqual(slopes["end to end"]["dense, default"],
                           np.log(18) / np.log(500_000 / 49_000), places=6)


def _small_pretraining():
  """A config of 4 pretraining steps in 2 epochs and a 150-node graph."""
  config = config_lib.default_config()
  config.model.hidden_units = 16
  config.pretrain.steps, config.steps_per_epoch = 4, 2
  return config, data.make_csbm(num_nodes=150, n_clusters=3,
                                num_features=20, seed=0)


class SelectionCeilingTest(testing_utils.TestCase):

  def test_rules_pick_the_candidates_they_name(self):
    # 2 epochs x 12 restarts; the recipe sees the first 10 restarts only.
    q = np.full((2, 12), 0.5)
    inertia = np.full((2, 12), 10.0)
    acc = np.full((2, 12), 60.0)
    q[0, 3], q[1, 11] = 0.7, 0.9     # Restart 11 is beyond the recipe's.
    q[1, 2] = 0.6
    inertia[1, 5], q[1, 5] = 1.0, 0.55
    inertia[0, 7] = 1.0
    acc[1, 8] = 95.0
    scores = dict(modularity=q, inertia=inertia, ACC=acc, NMI=acc / 2)
    self.assertEqual(selection_ceiling.choose(scores, "recipe"), (0, 3))
    self.assertEqual(selection_ceiling.choose(scores, "all_restarts"),
                     (1, 11))
    # Lowest inertia: restart 7 (q 0.5) at epoch 0, 5 (q 0.55) at epoch 1.
    self.assertEqual(selection_ceiling.choose(scores, "inertia_restart"),
                     (1, 5))
    self.assertEqual(selection_ceiling.choose(scores, "last_epoch"), (1, 2))
    self.assertEqual(tuple(selection_ceiling.choose(scores, "oracle")),
                     (1, 8))
    summary = selection_ceiling.summary([scores])
    self.assertEqual(summary["oracle"], {"ACC": [95.0], "NMI": [47.5]})
    with self.assertRaisesRegex(ValueError, "Unknown rule"):
      selection_ceiling.choose(scores, "labels")

  def test_settings_keep_their_types(self):
    config = selection_ceiling.dataset_config(
        "cora", 3, ["pretrain.steps=500", "deterministic=False",
                    "pretrain.learning_rate=5e-4", "selection=last",
                    "kmeans.batch_size=256"])
    self.assertEqual(config.seed, 3)
    self.assertEqual(config.pretrain.steps, 500)
    self.assertIs(config.deterministic, False)  # Not bool("False").
    self.assertAlmostEqual(config.pretrain.learning_rate, 5e-4)
    self.assertEqual(config.selection, "last")
    self.assertEqual(config.kmeans.batch_size, 256)
    for bad in ("pretrain.stepz=5", "pretrain.steps", "nope.steps=1"):
      with self.assertRaisesRegex(ValueError, "expected NAME=VALUE"):
        selection_ceiling.dataset_config("cora", 0, [bad])

  def test_candidates_of_a_small_pretraining(self):
    config, graph = _small_pretraining()
    scores = selection_ceiling.candidates(config, graph, restarts=3)
    self.assertEqual(scores["steps"], [2, 4])
    for name in ("modularity", "inertia", "ACC", "NMI"):
      self.assertEqual(np.shape(scores[name]), (2, 3))
    # The best matching of K=3 clusters to 3 classes gets at least 1/3.
    self.assertTrue(np.all(np.asarray(scores["ACC"]) >= 100 / 3 - 1e-9))
    self.assertTrue(np.all(np.abs(np.asarray(scores["modularity"])) <= 1.0))
    self.assertTrue(np.all(np.asarray(scores["inertia"]) > 0.0))


class SeedEnsembleTest(testing_utils.TestCase):

  def test_members_and_an_ensemble_of_a_small_pretraining(self):
    config, graph = _small_pretraining()
    embeddings, singles = {}, {}
    for seed in (0, 1):
      config.seed = seed
      out = seed_ensemble.member(config, graph)
      self.assertEqual(out["z"].shape, (150, 16))
      np.testing.assert_allclose(np.linalg.norm(out["z"], axis=1), 1.0,
                                 rtol=1e-5)
      embeddings[seed] = out["z"]
      singles[seed] = seed_ensemble._percent(  # pylint: disable=protected-access
          dict(out["metrics"], seconds=out["seconds"]))
    self.assertFalse(np.allclose(embeddings[0], embeddings[1]))
    both = seed_ensemble.ensemble(config, graph, embeddings, [0, 1])
    self.assertGreaterEqual(both["ACC"], 1 / 3 - 1e-9)  # K=3, 3 classes.
    self.assertLessEqual(abs(both["modularity"]), 1.0)
    rows = seed_ensemble.table_rows(
        "csbm", singles,
        {"0,1": seed_ensemble._percent(both)},  # pylint: disable=protected-access
        members=2)
    self.assertLen(rows, 2)
    self.assertIn("| csbm, ensembles of 2 (1) | ", rows[1])
    self.assertIn(f"{100 * both['ACC']:.2f} ± 0.00", rows[1])


class NS4GCReferenceTest(testing_utils.TestCase):

  def test_the_loss_falls_and_the_clusters_follow_the_blocks(self):
    graph = data.make_csbm(num_nodes=150, n_clusters=3, num_features=100,
                           words_per_node=10, seed=4)
    settings = dict(ns4gc_reference.SETTINGS["cora"], epochs=60,
                    dims=(32, 16))
    z, losses = ns4gc_reference.train(graph, settings, seed=0)
    self.assertEqual(z.shape, (150, 16))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    # Each step draws new views: the loss falls on average.
    self.assertLess(np.mean(losses[-10:]), np.mean(losses[:10]) - 0.1)
    out = ns4gc_reference.run(graph, settings, seed=0, n_clusters=3)
    self.assertGreater(out["NMI"], 50.0)  # Percent; chance is near 0.


class HeterogeneousBenchmarkTest(testing_utils.TestCase):

  def test_every_variant_runs_and_a_rerun_reads_them_back(self):
    out_dir = self.create_tempdir().full_path
    args = [f"--out_dir={out_dir}", "--seeds=0", "--noise=2.0",
            "--set=pretrain.steps=4", "--set=steps_per_epoch=2",
            "--set=finetune.steps=2", "--set=model.hidden_units=8",
            "--set=citation.num_papers=80", "--set=citation.num_authors=20",
            "--set=citation.num_venues=8", "--set=kmeans.n_init=2"]
    table = many_node_sets.main(args)
    self.assertLen(table, len(many_node_sets.VARIANTS))
    for row in table.values():
      self.assertLen(row["ACC"], 1)
      self.assertBetween(row["ACC"][0], 0.25, 1.0)  # K=4: at least 1/4.
    with open(os.path.join(out_dir, "many_node_sets.md")) as f:
      report = f.read()
    for variant in many_node_sets.VARIANTS:
      self.assertIn(variant, report)
    self.assertEqual(many_node_sets.main(args), table)  # Read back.
    with self.assertRaisesRegex(ValueError, "model.widht=3: expected "
                                "NAME=VALUE with NAME a config field"):
      many_node_sets.main([f"--out_dir={out_dir}", "--set=model.widht=3"])


if __name__ == "__main__":
  testing_utils.main()
