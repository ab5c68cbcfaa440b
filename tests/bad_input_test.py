"""The recipe, given bad or unusual graphs: a clear error, or handled alike.

Each row of `REFUSED` is a graph (or a K) that `pipeline.run` must refuse
before any training, with a ValueError naming the problem and the fix, and
without writing anything. Each row of `HANDLED` is a graph that means the same
as the canonical one (self-loops, duplicate or one-directional edges,
rescaled features, other dtypes): it must give exactly the canonical run's
clusters. `UNUSUAL` graphs (no edges, isolated nodes) must run through,
finite.
"""
import testing_utils  # First: Keras 2 before TensorFlow.

import dataclasses
import json
import os
import shutil
import tempfile

import numpy as np
import scipy.sparse as sp

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import pipeline

_GRAPH = data.make_csbm(seed=0, num_nodes=120, n_clusters=3, num_features=8,
                        avg_degree=6.0, homophily=0.8, feature_noise=1.0)


def _config(**changes) -> config_lib.ml_collections.ConfigDict:
  config = config_lib.default_config()
  config.model.hidden_units = 16
  config.pretrain.steps = 20
  config.finetune.steps = 10
  config.steps_per_epoch = 10
  config.kmeans.n_init = 2
  config.update_from_flattened_dict(changes)
  return config


def _with(**fields) -> data.Graph:
  return dataclasses.replace(_GRAPH, **fields)


def _features_with(rows, value) -> np.ndarray:
  x = _GRAPH.features.copy()
  x[rows] = value
  return x


_EDGES = _GRAPH.edges

REFUSED = (
    ("no_nodes", lambda: _with(features=np.zeros((0, 8), np.float32),
                               edges=np.zeros((2, 0), np.int64), labels=None),
     {}, "The graph has no nodes: nothing to cluster"),
    ("features_not_a_matrix", lambda: _with(features=np.ones(120, np.float32)),
     {}, r"features must be a \[num_nodes, num_features\] matrix"),
    ("nan_features", lambda: _with(features=_features_with(3, np.nan)), {},
     r"features contain NaN or inf in 1 rows \(first: \[3\]\)"),
    ("inf_features", lambda: _with(features=_features_with([4, 9], np.inf)),
     {}, r"features contain NaN or inf in 2 rows \(first: \[4, 9\]\)"),
    ("nan_sparse_features", lambda: _with(features=sp.csr_matrix(
        _features_with(5, np.nan))), {},
     r"features contain NaN or inf in 1 rows \(first: \[5\]\)"),
    ("string_features", lambda: _with(
        features=_GRAPH.features.astype(str)), {},
     "features must be real numbers, got dtype <U"),
    ("all_zero_features", lambda: _with(
        features=np.zeros_like(_GRAPH.features)), {},
     "Every node has the same features"),
    ("identical_features", lambda: _with(
        features=np.ones_like(_GRAPH.features)), {},
     "Every node has the same features"),
    ("all_zero_sparse_features", lambda: _with(
        features=sp.csr_matrix(_GRAPH.features.shape, dtype=np.float32)),
     {}, "Every node has the same features"),
    ("edges_out_of_range", lambda: _with(
        edges=np.concatenate([_EDGES, [[0], [120]]], axis=1)), {},
     r"edges reference node ids outside \[0, 120\): min 0, max 120"),
    ("negative_edge_ids", lambda: _with(
        edges=np.concatenate([_EDGES, [[-1], [3]]], axis=1)), {},
     r"edges reference node ids outside \[0, 120\): min -1"),
    ("edges_wrong_shape", lambda: _with(edges=_EDGES.T), {},
     r"edges must have shape \[2, num_edges\]"),
    ("labels_wrong_length", lambda: _with(labels=_GRAPH.labels[:-1]), {},
     r"labels must have shape \(120,\), got \(119,\)"),
    ("float_labels", lambda: _with(labels=_GRAPH.labels + 0.5), {},
     "labels must be integer class ids"),
    ("unlabelled_without_k", lambda: _with(labels=None), {},
     "pass --config.n_clusters=K"),
    ("all_labels_unknown_without_k", lambda: _with(
        labels=-np.ones(120, np.int64)), {}, "pass --config.n_clusters=K"),
    ("k_above_nodes", lambda: _GRAPH, {"n_clusters": 200},
     r"n_clusters=200 exceeds the number of nodes \(120\)"),
    ("k_of_one", lambda: _GRAPH, {"n_clusters": 1},
     "n_clusters must be an integer >= 2"),
    ("batch_below_k", lambda: _GRAPH, {"batch_size": 2},
     "config.batch_size=2 is below n_clusters=3"),
    ("batch_above_nodes", lambda: _GRAPH, {"batch_size": 500},
     r"config.batch_size must be in \[1, 120\]"),
)

