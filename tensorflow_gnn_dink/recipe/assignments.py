"""Cluster assignments on disk: `node_id,cluster_id` rows, CSV or Parquet.

`train` writes `MODEL_DIR/cluster_ids.csv` (and `cluster_ids.parquet` where
pyarrow is installed: TF-GNN installs it), `predict` the file its `--output`
names (by its extension), and `evaluate` reads either back.

`node_id` is the node's own id where the input names its nodes
(`data.Graph.node_ids`: a gnn-benchmark `.npz`'s `node_names`, OGB's
`mapping/nodeidx2*.csv.gz`, a TF-GNN node feature `#id`), else its row
number `0..num_nodes-1`. Rows are written in the graph's node order; they
are read back in any order.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import os
from typing import Optional

import numpy as np

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink.recipe import data

COLUMNS = ("node_id", "cluster_id")
FORMATS = (".csv", ".parquet")
_WRITTEN_BY = "pass a cluster_ids file written by tfgnn-dink train or predict"


def parquet_available() -> bool:
  """Whether pyarrow is installed (it is with TF-GNN, through Apache Beam)."""
  return importlib.util.find_spec("pyarrow") is not None


def format_of(path: str) -> str:
  """`.csv` or `.parquet`, by the extension of `path`.

  Raises:
    ValueError: another extension, or `.parquet` without pyarrow.
  """
  extension = os.path.splitext(path)[1].lower()
  if extension not in FORMATS:
    raise ValueError(f"{path}: cluster ids are written as .csv or .parquet "
                     f"files, not {extension or 'files without an extension'}"
                     ": name the file FILE.csv or FILE.parquet.")
  if extension == ".parquet" and not parquet_available():
    raise ValueError(f"{path}: Parquet needs pyarrow (pip install pyarrow), "
                     "or name a .csv file.")
  return extension


def node_ids_of(graph: data.Graph) -> np.ndarray:
  """The graph's own node ids, else the row numbers `0..num_nodes-1`."""
  if graph.node_ids is not None:
    return graph.node_ids
  return np.arange(graph.num_nodes)


def write(path: str, cluster_ids: np.ndarray,
          node_ids: Optional[np.ndarray] = None) -> None:
  """Writes `node_id,cluster_id` rows in node order to `path`, atomically.

  Args:
    path: A `.csv` or `.parquet` file (see `format_of`).
    cluster_ids: `[num_nodes]` cluster id of each node.
    node_ids: `[num_nodes]` the nodes' own ids (strings or integers);
      default: the row numbers.
  """
  cluster_ids = np.asarray(cluster_ids, np.int64)
  if node_ids is None:
    node_ids = np.arange(len(cluster_ids))
  if format_of(path) == ".parquet":
    # pylint: disable-next=g-import-not-at-top
    import pyarrow as pa
    from pyarrow import parquet as pq  # pylint: disable=g-import-not-at-top
    keys = (node_ids if np.issubdtype(node_ids.dtype, np.integer)
            else node_ids.astype(str))  # uint64 ids stay uint64.
    table = pa.table({"node_id": keys, "cluster_id": cluster_ids})
    _files.write_atomically(path, lambda f: pq.write_table(table, f),
                            binary=True)
    return
  if np.issubdtype(node_ids.dtype, np.integer):  # Nothing to quote.
    text = "".join(f"{n},{c}\n" for n, c in zip(node_ids.tolist(),
                                                  cluster_ids.tolist()))
  else:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        zip(node_ids.astype(str).tolist(), cluster_ids.tolist()))
    text = buffer.getvalue()
  _files.write_text_atomically(path, ",".join(COLUMNS) + "\n" + text)


