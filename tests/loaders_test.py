"""Tests for `tensorflow_gnn_dink.recipe.loaders`.

Reads the real graphs in `../shared/data` (published counts) and files of each
format written by the tests.
"""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import collections
import dataclasses
import gzip
import os
import pickle

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


def _write(path, content, protocol=2):
  """Writes bytes as they are and other objects pickled; None writes nothing."""
  if content is None:
    return
  if not isinstance(content, bytes):
    content = pickle.dumps(content, protocol=protocol)
  with open(path, "wb") as f:
    f.write(content)


def _half(path):
  """The first half of the bytes of the file `path`."""
  with open(path, "rb") as f:
    content = f.read()
  return content[:len(content) // 2]


def _toy_npz(tmp, **replace):
  """Writes `tmp/g.npz`, a valid 3-node path, with `replace`d arrays.

  Returns:
    `(path, kwargs)` for `loaders.load`. An array replaced by None is left out.
  """
  arrays = dict(
      adj_data=np.ones(4, np.float32), adj_indices=np.array([1, 0, 2, 1]),
      adj_indptr=np.array([0, 1, 3, 4]), adj_shape=np.array([3, 3]),
      attr_data=np.ones(3, np.float32), attr_indices=np.array([0, 1, 2]),
      attr_indptr=np.array([0, 1, 2, 3]), attr_shape=np.array([3, 3]),
      labels=np.array([0, 1, 0]))
  arrays.update(replace)
  np.savez(f"{tmp}/g.npz",
           **{k: v for k, v in arrays.items() if v is not None})
  return f"{tmp}/g.npz", {}


def _toy_planetoid(tmp, protocol=2, **replace):
  """Writes `tmp/pl/ind.toy.*`: nodes 0, 1 train, test ids 3, 2 in that order.

  Args:
    tmp: A directory.
    protocol: The pickle protocol.
    **replace: suffix (`test_index` for `test.index`) -> the bytes or object
      to write instead, or None to leave the file out.

  Returns:
    `(path, kwargs)` for `loaders.load`.
  """
  os.makedirs(f"{tmp}/pl")
  allx = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], np.float32))
  ally = np.array([[1, 0], [0, 1]], np.int32)
  files = {
      "x": allx, "y": ally, "allx": allx, "ally": ally,
      "tx": sp.csr_matrix(np.array([[0, 0, 1], [1, 1, 0]], np.float32)),
      "ty": np.array([[0, 1], [1, 0]], np.int32),
      "graph": collections.defaultdict(list,
                                       {0: [1], 1: [0, 2], 2: [1, 3], 3: [2]}),
      "test_index": b"3\n2\n"}
  for suffix, content in {**files, **replace}.items():
    _write(f"{tmp}/pl/ind.toy.{suffix.replace('_', '.')}", content, protocol)
  return f"{tmp}/pl", {}


def _toy_tfgnn(tmp, records=None):
  """Writes `tmp/s.pbtxt` and `tmp/g.tfrecord` of a 10-node graph.

  Args:
    tmp: A directory.
    records: None, or a function of the TFRecord file's path that returns
      the bytes to write there instead.

  Returns:
    `(path, kwargs)` for `loaders.load`.
  """
  graph = data.to_graph_tensor(data.make_csbm(num_nodes=10, n_clusters=2))
  tfgnn.write_schema(tfgnn.create_schema_pb_from_graph_spec(graph.spec),
                     f"{tmp}/s.pbtxt")
  with tf.io.TFRecordWriter(f"{tmp}/g.tfrecord") as writer:
    writer.write(tfgnn.write_example(graph).SerializeToString())
  if records is not None:
    _write(f"{tmp}/g.tfrecord", records(f"{tmp}/g.tfrecord"))
  return f"{tmp}/s.pbtxt", {}


