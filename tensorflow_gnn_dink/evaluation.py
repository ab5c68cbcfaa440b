"""Clustering metrics: against labels (ACC, NMI, ARI, F1) and label-free.

Labels are for evaluation only: nothing in training or model selection calls
the label-based functions.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from scipy import optimize
from sklearn import metrics as sk_metrics


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
  labels, clusters = _known(labels, clusters)
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


def macro_f1(labels: np.ndarray, clusters: np.ndarray) -> float:
  """Macro-F1 over the label classes after the ACC matching."""
  known, _ = _known(labels, clusters)
  return float(sk_metrics.f1_score(known, match_clusters(labels, clusters),
                                   labels=np.unique(known), average="macro"))


def evaluate(clusters: np.ndarray,
             labels: Optional[np.ndarray] = None) -> dict[str, float]:
  """Returns the cluster statistics and, if `labels`, ACC, NMI, ARI and F1."""
  clusters = np.asarray(clusters)
  result = {"non_empty_clusters": int(len(np.unique(clusters)))}
  if labels is not None:
    known, predicted = _known(labels, clusters)
    result.update(
        ACC=accuracy(labels, clusters),
        NMI=float(sk_metrics.normalized_mutual_info_score(known, predicted)),
        ARI=float(sk_metrics.adjusted_rand_score(known, predicted)),
        F1=macro_f1(labels, clusters))
  return result
