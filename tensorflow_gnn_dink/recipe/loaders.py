"""Readers of on-disk graph formats into `data.Graph`.

Supported (see `load`):
  * gnn-benchmark `.npz` (Shchur et al.): scipy CSR parts of the adjacency and
    the attributes, plus `labels`;
  * Planetoid `ind.NAME.{x,y,tx,ty,allx,ally,graph,test.index}` pickles;
  * an OGB node-property dataset as the `ogb` package lays it out on disk
    (`raw/edge.csv.gz`, `raw/node-feat.csv.gz`, optional
    `raw/node-label.csv.gz`); read, never downloaded; one of many node and
    edge types (`raw/relations/`, e.g. ogbn-mag) is read whole by
    `load_ogb_heterogeneous`;
  * TF-GNN's own files: a `GraphSchema` (`.pbtxt`) and a TFRecord file of
    `tf.Example`s, each one GraphTensor (components are merged); with many
    node and edge sets, `load_tfgnn_heterogeneous` reads the whole graph
    into a `heterogeneous.HeterogeneousGraph`.

Every reader returns an undirected graph without self-loops, both edge
directions stored, float32 features, and labels with -1 for unknown. Where
the input names its nodes, the names become `Graph.node_ids` (the keys of
`cluster_ids.csv`): a `.npz`'s `node_names`, OGB's
`mapping/nodeidx2*.csv.gz`, TF-GNN's node feature `#id` (`NODE_ID`); ids
that do not name every node once are left out with a warning.

A missing, empty, truncated, corrupt or malformed file is a `ValueError`
whose message names the file, what was expected and the fix. No file can run
code: `.npz` arrays are read without pickles, and Planetoid pickles with
`_PlanetoidUnpickler`, which admits only the classes those files hold.
"""
from __future__ import annotations

import csv
import glob
import gzip
import os
import pickle
import zipfile
import zlib
from typing import Optional

from absl import logging
from google.protobuf import text_format
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn

from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import heterogeneous

NODE_ID = "#id"  # TF-GNN's (and its samplers') node feature of node ids.
FORMATS = ("a gnn-benchmark .npz, a Planetoid directory (ind.NAME.*) or "
           "ind.NAME prefix, an OGB dataset directory (raw/edge.csv.gz) or a "
           "TF-GNN GraphSchema .pbtxt with TFRecords")


def _float32(matrix) -> data.Features:
  """A float32 CSR matrix if `matrix` is sparse, else a float32 array."""
  if sp.issparse(matrix):
    return sp.csr_matrix(matrix, dtype=np.float32)
  return np.asarray(matrix, dtype=np.float32)


def _undirected(edges, num_nodes: int, source: str) -> np.ndarray:
  """`data.symmetrize_edges(edges, num_nodes)`.

  Raises:
    ValueError: naming `source`, if a node id is outside `[0, num_nodes)`.
  """
  edges = np.asarray(edges, np.int64).reshape(2, -1)
  if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
    raise ValueError(
        f"{source} has edges with node ids outside [0, {num_nodes}) (min "
        f"{edges.min()}, max {edges.max()}): expected ids of the {num_nodes} "
        "nodes that have features. Fix or re-export the graph.")
  return data.symmetrize_edges(edges, num_nodes)


# gnn-benchmark `.npz` --------------------------------------------------------

_NPZ_EXPECTED = ("expected a gnn-benchmark .npz (a zip of .npy arrays as "
                 "numpy.savez writes: adj_{data,indices,indptr,shape}, "
                 "attr_{data,indices,indptr,shape} or attr_matrix, optional "
                 "labels)")
_ADJ_KEYS = ("adj_data", "adj_indices", "adj_indptr", "adj_shape")
_ATTR_KEYS = ("attr_data", "attr_indices", "attr_indptr", "attr_shape")


def _npz_csr(parts, keys, path: str) -> sp.csr_matrix:
  """The CSR matrix of the arrays `keys` (data, indices, indptr, shape).

  Raises:
    ValueError: naming `path`, if they are not 1-D numbers (integers but for
      data) that form a valid CSR matrix.
  """
  try:
    for key in keys:
      kinds = "biuf" if key.endswith("_data") else "iu"
      if parts[key].ndim != 1 or parts[key].dtype.kind not in kinds:
        raise ValueError(f"{key} has shape {parts[key].shape} and dtype "
                         f"{parts[key].dtype}, expected a 1-D "
                         f"{'numeric' if kinds == 'biuf' else 'integer'} array")
    matrix = sp.csr_matrix(tuple(parts[k] for k in keys[:3]),
                           shape=tuple(parts[keys[3]].tolist()))
    matrix.check_format(full_check=True)
  except (ValueError, TypeError, OverflowError) as e:
    raise ValueError(f"{path}: {', '.join(keys)} do not form a CSR matrix "
                     f"({e}); {_NPZ_EXPECTED}. Re-export the graph.") from e
  return matrix


