"""Shared set-up of the tests: Keras 2, two logical CPUs, small graphs.

Import this module first in every test file: it arranges Keras 2 for TF-GNN
and splits the CPU into two logical devices (for `MirroredStrategy` tests)
before TensorFlow initialises, whether the file runs under pytest, as
`python tests/<module>_test.py` or as a Bazel `py_test`.
"""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

import tensorflow_gnn_dink  # noqa: E402,F401  (arranges Keras 2 first)
from absl.testing import parameterized  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_gnn as tfgnn  # noqa: E402

from tensorflow_gnn_dink.recipe import data  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"


def _two_logical_cpus() -> None:
  cpus = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
  except RuntimeError:  # Already initialised (e.g. by another test file).
    pass


_two_logical_cpus()


class TestCase(tf.test.TestCase, parameterized.TestCase):
  """`tf.test.TestCase` with a fresh Keras state (layer names) per test."""

  # TF1's deprecated `test_session` context manager is not a test; without
  # this, unittest and pytest collect it and report it as skipped.
  test_session = None

  def setUp(self):
    super().setUp()
    tf.keras.backend.clear_session()


def main() -> None:
  """`tf.test.main()`, for the bottom of every test file."""
  tf.test.main()


def small_graph(seed: int = 0, num_nodes: int = 120, n_clusters: int = 3):
  """A small CSBM graph and its GraphTensor (one component)."""
  graph = data.make_csbm(num_nodes=num_nodes, n_clusters=n_clusters,
                         num_features=12, avg_degree=6.0, seed=seed)
  return graph, data.to_graph_tensor(graph)


def sampled_neighbours(graph: data.Graph, fanout: int = 4, seed: int = 0):
  """`[(root, up to fanout random neighbours)]` for every node of `graph`."""
  rng = np.random.default_rng(seed)
  adjacency = [[] for _ in range(graph.num_nodes)]
  for s, t in graph.edges.T:
    adjacency[s].append(t)
  return [(root, rng.permutation(adjacency[root])[:fanout])
          for root in range(graph.num_nodes)]


def rooted_batch(num_graphs: int = 3, seed: int = 0) -> tfgnn.GraphTensor:
  """Star-shaped rooted subgraphs (root first) as components of one graph."""
  rng = np.random.default_rng(seed)
  sizes = rng.integers(3, 7, size=num_graphs)
  offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
  src, dst = [], []
  for offset, n in zip(offsets, sizes):
    leaves = offset + np.arange(1, n)
    src += [leaves, np.full(n - 1, offset)]
    dst += [np.full(n - 1, offset), leaves]
  features = rng.normal(size=(int(sizes.sum()), 12)).astype(np.float32)
  return tfgnn.GraphTensor.from_pieces(
      node_sets={"nodes": tfgnn.NodeSet.from_fields(
          sizes=tf.constant(sizes, tf.int64),
          features={"feat": tf.constant(features)})},
      edge_sets={"edges": tfgnn.EdgeSet.from_fields(
          sizes=tf.constant(2 * (sizes - 1), tf.int64),
          adjacency=tfgnn.Adjacency.from_indices(
              ("nodes", tf.constant(np.concatenate(src), tf.int64)),
              ("nodes", tf.constant(np.concatenate(dst), tf.int64))))})


def identity_gnn(spec: tfgnn.GraphTensorSpec) -> tf.keras.Model:
  """A GNN without weights: hidden state = input feature `feat`."""
  inputs = tf.keras.Input(type_spec=spec)
  outputs = tfgnn.keras.layers.MapFeatures(
      node_sets_fn=lambda ns, node_set_name: {
          tfgnn.HIDDEN_STATE: ns["feat"]})(inputs)
  return tf.keras.Model(inputs, outputs)


def np_normalized_adjacency(edges: np.ndarray, num_nodes: int) -> np.ndarray:
  """Dense `D^-1/2 (A + I) D^-1/2` in float64, row = target, column = source."""
  a = np.zeros((num_nodes, num_nodes))
  np.add.at(a, (edges[1], edges[0]), 1.0)
  a += np.eye(num_nodes)
  d = a.sum(1) ** -0.5
  return d[:, None] * a * d[None, :]


def run_subprocess_env() -> dict:
  """The environment for a fresh Python process (TF picks Keras anew)."""
  return {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}


# Independent numpy references of the cluster geometry and losses (float64,
# by broadcasting rather than the library's matmul form).


def np_sq_dist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """`[n, m]` squared distances by broadcasting."""
  return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def np_softmax(logits: np.ndarray) -> np.ndarray:
  """Row-wise softmax."""
  e = np.exp(logits - logits.max(1, keepdims=True))
  return e / e.sum(1, keepdims=True)


def np_soft(z: np.ndarray, c: np.ndarray) -> np.ndarray:
  """Row-wise `softmax(-|z_i - c_j|)`."""
  return np_softmax(-np.sqrt(np_sq_dist(z, c)))


def np_assignment_weights(z: np.ndarray, c: np.ndarray,
                          temperature: float) -> np.ndarray:
  """`softmax(-|z_i - c_j|^2 / temperature)` per row."""
  return np_softmax(-np_sq_dist(z, c) / temperature)


def np_dilation(c: np.ndarray) -> float:
  """`-1/(K(K-1)) sum_{i != j} |c_i - c_j|^2`."""
  k = c.shape[0]
  d = np_sq_dist(c, c)
  return -(d.sum() - np.trace(d)) / (k * (k - 1))


def np_shrink(z: np.ndarray, c: np.ndarray, w=None) -> float:
  """Mean (or `w`-weighted mean) over rows of the mean distance to centres."""
  per_row = np_sq_dist(z, c).mean(1)
  if w is None:
    return per_row.mean()
  return (per_row * w).sum() / w.sum()

