"""The recipe's stages one by one, on a small synthetic graph."""
import testing_utils  # First: Keras 2 before TensorFlow.

import csv
import dataclasses
import json
import os
import tempfile
from unittest import mock
import weakref

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import model_dir as model_dir_lib
from tensorflow_gnn_dink.recipe import selection
from tensorflow_gnn_dink.recipe import stages


def _config(**changes):
  config = config_lib.default_config()
  config.model.hidden_units = 16
  config.pretrain.steps = 30
  config.finetune.steps = 20
  config.steps_per_epoch = 10
  config.update_from_flattened_dict(changes)
  return config


def _graph(seed=3):
  graph = data.make_csbm(num_nodes=200, n_clusters=3, num_features=16,
                         seed=seed)
  # Non-negative counts, as bag-of-words features are: row normalisation
  # changes them, so serving them raw tests that the export normalises too.
  return dataclasses.replace(
      graph, features=graph.features - graph.features.min())


def _serve(export_dir, graph):
  serve = tf.saved_model.load(export_dir).signatures["serving_default"]
  example = tfgnn.write_example(data.to_graph_tensor(graph))
  return serve(examples=tf.constant([example.SerializeToString()]))


def _run_stages(config, graph, model_dir):
  run = stages.Run(config, tf.distribute.get_strategy(), model_dir,
                   log=lambda _: None)
  prepared = stages.prepare(config, graph)
  pretrained = stages.pretrain(run, prepared)
  snapshot_weights = [list(w) for w in pretrained.weights]
  initialised = stages.initialise_centres(run, prepared, pretrained)
  finetuned = stages.finetune(run, prepared, pretrained, initialised)
  export_dir = stages.export(run, prepared, pretrained, finetuned)
  assigned = stages.assign_and_evaluate(run, prepared, finetuned)
  results = stages.write_results(run, prepared, initialised, finetuned,
                                 assigned, {"total": 1.0})
  return dict(run=run, prepared=prepared, pretrained=pretrained,
              snapshot_weights=snapshot_weights, initialised=initialised,
              finetuned=finetuned, export_dir=export_dir, assigned=assigned,
              results=results)