def load_npz(path: str, name: Optional[str] = None) -> data.Graph:
  """Reads a gnn-benchmark `.npz` file (never its pickled arrays).

  Raises:
    ValueError: naming `path`, if it is empty, not a zip, truncated or
      corrupt, lacks an array it needs, or holds malformed arrays.
  """
  try:
    with open(path, "rb") as f:
      head = f.read(4)
  except OSError as e:
    raise ValueError(f"{path} cannot be read ({e}); {_NPZ_EXPECTED}.") from e
  if not head:
    raise ValueError(f"{path} is empty (0 bytes); {_NPZ_EXPECTED}. "
                     "Re-download or re-save it.")
  if not head.startswith(b"PK"):
    raise ValueError(f"{path} is not a .npz file (no zip header: it starts "
                     f"with {head!r}); {_NPZ_EXPECTED}. Check the path.")
  try:
    archive = np.load(path, allow_pickle=False)  # Pickles could run code.
  except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
    raise ValueError(f"{path} is a truncated or corrupt .npz file ({e}); "
                     f"{_NPZ_EXPECTED}. Re-download or re-save it.") from e
  with archive:
    parts = {}
    for key in (*_ADJ_KEYS, *_ATTR_KEYS, "attr_matrix", "labels"):
      if key in archive.files:
        try:
          parts[key] = archive[key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile,
                zlib.error) as e:
          raise ValueError(
              f"{path}: array {key} cannot be read ({e}); expected numbers "
              "(pickled object arrays are never loaded). Re-save the file "
              "with numeric arrays.") from e
    files = sorted(archive.files)
    node_names = _npz_node_names(archive, path)
  needed = _ADJ_KEYS
  if "attr_matrix" not in parts or any(k in parts for k in _ATTR_KEYS):
    needed += _ATTR_KEYS
  missing = [k for k in needed if k not in parts]
  if missing:
    raise ValueError(f"{path} lacks the gnn-benchmark arrays {missing} (it "
                     f"holds {files}); {_NPZ_EXPECTED}. Re-export the graph.")
  adjacency = _npz_csr(parts, _ADJ_KEYS, path)
  num_nodes = adjacency.shape[0]
  if "attr_data" in parts:
    features = _npz_csr(parts, _ATTR_KEYS, path)
    features.sum_duplicates()
    if np.all(parts["attr_data"] == 1.0):  # Binary, stored with duplicates.
      features.data = np.minimum(features.data, 1.0)
  else:
    features = parts["attr_matrix"]
    if features.ndim != 2 or features.dtype.kind not in "biuf":
      raise ValueError(f"{path}: attr_matrix has shape {features.shape} and "
                       f"dtype {features.dtype}, expected a 2-D numeric "
                       "[num_nodes, num_features] array. Re-export the graph.")
  labels = parts.get("labels")
  if adjacency.shape[1] != num_nodes or features.shape[0] != num_nodes or (
      labels is not None and (labels.shape != (num_nodes,) or
                              labels.dtype.kind not in "iu")):
    raise ValueError(
        f"{path}: the arrays disagree: adjacency {adjacency.shape}, "
        f"attributes {features.shape}, labels "
        f"{None if labels is None else (labels.shape, str(labels.dtype))}; "
        "expected a square [n, n] adjacency, [n, num_features] attributes and "
        "n integer labels. Re-export the graph.")
  coo = adjacency.tocoo()
  return data.Graph(features=_float32(features),
                    edges=_undirected(np.stack([coo.row, coo.col]),
                                      num_nodes, path),
                    labels=None if labels is None else labels.astype(np.int64),
                    name=name or os.path.basename(path).split(".")[0],
                    node_ids=_usable_node_ids(node_names, num_nodes, path,
                                              "node_names"))


def _npz_node_names(archive, path: str) -> Optional[np.ndarray]:
  """The `node_names` array of a gnn-benchmark file, if it can be read."""
  if "node_names" not in archive.files:
    return None
  try:
    return archive["node_names"]
  except (OSError, ValueError, EOFError, zipfile.BadZipFile,
          zlib.error) as e:  # E.g. pickled: never loaded.
    logging.warning("%s: node_names not read (%s); nodes are named by their "
                    "row numbers.", path, e)
    return None


def _usable_node_ids(node_ids: Optional[np.ndarray], num_nodes: int,
                     path: str, what: str) -> Optional[np.ndarray]:
  """`node_ids` if they name every node once, else None (and a warning).

  The ids only key the outputs, so ids that cannot do that are left out
  rather than refusing a graph that can be clustered.
  """
  if node_ids is None:
    return None
  node_ids = np.asarray(node_ids)
  if node_ids.ndim == 2 and node_ids.shape[1] == 1:
    node_ids = node_ids.reshape(-1)
  if node_ids.dtype.kind in "OS":  # Bytes, e.g. a tf.string feature.
    node_ids = np.array([v.decode("utf-8", "replace") if isinstance(
        v, bytes) else str(v) for v in node_ids.tolist()], dtype=str)
  try:
    data.validate_node_ids(node_ids, num_nodes)
  except ValueError as e:
    logging.warning("%s: %s not used as node ids (%s); nodes are named by "
                    "their row numbers.", path, what, e)
    return None
  return node_ids


# Planetoid -------------------------------------------------------------------

_PLANETOID_SUFFIXES = ("allx", "ally", "tx", "ty", "x", "y", "graph",
                       "test.index")
_PLANETOID_NEEDED = ("allx", "ally", "tx", "ty", "graph", "test.index")

# What Planetoid pickles refer to: numpy arrays, scipy CSR/CSC matrices and
# the `graph` defaultdict of lists. The originals (Python 2, protocol 2) need
# numpy.{ndarray,dtype}, numpy.core.multiarray._reconstruct,
# scipy.sparse.csr.csr_matrix, collections.defaultdict and __builtin__.list;
# the names that newer numpy, scipy and Python write for the same objects
# (protocols 2 to 5) are admitted too. None of them can run other code.
_SPARSE_GLOBALS = frozenset(
    (module, f"{fmt}_matrix") for fmt in ("csr", "csc")
    for module in ("scipy.sparse", f"scipy.sparse.{fmt}",
                   f"scipy.sparse._{fmt}"))
