"""Sampled rooted subgraphs from TF-GNN's Apache Beam sampler (DirectRunner).

A synthetic graph is written in TF-GNN's unigraph format, sampled by Beam
into sharded TFRecords of GraphTensors (one subgraph per node), trained on
through the runner's TFRecord provider, and every node is assigned by
streaming the subgraphs back: the clustering must come within 0.1 NMI of
the recipe's full-graph training on the same graph (label-free both).
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import pipeline
from tensorflow_gnn_dink.recipe import sampling

NMI_MARGIN = 0.1  # Sampled subgraphs vs full-graph training, on one graph.


def _graph():
  return data.make_csbm(num_nodes=600, n_clusters=4, num_features=32,
                        avg_degree=8.0, seed=1)


def _config(hidden_units=64, pretrain_steps=150, finetune_steps=20):
  config = config_lib.default_config()
  config.n_clusters = 4
  config.model.hidden_units = hidden_units
  config.pretrain.steps = pretrain_steps
  config.finetune.steps = finetune_steps
  return config


class SamplingTest(testing_utils.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = tempfile.mkdtemp()
    cls.graph = _graph()
    schema = sampling.write_unigraph(cls.graph, os.path.join(cls.dir, "g"))
    cls.samples = os.path.join(cls.dir, "samples")
    sampling.sample(schema, cls.samples, fanouts=(10, 5), num_shards=4)

  def _subgraphs(self):
    spec = sampling.graph_spec(self.samples)
    files = sorted(tf.io.gfile.glob(sampling.file_pattern(self.samples)))
    return [tfgnn.parse_single_example(spec, s)
            for s in tf.data.TFRecordDataset(files)]

  def test_one_subgraph_per_node_rooted_at_it(self):
    self.assertLen(tf.io.gfile.glob(sampling.file_pattern(self.samples)), 4)
    self.assertEqual(sampling.sampled_fanouts(self.samples), [10, 5])
    self.assertFalse(tf.io.gfile.exists(
        os.path.join(self.samples, "artifacts")))
    subgraphs = self._subgraphs()
    self.assertLen(subgraphs, self.graph.num_nodes)
    neighbours = [set() for _ in range(self.graph.num_nodes)]
    for s, t in self.graph.edges.T:
      neighbours[s].add(t)
    roots = []
    for g in subgraphs:
      nodes = g.node_sets["nodes"]
      ids = nodes["#id"].numpy().astype(int)
      root = ids[0]
      roots.append(root)
      self.assertAllClose(nodes["feat"], self.graph.features[ids])
      adjacency = g.edge_sets["edges"].adjacency
      source = ids[adjacency.source.numpy()]
      target = ids[adjacency.target.numpy()]
      for s, t in zip(source, target):  # Edges of the graph, ...
        self.assertIn(t, neighbours[s])
      # ... 10 of the root's neighbours (or all), then up to 5 of theirs.
      self.assertLen(set(target[source == root]),
                     min(10, len(neighbours[root])))
      for s in set(source) - {root}:
        self.assertLessEqual(np.sum(source == s), 5)
    self.assertCountEqual(roots, range(self.graph.num_nodes))

  def test_reverse_edges(self):
    subgraphs = self._subgraphs()[:4]
    batch = _batch(subgraphs).merge_batch_to_components()
    undirected = sampling.ReverseEdges()(batch)
    node_sizes = batch.node_sets["nodes"].sizes.numpy()
    offsets = np.cumsum([0, *node_sizes])
    edge_sizes = undirected.edge_sets["edges"].sizes.numpy()
    ends = np.cumsum([0, *edge_sizes])
    adjacency = undirected.edge_sets["edges"].adjacency
    source, target = adjacency.source.numpy(), adjacency.target.numpy()
    for c, g in enumerate(subgraphs):
      # Each component: the sampled pairs, once in each direction, no
      # self-loops, within its own nodes.
      a = g.edge_sets["edges"].adjacency
      pairs = {(int(u), int(v)) for u, v in zip(a.source, a.target) if u != v}
      expected = pairs | {(v, u) for u, v in pairs}
      got = [(u - offsets[c], v - offsets[c]) for u, v in
             zip(source[ends[c]:ends[c + 1]], target[ends[c]:ends[c + 1]])]
      self.assertLen(got, len(set(got)))
      self.assertEqual(set(got), expected)
    # Sampled hops go back to the root too: without dedupe those pairs
    # would count twice.
    self.assertLess(edge_sizes.sum(),
                    2 * batch.edge_sets["edges"].sizes.numpy().sum())

  def test_input_pipelines_read_disjoint_shards(self):
    provider = sampling._Provider(self.samples)  # pylint: disable=protected-access
    records = provider._records  # pylint: disable=protected-access
    spec = sampling.graph_spec(self.samples)
    roots = []
    for i in range(2):
      context = tf.distribute.InputContext(num_input_pipelines=2,
                                           input_pipeline_id=i)
      roots.append({int(tfgnn.parse_single_example(spec, s).node_sets[
          "nodes"]["#id"][0].numpy()) for s in records.get_dataset(context)})
      # What training reads: no strings (XLA, TPU), edges both ways.
      graph = next(iter(provider.get_dataset(context)))
      self.assertNotIn("#id", graph.node_sets["nodes"].features)
      self.assertIn("real_component", graph.context.features)
    self.assertEmpty(roots[0] & roots[1])
    self.assertEqual(roots[0] | roots[1], set(range(self.graph.num_nodes)))

  def test_clusters_as_well_as_full_graph_training(self):
    output = os.path.join(self.dir, "cluster_ids.csv")
    export_dir = os.path.join(self.dir, "export")
    ids, clusters, facts = sampling.cluster_samples(
        self.samples, _config(), model_dir=os.path.join(self.dir, "run"),
        output=output, export_dir=export_dir, log=lambda line: None)
    self.assertEqual(facts["propagation_steps"], 1)  # 2 hops, 1 layer.
    self.assertLen(ids, self.graph.num_nodes)
    by_node = assignments.read(output, self.graph)
    self.assertAllEqual(by_node[ids.astype(int)], clusters)
    # The export, reloaded in a fresh process and streamed the subgraphs in
    # batches smaller than the graph, assigns every root as training did.
    served_ids, served = _serve_in_fresh_process(export_dir, self.samples,
                                                 batch_size=128)
    self.assertAllEqual(served_ids, ids)
    self.assertAllEqual(served, clusters)
    sampled = evaluation.evaluate(by_node, self.graph.labels)
    full_dir = os.path.join(self.dir, "full")
    full = pipeline.run(_config(), self.graph, full_dir,
                        log=lambda line: None)["metrics"]
    print(f"NMI sampled {sampled['NMI']:.3f}, full graph {full['NMI']:.3f}")
    self.assertGreater(sampled["NMI"], full["NMI"] - NMI_MARGIN,
                       (sampled, full))
    self.assertGreater(sampled["NMI"], 0.5)
    with self.assertRaisesRegex(ValueError, "serves whole graphs"):
      sampling.serve_samples(os.path.join(full_dir, "export"), self.samples)
    with self.assertRaisesRegex(ValueError, "holds no sampled subgraphs"):
      sampling.serve_samples(export_dir, os.path.join(self.dir, "g"))

  def test_padded_batches_under_xla(self):
    """What a TPU runs: fixed-size padded batches, XLA-compiled steps."""
    lines = []
    # 60 steps gave NMI 0.46-0.80 over seeds, 150 gave 0.70-0.83 (seeds 0-3).
    config = _config(hidden_units=32, pretrain_steps=150, finetune_steps=5)
    config.finetune.stop_gradient = False  # The encoder trains too.
    config.finetune.discrimination_loss_weight = 1.0
    ids, clusters, _ = sampling.cluster_samples(
        self.samples, config, model_dir=os.path.join(self.dir, "xla"),
        padding=True, jit_compile=True, log=lines.append)
    self.assertLen(ids, self.graph.num_nodes)
    by_node = np.empty(self.graph.num_nodes, np.int64)
    by_node[ids.astype(int)] = clusters
    self.assertGreater(
        evaluation.evaluate(by_node, self.graph.labels)["NMI"], 0.5, lines)

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, "not empty"):
      sampling.sample(os.path.join(self.dir, "g", sampling.SCHEMA),
                      self.samples)
    config = _config()
    config.model.num_layers = 3
    with self.assertRaisesRegex(ValueError, "num_layers=3 needs subgraphs"):
      sampling.cluster_samples(self.samples, config, model_dir=self.dir)
    config.n_clusters = None
    with self.assertRaisesRegex(ValueError, "config.n_clusters"):
      sampling.cluster_samples(self.samples, config, model_dir=self.dir)
    with self.assertRaisesRegex(ValueError, "fanouts"):
      sampling.sample(os.path.join(self.dir, "g", sampling.SCHEMA),
                      os.path.join(self.dir, "new"), fanouts=(0,))
    for not_samples in (self.dir, os.path.join(self.dir, "g")):  # Unigraph.
      with self.assertRaisesRegex(ValueError, "not a directory of samples"):
        sampling.graph_spec(not_samples)


class ManyNodeSetsSamplesTest(testing_utils.TestCase):
  """Beam samples of a many-typed graph rooted at one node set (papers)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.dir = tempfile.mkdtemp()
    cls.graph = heterogeneous.make_citation_graph(
        num_papers=160, num_authors=60, num_venues=8, n_clusters=4, seed=0)
    schema = sampling.write_unigraph(cls.graph, os.path.join(cls.dir, "g"))
    cls.samples = os.path.join(cls.dir, "samples")
    sampling.sample(schema, cls.samples, fanouts=(4, 3), num_shards=2,
                    node_set_name="paper")

  def _subgraphs(self):
    spec = sampling.graph_spec(self.samples)
    files = sorted(tf.io.gfile.glob(sampling.file_pattern(self.samples)))
    return [tfgnn.parse_single_example(spec, s)
            for s in tf.data.TFRecordDataset(files)]

  def test_one_subgraph_per_paper_along_every_edge_set(self):
    self.assertEqual(sampling.sampled_node_set(self.samples), "paper")
    whole = self.graph.graph_tensor
    edges = {name: set(zip(np.asarray(e.adjacency.source).tolist(),
                           np.asarray(e.adjacency.target).tolist()))
             for name, e in whole.edge_sets.items()}
    roots, seen = [], set()
    for g in self._subgraphs():
      root = int(g.context[sampling.ROOT_ID][0].numpy())
      roots.append(root)
      ids = {name: g.node_sets[name]["#id"].numpy().astype(int)
             for name in g.node_sets}
      self.assertIn(root, ids["paper"])
      for name, node_set in g.node_sets.items():
        self.assertAllClose(node_set["feat"],
                            np.asarray(whole.node_sets[name]["feat"])[
                                ids[name]])
      for name, edge_set in g.edge_sets.items():
        a = edge_set.adjacency
        pairs = zip(ids[a.source_name][a.source.numpy()].tolist(),
                    ids[a.target_name][a.target.numpy()].tolist())
        for pair in pairs:  # Edges of the graph, of their own edge set.
          self.assertIn(pair, edges[name])
        if edge_set.sizes.numpy().sum():
          seen.add(name)
        # At most 4 out of the root at hop 1.
        out_of_root = np.sum(ids[a.source_name][a.source.numpy()] == root) if (
            a.source_name == "paper") else 0
        self.assertLessEqual(out_of_root, 8)  # Hop 1, and hop 2 via cites.
    self.assertCountEqual(roots, range(self.graph.num_nodes))
    self.assertEqual(seen, set(heterogeneous.EDGE_SETS))

  def test_prepared_subgraphs_have_the_root_first(self):
    spec = sampling.graph_spec(self.samples)
    prepare = sampling._prepare(spec, "paper", normalize_features=False)  # pylint: disable=protected-access
    features = np.asarray(self.graph.graph_tensor.node_sets["paper"]["feat"])
    moved = 0
    for g in self._subgraphs()[:40]:
      root = int(g.context[sampling.ROOT_ID][0].numpy())
      moved += int(g.node_sets["paper"]["#id"][0].numpy()) != root
      prepared = prepare(g)
      self.assertNotIn(sampling.ROOT_ID, prepared.context.features)
      self.assertAllClose(prepared.node_sets["paper"]["feat"][0],
                          features[root])
      # Citations made undirected; the other edge sets as sampled.
      self.assertAllEqual(prepared.edge_sets["writes"].adjacency.source,
                          g.edge_sets["writes"].adjacency.source)
    self.assertGreater(moved, 0)  # The sampler does not put roots first.

  def test_the_recipe_on_samples_finds_the_communities(self):
    config = config_lib.default_config()
    config.n_clusters = 4
    config.node_set = "paper"
    config.model.hidden_units = 32
    config.model.num_layers = 2  # Papers hear of authors' other papers.
    config.data.normalize_features = "none"
    # ACC 0.84 and 0.91 (seeds 0, 1) without fine-tuning; the samples
    # themselves are redrawn by every run of the sampler.
    config.pretrain.steps = 300
    config.finetune.steps = 10
    config.batch_size = 64
    output = os.path.join(self.dir, "cluster_ids.csv")
    export_dir = os.path.join(self.dir, "export")
    ids, clusters, facts = sampling.cluster_samples(
        self.samples, config, model_dir=os.path.join(self.dir, "run"),
        output=output, export_dir=export_dir, log=lambda line: None)
    self.assertEqual((facts["node_set"], facts["encoder"],
                      facts["propagation_steps"]), ("paper", "graph_sage", 0))
    self.assertCountEqual(ids.astype(int), range(self.graph.num_nodes))
    served_ids, served = _serve_in_fresh_process(export_dir, self.samples,
                                                 batch_size=50)
    self.assertAllEqual(served_ids, ids)
    self.assertAllEqual(served, clusters)
    # Subgraphs of another schema (one node set) are refused by name.
    homogeneous = os.path.join(self.dir, "homogeneous")
    sampling.sample(sampling.write_unigraph(
        data.make_csbm(num_nodes=40, n_clusters=2, num_features=8, seed=0),
        os.path.join(self.dir, "g_homogeneous")), homogeneous, fanouts=(2,),
                    num_shards=1)
    with self.assertRaisesRegex(ValueError, "do not fit the SavedModel"):
      sampling.serve_samples(export_dir, homogeneous)
    by_paper = np.empty(self.graph.num_nodes, np.int64)
    by_paper[ids.astype(int)] = clusters
    metrics = evaluation.evaluate(by_paper, self.graph.labels)
    print(f"ACC on Beam samples of papers: {metrics['ACC']:.3f}")
    # ACC 0.75 here, 0.84 and 0.91 in other draws; chance is about 0.3.
    self.assertGreater(metrics["ACC"], 0.5, metrics)
    config.node_set = "author"
    with self.assertRaisesRegex(ValueError, "roots of .* are of 'paper'"):
      sampling.cluster_samples(self.samples, config, model_dir=self.dir)
    config.node_set, config.model.encoder = "paper", "gcn"
    with self.assertRaisesRegex(ValueError, "encoder='gcn' is Dink-Net's"):
      sampling.cluster_samples(self.samples, config, model_dir=self.dir)

  def test_bad_node_sets(self):
    schema = os.path.join(self.dir, "g", sampling.SCHEMA)
    with self.assertRaisesRegex(ValueError, r"node sets \['author', 'paper', "
                                r"'venue'\]: name the one .*--node_set"):
      sampling.sample(schema, os.path.join(self.dir, "new"))
    with self.assertRaisesRegex(ValueError, "Node set 'papers' is not in"):
      sampling.sample(schema, os.path.join(self.dir, "new"),
                      node_set_name="papers")


