"""Clustering metrics: against labels (ACC, NMI, ARI, F1) and label-free.

Labels are for evaluation only: nothing in training or model selection calls
the label-based functions.

NMI, ARI and F1 are computed here from the contingency table, with
scikit-learn's formulas and special cases (`tests/evaluation_test.py`
compares them), so that a run does not import scikit-learn (about 50 MiB
resident). scipy's `optimize` is imported by `match_clusters` when first
called.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def _known(labels: np.ndarray, clusters: np.ndarray):
  labels = np.asarray(labels)
  clusters = np.asarray(clusters)
  if labels.shape != clusters.shape:
    raise ValueError(f"labels {labels.shape} and clusters {clusters.shape} "
                     "must have the same shape.")
  keep = labels >= 0  # -1 marks an unknown label.
  return labels[keep], clusters[keep]


def match_clusters(labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
  """Maps cluster ids to labels by the Hungarian matching of max overlap.

  Returns the clusters relabelled; a cluster with no matching label keeps an
  id that matches no label.
  """
  from scipy import optimize  # pylint: disable=g-import-not-at-top
  labels, clusters = _known(labels, clusters)
  if not labels.size:
    raise ValueError("No known labels (all are < 0): nothing to match.")
  label_ids, label_index = np.unique(labels, return_inverse=True)
  cluster_ids, cluster_index = np.unique(clusters, return_inverse=True)
  overlap = np.zeros((len(cluster_ids), len(label_ids)), np.int64)
  np.add.at(overlap, (cluster_index, label_index), 1)
  rows, cols = optimize.linear_sum_assignment(-overlap)
  mapping = np.full(len(cluster_ids), -1, np.int64)
  mapping[rows] = label_ids[cols]
  unmatched = mapping < 0
  mapping[unmatched] = labels.max() + 1 + np.arange(unmatched.sum())
  return mapping[cluster_index]


def accuracy(labels: np.ndarray, clusters: np.ndarray) -> float:
  """Clustering accuracy (ACC) under the best one-to-one matching."""
  known, _ = _known(labels, clusters)
  return float(np.mean(match_clusters(labels, clusters) == known))


def _contingency(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
  """`[R, C]` counts of each (row value, column value) pair, present values."""
  _, row_index = np.unique(rows, return_inverse=True)
  col_values, col_index = np.unique(cols, return_inverse=True)
  num_cols = len(col_values)
  return np.bincount(row_index.ravel() * num_cols + col_index.ravel(),
                     minlength=(row_index.max(initial=-1) + 1) * num_cols
                     ).reshape(-1, num_cols)


def _entropy(counts: np.ndarray) -> float:
  """The entropy (nats) of a partition with these part sizes."""
  counts = counts[counts > 0].astype(np.float64)
  total = counts.sum()
  return float(-np.sum((counts / total) * (np.log(counts) - np.log(total))))


def normalized_mutual_info(labels: np.ndarray, clusters: np.ndarray) -> float:
  """NMI with the arithmetic mean of the entropies (scikit-learn's default).

  Both partitions of one part: 1.0; one of them of one part: 0.0.
  """
  table = _contingency(labels, clusters)
  if table.shape[0] == table.shape[1] == 1 or table.size == 0:
    return 1.0
  if table.shape[0] == 1 or table.shape[1] == 1:
    return 0.0
  rows, cols = np.nonzero(table)
  counts = table[rows, cols].astype(np.float64)
  total = counts.sum()
  row_sums, col_sums = table.sum(axis=1), table.sum(axis=0)
  outer = row_sums[rows].astype(np.int64) * col_sums[cols]
  p = counts / total
  mi = p * (np.log(counts) - np.log(total)) + p * (
      -np.log(outer) + np.log(total) + np.log(total))
  mi = float(np.clip(np.where(np.abs(mi) < np.finfo(np.float64).eps, 0.0,
                              mi).sum(), 0.0, None))
  if mi == 0:
    return 0.0
  return mi / ((_entropy(row_sums) + _entropy(col_sums)) / 2)


def adjusted_rand_index(labels: np.ndarray, clusters: np.ndarray) -> float:
  """ARI from the pair confusion matrix (integers: no overflow)."""
  counts = _contingency(labels, clusters).astype(object)  # Python ints.
  n = int(counts.sum())
  sum_squares = int((counts ** 2).sum())
  tp = sum_squares - n
  fp = int((counts.sum(axis=0) ** 2).sum()) - sum_squares
  fn = int((counts.sum(axis=1) ** 2).sum()) - sum_squares
  tn = n * n - fp - fn - sum_squares
  if fn == 0 and fp == 0:
    return 1.0
  return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn)
                                       + (tp + fp) * (fp + tn))


def macro_f1(labels: np.ndarray, clusters: np.ndarray) -> float:
  """Macro-F1 over the label classes after the ACC matching."""
  known, _ = _known(labels, clusters)
  matched = match_clusters(labels, clusters)
  classes, known_index = np.unique(known, return_inverse=True)
  at = np.minimum(np.searchsorted(classes, matched), len(classes) - 1)
  is_class = classes[at] == matched  # Unmatched clusters are no class.
  count = lambda index: np.bincount(index, minlength=len(classes))
  both = count(known_index[matched == known])
  return float(np.mean(2 * both / (count(known_index) + count(at[is_class]))))


_EDGE_CHUNK = 1 << 22  # Edges per pass of `_cluster_edge_counts`.


def _cluster_edge_counts(edges: np.ndarray, clusters: np.ndarray,
                         chunk: int = _EDGE_CHUNK):
  """Per cluster: directed edges inside, and volume (sum of degrees).

  The cluster ids are read as the smallest integer type that holds them
  (one byte for up to 256 clusters: 10 MB at 10^7 nodes, against 80 MB of
  int64, so the random reads of each edge's ids mostly hit the CPU's
  caches), each endpoint's id once, over `chunk` edges at a time:
  temporaries of a chunk, not of `[E]`. Counts are exact integers.
  """
  src, dst = np.asarray(edges)
  num_clusters = int(clusters.max()) + 1 if clusters.size else 0
  ids = clusters.astype(np.min_scalar_type(max(num_clusters - 1, 0)),
                        copy=False)
  inside = np.zeros(num_clusters, np.int64)
  volume = np.zeros(num_clusters, np.int64)
  for start in range(0, src.shape[0], chunk):
    source = ids[src[start:start + chunk]]
    same = source == ids[dst[start:start + chunk]]
    inside += np.bincount(source[same], minlength=num_clusters)
    volume += np.bincount(source, minlength=num_clusters)
  return inside.astype(np.float64), volume.astype(np.float64)


def modularity(edges: np.ndarray, clusters: np.ndarray) -> float:
  """Newman's modularity `sum_c [L_c / m - (vol_c / 2m)^2]` (label-free).

  Args:
    edges: `[2, E]` directed edges holding both directions of each of the
      `m = E / 2` undirected edges.
    clusters: `[num_nodes]` cluster ids.
  """
  clusters = np.asarray(clusters)
  return _modularity(*_cluster_edge_counts(edges, clusters), edges.shape[1])


def _modularity(inside: np.ndarray, volume: np.ndarray, two_m: int) -> float:
  """Modularity from the per-cluster counts; 0 for a graph without edges."""
  if two_m == 0:
    return 0.0
  return float(np.sum(inside / two_m - (volume / two_m) ** 2))


def conductance(edges: np.ndarray, clusters: np.ndarray) -> float:
  """Mean over non-empty clusters of `cut_c / min(vol_c, 2m - vol_c)`.

  Lower is better (fewer edges leave a cluster); label-free. Clusters with
  zero volume count as 0; a single cluster holding every edge counts as 0.
  """
  clusters = np.asarray(clusters)
  return _conductance(*_cluster_edge_counts(edges, clusters),
                      _non_empty(clusters), edges.shape[1])


def _conductance(inside: np.ndarray, volume: np.ndarray, present: np.ndarray,
                 two_m: int) -> float:
  cut = volume[present] - inside[present]
  denominator = np.minimum(volume[present], two_m - volume[present])
  return float(np.mean(np.where(denominator > 0, cut / np.maximum(
      denominator, 1.0), 0.0)))


def _non_empty(clusters: np.ndarray) -> np.ndarray:
  """The ids of the clusters with members, ascending (one pass, no sort)."""
  return np.flatnonzero(np.bincount(clusters.ravel())) if clusters.size else (
      np.zeros(0, np.int64))


def evaluate(clusters: np.ndarray,
             labels: Optional[np.ndarray] = None,
             edges: Optional[np.ndarray] = None) -> dict[str, float]:
  """Returns cluster statistics and, where possible, the quality metrics.

  ACC, NMI, ARI and F1 are computed if `labels` has at least one known label
  (labels < 0 are unknown and ignored); modularity and conductance if `edges`
  (`[2, E]`, both directions) are given.
  """
  clusters = np.asarray(clusters)
  present = _non_empty(clusters)
  result = {"non_empty_clusters": int(len(present))}
  if edges is not None:
    inside, volume = _cluster_edge_counts(edges, clusters)  # Shared.
    two_m = edges.shape[1]
    result.update(modularity=_modularity(inside, volume, two_m),
                  conductance=_conductance(inside, volume, present, two_m))
  if labels is not None and np.any(np.asarray(labels) >= 0):
    known, predicted = _known(labels, clusters)
    result.update(
        ACC=accuracy(labels, clusters),
        NMI=normalized_mutual_info(known, predicted),
        ARI=adjusted_rand_index(known, predicted),
        F1=macro_f1(labels, clusters))
  return result
