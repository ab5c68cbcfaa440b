"""Label-free model selection: the partition with the highest graph modularity.

The recipe chooses three times without labels -- the k-means restart, the
pretraining epoch and the fine-tuning epoch -- and all three use
`best_by_modularity` (rule `"modularity"`) or keep the last candidate (rule
`"last"`; for k-means restarts, the lowest inertia). On graphs, k-means
restarts of nearly equal inertia and neighbouring pretraining epochs can
differ by several points of accuracy; modularity tells them apart without
labels (measured in the README).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
from typing import Optional

import numpy as np
from sklearn import cluster as sk_cluster

from tensorflow_gnn_dink import _checks
from tensorflow_gnn_dink.recipe import evaluation

SELECTIONS = ("modularity", "last")


def check_rule(rule: str) -> str:
  """Returns `rule` if it is one of `SELECTIONS`; else ValueError."""
  return _checks.check_one_of(rule, SELECTIONS, "config.selection")


@dataclasses.dataclass(frozen=True)
class Choice:
  """The chosen candidate and the record of all that were scored.

  Attributes:
    index: Index of the chosen candidate.
    history: `[step, modularity]` of every scored candidate, in order.
  """
  index: int
  history: list[list[float]]

  @property
  def step(self) -> float:
    return self.history[self.index][0]

  @property
  def modularity(self) -> float:
    return self.history[self.index][1]


def best_by_modularity(edges: np.ndarray,
                       steps: Sequence[float],
                       cluster_ids_of: Callable[[int], np.ndarray],
                       rule: str = "modularity") -> Choice:
  """Scores candidates by the modularity of their partitions and chooses one.

  Args:
    edges: `[2, E]` directed edges, both directions of each undirected edge.
    steps: A label per candidate (e.g. its training step), for the record.
    cluster_ids_of: Returns the `[num_nodes]` cluster ids of candidate `i`.
    rule: `"modularity"`: the highest modularity (the first on ties);
      `"last"`: the last candidate.

  Returns:
    The `Choice`.
  """
  check_rule(rule)
  history = [[step, evaluation.modularity(edges, cluster_ids_of(i))]
             for i, step in enumerate(steps)]
  if rule == "last":
    return Choice(len(history) - 1, history)
  return Choice(int(np.argmax([q for _, q in history])), history)


def kmeans(z: np.ndarray, n_clusters: int, *, seed: int, n_init: int = 10,
           max_iter: int = 300, batch_size: Optional[int] = None,
           edges: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
  """k-means++ with `n_init` restarts; the best is chosen without labels.

  Without `edges`, the restart with the lowest inertia (scikit-learn's rule).
  With the graph's `edges` (`[2, num_edges]`, both directions), the restart
  whose partition has the highest graph modularity (`best_by_modularity`).
  With `batch_size`, each restart is scikit-learn's mini-batch k-means on
  batches of that many rows (`max_iter` passes over the data at most): for
  embeddings of millions of nodes, where full k-means costs minutes; its
  final ids assign every row to its nearest centre.

  Returns:
    The `[K, dim]` float32 centres and the `[num_nodes]` cluster ids.
  """
  _checks.check_positive_int(n_init, "config.kmeans.n_init")
  _checks.check_positive_int(max_iter, "config.kmeans.max_iter")
  if batch_size is not None:
    _checks.check_positive_int(batch_size, "config.kmeans.batch_size")

  def fit(restarts: int, random_state: int):
    if batch_size is None:
      return sk_cluster.KMeans(n_clusters=n_clusters, n_init=restarts,
                               max_iter=max_iter,
                               random_state=random_state).fit(z)
    return sk_cluster.MiniBatchKMeans(
        n_clusters=n_clusters, n_init=restarts, max_iter=max_iter,
        batch_size=batch_size, random_state=random_state).fit(z)

  if edges is None:
    km = fit(n_init, seed)
    return km.cluster_centers_.astype(np.float32), km.labels_
  restarts = [fit(1, seed + i) for i in range(n_init)]
  choice = best_by_modularity(edges, range(n_init),
                              lambda i: restarts[i].labels_)
  best = restarts[choice.index]
  return best.cluster_centers_.astype(np.float32), best.labels_
