"""Many-typed graphs: the synthetic citation graph and model-zoo encoders.

The generator is checked against its schema and its planted structure; each
encoder of TF-GNN's model zoo (`encoders.MODEL_ZOO`) trains Dink-Net's two
tasks on the paper node set through `runner.run`, over every edge set.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import gzip
import os

from absl.testing import parameterized
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

import tensorflow_gnn_dink as dink
from tensorflow_gnn_dink import encoders
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import selection


def _indices(graph, edge_set):
  adjacency = graph.graph_tensor.edge_sets[edge_set].adjacency
  return adjacency.source.numpy(), adjacency.target.numpy()


class CitationGraphTest(testing_utils.TestCase):

  def test_schema_sizes_and_planted_structure(self):
    graph = heterogeneous.make_citation_graph(
        num_papers=400, num_authors=100, num_venues=8, n_clusters=4, seed=3)
    tensor = graph.graph_tensor
    tfgnn.check_compatible_with_schema_pb(tensor, graph.schema)
    self.assertEqual(graph.node_set_name, "paper")
    self.assertEqual(
        {name: int(n.sizes[0]) for name, n in tensor.node_sets.items()},
        {"paper": 400, "author": 100, "venue": 8})
    self.assertEqual(set(tensor.edge_sets), set(heterogeneous.EDGE_SETS))
    self.assertEqual(graph.labels.shape, (400,))
    self.assertEqual(set(graph.labels), {0, 1, 2, 3})
    for name, (source, target) in heterogeneous.EDGE_SETS.items():
      adjacency = tensor.edge_sets[name].adjacency
      self.assertEqual((adjacency.source_name, adjacency.target_name),
                       (source, target))
      src, dst = _indices(graph, name)
      self.assertTrue(np.all(src < int(tensor.node_sets[source].sizes[0])))
      self.assertTrue(np.all(dst < int(tensor.node_sets[target].sizes[0])))
    # Each relation in both directions.
    writes, written_by = _indices(graph, "writes"), _indices(graph,
                                                             "written_by")
    self.assertAllEqual(writes[0], written_by[1])
    self.assertAllEqual(writes[1], written_by[0])
    # Authors (community = id mod K) mostly write papers of their community;
    # every paper has exactly one venue, mostly of its community.
    author, paper = writes
    self.assertBetween(np.mean(author % 4 == graph.labels[paper]), 0.85,
                       0.95)
    venue, paper = _indices(graph, "publishes")
    self.assertAllEqual(np.sort(paper), np.arange(400))
    self.assertBetween(np.mean(venue % 4 == graph.labels[paper]), 0.85, 0.95)

  def test_same_seed_same_graph(self):
    a, b, c = (heterogeneous.make_citation_graph(seed=s) for s in (1, 1, 2))
    for name in heterogeneous.EDGE_SETS:
      self.assertAllEqual(_indices(a, name)[0], _indices(b, name)[0])
    self.assertAllEqual(a.graph_tensor.node_sets["author"]["feat"],
                        b.graph_tensor.node_sets["author"]["feat"])
    self.assertNotAllEqual(a.labels, c.labels)

  @parameterized.named_parameters(
      ("k_one", dict(n_clusters=1), r"n_clusters"),
      ("few_venues", dict(num_venues=3), r"num_venues=3 is below "
       r"n_clusters=4"),
      ("purity", dict(author_purity=1.5), r"author_purity must be in "
       r"\[0, 1\], got 1.5"),
      ("no_features", dict(author_features=0), r"author_features must be "
       r"an integer >= 1, got 0"),
  )
  def test_bad_arguments(self, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      heterogeneous.make_citation_graph(**kwargs)


class TFGNNFilesTest(testing_utils.TestCase):

  def test_round_trip_keeps_every_set_and_takes_labels_out(self):
    graph = heterogeneous.make_citation_graph(num_papers=120, num_authors=30,
                                              num_venues=6, seed=4)
    directory = self.create_tempdir().full_path
    schema_path, records_path = heterogeneous.save_tfgnn(graph, directory)
    self.assertEqual(sorted(os.listdir(directory)),
                     ["citation_graph.tfrecord", "schema.pbtxt"])
    read = loaders.load_tfgnn_heterogeneous(
        schema_path, records_path, node_set_name="paper",
        label_feature_name="label")
    self.assertAllEqual(read.labels, graph.labels)
    self.assertEqual(read.node_set_name, "paper")
    self.assertNotIn("label", read.graph_tensor.node_sets["paper"].features)
    for name, node_set in graph.graph_tensor.node_sets.items():
      self.assertAllEqual(read.graph_tensor.node_sets[name]["feat"],
                          node_set["feat"])
    for name, edge_set in graph.graph_tensor.edge_sets.items():
      self.assertAllEqual(read.graph_tensor.edge_sets[name].adjacency.source,
                          edge_set.adjacency.source)
      self.assertAllEqual(read.graph_tensor.edge_sets[name].adjacency.target,
                          edge_set.adjacency.target)
    tfgnn.check_compatible_with_schema_pb(read.graph_tensor, read.schema)
    # No label feature named: no labels (another node set clustered).
    unlabelled = loaders.load_tfgnn_heterogeneous(
        schema_path, records_path, node_set_name="author")
    self.assertIsNone(unlabelled.labels)
    # The homogeneous reader asks which sets to read.
    with self.assertRaisesRegex(ValueError, r"node sets \['author', 'paper', "
                                r"'venue'\]: pass one"):
      loaders.load_tfgnn(schema_path, records_path)

  def test_errors_name_the_problem(self):
    graph = heterogeneous.make_citation_graph(num_papers=60, num_authors=20,
                                              num_venues=4, seed=0)
    directory = self.create_tempdir().full_path
    schema_path, records_path = heterogeneous.save_tfgnn(graph, directory)
    with self.assertRaisesRegex(ValueError, r"node set 'papers' not in the "
                                r"schema: \['author', 'paper', 'venue'\]"):
      loaders.load_tfgnn_heterogeneous(schema_path, records_path,
                                       node_set_name="papers")
    with self.assertRaisesRegex(ValueError, r"label feature of node set "
                                r"'paper' 'year' not in the schema"):
      loaders.load_tfgnn_heterogeneous(schema_path, records_path,
                                       node_set_name="paper",
                                       label_feature_name="year")
    with self.assertRaisesRegex(ValueError, r"without the dense float "
                                r"feature 'x' .*'author': \['feat'\], "
                                r"'paper': \['feat', 'label'\], 'venue'"):
      loaders.load_tfgnn_heterogeneous(schema_path, records_path,
                                       node_set_name="paper", feature_name="x")
    with self.assertRaisesRegex(ValueError, r"does not exist"):
      loaders.load_tfgnn_heterogeneous(
          schema_path, os.path.join(directory, "none.tfrecord"),
          node_set_name="paper")
    with open(records_path, "wb") as f:
      f.write(b"not a record")
    with self.assertRaisesRegex(ValueError, r"not a TFRecord file"):
      loaders.load_tfgnn_heterogeneous(schema_path, records_path,
                                       node_set_name="paper")


def _write_csv_gz(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with gzip.open(path, "wt") as f:
    f.write("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")


def _ogb_mag_like(root):
  """A tiny dataset in OGB's heterogeneous layout (as ogbn-mag's)."""
  raw = os.path.join(root, "raw")
  _write_csv_gz(os.path.join(raw, "num-node-dict.csv.gz"),
                [["author", "paper", "institution"], [3, 4, 2]])
  _write_csv_gz(os.path.join(raw, "relations", "author___writes___paper",
                             "edge.csv.gz"), [[0, 0], [1, 1], [2, 3]])
  _write_csv_gz(os.path.join(raw, "relations", "paper___cites___paper",
                             "edge.csv.gz"), [[0, 1], [2, 3]])
  _write_csv_gz(os.path.join(raw, "relations",
                             "author___affiliated_with___institution",
                             "edge.csv.gz"), [[0, 1], [2, 0]])
  _write_csv_gz(os.path.join(raw, "node-feat", "paper", "node-feat.csv.gz"),
                [[0.5, 1.0], [1.5, 2.0], [2.5, 3.0], [3.5, 4.0]])
  _write_csv_gz(os.path.join(raw, "node-label", "paper", "node-label.csv.gz"),
                [[1], [0], ["nan"], [1]])
  return raw


class OGBLayoutTest(testing_utils.TestCase):

  def test_reads_every_type_and_relation(self):
    root = self.create_tempdir().full_path
    _ogb_mag_like(root)
    graph = loaders.load_ogb_heterogeneous(root, node_set_name="paper")
    tensor = graph.graph_tensor
    tfgnn.check_compatible_with_schema_pb(tensor, graph.schema)
    self.assertEqual(
        {name: int(n.sizes[0]) for name, n in tensor.node_sets.items()},
        {"author": 3, "paper": 4, "institution": 2})
    self.assertEqual(set(tensor.edge_sets),
                     {"writes", "rev_writes", "cites", "rev_cites",
                      "affiliated_with", "rev_affiliated_with"})
    writes = tensor.edge_sets["writes"].adjacency
    self.assertEqual((writes.source_name, writes.target_name),
                     ("author", "paper"))
    self.assertAllEqual(writes.source, [0, 1, 2])
    self.assertAllEqual(writes.target, [0, 1, 3])
    reverse = tensor.edge_sets["rev_writes"].adjacency
    self.assertEqual((reverse.source_name, reverse.target_name),
                     ("paper", "author"))
    self.assertAllEqual(reverse.source, [0, 1, 3])
    self.assertAllClose(tensor.node_sets["paper"]["feat"],
                        [[0.5, 1.0], [1.5, 2.0], [2.5, 3.0], [3.5, 4.0]])
    # Types without features: one constant column.
    self.assertAllEqual(tensor.node_sets["author"]["feat"], np.ones((3, 1)))
    self.assertAllEqual(graph.labels, [1, 0, -1, 1])
    without = loaders.load_ogb_heterogeneous(root, node_set_name="author",
                                             add_reverse_edges=False)
    self.assertEqual(set(without.graph_tensor.edge_sets),
                     {"writes", "cites", "affiliated_with"})
    self.assertIsNone(without.labels)
    # The homogeneous reader points at this one; `load` reads it so, given
    # the node set to cluster.
    with self.assertRaisesRegex(ValueError, r"several node and edge types.*"
                                r"load_ogb_heterogeneous"):
      loaders.load_ogb(root)
    with self.assertRaisesRegex(ValueError, r"several node sets \['author', "
                                r"'institution', 'paper'\]: name the one"):
      loaders.load(root)
    read = loaders.load(root, node_set_name="paper")
    self.assertAllEqual(read.labels, graph.labels)
    self.assertEqual(set(read.graph_tensor.edge_sets),
                     set(tensor.edge_sets))
    # And an encoder of the model zoo runs on it.
    encoded = dink.make_model_zoo_fn("vanilla_mpnn", hidden_units=4)(
        tensor.spec)(tensor)
    self.assertEqual(encoded.node_sets["institution"][
        tfgnn.HIDDEN_STATE].shape, (2, 4))

  def test_errors_name_the_file(self):
    root = self.create_tempdir().full_path
    raw = _ogb_mag_like(root)
    with self.assertRaisesRegex(ValueError, r"node set 'venue' not in the "
                                r"schema"):
      loaders.load_ogb_heterogeneous(root, node_set_name="venue")
    _write_csv_gz(os.path.join(raw, "relations", "paper___cites___paper",
                               "edge.csv.gz"), [[0, 9]])
    with self.assertRaisesRegex(ValueError, r"paper___cites___paper/edge.csv"
                                r".gz has paper indices outside \[0, 4\)"):
      loaders.load_ogb_heterogeneous(root, node_set_name="paper")
    os.rename(os.path.join(raw, "relations", "paper___cites___paper"),
              os.path.join(raw, "relations", "paper___cites"))
    with self.assertRaisesRegex(ValueError, r"paper___cites/? is not named "
                                r"SOURCE___RELATION___TARGET"):
      loaders.load_ogb_heterogeneous(root, node_set_name="paper")
    os.rename(os.path.join(raw, "relations", "paper___cites"),
              os.path.join(raw, "relations", "paper___cites___paper"))
    _write_csv_gz(os.path.join(raw, "relations", "paper___cites___paper",
                               "edge.csv.gz"), [[0, 1]])
    _write_csv_gz(os.path.join(raw, "node-feat", "paper", "node-feat.csv.gz"),
                  [[1.0], [2.0]])
    with self.assertRaisesRegex(ValueError, r"node-feat.csv.gz has 2 rows, "
                                r"expected 4 paper nodes"):
      loaders.load_ogb_heterogeneous(root, node_set_name="paper")
    with open(os.path.join(raw, "node-feat", "paper", "node-feat.csv.gz"),
              "wb") as f:
      f.write(b"plain text")
    with self.assertRaisesRegex(ValueError, r"node-feat.csv.gz is not a "
                                r"gzipped CSV .* heterogeneous layout"):
      loaders.load_ogb_heterogeneous(root, node_set_name="paper")
    os.remove(os.path.join(raw, "num-node-dict.csv.gz"))
    with self.assertRaisesRegex(ValueError, r"num-node-dict.csv.gz is "
                                r"missing"):
      loaders.load_ogb_heterogeneous(root, node_set_name="paper")


class ModelZooTest(testing_utils.TestCase):

  def setUp(self):
    super().setUp()
    self.graph = heterogeneous.make_citation_graph(
        num_papers=200, num_authors=60, num_venues=8, n_clusters=4, seed=0)

  @parameterized.named_parameters(
      ("vanilla_mpnn", "vanilla_mpnn", {}),
      ("mt_albis", "mt_albis", dict(attention_type="gat_v2")),
      ("hgt", "hgt", dict(num_heads=2, dropout_rate=0.0)),
      ("graph_sage", "graph_sage", {}),
  )
  def test_runner_trains_both_tasks_on_the_paper_node_set(self, encoder,
                                                          hparams):
    tf.keras.utils.set_random_seed(0)
    graph = self.graph.graph_tensor
    model_fn = dink.make_model_zoo_fn(encoder, hidden_units=16, num_layers=2,
                                      **hparams)
    tasks = {"dgi": dink.DeepGraphInfomaxTask(
                 "paper", readout="all_nodes", seed=1, svd_metrics=False,
                 augmentor=dink.DropFeatureColumns(rate=0.2, seed=2),
                 dgi_loss_weight=0.0, discrimination_loss_weight=1.0),
             "dink": dink.DinkClusteringTask(
                 "paper", n_clusters=4, readout="all_nodes",
                 dilation_loss_weight=0.1, shrink="assigned")}
    history = tf.keras.callbacks.History()
    trainer = runner.KerasTrainer(
        tf.distribute.get_strategy(), model_dir=self.create_tempdir().full_path,
        steps_per_epoch=5, verbose=0, summarize_every_n_steps="never",
        callbacks=[history])
    result = runner.run(
        train_ds_provider=dink.FullGraphDatasetProvider(graph),
        model_fn=model_fn, optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-2),
        trainer=trainer, task=tasks, gtspec=graph.spec, global_batch_size=1,
        epochs=3, model_exporters=[])
    losses = np.asarray(history.history["dgi_discrimination_logits_loss"])
    self.assertTrue(np.all(np.isfinite(losses)), history.history)
    self.assertLess(losses[-1], losses[0], history.history)
    # Every node set has states of the hidden size; the paper embedding is
    # clustered by the trained head.
    encoded = result.base_model(graph)
    for name in ("paper", "author", "venue"):
      self.assertEqual(encoded.node_sets[name][tfgnn.HIDDEN_STATE].shape,
                       (int(graph.node_sets[name].sizes[0]), 16))
    z = tasks["dink"].embedding_layer(encoded)
    ids = tasks["dink"].cluster_head.cluster(z).numpy()
    self.assertEqual(ids.shape, (200,))
    self.assertTrue(np.all((ids >= 0) & (ids < 4)))

  def test_unknown_encoder_and_missing_feature(self):
    with self.assertRaisesRegex(ValueError, r"Unknown encoder 'gat'.*"
                                r"'graph_sage', 'hgt', 'mt_albis', "
                                r"'vanilla_mpnn'"):
      dink.make_model_zoo_fn("gat")
    with self.assertRaisesRegex(ValueError, r"hidden_units=6 divisible by "
                                r"num_heads=4"):
      dink.make_model_zoo_fn("hgt", hidden_units=6)(
          self.graph.graph_tensor.spec)
    graph = self.graph.graph_tensor.replace_features(
        node_sets={"venue": {"other": tf.zeros([8, 2])}})
    with self.assertRaisesRegex(ValueError, r"venue"):
      dink.make_model_zoo_fn("vanilla_mpnn")(graph.spec)

  def test_model_zoo_names(self):
    self.assertEqual(sorted(encoders.MODEL_ZOO),
                     ["graph_sage", "hgt", "mt_albis", "vanilla_mpnn"])



def _pretrained_states(graph, model_fn, node_set_name, steps, model_dir):
  """States of `node_set_name` after Dink-Net's pretraining (runner, DGI)."""
  tf.keras.utils.set_random_seed(0)
  dgi = dink.DeepGraphInfomaxTask(
      node_set_name, readout="all_nodes", seed=1, svd_metrics=False,
      augmentor=dink.DropFeatureColumns(rate=0.2, seed=2),
      dgi_loss_weight=0.0, discrimination_loss_weight=1.0)
  trainer = runner.KerasTrainer(
      tf.distribute.get_strategy(),
      model_dir=model_dir, steps_per_epoch=steps,
      verbose=0, summarize_every_n_steps="never")
  result = runner.run(
      train_ds_provider=dink.FullGraphDatasetProvider(graph),
      model_fn=model_fn, optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-3),
      trainer=trainer, task=dgi, gtspec=graph.spec, global_batch_size=1,
      epochs=1, model_exporters=[])
  return result.base_model(graph).node_sets[node_set_name][
      tfgnn.HIDDEN_STATE].numpy()