_PICKLE_GLOBALS = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "defaultdict"),
     ("_codecs", "encode")]  # Python 3 bytes in protocol 2.
    + [(f"numpy.{core}.{module}", name) for core in ("core", "_core")
       for module, name in (("multiarray", "_reconstruct"),
                            ("multiarray", "scalar"),
                            ("numeric", "_frombuffer"))]
    + [(module, name) for module in ("__builtin__", "builtins")
       for name in ("list", "dict", "tuple", "set", "int", "float")])


class _RefusedGlobal(ValueError):
  """A pickle asked for a global that `_PlanetoidUnpickler` does not admit."""


class _PlanetoidUnpickler(pickle.Unpickler):
  """Unpickles a Planetoid file; any global it does not need is refused.

  A pickle runs code only through the globals (functions, classes) it names;
  `find_class` admits `_PICKLE_GLOBALS` and `_SPARSE_GLOBALS` and raises
  `_RefusedGlobal` (a ValueError naming the file and the global) for others.
  """

  def __init__(self, file, filename: str):
    super().__init__(file, encoding="latin1")  # Python 2 pickles.
    self._filename = filename

  def find_class(self, module, name):
    if (module, name) in _SPARSE_GLOBALS:
      return getattr(sp, name)  # Not from scipy's deprecated private modules.
    if (module, name) in _PICKLE_GLOBALS:
      return super().find_class(module, name)
    raise _RefusedGlobal(
        f"Refused to unpickle {self._filename}: it asks for the Python global "
        f"{module}.{name}, which no Planetoid file needs (only numpy arrays, "
        "scipy CSR/CSC matrices, lists and dicts). It is not a Planetoid file "
        "and may be malicious: do not load it with pickle. Use the original "
        "Planetoid files.")


def _planetoid_prefix(filename: str) -> Optional[str]:
  """`DIR/ind.NAME` for a Planetoid file `DIR/ind.NAME.SUFFIX`, else None."""
  base = os.path.basename(filename)
  for suffix in _PLANETOID_SUFFIXES:
    if (base.startswith("ind.") and base.endswith("." + suffix) and
        len(base) > len(f"ind..{suffix}")):
      return filename[:-len(suffix) - 1]
  return None


def _planetoid_prefixes(directory: str) -> list[str]:
  """The `DIR/ind.NAME` prefixes of the Planetoid files in `directory`."""
  return sorted({_planetoid_prefix(os.path.join(directory, f))
                 for f in os.listdir(directory)} - {None})


def _read_pickle(filename: str):
  """The object pickled in a Planetoid file, by `_PlanetoidUnpickler`.

  Raises:
    ValueError: naming `filename`, if the pickle asks for a global that
      Planetoid files do not need, or is truncated or corrupt.
  """
  try:
    with open(filename, "rb") as f:
      return _PlanetoidUnpickler(f, filename).load()
  except _RefusedGlobal:
    raise
  except Exception as e:  # Whatever a malformed pickle makes pickle raise.
    raise ValueError(
        f"Planetoid file {filename} is truncated or corrupt "
        f"({type(e).__name__}: {e}); expected a Python pickle of a numpy "
        "array, scipy sparse matrix or dict. Re-download the Planetoid "
        "files.") from e


def _read_matrix(filename: str):
  """A 2-D numeric numpy array or valid scipy CSR/CSC matrix from a pickle.

  Raises:
    ValueError: naming `filename`, if the file holds something else.
  """
  matrix = _read_pickle(filename)
  try:
    if not (sp.issparse(matrix) or isinstance(matrix, np.ndarray)):
      raise TypeError(f"it holds a {type(matrix).__name__}")
    if matrix.ndim != 2 or matrix.dtype.kind not in "biuf":
      raise TypeError(f"it holds a {type(matrix).__name__} of shape "
                      f"{matrix.shape} and dtype {matrix.dtype}")
    if sp.issparse(matrix):
      matrix.check_format(full_check=True)
  except (AttributeError, TypeError, ValueError) as e:
    raise ValueError(f"Planetoid file {filename} is not a 2-D numeric matrix "
                     f"({e}); expected a numpy array or scipy sparse matrix "
                     "of node rows. Re-download the Planetoid files.") from e
  return matrix


