"""Cluster ids on disk: CSV and Parquet, keyed by the graph's own node ids."""
import testing_utils  # First: Keras 2 before TensorFlow.

import os

import numpy as np
from pyarrow import parquet as pq

from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import data


def _graph(num_nodes: int, node_ids=None) -> data.Graph:
  return data.Graph(features=np.eye(num_nodes, dtype=np.float32),
                    edges=np.zeros([2, 0], np.int64),
                    node_ids=None if node_ids is None else np.asarray(
                        node_ids))


def _write(path: str, text: str) -> str:
  with open(path, "w") as f:
    f.write(text)
  return path


class WriteReadTest(testing_utils.TestCase):

  @testing_utils.parameterized.product(
      extension=[".csv", ".parquet"],
      node_ids=[None, ["p-17", "a,b", 'say "x"', " ü "], [40, 7, 12, 3],
                np.array([2**64 - 1, 0, 2**63, 5], np.uint64)])
  def test_round_trip(self, extension, node_ids):
    graph = _graph(4, node_ids)
    path = os.path.join(self.create_tempdir().full_path, "ids" + extension)
    cluster_ids = np.array([2, 0, 1, 2])
    assignments.write(path, cluster_ids, graph.node_ids)
    self.assertAllEqual(assignments.read(path, graph), cluster_ids)
    self.assertEqual(oct(os.stat(path).st_mode & 0o777), oct(0o644))

  def test_csv_is_keyed_by_the_graphs_node_ids_in_node_order(self):
    path = os.path.join(self.create_tempdir().full_path, "ids.csv")
    assignments.write(path, np.array([1, 0]), np.array(["x9", "a,b"]))
    with open(path) as f:
      self.assertEqual(f.read(), 'node_id,cluster_id\nx9,1\n"a,b",0\n')
    assignments.write(path, np.array([1, 0]))
    with open(path) as f:
      self.assertEqual(f.read(), "node_id,cluster_id\n0,1\n1,0\n")

  def test_parquet_columns_and_types(self):
    path = os.path.join(self.create_tempdir().full_path, "ids.parquet")
    assignments.write(path, np.array([1, 0]), np.array(["x9", "y"]))
    table = pq.read_table(path)
    self.assertEqual(table.column_names, ["node_id", "cluster_id"])
    self.assertEqual(table.column("node_id").to_pylist(), ["x9", "y"])
    self.assertEqual(str(table.schema.field("cluster_id").type), "int64")
    assignments.write(path, np.array([1, 0]))
    self.assertEqual(str(pq.read_table(path).schema.field("node_id").type),
                     "int64")

  def test_reads_any_order_and_blank_lines(self):
    path = _write(os.path.join(self.create_tempdir().full_path, "a.csv"),
                  "node_id,cluster_id\n2,0\n\n0,1\n1,1\n")
    self.assertAllEqual(assignments.read(path, _graph(3)), [1, 1, 0])
    named = _write(os.path.join(self.create_tempdir().full_path, "b.csv"),
                   "node_id,cluster_id\nb,0\na,1\n")
    self.assertAllEqual(assignments.read(named, _graph(2, ["a", "b"])),
                        [1, 0])

  @testing_utils.parameterized.named_parameters(
      ("no_header", "0,1\n1,1\n", "does not start with the header"),
      ("not_an_integer", "node_id,cluster_id\n0,a\n1,1\n",
       "line 2: cluster_id 'a' is not an integer"),
      ("three_columns", "node_id,cluster_id\n0,1,2\n1,1\n",
       "line 2: expected node_id,cluster_id, got '0,1,2'"),
      ("node_not_a_number", "node_id,cluster_id\nx,1\n1,1\n",
       "line 2: node_id 'x' is not a row number"),
      ("node_out_of_range", "node_id,cluster_id\n0,1\n5,1\n",
       "line 3: node 5; the graph has nodes 0..1"),
      ("negative_cluster", "node_id,cluster_id\n0,1\n1,-1\n",
       "line 3: cluster -1; cluster ids are >= 0"),
      ("duplicate", "node_id,cluster_id\n0,1\n0,1\n",
       "line 3: node 0 appears twice"),
      ("missing_node", "node_id,cluster_id\n0,1\n",
       "assigns 1 of the graph's 2 nodes \\(node 1 is missing\\)"),
      ("binary", "\xff\xfe\x00garbage", "header|Cannot read"))
  def test_malformed_files_are_one_clear_error(self, text, message):
    path = _write(os.path.join(self.create_tempdir().full_path, "a.csv"),
                  text)
    with self.assertRaisesRegex(ValueError, message):
      assignments.read(path, _graph(2))

  def test_named_nodes_that_are_not_the_graphs(self):
    path = _write(os.path.join(self.create_tempdir().full_path, "a.csv"),
                  "node_id,cluster_id\n0,1\n1,1\n")
    with self.assertRaisesRegex(
        ValueError, "line 2: node '0' is not a node of the graph \\(its "
        "node ids are like 'p1'\\)"):
      assignments.read(path, _graph(2, ["p1", "p2"]))
    with self.assertRaisesRegex(ValueError, "node p2 is missing"):
      assignments.read(_write(path, "node_id,cluster_id\np1,0\n"),
                       _graph(2, ["p1", "p2"]))

  def test_bad_files_and_names(self):
    tmp = self.create_tempdir().full_path
    with self.assertRaisesRegex(ValueError, "Cannot read the assignments"):
      assignments.read(os.path.join(tmp, "nosuch.csv"), _graph(2))
    with self.assertRaisesRegex(ValueError, "Cannot read the assignments"):
      assignments.read(_write(os.path.join(tmp, "a.parquet"), "text"),
                       _graph(2))
    with self.assertRaisesRegex(ValueError, "as .csv or .parquet files, not "
                                ".txt: name the file FILE.csv"):
      assignments.write(os.path.join(tmp, "ids.txt"), np.array([0, 1]))
    with self.assertRaisesRegex(ValueError, "files without an extension"):
      assignments.format_of(os.path.join(tmp, "ids"))
    other = os.path.join(tmp, "other.parquet")
    pq.write_table(__import__("pyarrow").table({"a": [1]}), other)
    with self.assertRaisesRegex(ValueError, "has columns \\['a'\\], not "
                                "node_id and cluster_id"):
      assignments.read(other, _graph(1))


if __name__ == "__main__":
  testing_utils.main()