def _toy_ogb(tmp, **replace):
  """Writes `tmp/ogbn/raw/{edge,node-feat,node-label}.csv.gz` of 3 nodes.

  Args:
    tmp: A directory.
    **replace: `edge`, `node_feat` or `node_label` -> the CSV text to gzip
      instead, bytes to write as they are, or None to leave the file out.

  Returns:
    `(path, kwargs)` for `loaders.load`.
  """
  os.makedirs(f"{tmp}/ogbn/raw")
  files = {"edge": "0,1\n1,2\n", "node_feat": "0.1,0.2\n0.3,0.4\n0.5,0.6\n",
           "node_label": "0\n1\n0\n"}
  for stem, content in {**files, **replace}.items():
    if isinstance(content, str):
      content = gzip.compress(content.encode())
    _write(f"{tmp}/ogbn/raw/{stem.replace('_', '-')}.csv.gz", content)
  return f"{tmp}/ogbn", {}


def _bad_tfrecord_path(tmp):
  _toy_tfgnn(tmp)
  return f"{tmp}/s.pbtxt", {"tfrecord_path": f"{tmp}/nope.tfrecord"}


def _file(name, content):
  """A writer of `content` (bytes, or a function returning them) to `name`."""
  def write(tmp):
    _write(f"{tmp}/{name}", content() if callable(content) else content)
    return f"{tmp}/{name}", {}
  return write


def _unparsable_schema(tmp):
  path = _toy_tfgnn(tmp)
  _write(f"{tmp}/s.pbtxt", b"node_sets { oops")
  return path


def _schema_alone(tmp):
  path = _toy_tfgnn(tmp)
  os.remove(f"{tmp}/g.tfrecord")
  return path


def _non_example_records(tmp):
  path = _toy_tfgnn(tmp)
  with tf.io.TFRecordWriter(f"{tmp}/g.tfrecord") as writer:
    writer.write(b"not a tf.Example")
  return path