class SamplingCliTest(testing_utils.TestCase):
  """`tfgnn-dink sample` and `train --samples` on a bag-of-words graph."""

  def _cli(self, *args):
    return subprocess.run(
        [sys.executable, "-m", "tensorflow_gnn_dink", *args],
        cwd=str(testing_utils.ROOT), capture_output=True, text=True,
        timeout=600)

  def test_sample_train_evaluate(self):
    tmp = self.create_tempdir().full_path
    graph = data.make_csbm(num_nodes=300, n_clusters=3, num_features=200,
                           avg_degree=6.0, words_per_node=12, seed=2)
    graph = data.Graph(features=graph.features, edges=graph.edges,
                       labels=graph.labels,
                       node_ids=np.array([f"paper {i}" for i in range(300)]))
    path = os.path.join(tmp, "graph.npz")
    _npz(path, graph)
    proc = self._cli("sample", f"--data={path}", f"--output={tmp}/s",
                     "--fanouts=5,3", "--shards=2")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertLen(tf.io.gfile.glob(sampling.file_pattern(f"{tmp}/s")), 2)
    # Held sparse end to end: the samples carry the non-zeros only.
    features = sampling.graph_spec(f"{tmp}/s").node_sets_spec[
        "nodes"].features_spec
    self.assertIn("feat_columns", features)
    self.assertEqual(sampling.input_width(f"{tmp}/s"),
                     1 + max(graph.features.tocsr().indices))
    proc = self._cli("sample", f"--data={path}", f"--output={tmp}/s")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("exists", proc.stderr)
    proc = self._cli("train", f"--samples={tmp}/s", f"--model_dir={tmp}/r")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("--config.n_clusters", proc.stderr)
    # 200 pretraining steps: at 100, NMI over seeds 0-3 was 0.28-0.73 here
    # and CI drew 0.296 for seed 0 (0.555 here); at 200, 0.555-0.736.
    proc = self._cli("train", f"--samples={tmp}/s", f"--model_dir={tmp}/r",
                     "--config.n_clusters=3", "--config.model.hidden_units=32",
                     "--config.pretrain.steps=200", "--config.finetune.steps=10")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    results = json.load(open(f"{tmp}/r/results.json"))
    self.assertEqual(results["num_nodes"], 300)
    self.assertEqual(sum(results["cluster_sizes"]), 300)
    self.assertEqual(results["export"], os.path.abspath(f"{tmp}/r/export"))
    # predict streams the run's samples (or --samples) through its export.
    for samples in ([], [f"--samples={tmp}/s"]):
      proc = self._cli("predict", f"--model_dir={tmp}/r", *samples,
                       f"--output={tmp}/p.csv", "--overwrite")
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
      with open(f"{tmp}/p.csv") as a, open(f"{tmp}/r/cluster_ids.csv") as b:
        self.assertEqual(a.read(), b.read())
    proc = self._cli("predict", f"--model_dir={tmp}/r", f"--data={path}",
                     f"--output={tmp}/q.csv")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("pass --samples=DIR", proc.stderr)
    self.assertFalse(os.path.exists(f"{tmp}/q.csv"))
    proc = self._cli("evaluate", f"--assignments={tmp}/r/cluster_ids.csv",
                     f"--data={path}")
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    metrics = json.loads(proc.stdout)
    self.assertGreater(metrics["NMI"], 0.3, metrics)

  def test_bad_flags(self):
    tmp = self.create_tempdir().full_path
    proc = self._cli("sample", f"--output={tmp}/s")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("--data=PATH", proc.stderr)
    proc = self._cli("sample", f"--unigraph={tmp}/none.pbtxt",
                     f"--output={tmp}/s", "--fanouts=ten")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("positive integers", proc.stderr)
    proc = self._cli("sample", f"--unigraph={tmp}/none.pbtxt",
                     f"--output={tmp}/s")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("No unigraph schema", proc.stderr)
    self.assertFalse(os.path.exists(f"{tmp}/s"))
    proc = self._cli("train", "--strategy=tpu", f"--model_dir={tmp}/r")
    self.assertEqual(proc.returncode, 2)
    self.assertIn("--samples=DIR --strategy=tpu", proc.stderr)