def _rows(path: str, extension: str) -> list[tuple[int, str, str]]:
  """`(line or row number, node_id, cluster_id)` of each row, as strings."""
  if extension == ".parquet":
    from pyarrow import parquet as pq  # pylint: disable=g-import-not-at-top
    try:
      table = pq.read_table(path)
    except Exception as e:  # pylint: disable=broad-except
      # pyarrow raises its own errors (ArrowInvalid, ...) for bad files.
      raise ValueError(f"Cannot read the assignments {path}: {e}. "
                       f"{_WRITTEN_BY.capitalize()}.") from e
    if not set(COLUMNS) <= set(table.column_names):
      raise ValueError(f"{path} has columns {table.column_names}, not "
                       f"node_id and cluster_id: {_WRITTEN_BY}.")
    return [(row, str(node), str(cluster)) for row, (node, cluster) in
            enumerate(zip(table.column("node_id").to_pylist(),
                          table.column("cluster_id").to_pylist()), start=1)]
  try:
    with open(path, newline="", encoding="utf-8") as f:
      rows = list(csv.reader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise ValueError(f"Cannot read the assignments {path}: {e}. "
                     f"{_WRITTEN_BY.capitalize()}.") from e
  if not rows or [c.strip() for c in rows[0]] != list(COLUMNS):
    raise ValueError(f"{path} does not start with the header "
                     f"node_id,cluster_id: {_WRITTEN_BY}.")
  parsed = []
  for line, row in enumerate(rows[1:], start=2):
    if not row:
      continue  # A blank line.
    if len(row) != 2:
      raise ValueError(f"{path}, line {line}: expected node_id,cluster_id, "
                       f"got {','.join(row)!r}.")
    parsed.append((line, row[0], row[1].strip()))  # Ids exactly as written.
  return parsed


def read(path: str, graph: data.Graph) -> np.ndarray:
  """`[num_nodes]` cluster ids from a file `write` wrote for `graph`.

  Every node of `graph` must appear once (by its own id where the graph has
  them, else by its row number), in any order; cluster ids are integers
  >= 0.

  Raises:
    ValueError: naming the file, the row and what is wrong.
  """
  num_nodes = graph.num_nodes
  position = None
  if graph.node_ids is not None:
    position = {v: i for i, v in enumerate(
        graph.node_ids.astype(str).tolist())}
  cluster_ids = np.full(num_nodes, -1, np.int64)
  extension = format_of(path)
  kind = "row" if extension == ".parquet" else "line"
  for line, node, cluster in _rows(path, extension):
    where = f"{path}, {kind} {line}"
    try:
      cluster_id = int(cluster)
    except ValueError as e:
      raise ValueError(f"{where}: cluster_id {cluster!r} is not an "
                       "integer.") from e
    if position is not None:
      row = position.get(node)
      if row is None:
        raise ValueError(
            f"{where}: node {node!r} is not a node of the graph (its node "
            f"ids are like {graph.node_ids[0].item()!r}): pass the assignments of "
            "this graph.")
    else:
      try:
        row = int(node)
      except ValueError as e:
        raise ValueError(f"{where}: node_id {node!r} is not a row number "
                         "(the graph names no nodes): pass the assignments "
                         "of this graph.") from e
      if not 0 <= row < num_nodes:
        raise ValueError(f"{where}: node {row}; the graph has nodes "
                         f"0..{num_nodes - 1}: pass the assignments of this "
                         "graph.")
    if cluster_id < 0:
      raise ValueError(f"{where}: cluster {cluster_id}; cluster ids are "
                       ">= 0.")
    if cluster_ids[row] >= 0:
      raise ValueError(f"{where}: node {node} appears twice.")
    cluster_ids[row] = cluster_id
  unassigned = np.flatnonzero(cluster_ids < 0)
  if unassigned.size:
    missing = node_ids_of(graph)[unassigned[0]]
    raise ValueError(
        f"{path} assigns {num_nodes - unassigned.size} of the graph's "
        f"{num_nodes} nodes (node {missing} is missing): pass the "
        "assignments of this graph.")
  return cluster_ids