# (case, writer of the bad file(s) into a directory -> (path, kwargs) for
# `loaders.load`, the file the message must name (relative to that
# directory), a part of the expected message).
_BAD_INPUTS = (
    ("missing_path", lambda tmp: (f"{tmp}/nope.npz", {}), "nope.npz",
     "No such file or directory"),
    ("unsupported_csv", _file("g.csv", b"0,1\n"), "g.csv",
     "Unknown graph format"),
    ("empty_directory", lambda tmp: (tmp, {}), "", "Unknown graph format"),
    ("npz_empty", _file("g.npz", b""), "g.npz", "is empty (0 bytes)"),
    ("npz_text", _file("g.npz", b"hello, graph\n"), "g.npz",
     "is not a .npz file (no zip header: it starts with b'hell')"),
    ("npz_truncated", _file(
        "g.npz", lambda: _half(SHARED_DATA / "cora" / "cora.npz")), "g.npz",
     "is a truncated or corrupt .npz file (File is not a zip file)"),
    ("npz_missing_key", lambda tmp: _toy_npz(tmp, adj_indptr=None), "g.npz",
     "lacks the gnn-benchmark arrays ['adj_indptr']"),
    ("npz_no_attributes", lambda tmp: _toy_npz(
        tmp, attr_data=None, attr_indices=None, attr_indptr=None,
        attr_shape=None), "g.npz", "lacks the gnn-benchmark arrays "
     "['attr_data', 'attr_indices', 'attr_indptr', 'attr_shape']"),
    ("npz_object_array", lambda tmp: _toy_npz(
        tmp, adj_data=np.array([1, 1, 1, None])), "g.npz",
     "array adj_data cannot be read (Object arrays cannot be loaded"),
    ("npz_float_indices", lambda tmp: _toy_npz(
        tmp, adj_indices=np.array([1., 0., 2., 1.])), "g.npz",
     "adj_indices has shape (4,) and dtype float64, expected a 1-D integer"),
    ("npz_index_out_of_range", lambda tmp: _toy_npz(
        tmp, adj_indices=np.array([1, 0, 9, 1])), "g.npz",
     "adj_data, adj_indices, adj_indptr, adj_shape do not form a CSR matrix"),
    ("npz_shape_not_2d", lambda tmp: _toy_npz(
        tmp, adj_shape=np.array([3, 3, 3])), "g.npz",
     "do not form a CSR matrix (shape must have length"),
    ("npz_labels_wrong_length", lambda tmp: _toy_npz(
        tmp, labels=np.array([0, 1])), "g.npz",
     "the arrays disagree: adjacency (3, 3), attributes (3, 3), labels "
     "((2,), 'int64')"),
    ("npz_attributes_wrong_rows", lambda tmp: _toy_npz(
        tmp, attr_shape=np.array([4, 3]),
        attr_indptr=np.array([0, 1, 2, 3, 3])),
     "g.npz", "the arrays disagree: adjacency (3, 3), attributes (4, 3)"),
    ("planetoid_missing_file", lambda tmp: _toy_planetoid(tmp, tx=None),
     "pl/ind.toy.tx", "missing: expected ind.toy.{allx,ally,tx,ty,graph,"
     "test.index} side by side"),
    ("planetoid_missing_graph", lambda tmp: _toy_planetoid(tmp, graph=None),
     "pl/ind.toy.graph", "missing: expected"),
    ("planetoid_truncated", lambda tmp: _toy_planetoid(
        tmp, allx=_half(f"{SHARED_DATA}/cora/ind.cora.allx")),
     "pl/ind.toy.allx", "is truncated or corrupt (UnpicklingError: pickle "
     "data was truncated)"),
    ("planetoid_empty", lambda tmp: _toy_planetoid(tmp, graph=b""),
     "pl/ind.toy.graph", "is truncated or corrupt (EOFError"),
    ("planetoid_not_a_pickle", lambda tmp: _toy_planetoid(
        tmp, ty=b"0 1\n1 0\n"), "pl/ind.toy.ty", "is truncated or corrupt "
     "(UnpicklingError"),
    ("planetoid_not_a_matrix", lambda tmp: _toy_planetoid(tmp, allx="hi"),
     "pl/ind.toy.allx", "is not a 2-D numeric matrix (it holds a str)"),
    ("planetoid_graph_not_a_dict", lambda tmp: _toy_planetoid(
        tmp, graph=[[1], [0]]), "pl/ind.toy.graph",
     "is not an adjacency dict (it holds a list)"),
    ("planetoid_edge_out_of_range", lambda tmp: _toy_planetoid(
        tmp, graph={0: [1], 1: [0, 99]}), "pl/ind.toy.graph",
     "has edges with node ids outside [0, 4)"),
    ("planetoid_test_index_not_ids", lambda tmp: _toy_planetoid(
        tmp, test_index=b"3\nthree\n"), "pl/ind.toy.test.index",
     "is not a list of node ids"),
    ("planetoid_files_disagree", lambda tmp: _toy_planetoid(
        tmp, ty=np.array([[0, 1]], np.int32)), "pl/ind.toy.*",
     "do not fit together: allx (2, 3), ally (2, 2), tx (2, 3), ty (1, 2)"),
    ("pbtxt_unparsable", _unparsable_schema, "s.pbtxt",
     "is not a readable TF-GNN GraphSchema (1:"),
    ("tfrecord_none_beside", _schema_alone, "s.pbtxt",
     "No .tfrecord file beside"),
    ("tfrecord_missing", _bad_tfrecord_path, "nope.tfrecord",
     "does not exist: pass tfrecord_path="),
    ("tfrecord_corrupt", lambda tmp: _toy_tfgnn(
        tmp, lambda path: b"not a tfrecord file"), "g.tfrecord",
     "is not a TFRecord file or is truncated (DataLossError)"),
    ("tfrecord_truncated", lambda tmp: _toy_tfgnn(tmp, _half), "g.tfrecord",
     "is not a TFRecord file or is truncated (DataLossError)"),
    ("tfrecord_empty", lambda tmp: _toy_tfgnn(tmp, lambda path: b""),
     "g.tfrecord", "holds no records"),
    ("tfrecord_not_examples", _non_example_records, "g.tfrecord",
     "holds records that are not tf.Examples of GraphTensors"),
    ("ogb_missing_features", lambda tmp: _toy_ogb(tmp, node_feat=None),
     "ogbn/raw/node-feat.csv.gz", "is missing (expected the ogb package's"),
    ("ogb_missing_edges", lambda tmp: _toy_ogb(tmp, edge=None),
     "ogbn/raw/edge.csv.gz", "is missing (expected the ogb package's"),
    ("ogb_not_gzip", lambda tmp: _toy_ogb(tmp, edge=b"0,1\n"),
     "ogbn/raw/edge.csv.gz", "is not a gzipped CSV of source,target node ids "
     "(Not a gzipped file"),
    ("ogb_not_numbers", lambda tmp: _toy_ogb(tmp, node_feat="a,b\n"),
     "ogbn/raw/node-feat.csv.gz", "is not a gzipped CSV of node features "
     "(could not convert string 'a'"),
    ("ogb_three_columns", lambda tmp: _toy_ogb(tmp, edge="0,1,2\n"),
     "ogbn/raw/edge.csv.gz", "has 3 columns, expected 2"),
    ("ogb_edge_out_of_range", lambda tmp: _toy_ogb(tmp, edge="0,7\n"),
     "ogbn/raw/edge.csv.gz", "has edges with node ids outside [0, 3)"),
    ("ogb_labels_wrong_length", lambda tmp: _toy_ogb(tmp, node_label="0\n"),
     "ogbn/raw/node-label.csv.gz",
     "has labels for 1 nodes, expected one per row"),
)


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


