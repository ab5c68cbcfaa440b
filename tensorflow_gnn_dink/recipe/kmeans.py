"""k-means++ and Lloyd's algorithm in numpy: scikit-learn's `KMeans`, lighter.

`fit(z, n_clusters, seed=s)` follows `sklearn.cluster.KMeans(n_clusters,
random_state=s).fit(z)` step by step -- the data centred, k-means++ seeding
with `2 + log(K)` local trials drawn from `np.random.RandomState(seed)`
(distances in float64, as scikit-learn upcasts float32 data), Lloyd
iterations until the labels stop changing or the centres move less than
`1e-4` of the data's mean variance, empty clusters moved to the rows
farthest from their centres, the restart of lowest inertia -- so it gives the
same partitions (checked against scikit-learn in `tests/kmeans_test.py`).
Sums are taken in other orders than scikit-learn's, so centres can differ in
their last bits, and a row equally near two centres to those bits could go
the other way.

Why not scikit-learn itself: importing it (with the parts of SciPy it pulls
in) adds about 50 MiB to the process, more than anything else in the
recipe's selection stage. Each Lloyd iteration here is a matrix product
(rows by centres) and a sparse one (one-hot labels by rows: each row added
to its cluster's sum), in row blocks that bound the temporaries.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

_BLOCK_ROWS = 1 << 16  # Rows per block at most.


def _squared_distances(rows: np.ndarray, z: np.ndarray,
                       z64: Optional[np.ndarray] = None) -> np.ndarray:
  """`[len(rows), len(z)]` squared distances, computed in float64.

  As scikit-learn's `euclidean_distances` for float32 data (upcast, then
  `|r|^2 - 2 r.z + |z|^2` clipped at 0), returned in `z`'s dtype. `z64`:
  `(z as float64, its squared row norms)` if already computed.
  """
  rows64 = rows.astype(np.float64)
  rows_sq = np.einsum("ij,ij->i", rows64, rows64)[:, None]
  out = np.empty((len(rows), len(z)), z.dtype)
  for block_rows in _blocks(z):
    if z64 is None:
      block = z[block_rows].astype(np.float64)
      block_sq = np.einsum("ij,ij->i", block, block)
    else:
      block, block_sq = z64[0][block_rows], z64[1][block_rows]
    d = -2 * (rows64 @ block.T)
    d += rows_sq
    d += block_sq[None, :]
    out[:, block_rows] = d
  return np.maximum(out, 0, out=out)


_UPCAST_ONCE_BYTES = 1 << 28  # A float64 copy of z up to 256 MiB is kept.


def _plus_plus(z: np.ndarray, n_clusters: int,
               random_state: np.random.RandomState) -> np.ndarray:
  """k-means++ seeding (greedy, `2 + int(log(K))` trials per centre)."""
  n = len(z)
  z64 = None
  if z.size * 8 <= _UPCAST_ONCE_BYTES:  # Upcast once, not once per centre.
    upcast = z.astype(np.float64)
    z64 = upcast, np.einsum("ij,ij->i", upcast, upcast)
  weights = np.ones(n, z.dtype)
  trials = 2 + int(np.log(n_clusters))
  chosen = [random_state.choice(n, p=weights / weights.sum())]
  closest = _squared_distances(z[chosen], z, z64)
  potential = closest @ weights
  for _ in range(1, n_clusters):
    draws = random_state.uniform(size=trials) * potential
    candidates = np.searchsorted(np.cumsum(weights * closest), draws)
    np.clip(candidates, None, n - 1, out=candidates)
    distances = _squared_distances(z[candidates], z, z64)
    np.minimum(closest, distances, out=distances)
    potentials = distances @ weights.reshape(-1, 1)
    best = int(np.argmin(potentials))
    potential, closest = potentials[best], distances[best]
    chosen.append(candidates[best])
  return z[np.asarray(chosen)]


def _blocks(z: np.ndarray):
  """Slices of about 2^22 elements of `z` (16 MiB of float32) each."""
  rows = max(256, min(_BLOCK_ROWS, (1 << 22) // max(1, z.shape[1])))
  return (slice(i, i + rows) for i in range(0, len(z), rows))


def _nearest(block: np.ndarray, centres: np.ndarray,
             centres_sq: np.ndarray) -> np.ndarray:
  """Index of each row's nearest centre: `argmin_k |c_k|^2 - 2 z.c_k`."""
  d = block @ centres.T
  d *= -2
  d += centres_sq
  return np.argmin(d, axis=1).astype(np.int32)


def assign(z: np.ndarray, centres: np.ndarray) -> np.ndarray:
  """`[num_rows]` int32 index of each row's nearest centre (first on ties).

  In `z`'s dtype and in blocks of rows, as scikit-learn's `KMeans.predict`.
  """
  centres = centres.astype(z.dtype, copy=False)
  centres_sq = np.einsum("ij,ij->i", centres, centres)
  labels = np.empty(len(z), np.int32)
  for rows in _blocks(z):
    labels[rows] = _nearest(z[rows], centres, centres_sq)
  return labels