def load_planetoid(path: str) -> data.Graph:
  """Reads Planetoid files; `path` is the directory, `DIR/ind.NAME` or a file.

  Test rows are put back at their `test.index` positions; ids in the test
  range without a row (CiteSeer) get zero features and label -1. Sparse
  features stay sparse. The pickles are read by `_PlanetoidUnpickler`: a file
  that asks for anything but numpy arrays, scipy CSR/CSC matrices, lists and
  dicts is refused before any of its code can run.

  Raises:
    ValueError: naming the file, if one is missing, refused, truncated,
      corrupt or does not fit the others.
  """
  if os.path.isdir(path):
    prefixes = _planetoid_prefixes(path)
    if len(prefixes) != 1:
      raise ValueError(
          f"Expected the files of one Planetoid dataset (ind.NAME.*) in "
          f"{path}, found {[os.path.basename(p) for p in prefixes]}: pass "
          "DIR/ind.NAME to choose one.")
    prefix = prefixes[0]
  else:
    prefix = _planetoid_prefix(path) or path
  name = os.path.basename(prefix)[len("ind."):]
  missing = [f"{prefix}.{s}" for s in _PLANETOID_NEEDED
             if not os.path.isfile(f"{prefix}.{s}")]
  if missing:
    raise ValueError(
        f"Planetoid file(s) {', '.join(missing)} missing: expected "
        f"ind.{name}.{{{','.join(_PLANETOID_NEEDED)}}} side by side. Copy "
        "the missing files from the original dataset.")
  allx, ally, tx, ty = (_read_matrix(f"{prefix}.{s}")
                        for s in ("allx", "ally", "tx", "ty"))
  graph_file, index_file = f"{prefix}.graph", f"{prefix}.test.index"
  graph = _read_pickle(graph_file)
  try:
    with open(index_file) as f:
      test_index = np.array([int(line) for line in f if line.strip()],
                            np.int64)
  except ValueError as e:  # UnicodeDecodeError too.
    raise ValueError(f"Planetoid file {index_file} is not a list of node ids "
                     f"({e}); expected one integer per line. Re-download "
                     "it.") from e
  ally, ty = (y.toarray() if sp.issparse(y) else y for y in (ally, ty))
  if (allx.shape[1] != tx.shape[1] or ally.shape[0] != allx.shape[0] or
      ty.shape != (tx.shape[0], ally.shape[1]) or
      test_index.shape != (tx.shape[0],) or
      np.unique(test_index).size != test_index.size or
      (test_index.size and test_index.min() < allx.shape[0])):
    raise ValueError(
        f"Planetoid files {prefix}.* do not fit together: allx "
        f"{allx.shape}, ally {ally.shape}, tx {tx.shape}, ty {ty.shape}, "
        f"{test_index.size} test ids; expected as many allx rows as ally, tx "
        "rows as ty and test ids (unique, after the allx rows), the same "
        "columns. Re-download the Planetoid files.")
  test_span = test_index.max() - test_index.min() + 1 if test_index.size else 0
  try:
    if not isinstance(graph, dict):
      raise TypeError(f"it holds a {type(graph).__name__}")
    src = np.array([s for s, ns in graph.items() for _ in ns], np.int64)
    dst = np.array([d for ns in graph.values() for d in ns], np.int64)
    num_nodes = max(allx.shape[0] + test_span, max(graph, default=-1) + 1)
  except (TypeError, ValueError, OverflowError) as e:
    raise ValueError(f"Planetoid file {graph_file} is not an adjacency dict "
                     f"({e}); expected a dict of node id -> list of neighbour "
                     "ids. Re-download it.") from e
  # Row i of [allx; tx] goes to node position[i].
  position = np.concatenate([np.arange(allx.shape[0]), test_index])
  stacked = sp.coo_matrix(sp.vstack([sp.csr_matrix(allx), sp.csr_matrix(tx)]))
  features = _float32(sp.csr_matrix(
      (stacked.data, (position[stacked.row], stacked.col)),
      shape=(num_nodes, allx.shape[1])))
  if not (sp.issparse(allx) and sp.issparse(tx)):
    features = features.toarray()
  labels = np.full(num_nodes, -1, np.int64)
  labels[:ally.shape[0]] = np.argmax(ally, axis=1)
  test_labels = np.where(np.asarray(ty).sum(1) > 0,
                         np.argmax(ty, axis=1), -1)
  labels[test_index] = test_labels
  return data.Graph(features=features,
                    edges=_undirected(np.stack([src, dst]), num_nodes,
                                      graph_file),
                    labels=labels, name=name)


# OGB -------------------------------------------------------------------------

_OGB_LAYOUT = ("the ogb package's layout: raw/edge.csv.gz, "
               "raw/node-feat.csv.gz, optionally raw/node-label.csv.gz")


def _read_csv_gz(filename: str, dtype, what: str,
                 columns: Optional[int] = None,
                 layout: str = _OGB_LAYOUT) -> np.ndarray:
  """The rows of a gzipped CSV file of numbers, as a 2-D array.

  `layout` is what the error messages say the dataset should look like.

  Raises:
    ValueError: naming `filename`, if it is not gzip, not numbers, or has
      other than `columns` columns (any number if None).
  """
  try:
    with gzip.open(filename, "rt") as f:
      table = np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)
  except (OSError, EOFError, ValueError, zlib.error) as e:
    raise ValueError(f"OGB file {filename} is not a gzipped CSV of {what} "
                     f"({e}); expected {layout}. Re-download the "
                     "dataset.") from e
  if columns is not None and table.size and table.shape[1] != columns:
    raise ValueError(f"OGB file {filename} has {table.shape[1]} columns, "
                     f"expected {columns} ({what}). Re-download the dataset.")
  return table