class NodeIdsTest(LoadersTestCase):
  """The input's own node names become `Graph.node_ids`."""

  def test_npz_node_names(self):
    tmp = self.create_tempdir().full_path
    path, _ = _toy_npz(tmp, node_names=np.array(["p31", "p7", "p9"]))
    self.assertAllEqual(loaders.load(path).node_ids, ["p31", "p7", "p9"])
    cora = loaders.load(str(SHARED_DATA / "cora" / "cora.npz"))
    self.assertEqual(cora.node_ids.shape, (2708,))
    self.assertEqual(cora.node_ids[0], "1000012")
    # Pickled, repeated or too few names: rows numbers instead, no error.
    for names in (np.array([{"a": 1}, "b", "c"], dtype=object),
                  np.array(["a", "a", "b"]), np.array(["a", "b"])):
      path, _ = _toy_npz(tmp, node_names=names)
      with self.assertLogs(level="WARNING"):
        graph = loaders.load(path)
      self.assertIsNone(graph.node_ids)
      self.assertEqual(graph.num_nodes, 3)
    path, _ = _toy_npz(tmp)
    self.assertIsNone(loaders.load(path).node_ids)

  def test_ogb_mapping(self):
    tmp = self.create_tempdir().full_path
    path, _ = _toy_ogb(tmp)
    self.assertIsNone(loaders.load(path).node_ids)
    os.makedirs(f"{path}/mapping")
    with gzip.open(f"{path}/mapping/nodeidx2paperid.csv.gz", "wt") as f:
      f.write("node idx,paper id\n0,9001\n1,17\n2,42\n")
    self.assertAllEqual(loaders.load(path).node_ids, ["9001", "17", "42"])
    with gzip.open(f"{path}/mapping/nodeidx2paperid.csv.gz", "wt") as f:
      f.write("node idx,paper id\n1,9001\n0,17\n2,42\n")
    with self.assertLogs(level="WARNING"):
      self.assertIsNone(loaders.load(path).node_ids)

  def test_tfgnn_id_feature(self):
    tmp = self.create_tempdir().full_path
    source = data.make_csbm(num_nodes=6, n_clusters=2, num_features=3)
    graph = data.to_graph_tensor(source)
    ids = [b"u%d" % i for i in range(6)]
    graph = graph.replace_features(node_sets={"nodes": {
        "feat": graph.node_sets["nodes"]["feat"],
        loaders.NODE_ID: tf.constant(ids)}})
    tfgnn.write_schema(tfgnn.create_schema_pb_from_graph_spec(graph.spec),
                       f"{tmp}/schema.pbtxt")
    with tf.io.TFRecordWriter(f"{tmp}/graph.tfrecord") as writer:
      writer.write(tfgnn.write_example(graph).SerializeToString())
    loaded = loaders.load(f"{tmp}/schema.pbtxt")  # "#id" is no feature.
    self.assertAllClose(loaded.features, source.features)
    self.assertAllEqual(loaded.node_ids, [f"u{i}" for i in range(6)])

  def test_validate_refuses_bad_node_ids(self):
    graph = data.make_csbm(num_nodes=4, n_clusters=2)
    for node_ids, message in (
        (np.array(["a", "b"]), r"node_ids must have shape \(4,\)"),
        (np.array([0.5, 1, 2, 3]), "integers or \\(unicode\\) strings"),
        (np.array([b"a", b"b", b"c", b"d"]), "decode byte strings"),
        (np.array([1, 2, 2, 3]), r"must be unique; \[2\] appear")):
      with self.assertRaisesRegex(ValueError, message):
        data.validate(dataclasses.replace(graph, node_ids=node_ids))