class PrepareTest(testing_utils.TestCase):

  def test_n_clusters_from_labels_or_config_and_clear_errors(self):
    graph = data.make_csbm(num_nodes=30, n_clusters=3, seed=0)
    config = config_lib.default_config()
    self.assertEqual(stages.resolve_n_clusters(config, graph), 3)
    config.n_clusters = 5
    self.assertEqual(stages.resolve_n_clusters(config, graph), 5)
    unlabelled = data.Graph(features=graph.features, edges=graph.edges)
    config.n_clusters = None
    with self.assertRaisesRegex(ValueError, "--config.n_clusters=K"):
      stages.resolve_n_clusters(config, unlabelled)
    config.n_clusters = 31
    with self.assertRaisesRegex(ValueError, "exceeds the number of nodes"):
      stages.resolve_n_clusters(config, graph)
    config.n_clusters = 1
    with self.assertRaisesRegex(ValueError, "n_clusters must be an integer"):
      stages.resolve_n_clusters(config, graph)

  def test_prepared_holds_no_reference_to_the_features_given(self):
    for changes in ({}, {"batch_size": 64}, {"data.feature_format": "sparse"}):
      with self.subTest(str(changes)):
        graph = _graph()
        given = weakref.ref(graph.features)
        prepared = stages.prepare(_config(**changes), graph)
        del graph
        self.assertIsNone(given())  # Processed, then freed.
        stand_in = prepared.graph.features
        self.assertEqual(stand_in.shape, (200, 16))
        self.assertEqual(stand_in.strides, (0, 0))  # No buffer.
        self.assertEqual(prepared.graph.num_features, 16)
        self.assertEqual(prepared.graph.edges.shape, _graph().edges.shape)

  def test_node_rows_fold_the_row_normalisation_into_the_adjacency(self):
    graph = _graph()
    full = stages.prepare(_config(), graph)
    rows = stages.prepare(_config(batch_size=64), graph)
    gcn, rows_encoder = full.mode.build_encoder(), rows.mode.build_encoder()
    rows_encoder.set_weights(gcn.get_weights())
    self.assertAllClose(rows.mode.encode(rows_encoder), full.mode.encode(gcn),
                        rtol=1e-4, atol=1e-5)
    self.assertLen(rows.feature_processors, 1)  # The export still normalises.

  def test_features_are_row_normalised_once_as_configured(self):
    graph = _graph()
    prepared = stages.prepare(_config(), graph)
    expected = graph.features / np.abs(graph.features).sum(1, keepdims=True)
    self.assertAllClose(prepared.graph_tensor.node_sets["nodes"]["feat"],
                        expected, rtol=1e-6)
    self.assertLen(prepared.feature_processors, 1)
    whole = prepared.feature_processors[0](data.to_graph_tensor(graph))
    with mock.patch.object(stages, "_BLOCK_ROWS", 7):  # In blocks of rows.
      blocks = stages.prepare(_config(), graph)
    for got in (prepared, blocks):
      self.assertAllEqual(got.graph_tensor.node_sets["nodes"]["feat"],
                          whole.node_sets["nodes"]["feat"])
    raw = stages.prepare(_config(**{"data.normalize_features": "none"}),
                         graph)
    self.assertEmpty(raw.feature_processors)
    self.assertAllEqual(raw.graph_tensor.node_sets["nodes"]["feat"],
                        graph.features)

  def test_a_graph_that_will_not_fit_is_refused_before_training(self):
    with self.assertRaisesRegex(ValueError,
                                "needs about .* GiB.*config.batch_size"):
      stages.prepare(_config(**{"model.hidden_units": 10**8}), _graph())

  @testing_utils.parameterized.named_parameters(
      ("normalisation", {"data.normalize_features": "l2"},
       "config.data.normalize_features must be one of"),
      ("selection", {"selection": "labels"},
       "config.selection must be one of"))
  def test_bad_config_is_refused_before_training(self, changes, message):
    with self.assertRaisesRegex(ValueError, message):
      stages.prepare(_config(**changes), _graph())


class SavedChoiceTest(testing_utils.TestCase):

  @testing_utils.parameterized.named_parameters(
      ("index_out_of_range", {"index": 7, "history": [[0, 0.1], [10, 0.2]]}),
      ("too_few_candidates", {"index": 0, "history": [[0, 0.1]]}),
      ("not_a_record", [1, 2]),
      ("missing_history", {"index": 0}))
  def test_a_damaged_record_is_a_clear_error(self, record):
    with self.assertRaisesRegex(
        ValueError, "choice.json does not record a choice among the 2 "
        "candidates: delete it"):
      stages._saved_choice("choice.json", record, 2)

  def test_a_whole_record_is_the_choice(self):
    choice = stages._saved_choice(
        "choice.json", {"index": 1, "history": [[0, 0.1], [10, 0.2]]}, 2)
    self.assertEqual((choice.index, choice.step), (1, 10))


class SavedTest(testing_utils.TestCase):
  """`stages.Saved`: every epoch's state, read from its file when indexed."""

  def test_reads_each_state_when_indexed(self):
    directory = self.create_tempdir().full_path
    paths = []
    for step in (1, 2):
      paths.append(os.path.join(directory, f"step-{step}.npz"))
      model_dir_lib.save_arrays(paths[-1], {"w": np.full(3, step, np.float32)})
    saved = stages.Saved(paths)
    self.assertLen(saved, 2)
    self.assertAllEqual(saved[-1]["w"], [2, 2, 2])
    saved[0]["w"][:] = 7  # A copy: the file is read again next time.
    self.assertAllEqual(saved[0]["w"], [1, 1, 1])
    doubled = saved.map(lambda state: 2 * state["w"])
    self.assertAllEqual([list(w) for w in doubled], [[2] * 3, [4] * 3])
    self.assertAllEqual(doubled[1:][0], [4, 4, 4])
    with_first = saved.prepended({"w": np.zeros(3, np.float32)})
    self.assertAllEqual([w["w"][0] for w in with_first], [0, 1, 2])
    with open(paths[1], "wb") as f:
      f.write(b"not an npz")
    self.assertAllEqual(saved[0]["w"], [1, 1, 1])  # Only what is read fails.
    with self.assertRaisesRegex(ValueError, "step-2.npz is damaged"):
      _ = saved[1]