def _serve_in_fresh_process(export_dir, samples, batch_size):
  """`sampling.serve_samples` in a new Python process: (root ids, clusters)."""
  out = os.path.join(tempfile.mkdtemp(), "served.npz")
  code = ("import os, sys, numpy as np\n"
          "from tensorflow_gnn_dink.recipe import sampling\n"
          "ids, clusters = sampling.serve_samples(sys.argv[1], sys.argv[2], "
          "batch_size=int(sys.argv[3]))\n"
          "np.savez(sys.argv[4], ids=ids, clusters=clusters)\n")
  proc = subprocess.run(
      [sys.executable, "-c", code, export_dir, samples, str(batch_size), out],
      cwd=str(testing_utils.ROOT), capture_output=True, text=True,
      timeout=600, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
  if proc.returncode:
    raise AssertionError(proc.stderr[-3000:])
  served = np.load(out)
  return served["ids"], served["clusters"]


def _npz(path, graph):
  """A gnn-benchmark .npz (sparse attributes, node names)."""
  import scipy.sparse as sp  # pylint: disable=g-import-not-at-top
  n = graph.num_nodes
  adj = sp.csr_matrix((np.ones(graph.edges.shape[1], np.float32),
                       tuple(graph.edges)), shape=(n, n))
  attr = sp.csr_matrix(graph.features)
  np.savez(path, adj_data=adj.data, adj_indices=adj.indices,
           adj_indptr=adj.indptr, adj_shape=np.array(adj.shape),
           attr_data=attr.data, attr_indices=attr.indices,
           attr_indptr=attr.indptr, attr_shape=np.array(attr.shape),
           labels=graph.labels, node_names=graph.node_ids)


def _batch(graphs):
  return tf.data.Dataset.from_tensor_slices(
      tf.stack([tfgnn.write_example(g).SerializeToString() for g in graphs])
  ).batch(len(graphs)).map(lambda s: tfgnn.parse_example(
      graphs[0].spec.relax(num_nodes=True, num_edges=True), s)
  ).get_single_element()


if __name__ == "__main__":
  testing_utils.main()