class _Shell:
  """Unpickles as `os.system("touch TARGET")`."""

  def __init__(self, target):
    self.target = target

  def __reduce__(self):
    return (os.system, (f"touch {self.target}",))


class _OpenForWriting(_Shell):
  """Unpickles as `open(TARGET, "w")`, which creates TARGET."""

  def __reduce__(self):
    return (open, (self.target, "w"))


class _FactoryShell(_Shell):
  """A defaultdict (as `graph` is) whose factory is `os.system`."""

  def __reduce__(self):
    return (collections.defaultdict, (os.system,))


class BadInputsTest(LoadersTestCase):

  @parameterized.named_parameters(*_BAD_INPUTS)
  def test_bad_input_is_a_clear_value_error(self, write, culprit, expected):
    tmp = self.create_tempdir().full_path
    path, kwargs = write(tmp)
    with self.assertRaises(ValueError) as caught:
      loaders.load(path, **kwargs)
    message = str(caught.exception)
    self.assertIs(type(caught.exception), ValueError)
    self.assertIn(expected, message)
    self.assertIn(os.path.join(tmp, culprit).rstrip("/"), message)

  def test_toy_files_of_the_table_are_valid(self):
    """Each bad input above differs from these by the one flaw it names."""
    for write in (_toy_npz, _toy_planetoid, _toy_tfgnn, _toy_ogb):
      path, kwargs = write(self.create_tempdir().full_path)
      graph = loaders.load(path, **kwargs)
      data.validate(graph)
      self.assertUndirected(graph)

  @parameterized.parameters(2, 5)
  def test_planetoid_pickles_of_any_protocol_load(self, protocol):
    graph = loaders.load(
        _toy_planetoid(self.create_tempdir().full_path, protocol)[0])
    self.assertEqual(graph.name, "toy")
    # Test rows 0, 1 of tx go to their test.index ids 3, 2.
    self.assertAllEqual(graph.features.toarray(),
                        [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    self.assertAllEqual(graph.labels, [0, 1, 0, 1])
    self.assertEqual(graph.edges.shape, (2, 6))

  @parameterized.named_parameters(
      ("shell_in_allx", _Shell, "allx", f"{os.system.__module__}.system"),
      ("open_in_graph", _OpenForWriting, "graph", f"{open.__module__}.open"),
      ("factory_in_graph", _FactoryShell, "graph",
       f"{os.system.__module__}.system"),
      ("shell_in_ty", _Shell, "ty", f"{os.system.__module__}.system"),
  )
  def test_crafted_planetoid_pickle_runs_no_code(self, payload, suffix,
                                                 refused):
    tmp = self.create_tempdir().full_path
    target = f"{tmp}/pwned"
    path, _ = _toy_planetoid(tmp, **{suffix: payload(target)})
    with self.assertRaises(ValueError) as caught:
      loaders.load(path)
    message = str(caught.exception)
    self.assertIn(f"Refused to unpickle {path}/ind.toy.{suffix}", message)
    self.assertIn(f"the Python global {refused},", message)
    self.assertIn("It is not a Planetoid file and may be malicious", message)
    self.assertFalse(os.path.exists(target))

  def test_crafted_payloads_do_run_under_plain_pickle(self):
    """The payloads above are real: `pickle.loads` would run them."""
    tmp = self.create_tempdir().full_path
    for i, payload in enumerate((_Shell, _OpenForWriting)):
      target = f"{tmp}/ran{i}"
      result = pickle.loads(pickle.dumps(payload(target), protocol=2))
      if hasattr(result, "close"):
        result.close()
      self.assertTrue(os.path.exists(target))
    factory = pickle.loads(pickle.dumps(_FactoryShell(""), protocol=2))
    self.assertIs(factory.default_factory, os.system)


if __name__ == "__main__":
  testing_utils.main()
