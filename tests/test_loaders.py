"""Loaders on the real files in ../shared/data and on formats written here."""
import gzip
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink import data
from tensorflow_gnn_dink import loaders

from conftest import SHARED_DATA


def check_undirected(graph):
  src, dst = graph.edges
  assert np.all(src != dst)
  forward = set(zip(src.tolist(), dst.tolist()))
  assert forward == set(zip(dst.tolist(), src.tolist()))
  assert len(forward) == graph.edges.shape[1]  # No duplicates.


@pytest.mark.parametrize("path,nodes,edges,features,classes,unlabelled", [
    ("cora/cora.npz", 2708, 5278, 1433, 7, 0),
    ("cora", 2708, 5278, 1433, 7, 0),
    ("citeseer", 3327, 4552, 3703, 6, 15),
    ("amazon_photo/amazon_electronics_photo.npz", 7650, 119081, 745, 8, 0),
])
def test_shared_graphs_have_the_published_counts(path, nodes, edges, features,
                                                 classes, unlabelled):
  graph = loaders.load(str(SHARED_DATA / path))
  assert graph.num_nodes == nodes
  assert graph.edges.shape[1] == 2 * edges
  assert graph.features.shape == (nodes, features)
  assert graph.features.dtype == np.float32
  assert graph.num_classes == classes
  assert int((graph.labels < 0).sum()) == unlabelled
  check_undirected(graph)
  data.validate(graph)


def test_planetoid_and_npz_cora_agree():
  a = loaders.load(str(SHARED_DATA / "cora" / "cora.npz"))
  b = loaders.load(str(SHARED_DATA / "cora"))
  # Same graph up to node order: equal degree and feature-count histograms.
  np.testing.assert_array_equal(np.sort(np.bincount(a.edges[0])),
                                np.sort(np.bincount(b.edges[0])))
  np.testing.assert_array_equal(np.sort(a.features.sum(1)),
                                np.sort(b.features.sum(1)))
  np.testing.assert_array_equal(np.sort(np.bincount(a.labels)),
                                np.sort(np.bincount(b.labels)))


def _write_csv_gz(path, rows, fmt):
  with gzip.open(path, "wt") as f:
    for row in rows:
      f.write(",".join(fmt % v for v in np.atleast_1d(row)) + "\n")


def test_ogb_layout(tmp_path):
  raw = tmp_path / "ogbn_toy" / "raw"
  raw.mkdir(parents=True)
  _write_csv_gz(raw / "edge.csv.gz", [(0, 1), (1, 2), (2, 0), (3, 3)], "%d")
  feats = np.arange(8, dtype=np.float32).reshape(4, 2) / 10
  _write_csv_gz(raw / "node-feat.csv.gz", feats, "%.1f")
  _write_csv_gz(raw / "node-label.csv.gz", [1, 0, 1, 2], "%d")
  graph = loaders.load(str(tmp_path / "ogbn_toy"))
  assert graph.name == "ogbn_toy" and graph.num_nodes == 4
  np.testing.assert_allclose(graph.features, feats)
  np.testing.assert_array_equal(graph.labels, [1, 0, 1, 2])
  assert graph.edges.shape[1] == 6  # Self-loop dropped, both directions.
  check_undirected(graph)


def test_tfgnn_schema_and_tfrecord(tmp_path):
  source = data.make_csbm(num_nodes=40, n_clusters=2, num_features=3, seed=0)
  graph = data.to_graph_tensor(source)
  graph = graph.replace_features(node_sets={"nodes": {
      "feat": graph.node_sets["nodes"]["feat"],
      "label": tf.constant(source.labels)}})
  schema = tfgnn.create_schema_pb_from_graph_spec(graph.spec)
  tfgnn.write_schema(schema, str(tmp_path / "schema.pbtxt"))
  with tf.io.TFRecordWriter(str(tmp_path / "graph.tfrecord")) as writer:
    writer.write(tfgnn.write_example(graph).SerializeToString())
  loaded = loaders.load(str(tmp_path / "schema.pbtxt"),
                        label_feature_name="label")
  np.testing.assert_allclose(loaded.features, source.features)
  np.testing.assert_array_equal(loaded.labels, source.labels)
  np.testing.assert_array_equal(loaded.edges, source.edges)


def test_bad_inputs_are_clear_errors(tmp_path):
  with pytest.raises(ValueError, match="No such file"):
    loaders.load(str(tmp_path / "missing.npz"))
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"not a zip")
  with pytest.raises(ValueError, match="not a readable .npz"):
    loaders.load(str(bad))
  np.savez(tmp_path / "other.npz", x=np.zeros(3))
  with pytest.raises(ValueError, match="lacks the gnn-benchmark adjacency"):
    loaders.load(str(tmp_path / "other.npz"))
  (tmp_path / "dir").mkdir()
  with pytest.raises(ValueError, match="Unknown graph format"):
    loaders.load(str(tmp_path / "dir"))
  nan = data.Graph(features=np.array([[np.nan], [1.0]], np.float32),
                   edges=np.zeros((2, 0), np.int64))
  with pytest.raises(ValueError, match="NaN or inf in 1 rows"):
    data.validate(nan)
  with pytest.raises(ValueError, match="no nodes"):
    data.validate(data.Graph(features=np.zeros((0, 3), np.float32),
                             edges=np.zeros((2, 0), np.int64)))