def load_ogb(path: str) -> data.Graph:
  """Reads an OGB node-property dataset directory (the one holding `raw/`).

  Raises:
    ValueError: naming the file, if one is missing or malformed.
  """
  raw = os.path.join(path, "raw") if os.path.isdir(
      os.path.join(path, "raw")) else path
  edge_file = os.path.join(raw, "edge.csv.gz")
  feat_file = os.path.join(raw, "node-feat.csv.gz")
  if not os.path.exists(edge_file) and os.path.isdir(
      os.path.join(raw, "relations")):
    raise ValueError(
        f"{path} is an OGB dataset of several node and edge types "
        "(raw/relations/): read it whole with loaders.load_ogb_heterogeneous("
        "path, node_set_name=...).")
  for filename in (edge_file, feat_file):
    if not os.path.exists(filename):
      raise ValueError(f"OGB file {filename} is missing (expected "
                       f"{_OGB_LAYOUT}). Point at the dataset folder that "
                       "holds raw/.")
  edges = _read_csv_gz(edge_file, np.int64, "source,target node ids",
                       columns=2).reshape(-1, 2).T
  features = _read_csv_gz(feat_file, np.float32, "node features")
  features = features.reshape(features.shape[0], -1)
  labels = None
  label_file = os.path.join(raw, "node-label.csv.gz")
  if os.path.exists(label_file):
    labels = _read_csv_gz(label_file, np.float64, "node labels",
                          columns=1).reshape(-1)
    if labels.shape != (features.shape[0],):
      raise ValueError(f"OGB file {label_file} has labels for {labels.size} "
                       f"nodes, expected one per row of {feat_file} "
                       f"({features.shape[0]}). Re-download the dataset.")
    labels = np.where(np.isnan(labels), -1, labels).astype(np.int64)
  name = os.path.basename(os.path.normpath(path))
  return data.Graph(features=features,
                    edges=_undirected(edges, features.shape[0], edge_file),
                    labels=labels, name=name,
                    node_ids=_ogb_node_ids(path, raw, features.shape[0]))


_OGB_HETERO_LAYOUT = (
    "the ogb package's heterogeneous layout: raw/num-node-dict.csv.gz, "
    "raw/relations/SOURCE___RELATION___TARGET/edge.csv.gz, optionally "
    "raw/node-feat/TYPE/node-feat.csv.gz and raw/node-label/TYPE/"
    "node-label.csv.gz")


def _ogb_node_counts(raw: str) -> dict[str, int]:
  """`{node type: count}` from OGB's `num-node-dict.csv.gz` (header, counts)."""
  filename = os.path.join(raw, "num-node-dict.csv.gz")
  if not os.path.exists(filename):
    raise ValueError(f"OGB file {filename} is missing (expected "
                     f"{_OGB_HETERO_LAYOUT}). Point at the dataset folder "
                     "that holds raw/.")
  try:
    with gzip.open(filename, "rt", newline="") as f:
      header, counts = list(csv.reader(f))[:2]
    result = {name.strip(): int(count) for name, count in zip(header, counts,
                                                              strict=True)}
  except (OSError, EOFError, ValueError, zlib.error, csv.Error) as e:
    raise ValueError(f"OGB file {filename} is not a gzipped CSV of node types "
                     f"and their counts ({e}); expected a header row of types "
                     "and a row of counts. Re-download the dataset.") from e
  if not result or min(result.values()) < 0:
    raise ValueError(f"OGB file {filename} names no node types or a negative "
                     "count. Re-download the dataset.")
  return result