def _lloyd_step(z: np.ndarray,
                centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Labels by `centres` and the mean row of each of their clusters.

  One pass over `z` (each block labelled and summed in one visit). As
  scikit-learn, an empty cluster takes the row farthest from its own centre
  (the next farthest for the next empty cluster), which its old cluster
  loses.
  """
  n_clusters = len(centres)
  centres_sq = np.einsum("ij,ij->i", centres, centres)
  labels = np.empty(len(z), np.int32)
  sums = np.zeros(centres.shape, np.float64)
  for rows in _blocks(z):
    block = z[rows]
    labels[rows] = nearest = _nearest(block, centres, centres_sq)
    one_hot = sp.csc_matrix(  # Column i: a one in row `nearest[i]`.
        (np.ones(len(block), z.dtype), nearest, np.arange(len(block) + 1)),
        shape=(n_clusters, len(block)))
    sums += one_hot @ block  # Each row added to its cluster's sum.
  counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
  empty = np.flatnonzero(counts == 0)
  if empty.size:
    far = np.argsort(-((z - centres[labels]) ** 2).sum(axis=1),
                     kind="stable")[:empty.size]
    for cluster, row in zip(empty, far):
      sums[labels[row]] -= z[row]
      counts[labels[row]] -= 1
      sums[cluster], counts[cluster] = z[row], 1
  non_empty = counts > 0
  sums[non_empty] /= counts[non_empty, None]
  return labels, sums.astype(z.dtype)


def _lloyd(z: np.ndarray, centres: np.ndarray, max_iter: int,
           tol: float) -> tuple[np.ndarray, np.ndarray, float]:
  """Lloyd's iterations from `centres`: (labels, centres, inertia)."""
  labels_old = None
  converged = False
  for _ in range(max_iter):
    labels, new_centres = _lloyd_step(z, centres)
    shift = float(((new_centres.astype(np.float64) - centres) ** 2).sum())
    centres = new_centres
    if labels_old is not None and np.array_equal(labels, labels_old):
      converged = True  # The labels are those of the final centres.
      break
    if shift <= tol:
      break
    labels_old = labels
  if not converged:
    labels = assign(z, centres)
  inertia = sum(float(((z[rows] - centres[labels[rows]]) ** 2).sum(
      dtype=np.float64)) for rows in _blocks(z))
  return labels, centres, inertia


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
  """Whether each label of `a` maps to one label of `b` (scikit-learn's test).
  """
  pairs = np.unique(np.stack([a, b]), axis=1)
  return len(np.unique(pairs[0])) == pairs.shape[1]


def fit(z: np.ndarray, n_clusters: int, *, seed: int, n_init: int = 1,
        max_iter: int = 300, tol: float = 1e-4,
        ) -> tuple[np.ndarray, np.ndarray, float]:
  """k-means with `n_init` k-means++ restarts, the lowest inertia kept.

  The partition of `sklearn.cluster.KMeans(n_clusters, n_init=n_init,
  max_iter=max_iter, tol=tol, random_state=seed).fit(z)` (see the module's
  note on ties).

  Args:
    z: `[num_rows, dim]` rows (float32 stays float32; others become
      float64).
    n_clusters: K, at most `num_rows`.
    seed: Seed of `np.random.RandomState` for the k-means++ draws.
    n_init: Restarts (drawn in turn from the one random state).
    max_iter: Lloyd iterations per restart at most.
    tol: Stop when the centres' squared shift is at most `tol` times the
      mean variance of the columns.

  Returns:
    `([K, dim] centres, [num_rows] int32 labels, inertia)`.
  """
  z = np.asarray(z)
  if z.dtype not in (np.float32, np.float64):  # As scikit-learn: float64.
    z = z.astype(np.float64)
  if n_clusters > len(z):
    raise ValueError(f"k-means of {len(z)} rows into {n_clusters} clusters: "
                     "K must be at most the number of rows.")
  tol = float(np.mean(np.var(z, axis=0))) * tol
  mean = z.mean(axis=0)
  centred = z - mean  # As scikit-learn: more accurate distances.
  random_state = np.random.RandomState(seed)
  best: Optional[tuple[np.ndarray, np.ndarray, float]] = None
  for _ in range(n_init):
    labels, centres, inertia = _lloyd(
        centred, _plus_plus(centred, n_clusters, random_state), max_iter, tol)
    if best is None or (inertia < best[2]
                        and not _same_partition(labels, best[0])):
      best = labels, centres, inertia
  labels, centres, inertia = best
  return centres + mean, labels, inertia
