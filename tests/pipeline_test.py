"""`pipeline.run`: the stages in order, timed, with the results they record."""
import testing_utils  # First: Keras 2 before TensorFlow.

import json
import os

import numpy as np

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import pipeline
from tensorflow_gnn_dink.recipe import summaries

_STAGES = ("prepare", "pretrain", "initialise_centres", "finetune", "export",
           "assign_and_evaluate", "summaries")


def _config(selection):
  config = config_lib.default_config()
  config.selection = selection
  config.model.hidden_units = 16
  config.pretrain.steps = 30
  config.finetune.steps = 20
  config.steps_per_epoch = 10
  return config


class PipelineTest(testing_utils.TestCase):

  @testing_utils.parameterized.parameters("modularity", "last")
  def test_run_records_stages_and_label_free_choices(self, selection):
    graph = data.make_csbm(num_nodes=200, n_clusters=3, num_features=16,
                           seed=3)
    model_dir = self.create_tempdir().full_path
    lines = []
    results = pipeline.run(_config(selection), graph, model_dir,
                           log=lines.append)
    with open(os.path.join(model_dir, "results.json")) as f:
      self.assertEqual(json.load(f), json.loads(json.dumps(results)))
    self.assertEqual(set(results["timings_s"]), {*_STAGES, "total"})
    self.assertGreaterEqual(
        results["timings_s"]["total"],
        sum(results["timings_s"][s] for s in _STAGES))
    parts = results["initialise_centres_s"]  # Where the selection's went.
    self.assertEqual(set(parts), {"embed", "kmeans", "evaluate"})
    self.assertTrue(all(v > 0 for v in parts.values()))
    self.assertLessEqual(sum(parts.values()),
                         results["timings_s"]["initialise_centres"])
    # The log follows the stages in order.
    order = [next(i for i, l in enumerate(lines) if l.startswith(prefix))
             for prefix in ("[dink] graph", "[dink] pretrain:",
                            "[dink] k-means", "[dink] finetune:",
                            "[dink] fine-tune: kept", "[dink] final",
                            "[dink] wrote")]
    self.assertEqual(order, sorted(order))
    pretrain = np.array(results["pretrain_modularity"])
    finetune = np.array(results["finetune_modularity"])
    self.assertAllEqual(finetune[:, 0], [0, 10, 20])
    if selection == "modularity":  # Every epoch is a candidate.
      self.assertAllEqual(pretrain[:, 0], [10, 20, 30])
      best = pretrain[np.argmax(pretrain[:, 1])]
      self.assertEqual(results["pretrain_selected_step"], best[0])
      self.assertAllClose(results["kmeans_metrics"]["modularity"], best[1])
      kept = (finetune[:, 1].max() if finetune[:, 1].max() - finetune[0, 1]
              > results["config"]["finetune"]["modularity_margin"]
              else finetune[0, 1])  # A fine-tuned epoch needs the margin.
      self.assertAllClose(results["metrics"]["modularity"], kept)
    else:  # The last steps.
      self.assertAllEqual(pretrain[:, 0], [30])
      self.assertEqual(results["pretrain_selected_step"], 30)
      self.assertEqual(results["finetune_selected_step"], 20)
      self.assertAllClose(results["metrics"]["modularity"], finetune[-1, 1])
    self.assertGreater(results["metrics"]["NMI"], 0.5)
    # TensorBoard: the training scalars, the selections, the projector.
    scalars = summaries.read_scalars
    tensorboard = os.path.join(model_dir, "tensorboard")
    self.assertEqual(sorted(scalars(f"{tensorboard}/pretrain")["loss"]),
                     [10, 20, 30])
    self.assertIn("discrimination_accuracy",
                  scalars(f"{tensorboard}/pretrain"))
    self.assertContainsSubset({"loss", "non_empty_clusters",
                               "cluster_size_entropy"},
                              scalars(f"{tensorboard}/finetune"))
    chosen = scalars(f"{tensorboard}/selection")
    self.assertAllClose(sorted(chosen["pretrain_modularity"].items()),
                        pretrain)
    self.assertAllClose(chosen["final/ACC"], {0: results["metrics"]["ACC"]})
    self.assertTrue(os.path.exists(
        f"{tensorboard}/projector/projector_config.pbtxt"))
    self.assertEqual(sorted(os.listdir(os.path.join(model_dir, "plots"))), [
        "cluster_sizes.png", "confusion.png", "embedding.png",
        "selection.png", "training.png"])


if __name__ == "__main__":
  testing_utils.main()
