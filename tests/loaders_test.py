"""Tests for `tensorflow_gnn_dink.recipe.loaders`.

Reads the real graphs in `../shared/data` (published counts) and files of each
format written by the tests.
"""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import gzip

from absl.testing import parameterized
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import loaders

SHARED_DATA = testing_utils.SHARED_DATA


def _write_csv_gz(path, rows, fmt):
  with gzip.open(path, "wt") as f:
    for row in rows:
      f.write(",".join(fmt % v for v in np.atleast_1d(row)) + "\n")


class LoadersTestCase(testing_utils.TestCase):

  def assertUndirected(self, graph: data.Graph):
    """Both directions of each edge, no self-loops, no duplicates."""
    src, dst = graph.edges
    self.assertFalse(np.any(src == dst), "self-loops")
    forward = np.sort(src * graph.num_nodes + dst)
    backward = np.sort(dst * graph.num_nodes + src)
    self.assertAllEqual(forward, backward)
    self.assertLen(np.unique(forward), graph.edges.shape[1], "duplicates")


class SharedGraphsTest(LoadersTestCase):

  @parameterized.named_parameters(
      ("cora_npz", "cora/cora.npz", 2708, 5278, 1433, 7, 0),
      ("cora_planetoid", "cora", 2708, 5278, 1433, 7, 0),
      ("citeseer_planetoid", "citeseer", 3327, 4552, 3703, 6, 15),
      ("amazon_photo_npz", "amazon_photo/amazon_electronics_photo.npz", 7650,
       119081, 745, 8, 0),
  )
  def test_shared_graphs_have_the_published_counts(self, path, nodes, edges,
                                                   features, classes,
                                                   unlabelled):
    graph = loaders.load(str(SHARED_DATA / path))
    self.assertEqual(graph.num_nodes, nodes)
    self.assertEqual(graph.edges.shape[1], 2 * edges)
    self.assertEqual(graph.features.shape, (nodes, features))
    self.assertEqual(graph.features.dtype, np.float32)
    self.assertEqual(graph.edges.dtype, np.int64)
    self.assertEqual(graph.num_classes, classes)
    self.assertEqual(int((graph.labels < 0).sum()), unlabelled)
    self.assertUndirected(graph)
    data.validate(graph)

  def test_planetoid_and_npz_cora_agree(self):
    a = loaders.load(str(SHARED_DATA / "cora" / "cora.npz"))
    b = loaders.load(str(SHARED_DATA / "cora"))
    self.assertEqual((a.name, b.name), ("cora", "cora"))
    # Same graph up to node order: equal degree and feature-count histograms.
    self.assertAllEqual(np.sort(np.bincount(a.edges[0])),
                        np.sort(np.bincount(b.edges[0])))
    self.assertAllEqual(np.sort(np.ravel(a.features.sum(1))),
                        np.sort(np.ravel(b.features.sum(1))))
    # Bag-of-words features stay sparse.
    self.assertTrue(sp.issparse(a.features) and sp.issparse(b.features))
    self.assertAllEqual(np.sort(np.bincount(a.labels)),
                        np.sort(np.bincount(b.labels)))

  def test_planetoid_prefix_path_equals_directory(self):
    a = loaders.load(str(SHARED_DATA / "cora"))
    b = loaders.load(str(SHARED_DATA / "cora" / "ind.cora"))
    self.assertAllEqual(a.features.toarray(), b.features.toarray())
    self.assertAllEqual(a.edges, b.edges)
    self.assertAllEqual(a.labels, b.labels)