class OtherNodeSetsTest(testing_utils.TestCase):
  """The authors and venues carry the communities the paper features lack."""

  def test_heterogeneous_encoder_beats_papers_and_citations_alone(self):
    # Paper features with noise 3 against community means of norm 2:
    # k-means on them is near chance (0.25 for K=4).
    graph = heterogeneous.make_citation_graph(num_papers=600,
                                              paper_feature_noise=3.0, seed=0)
    tensor = graph.graph_tensor
    cites = tensor.edge_sets["cites"].adjacency
    papers_only = tfgnn.GraphTensor.from_pieces(
        node_sets={"nodes": tfgnn.NodeSet.from_fields(
            sizes=tensor.node_sets["paper"].sizes,
            features={"feat": tensor.node_sets["paper"]["feat"]})},
        edge_sets={"edges": tfgnn.EdgeSet.from_fields(
            sizes=tensor.edge_sets["cites"].sizes,
            adjacency=tfgnn.Adjacency.from_indices(
                source=("nodes", cites.source),
                target=("nodes", cites.target)))})

    def accuracy(states):
      z = states / np.linalg.norm(states, axis=1, keepdims=True)
      _, ids = selection.kmeans(z, 4, seed=0, n_init=10)  # No labels.
      return evaluation.accuracy(graph.labels, ids)

    every_set = accuracy(_pretrained_states(
        tensor, dink.make_model_zoo_fn("graph_sage", hidden_units=64),
        "paper", steps=300, model_dir=self.create_tempdir().full_path))
    citations = accuracy(_pretrained_states(
        papers_only, dink.make_gcn_model_fn(hidden_units=64, seed=0),
        "nodes", steps=300, model_dir=self.create_tempdir().full_path))
    # Measured 0.597 against 0.350 (seed 0; seed 1: 0.503 against 0.307).
    self.assertGreater(every_set, citations + 0.10, (every_set, citations))
    self.assertGreater(every_set, 0.40)


if __name__ == "__main__":
  testing_utils.main()