class AssignTest(testing_utils.TestCase):

  def test_blocks_of_rows_give_the_ids_of_the_whole(self):
    rng = np.random.default_rng(3)
    for magnitude in (1.0, 1e-30, 1e30):  # Each block has its own scale.
      z = (rng.normal(size=(300, 6)) * magnitude).astype(np.float32)
      z[:7] *= 1e-6  # Blocks of very different magnitudes.
      centers = (rng.normal(size=(4, 6)) * magnitude).astype(np.float32)
      want = geometry.hard_assignments(z, centers).numpy()
      with mock.patch.object(stages, "_BLOCK_ROWS", 7):
        self.assertAllEqual(stages.assign(z, centers), want)
    self.assertEqual(stages.assign(np.zeros((0, 6), np.float32),
                                   centers).shape, (0,))


class StagesTest(testing_utils.TestCase):
  """One run of the stages, inspected stage by stage."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    cls.graph = _graph()
    cls.model_dir = tempfile.mkdtemp(prefix="stages_test-")
    cls.out = _run_stages(_config(), cls.graph, cls.model_dir)

  def test_pretrain_keeps_every_epochs_weights(self):
    self.assertEqual(self.out["pretrained"].steps, [10, 20, 30])
    self.assertLen(self.out["snapshot_weights"], 3)
    first, last = self.out["snapshot_weights"][0], self.out[
        "snapshot_weights"][-1]
    self.assertNotAllClose(first[0], last[0])  # The kernel trained.

  def test_initialise_centres_chooses_the_highest_modularity_epoch(self):
    initialised = self.out["initialised"]
    history = np.array(initialised.choice.history)
    self.assertAllEqual(history[:, 0], [10, 20, 30])
    self.assertEqual(initialised.choice.index, int(np.argmax(history[:, 1])))
    # The encoder now holds the chosen epoch's weights.
    chosen = self.out["snapshot_weights"][initialised.choice.index]
    for got, want in zip(self.out["pretrained"].encoder.get_weights(), chosen):
      self.assertAllEqual(got, want)
    self.assertAllClose(
        evaluation.modularity(self.graph.edges, initialised.cluster_ids),
        history[initialised.choice.index, 1])
    self.assertAllClose(np.linalg.norm(initialised.z, axis=1),
                        np.ones(self.graph.num_nodes), rtol=1e-5)
    # The chosen epoch's embedding (kept from the selection if it was last).
    self.assertAllEqual(initialised.z, stages.embed(
        self.out["prepared"], self.out["pretrained"].encoder))
    self.assertEqual(initialised.metrics["modularity"],
                     initialised.choice.modularity)

  def test_finetune_candidates_start_from_kmeans(self):
    finetuned = self.out["finetuned"]
    initialised = self.out["initialised"]
    history = np.array(finetuned.choice.history)
    self.assertAllEqual(history[:, 0], [0, 10, 20])
    # Step 0 is k-means' own centres on the same (frozen) embedding.
    ids = np.argmin(((initialised.z[:, None] - initialised.cluster_centers[
        None]) ** 2).sum(-1), axis=1)
    self.assertAllClose(history[0, 1],
                        evaluation.modularity(self.graph.edges, ids))
    # A fine-tuned epoch is kept only above k-means' by the margin.
    best = int(np.argmax(history[:, 1]))
    margin = self.out["run"].config.finetune.modularity_margin
    self.assertEqual(finetuned.choice.index,
                     best if history[best, 1] - history[0, 1] > margin else 0)
    self.assertAllEqual(finetuned.z, initialised.z)  # The encoder is frozen.

  def test_assignment_is_the_nearest_chosen_centre(self):
    finetuned, assigned = self.out["finetuned"], self.out["assigned"]
    d2 = ((finetuned.z[:, None] - finetuned.cluster_centers[None]) ** 2).sum(-1)
    self.assertAllEqual(assigned.cluster_ids, d2.argmin(1))
    self.assertEqual(assigned.metrics,
                     evaluation.evaluate(assigned.cluster_ids,
                                         self.graph.labels, self.graph.edges))
    self.assertFalse(assigned.collapsed)
    self.assertGreater(assigned.metrics["NMI"], 0.5)

  def test_the_served_model_is_the_reported_model(self):
    # Fed the graph as given (raw features), the export gives the run's ids.
    with open(os.path.join(self.model_dir, "cluster_ids.csv")) as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([int(r["node_id"]) for r in rows],
                     list(range(self.graph.num_nodes)))
    ids = [int(r["cluster_id"]) for r in rows]
    self.assertAllEqual(ids, self.out["assigned"].cluster_ids)
    out = _serve(self.out["export_dir"], self.graph)
    self.assertAllEqual(out["cluster_id"], ids)
    self.assertAllClose(out["embedding"], self.out["finetuned"].z, rtol=1e-4,
                        atol=1e-5)

  def test_the_checkpoint_is_the_reported_model(self):
    # Not the last step's weights: the chosen pretraining epoch's encoder
    # and the chosen fine-tuning epoch's centres, as exported.
    reader = tf.train.load_checkpoint(
        os.path.join(self.model_dir, "checkpoint", "model"))
    self.assertAllEqual(
        reader.get_tensor("cluster_centers/.ATTRIBUTES/VARIABLE_VALUE"),
        self.out["finetuned"].cluster_centers)
    chosen = self.out["snapshot_weights"][
        self.out["initialised"].choice.index]
    encoder = self.out["pretrained"].encoder
    reported = encoder.get_weights()
    encoder.set_weights([np.zeros_like(w) for w in reported])
    try:
      tf.train.Checkpoint(encoder=encoder).read(os.path.join(
          self.model_dir, "checkpoint", "model")).expect_partial()
      restored = encoder.get_weights()
    finally:
      encoder.set_weights(reported)
    self.assertLen(restored, len(chosen))
    for got, want in zip(restored, chosen):
      self.assertAllEqual(got, want)

  def test_results_file_records_the_choices(self):
    with open(os.path.join(self.model_dir, "results.json")) as f:
      results = json.load(f)
    self.assertEqual(results, json.loads(json.dumps(self.out["results"])))
    self.assertEqual(results["pretrain_selected_step"],
                     self.out["initialised"].choice.step)
    self.assertEqual(results["finetune_modularity"],
                     self.out["finetuned"].choice.history)
    self.assertEqual(results["n_clusters"], 3)

  def test_collapse_is_reported(self):
    finetuned = dataclasses.replace(
        self.out["finetuned"],
        cluster_centers=np.zeros_like(self.out["finetuned"].cluster_centers))
    assigned = stages.assign_and_evaluate(self.out["run"], self.out["prepared"],
                                          finetuned)
    self.assertTrue(assigned.collapsed)
    self.assertEqual(assigned.metrics["non_empty_clusters"], 1)


class NodeRowsStagesTest(testing_utils.TestCase):

  def test_node_row_training_serves_the_reported_clusters(self):
    tf.keras.utils.set_random_seed(0)
    graph = _graph(seed=5)
    model_dir = self.create_tempdir().full_path
    config = _config(batch_size=64, selection="last")
    out = _run_stages(config, graph, model_dir)
    self.assertEqual(out["initialised"].choice.history[0][0], 30)
    self.assertLen(out["initialised"].choice.history, 1)  # Only the last.
    self.assertGreater(out["assigned"].metrics["NMI"], 0.5)
    # The fine-tune trained the centres on batches of embedding rows.
    self.assertNotAllClose(out["finetuned"].cluster_centers,
                           out["initialised"].cluster_centers)
    served = _serve(out["export_dir"], graph)
    self.assertAllEqual(served["cluster_id"], out["assigned"].cluster_ids)


class CandidatesTest(testing_utils.TestCase):

  def test_the_selection_embeds_the_last_candidates_only(self):
    config = _config(**{"pretrain.candidates": 2})
    run = stages.Run(config, tf.distribute.get_strategy(),
                     self.create_tempdir().full_path, log=lambda _: None)
    prepared = stages.prepare(config, _graph())
    pretrained = stages.pretrain(run, prepared)
    self.assertEqual(pretrained.steps, [10, 20, 30])
    with mock.patch.object(stages, "embed", wraps=stages.embed) as embed:
      initialised = stages.initialise_centres(run, prepared, pretrained)
    history = np.array(initialised.choice.history)
    self.assertAllEqual(history[:, 0], [20, 30])
    self.assertEqual(embed.call_count,
                     2 + (initialised.choice.index != 1))  # Last reused.
    chosen = pretrained.weights[1 + initialised.choice.index]
    for got, want in zip(pretrained.encoder.get_weights(), chosen):
      self.assertAllEqual(got, want)
    with self.assertRaisesRegex(ValueError, "config.pretrain.candidates"):
      stages.prepare(_config(**{"pretrain.candidates": 0}), _graph())


class SparseFeaturesStagesTest(testing_utils.TestCase):

  @testing_utils.parameterized.named_parameters(
      ("full_graph", {}),
      ("node_rows", {"batch_size": 64, "pretrain.steps": 150,
                     "steps_per_epoch": 50}))
  def test_bag_of_words_stay_sparse_and_serve_the_reported_clusters(
      self, changes):
    tf.keras.utils.set_random_seed(0)
    graph = data.make_csbm(num_nodes=200, n_clusters=3, num_features=300,
                           words_per_node=15, feature_noise=0.5, seed=2)
    config = _config(**changes)
    out = _run_stages(config, graph, self.create_tempdir().full_path)
    # The whole graph's features (node rows hold them in the rows instead).
    features = out["prepared"].mode.graph_spec.node_sets_spec[
        "nodes"].features_spec
    self.assertEqual(sorted(features), ["feat_columns", "feat_values"])
    self.assertGreater(out["assigned"].metrics["NMI"], 0.5)
    # The export takes the sparse features as read from disk.
    served = _serve(out["export_dir"], graph)
    self.assertAllEqual(served["cluster_id"], out["assigned"].cluster_ids)
    # Fed dense features instead (no sparse ones to parse), it says so.
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "feature `feat_columns` must have one row"):
      _serve(out["export_dir"], data.with_feature_format(graph, "dense"))


class JointFinetuneTest(testing_utils.TestCase):

  def test_unfrozen_finetune_trains_the_encoder_and_chooses_its_weights(self):
    tf.keras.utils.set_random_seed(0)
    config = _config(**{"finetune.stop_gradient": False,
                        "finetune.shrink": "assigned",
                        "finetune.learning_rate": 1e-3})
    out = _run_stages(config, _graph(), self.create_tempdir().full_path)
    finetuned = out["finetuned"]
    self.assertAllEqual(np.array(finetuned.choice.history)[:, 0], [0, 10, 20])
    if finetuned.choice.index > 0:  # A trained epoch: the embedding moved.
      self.assertNotAllClose(finetuned.z, out["initialised"].z)
    served = _serve(out["export_dir"], _graph())
    self.assertAllEqual(served["cluster_id"], out["assigned"].cluster_ids)



class NodeSimilarityStagesTest(testing_utils.TestCase):
  """Pretraining with NS4GC's terms; k-means restarts chosen by inertia."""

  @testing_utils.parameterized.named_parameters(
      ("one_view", 0.0, "columns"), ("two_views_aligned", 1.0, "columns"),
      ("dropped_edges_aligned", 1.0, "edges"),
      ("default_second_view_aligned", 1.0, None))  # Columns and edges.
  def test_terms_train_the_encoder_and_inertia_chooses_restarts(
      self, alignment, second_view):
    graph = _graph()

    def pretrain(**changes):
      tf.keras.utils.set_random_seed(0)
      config = _config(**changes)
      run = stages.Run(config, tf.distribute.get_strategy(),
                       self.create_tempdir().full_path, log=lambda _: None)
      prepared = stages.prepare(config, graph)
      return config, run, prepared, stages.pretrain(run, prepared)

    *_, plain = pretrain(**{  # Dink-Net's discrimination alone.
        f"pretrain.{term}_loss_weight": 0.0
        for term in ("neighbour", "sparsity", "alignment")})
    config, run, prepared, pretrained = pretrain(**{
        "pretrain.neighbour_loss_weight": 1.0,
        "pretrain.sparsity_loss_weight": 1.0,
        "pretrain.alignment_loss_weight": alignment,
        "pretrain.second_view": second_view,
        "kmeans.restarts_by": "inertia"})
    self.assertTrue(pretrained.dgi.stacked_views)  # Two or three views.
    if alignment:  # The second view's edges, columns or both on the graph.
      (view,), _ = pretrained.dgi.preprocess(prepared.graph_tensor)
      self.assertEqual(
          ("second_view_kept_edges" in view.edge_sets["edges"].features,
           "second_view_feat" in view.node_sets["nodes"].features),
          (second_view != "columns", second_view != "edges"))
    # The same seed and views: only the terms can move the weights apart.
    self.assertNotAllClose(pretrained.weights[-1][0], plain.weights[-1][0])
    initialised = stages.initialise_centres(run, prepared, pretrained)
    # Epochs by modularity, each epoch's restart by k-means' inertia.
    history = np.array(initialised.choice.history)
    self.assertEqual(initialised.choice.index, int(np.argmax(history[:, 1])))
    _, lowest_inertia = selection.kmeans(
        initialised.z, 3, seed=config.seed, n_init=config.kmeans.n_init)
    self.assertAllEqual(initialised.cluster_ids, lowest_inertia)
    self.assertGreater(initialised.metrics["NMI"], 0.5)
    with self.assertRaisesRegex(ValueError, "config.kmeans.restarts_by"):
      stages.prepare(_config(**{"kmeans.restarts_by": "labels"}), graph)

  def test_similarity_terms_are_on_in_full_graph_training_only(self):
    """Left None (the default), NS4GC's terms are 1 on the whole graph and
    0 on node rows; set on node rows, they are refused naming the fix."""
    graph = _graph()
    terms = ("neighbour", "sparsity", "alignment")
    full = stages.pretraining_task(_config(), stages.prepare(_config(),
                                                              graph))
    rows_config = _config(batch_size=64)
    rows = stages.pretraining_task(rows_config,
                                   stages.prepare(rows_config, graph))
    for term in terms:
      self.assertEqual(getattr(full, f"{term}_loss_weight"), 1.0, msg=term)
      self.assertEqual(getattr(rows, f"{term}_loss_weight"), 0.0, msg=term)
    self.assertTrue(full.stacked_views)  # Three views, one encoder call.
    config = _config(**{"batch_size": 64,
                        "pretrain.sparsity_loss_weight": 1.0})
    message = (
        r"alignment_loss_weight \(NS4GC's terms\) need the edges of each "
        r"training input, and steps of 64 node rows per replica carry none. "
        r"Leave them unset \(None: off on such inputs\) or 0, or train on "
        r"the whole graph")
    with self.assertRaisesRegex(ValueError, message):  # Before the rows.
      stages.prepare(config, graph)
    with self.assertRaisesRegex(ValueError, message):
      stages.pretraining_task(config, stages.prepare(rows_config, graph))
    nothing = _config(**{"batch_size": 64,
                         "pretrain.discrimination_loss_weight": 0.0})
    with self.assertRaisesRegex(
        ValueError, r"all 0 \(NS4GC's terms are off by default on these "
        r"inputs\): nothing would train"):
      stages.prepare(nothing, graph)  # Before the rows are made.

if __name__ == "__main__":
  testing_utils.main()