def load_ogb_heterogeneous(path: str, *, node_set_name: str,
                           add_reverse_edges: bool = True,
                           feature_name: str = "feat"
                           ) -> heterogeneous.HeterogeneousGraph:
  """Reads an OGB dataset of many node and edge types (e.g. ogbn-mag).

  Node sets are the types of `raw/num-node-dict.csv.gz`; each directory
  `raw/relations/SOURCE___RELATION___TARGET` is an edge set named RELATION
  (the whole directory name where two relations share one), its
  `edge.csv.gz` holding `source,target` rows of node indices. A type's
  `raw/node-feat/TYPE/node-feat.csv.gz` is its feature `feature_name`; a
  type without one gets a single constant column of ones (the encoder's
  projection then learns one initial state for the type). The labels are
  `raw/node-label/NODE_SET/node-label.csv.gz` of `node_set_name`, if present
  (missing labels -1). With `add_reverse_edges`, every relation also gets an
  edge set `rev_RELATION` from target to source, so that messages reach
  every node set. Read, never downloaded.

  Raises:
    ValueError: naming the file and the fix, if a file is missing or
      malformed, a relation names an unknown type or an index outside its
      type, or `node_set_name` is not a type of the dataset.
  """
  raw = os.path.join(path, "raw") if os.path.isdir(
      os.path.join(path, "raw")) else path
  counts = _ogb_node_counts(raw)
  _one_of(counts, "node set", node_set_name)
  relation_dirs = sorted(glob.glob(os.path.join(raw, "relations", "*", "")))
  if not relation_dirs:
    raise ValueError(f"OGB dataset {path} has no raw/relations/*/ "
                     f"directories (expected {_OGB_HETERO_LAYOUT}).")
  triples = {}
  for directory in relation_dirs:
    triple = os.path.basename(os.path.normpath(directory)).split("___")
    if len(triple) != 3 or triple[0] not in counts or triple[2] not in counts:
      raise ValueError(
          f"OGB relation directory {directory} is not named "
          f"SOURCE___RELATION___TARGET with types of {sorted(counts)}. "
          "Rename it or re-download the dataset.")
    triples[directory] = triple
  relation_names = [relation for _, relation, _ in triples.values()]
  edge_sets = {}
  for directory, (source, relation, target) in triples.items():
    name = relation if relation_names.count(relation) == 1 else (
        "___".join((source, relation, target)))
    edge_file = os.path.join(directory, "edge.csv.gz")
    if not os.path.exists(edge_file):
      raise ValueError(f"OGB file {edge_file} is missing (expected "
                       f"{_OGB_HETERO_LAYOUT}). Re-download the dataset.")
    edges = _read_csv_gz(edge_file, np.int64, "source,target node indices",
                         columns=2,
                         layout=_OGB_HETERO_LAYOUT).reshape(-1, 2).T
    for row, node_type in ((0, source), (1, target)):
      if edges.size and (edges[row].min() < 0 or
                         edges[row].max() >= counts[node_type]):
        raise ValueError(
            f"OGB file {edge_file} has {node_type} indices outside [0, "
            f"{counts[node_type]}) (num-node-dict.csv.gz). Re-download the "
            "dataset.")
    edge_sets[name] = (source, target, edges)
    if add_reverse_edges:
      edge_sets[f"rev_{name}"] = (target, source, edges[::-1])
  features = {}
  for node_type, count in counts.items():
    feat_file = os.path.join(raw, "node-feat", node_type, "node-feat.csv.gz")
    if not os.path.exists(feat_file):
      features[node_type] = np.ones((count, 1), np.float32)
      continue
    table = _read_csv_gz(feat_file, np.float32, "node features",
                         layout=_OGB_HETERO_LAYOUT)
    if table.shape[0] != count:
      raise ValueError(f"OGB file {feat_file} has {table.shape[0]} rows, "
                       f"expected {count} {node_type} nodes "
                       "(num-node-dict.csv.gz). Re-download the dataset.")
    features[node_type] = table.reshape(count, -1)
  labels = None
  label_file = os.path.join(raw, "node-label", node_set_name,
                            "node-label.csv.gz")
  if os.path.exists(label_file):
    table = _read_csv_gz(label_file, np.float64, "node labels",
                         columns=1,
                         layout=_OGB_HETERO_LAYOUT).reshape(-1)
    if table.shape != (counts[node_set_name],):
      raise ValueError(f"OGB file {label_file} has labels for {table.size} "
                       f"nodes, expected {counts[node_set_name]}. "
                       "Re-download the dataset.")
    labels = np.where(np.isnan(table), -1, table).astype(np.int64)
  graph = heterogeneous.graph_tensor_of(features, edge_sets,
                                        feature_name=feature_name)
  return heterogeneous.HeterogeneousGraph(
      graph_tensor=graph,
      schema=tfgnn.create_schema_pb_from_graph_spec(graph.spec),
      node_set_name=node_set_name, labels=labels, feature_name=feature_name,
      name=os.path.basename(os.path.normpath(path)))


def _ogb_node_ids(path: str, raw: str, num_nodes: int
                  ) -> Optional[np.ndarray]:
  """The ids of OGB's `mapping/nodeidx2ID.csv.gz` (`node idx,ID` rows)."""
  found = sorted({*glob.glob(os.path.join(path, "mapping", "nodeidx2*.csv.gz")),
                  *glob.glob(os.path.join(os.path.dirname(raw), "mapping",
                                          "nodeidx2*.csv.gz"))})
  if len(found) != 1:
    return None
  try:
    with gzip.open(found[0], "rt", newline="") as f:
      rows = list(csv.reader(f))[1:]  # After the header.
    index = np.array([int(r[0]) for r in rows], np.int64)
    ids = np.array([r[1].strip() for r in rows], dtype=str)
  except (OSError, EOFError, ValueError, IndexError, zlib.error,
          csv.Error) as e:
    logging.warning("%s: not read (%s); nodes are named by their row "
                    "numbers.", found[0], e)
    return None
  if not np.array_equal(index, np.arange(len(index))):
    logging.warning("%s: node idx is not 0, 1, 2, ...: not used; nodes are "
                    "named by their row numbers.", found[0])
    return None
  return _usable_node_ids(ids, num_nodes, found[0], "the mapping")


# TF-GNN ----------------------------------------------------------------------


def _read_schema(schema_path: str
                 ) -> tuple[tfgnn.GraphSchema, tfgnn.GraphTensorSpec]:
  """The GraphSchema at `schema_path` and its GraphTensorSpec."""
  try:
    schema = tfgnn.read_schema(schema_path)
    return schema, tfgnn.create_graph_spec_from_schema_pb(schema)
  except (text_format.ParseError, ValueError, TypeError,
          tf.errors.OpError) as e:
    raise ValueError(f"{schema_path} is not a readable TF-GNN GraphSchema "
                     f"({e}); expected the text proto that tfgnn.write_schema "
                     "writes. Fix or re-write it.") from e


def _read_records(spec: tfgnn.GraphTensorSpec, schema_path: str,
                  tfrecord_path: str) -> tfgnn.GraphTensor:
  """The GraphTensors of `tfrecord_path` merged into one, a component each."""
  if not tf.io.gfile.exists(tfrecord_path):
    raise ValueError(f"TFRecord file {tfrecord_path} does not exist: pass "
                     "tfrecord_path= the file of tf.Examples that "
                     f"tfgnn.write_example wrote for {schema_path}.")
  try:
    ds = tf.data.TFRecordDataset(tfrecord_path).batch(1 << 30)
    serialized = next(iter(ds), None)
  except tf.errors.OpError as e:
    raise ValueError(f"{tfrecord_path} is not a TFRecord file or is truncated "
                     f"({type(e).__name__}); expected tf.Examples that "
                     "tfgnn.write_example wrote. Re-write it.") from e
  if serialized is None:
    raise ValueError(f"{tfrecord_path} holds no records; expected tf.Examples "
                     "that tfgnn.write_example wrote. Re-write it.")
  try:
    return tfgnn.parse_example(spec, serialized).merge_batch_to_components()
  except (tf.errors.OpError, ValueError) as e:
    raise ValueError(f"{tfrecord_path} holds records that are not tf.Examples "
                     f"of GraphTensors of {schema_path} ({type(e).__name__})"
                     "; write them with tfgnn.write_example and this schema."
                     ) from e