class OgbTest(LoadersTestCase):

  def _write_ogb(self, with_labels: bool = True):
    root = self.create_tempdir().mkdir("ogbn_toy")
    raw = root.mkdir("raw")
    _write_csv_gz(f"{raw.full_path}/edge.csv.gz",
                  [(0, 1), (1, 2), (2, 0), (3, 3)], "%d")
    feats = np.arange(8, dtype=np.float32).reshape(4, 2) / 10
    _write_csv_gz(f"{raw.full_path}/node-feat.csv.gz", feats, "%.1f")
    if with_labels:
      _write_csv_gz(f"{raw.full_path}/node-label.csv.gz", [1, 0, 1, 2], "%d")
    return root.full_path, feats

  def test_ogb_layout(self):
    path, feats = self._write_ogb()
    graph = loaders.load(path)
    self.assertEqual(graph.name, "ogbn_toy")
    self.assertEqual(graph.num_nodes, 4)
    self.assertAllClose(graph.features, feats)
    self.assertAllEqual(graph.labels, [1, 0, 1, 2])
    self.assertEqual(graph.edges.shape[1], 6)  # Self-loop dropped, both ways.
    self.assertEqual(set(zip(*graph.edges.tolist())),
                     {(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0)})
    self.assertUndirected(graph)

  def test_ogb_without_labels(self):
    path, _ = self._write_ogb(with_labels=False)
    graph = loaders.load(path)
    self.assertIsNone(graph.labels)
    self.assertEqual(graph.num_nodes, 4)

  def test_ogb_missing_features_is_an_error(self):
    raw = self.create_tempdir().mkdir("raw")
    _write_csv_gz(f"{raw.full_path}/edge.csv.gz", [(0, 1)], "%d")
    with self.assertRaisesRegex(ValueError, r"node-feat.csv.gz is missing"):
      loaders.load_ogb(raw.full_path)


class TfgnnTest(LoadersTestCase):

  def test_tfgnn_schema_and_tfrecord(self):
    tmp = self.create_tempdir().full_path
    source = data.make_csbm(num_nodes=40, n_clusters=2, num_features=3,
                            seed=0)
    graph = data.to_graph_tensor(source)
    graph = graph.replace_features(node_sets={"nodes": {
        "feat": graph.node_sets["nodes"]["feat"],
        "label": tf.constant(source.labels)}})
    schema = tfgnn.create_schema_pb_from_graph_spec(graph.spec)
    tfgnn.write_schema(schema, f"{tmp}/schema.pbtxt")
    with tf.io.TFRecordWriter(f"{tmp}/graph.tfrecord") as writer:
      writer.write(tfgnn.write_example(graph).SerializeToString())
    loaded = loaders.load(f"{tmp}/schema.pbtxt", label_feature_name="label")
    self.assertEqual(loaded.name, "graph")
    self.assertAllClose(loaded.features, source.features)
    self.assertAllEqual(loaded.labels, source.labels)
    self.assertAllEqual(loaded.edges, source.edges)
    # Without label_feature_name, "feat" and "label" are ambiguous.
    with self.assertRaisesRegex(
        ValueError, r"The schema has node features \['feat', 'label'\]: pass "
        "one"):
      loaders.load(f"{tmp}/schema.pbtxt")

  def test_schema_without_tfrecord_is_an_error(self):
    tmp = self.create_tempdir().full_path
    graph = data.to_graph_tensor(data.make_csbm(num_nodes=10, n_clusters=2))
    tfgnn.write_schema(tfgnn.create_schema_pb_from_graph_spec(graph.spec),
                       f"{tmp}/schema.pbtxt")
    with self.assertRaisesRegex(ValueError, r"No .tfrecord file beside"):
      loaders.load(f"{tmp}/schema.pbtxt")


class BadInputsTest(LoadersTestCase):

  def test_bad_inputs_are_clear_errors(self):
    tmp = self.create_tempdir()
    with self.assertRaisesRegex(ValueError, "No such file"):
      loaders.load(f"{tmp.full_path}/missing.npz")
    bad = tmp.create_file("bad.npz")
    with open(bad.full_path, "wb") as f:
      f.write(b"not a zip")
    with self.assertRaisesRegex(ValueError, r"not a readable \.npz"):
      loaders.load(bad.full_path)
    np.savez(f"{tmp.full_path}/other.npz", x=np.zeros(3))
    with self.assertRaisesRegex(ValueError,
                                "lacks the gnn-benchmark adjacency"):
      loaders.load(f"{tmp.full_path}/other.npz")
    directory = tmp.mkdir("dir")
    with self.assertRaisesRegex(ValueError, "Unknown graph format"):
      loaders.load(directory.full_path)

  def test_npz_without_attributes_is_an_error(self):
    path = f"{self.create_tempdir().full_path}/noattr.npz"
    np.savez(path, adj_data=np.ones(2), adj_indices=np.array([1, 0]),
             adj_indptr=np.array([0, 1, 2]), adj_shape=np.array([2, 2]))
    with self.assertRaisesRegex(ValueError, "has no node attributes"):
      loaders.load(path)


if __name__ == "__main__":
  testing_utils.main()
