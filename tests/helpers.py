"""Small graphs and runs shared by the tests."""
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import data


def small_graph(seed: int = 0, num_nodes: int = 120, n_clusters: int = 3):
  graph = data.make_csbm(num_nodes=num_nodes, n_clusters=n_clusters,
                         num_features=12, avg_degree=6.0, seed=seed)
  return graph, data.to_graph_tensor(graph)


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