def _one_of(names, what: str, given: Optional[str]) -> str:
  """`given` if it is one of `names`, else the only name; else ValueError."""
  if given is not None:
    if given not in names:
      raise ValueError(f"{what} {given!r} not in the schema: {sorted(names)}")
    return given
  if len(names) != 1:
    raise ValueError(f"The schema has {what}s {sorted(names)}: pass one.")
  return next(iter(names))


def load_tfgnn(schema_path: str, tfrecord_path: str, *,
               node_set_name: Optional[str] = None,
               edge_set_name: Optional[str] = None,
               feature_name: Optional[str] = None,
               label_feature_name: Optional[str] = None) -> data.Graph:
  """Reads TF-GNN files: a GraphSchema and TFRecords of GraphTensors.

  All records are merged into one graph. The node set, edge set and feature
  default to the only ones of the schema (ambiguity is an error). For a
  schema of several node and edge sets, read the whole graph with
  `load_tfgnn_heterogeneous`.

  Raises:
    ValueError: naming the file, if the schema is not a readable GraphSchema,
      or the TFRecord file is missing, empty, corrupt or does not hold
      `tf.Example`s of that schema.
  """
  _, spec = _read_schema(schema_path)
  node_set_name = _one_of(spec.node_sets_spec, "node set", node_set_name)
  edge_set_name = _one_of(spec.edge_sets_spec, "edge set", edge_set_name)
  feature_names = set(spec.node_sets_spec[node_set_name].features_spec)
  feature_names.discard(label_feature_name)
  has_ids = NODE_ID in feature_names
  feature_names.discard(NODE_ID)
  feature_name = _one_of(feature_names, "node feature", feature_name)
  graph = _read_records(spec, schema_path, tfrecord_path)
  nodes = graph.node_sets[node_set_name]
  adjacency = graph.edge_sets[edge_set_name].adjacency
  edges = np.stack([adjacency.source.numpy(), adjacency.target.numpy()])
  labels = None
  if label_feature_name is not None:
    labels = nodes[label_feature_name].numpy().reshape(-1).astype(np.int64)
  features = nodes[feature_name].numpy().astype(np.float32)
  node_ids = None
  if has_ids:
    node_ids = _usable_node_ids(nodes[NODE_ID].numpy(), features.shape[0],
                                tfrecord_path, f"node feature {NODE_ID}")
  return data.Graph(
      features=features.reshape(features.shape[0], -1),
      edges=_undirected(edges, features.shape[0], tfrecord_path),
      labels=labels,
      name=os.path.basename(tfrecord_path).split(".")[0], node_ids=node_ids)


def _is_dense_float(spec) -> bool:
  return isinstance(spec, tf.TensorSpec) and spec.dtype.is_floating


def load_tfgnn_heterogeneous(
    schema_path: str, tfrecord_path: str, *, node_set_name: str,
    feature_name: str = "feat",
    label_feature_name: Optional[str] = None,
) -> heterogeneous.HeterogeneousGraph:
  """Reads TF-GNN files of any number of node and edge sets, as one graph.

  All records are merged into one GraphTensor. `node_set_name` is the node
  set to cluster; `label_feature_name`, if given, its labels (-1: unknown),
  which are taken out of the graph (the encoder never sees them). Every node
  set must have the dense float feature `feature_name`, which the model
  zoo's encoders read (`encoders.make_model_zoo_fn`); it is cast to
  float32.

  Raises:
    ValueError: naming the file and the fix, for the errors of `load_tfgnn`,
      a node set or label feature not in the schema, or a node set without
      the dense feature `feature_name`.
  """
  schema, spec = _read_schema(schema_path)
  _one_of(spec.node_sets_spec, "node set", node_set_name)
  if label_feature_name is not None:
    _one_of(spec.node_sets_spec[node_set_name].features_spec,
            f"label feature of node set {node_set_name!r}", label_feature_name)
  missing = {name: sorted(node_set_spec.features_spec)
             for name, node_set_spec in sorted(spec.node_sets_spec.items())
             if not _is_dense_float(node_set_spec.features_spec.get(
                 feature_name))}
  if missing:
    raise ValueError(
        f"Node sets of {schema_path} without the dense float feature "
        f"{feature_name!r} (with their features): {missing}. Every node set "
        "needs one for the encoder: add it, or pass feature_name= the "
        "feature they share.")
  graph = _read_records(spec, schema_path, tfrecord_path)
  labels = None
  updates = {}
  for name, node_set in graph.node_sets.items():
    features = dict(node_set.features)
    if name == node_set_name and label_feature_name is not None:
      labels = features.pop(label_feature_name).numpy().reshape(-1).astype(
          np.int64)
    features[feature_name] = tf.cast(
        tf.reshape(features[feature_name],
                   [tf.shape(features[feature_name])[0], -1]), tf.float32)
    updates[name] = features
  graph = graph.replace_features(node_sets=updates)
  return heterogeneous.HeterogeneousGraph(
      graph_tensor=graph,
      schema=tfgnn.create_schema_pb_from_graph_spec(graph.spec),
      node_set_name=node_set_name, labels=labels, feature_name=feature_name,
      name=os.path.basename(tfrecord_path).split(".")[0])