HANDLED = (
    ("self_loops", lambda: _with(edges=np.concatenate(
        [_EDGES, np.stack([np.arange(5), np.arange(5)])], axis=1))),
    ("duplicate_edges", lambda: _with(edges=np.concatenate(
        [_EDGES, _EDGES[:, :10]], axis=1))),
    ("one_direction_only", lambda: _with(
        edges=_EDGES[:, _EDGES[0] < _EDGES[1]])),
    ("features_times_1e30", lambda: _with(features=_GRAPH.features * 1e30)),
    ("features_times_1e-30", lambda: _with(features=_GRAPH.features * 1e-30)),
    ("float64_features", lambda: _with(
        features=_GRAPH.features.astype(np.float64))),
    ("unlabelled_with_k", lambda: _with(labels=-np.ones(120, np.int64))),
)


class BadGraphTest(testing_utils.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.canonical_dir = tempfile.mkdtemp(prefix="bad_input_test-")
    cls.canonical = cls._run(_GRAPH, cls.canonical_dir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.canonical_dir, ignore_errors=True)
    super().tearDownClass()

  @staticmethod
  def _run(graph, model_dir, **changes) -> np.ndarray:
    pipeline.run(_config(n_clusters=3, **changes), graph, model_dir,
                 log=lambda line: None)
    return np.loadtxt(os.path.join(model_dir, "cluster_ids.csv"),
                      dtype=int, delimiter=",", skiprows=1)[:, 1]

  @testing_utils.parameterized.named_parameters(*REFUSED)
  def test_refused_before_training(self, make_graph, changes, message):
    config = _config(**changes)
    model_dir = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, message):
      pipeline.run(config, make_graph(), model_dir, log=lambda line: None)
    self.assertEmpty(os.listdir(model_dir))  # Nothing written.

  @testing_utils.parameterized.named_parameters(*HANDLED)
  def test_same_clusters_as_the_canonical_graph(self, make_graph):
    cluster_ids = self._run(make_graph(), self.create_tempdir().full_path)
    self.assertAllEqual(cluster_ids, self.canonical)

  @testing_utils.parameterized.named_parameters(
      ("no_edges", lambda: _with(edges=np.zeros((2, 0), np.int64))),
      ("isolated_nodes", lambda: _with(
          edges=_EDGES[:, (_EDGES[0] >= 10) & (_EDGES[1] >= 10)])),
      ("two_nodes", lambda: data.Graph(
          features=np.eye(2, dtype=np.float32), edges=np.array([[0, 1],
                                                               [1, 0]]))),
  )
  def test_unusual_graphs_run_through(self, make_graph):
    model_dir = self.create_tempdir().full_path
    graph = make_graph()
    config = _config(n_clusters=2 if graph.num_nodes == 2 else 3)
    results = pipeline.run(config, graph, model_dir, log=lambda line: None)
    self.assertFalse(results["collapsed"])
    with open(os.path.join(model_dir, "results.json")) as f:
      self.assertTrue(np.all(np.isfinite(
          [v for v in json.load(f)["metrics"].values()])))


class DeterminismTest(testing_utils.TestCase):
  """The same seed on the same machine gives the same clusters, twice."""

  @testing_utils.parameterized.named_parameters(
      ("full_graph", {}), ("node_rows", {"batch_size": 32}))
  def test_same_seed_same_clusters(self, changes):
    runs = [BadGraphTest._run(_GRAPH, self.create_tempdir().full_path,
                              **changes) for _ in range(2)]
    self.assertAllEqual(runs[0], runs[1])


if __name__ == "__main__":
  testing_utils.main()