def load(path: str, *, node_set_name: Optional[str] = None,
         **kwargs) -> data.Graph | heterogeneous.HeterogeneousGraph:
  """Reads `path` by its format (see the module docstring).

  `.npz` -> gnn-benchmark; a directory with `ind.NAME.*` files, an `ind.NAME`
  prefix or one of its files -> Planetoid; a directory with `raw/` or
  `edge.csv.gz` -> OGB; a `.pbtxt` schema -> TF-GNN (with
  `tfrecord_path=...`, or the TFRecord files beside it).

  Graphs of several node or edge sets (a TF-GNN schema of many, OGB's
  `raw/relations/`) are read whole as a `heterogeneous.HeterogeneousGraph`
  clustering `node_set_name` (which they need; an integer feature `label`
  of that node set in TF-GNN files is read as its labels, taken out of the
  graph). `node_set_name` of a homogeneous TF-GNN schema picks its node set;
  other formats have one node set and ignore it (`stages.prepare` checks
  it).

  Raises:
    ValueError: naming the file, if `path` does not exist, is of no format
      above, or a file is missing or malformed (see each reader).
  """
  if not os.path.exists(path) and not any(
      os.path.isfile(f"{path}.{s}") for s in _PLANETOID_SUFFIXES):
    raise ValueError(f"No such file or directory: {path}. Expected "
                     f"{FORMATS}; check the path.")
  if path.endswith(".npz"):
    return load_npz(path, **kwargs)
  if path.endswith(".pbtxt"):
    tfrecord_path = kwargs.pop("tfrecord_path", None) or sorted(
        os.path.join(os.path.dirname(path), f)
        for f in os.listdir(os.path.dirname(path) or ".")
        if f.endswith((".tfrecord", ".tfrecords")))
    if not tfrecord_path:
      raise ValueError(f"No .tfrecord file beside {path}: expected the "
                       "tf.Examples that tfgnn.write_example wrote, in a "
                       ".tfrecord file there or passed as tfrecord_path=.")
    if isinstance(tfrecord_path, list):
      tfrecord_path = tfrecord_path[0]
    _, spec = _read_schema(path)
    if len(spec.node_sets_spec) > 1 or len(spec.edge_sets_spec) > 1:
      node_set_name = _heterogeneous_node_set(spec.node_sets_spec, path,
                                              node_set_name)
      label = kwargs.pop("label_feature_name", None)
      features = spec.node_sets_spec[node_set_name].features_spec
      if label is None and _LABEL in features and features[
          _LABEL].dtype.is_integer:
        label = _LABEL
      return load_tfgnn_heterogeneous(path, tfrecord_path,
                                      node_set_name=node_set_name,
                                      label_feature_name=label, **kwargs)
    return load_tfgnn(path, tfrecord_path, node_set_name=node_set_name,
                      **kwargs)
  if os.path.isdir(path):
    if _planetoid_prefixes(path):
      return load_planetoid(path)
    if has_many_node_sets(path):
      counts = _ogb_node_counts(os.path.join(path, "raw") if os.path.isdir(
          os.path.join(path, "raw")) else path)
      return load_ogb_heterogeneous(
          path, node_set_name=_heterogeneous_node_set(counts, path,
                                                      node_set_name),
          **kwargs)
    if any(os.path.exists(os.path.join(path, f))
           for f in ("raw", "edge.csv.gz", "node-feat.csv.gz")):
      return load_ogb(path)
  elif os.path.basename(path).startswith("ind."):
    return load_planetoid(path)
  raise ValueError(f"Unknown graph format at {path}: expected {FORMATS}. "
                   "Convert the graph to one of them.")


_LABEL = "label"  # The labels of the clustered node set in TF-GNN files.


def has_many_node_sets(path: str) -> bool:
  """Whether `load(path)` reads a graph of several node or edge sets (a
  TF-GNN schema of several, OGB's `raw/relations/`); False for any other
  path, including one `load` refuses."""
  if path.endswith(".pbtxt") and os.path.isfile(path):
    try:
      _, spec = _read_schema(path)
    except ValueError:
      return False
    return len(spec.node_sets_spec) > 1 or len(spec.edge_sets_spec) > 1
  raw = os.path.join(path, "raw") if os.path.isdir(
      os.path.join(path, "raw")) else path
  return os.path.isdir(os.path.join(raw, "relations")) and not (
      os.path.exists(os.path.join(raw, "edge.csv.gz")))


_NAME_THE_NODE_SET = ("--config.node_set=NAME for train, --node_set=NAME "
                      "for sample and evaluate; node_set_name= in Python")


def _heterogeneous_node_set(names, path: str, given: Optional[str]) -> str:
  """`given`, checked to be one of `names` (node sets of the graph at path)."""
  if given is None:
    raise ValueError(
        f"{path} holds a graph of several node sets {sorted(names)}: name "
        f"the one to cluster ({_NAME_THE_NODE_SET}).")
  if given not in names:
    raise ValueError(f"Node set {given!r} is not in {path}: it has "
                     f"{sorted(names)}. Pass one of them "
                     f"({_NAME_THE_NODE_SET}).")
  return given
