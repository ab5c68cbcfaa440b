"""Graph propagation done once, before training (numpy/scipy).

A one-layer GCN is `PReLU(A_hat X W + b)` with
`A_hat = D^-1/2 (A + I) D^-1/2` (TF-GNN's `GCNConv` with self-loops), so it
equals a Dense layer + PReLU on the rows of `A_hat X`. Computing `A_hat X`
once turns GCN training into training on batches of independent node rows:
no neighbourhood sampling, fixed batch shapes, and per-step work that does not
grow with the graph. Dink-Net's negative view, the GCN on row-shuffled
features, is likewise `A_hat (P X)` for a permutation `P`, drawn once.
(The smoothed embedding `h + A_hat^p h` is computed inside the model, by
`layers.MultiHopSmoothing`.)
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from tensorflow_gnn_dink import _arrays

_BLOCK_ROWS = 65536  # Rows of a dense product computed at a time.


def normalized_adjacency(edges: np.ndarray, num_nodes: int) -> sp.csr_matrix:
  """`D^-1/2 (A + I) D^-1/2` as float32 CSR, `D` the degree of `A + I`.

  Args:
    edges: `[2, E]` directed edges `source -> target` (both directions of each
      undirected edge), without self-loops, or the pair `(sources, targets)`
      of `[E]` arrays; row `target` of the result sums over the sources, as
      TF-GNN's `GCNConv` pools to the target.
    num_nodes: The number of nodes.
  """
  source, target = (np.asarray(ids, dtype=np.int64) for ids in edges)
  adjacency = sp.coo_matrix(
      (np.ones(len(target), np.float32), (target, source)),
      shape=(num_nodes, num_nodes)).tocsr()
  adjacency = adjacency + sp.eye(num_nodes, dtype=np.float32, format="csr")
  degree = np.asarray(adjacency.sum(axis=1)).ravel()
  scale = sp.diags((1.0 / np.sqrt(degree)).astype(np.float32))
  return (scale @ adjacency @ scale).astype(np.float32).tocsr()


def rows_nonzeros_bound(edges: np.ndarray, row_nonzeros: np.ndarray) -> int:
  """An upper bound on the non-zeros of `A_hat X`, without computing it.

  Row `i` of `A_hat X` has at most the non-zeros of the rows of `X` at `i`
  and its sources (the bound is reached when no two of them share a
  column). `edges`: as `normalized_adjacency` takes them; `row_nonzeros`:
  `[num_nodes]`, the non-zeros of each row of `X`.
  """
  row_nonzeros = np.asarray(row_nonzeros, np.int64)
  out_degree = np.bincount(np.asarray(edges[0]),
                           minlength=len(row_nonzeros))
  return int(row_nonzeros.sum() + out_degree @ row_nonzeros)


def propagate(a_hat: sp.spmatrix, x, steps: int):
  """`A_hat^steps x` (float32), one sparse product per step.

  A sparse `x` gives a CSR matrix with sorted column ids, a dense one an
  array.
  """
  if sp.issparse(x):
    x = sp.csr_matrix(x, dtype=np.float32)
    for _ in range(steps):
      x = sp.csr_matrix(a_hat @ x, dtype=np.float32)
    x.sort_indices()
    return x
  x = np.asarray(x, dtype=np.float32)
  for _ in range(steps):
    x = np.asarray(a_hat @ x, dtype=np.float32)
  return x


def gcn_input_rows(a_hat: sp.spmatrix, features, *, seed: int,
                   row_divisors: Optional[np.ndarray] = None) -> dict:
  """The rows a one-layer GCN sees: clean `A_hat X` and negative `A_hat P X`.

  The negative rows are `(A_hat P) X`: `A_hat` with its column ids mapped
  through the permutation, so no permuted copy of the features is made (the
  same sums in the same order as `A_hat @ X[perm]`, hence the same numbers).
  Dense rows are written block by block into buffers that TensorFlow adopts
  without a copy (`_arrays.aligned_empty`).

  Args:
    a_hat: `[num_nodes, num_nodes]` propagation matrix
      (`normalized_adjacency`).
    features: `[num_nodes, num_features]` `X`, dense or scipy sparse.
    seed: Draws the permutation `perm`.
    row_divisors: Optional `[num_nodes]`: `X` is then `features` with row `j`
      divided by `row_divisors[j]` (e.g. `layers.NormalizeFeatureRows`), a
      division folded into the columns of `A_hat` (`A_hat D^-1`), so that
      the divided features are never made (equal up to rounding).

  Returns:
    `{"feat": A_hat X, "feat_negative": A_hat X[perm]}`, float32
    `[num_nodes, num_features]` (sparse if `features` are).
  """
  a_hat = sp.csr_matrix(a_hat)
  perm = np.random.default_rng(seed).permutation(features.shape[0])
  perm_ids = perm[a_hat.indices].astype(a_hat.indices.dtype)
  a_hat_perm = sp.csr_matrix((a_hat.data, perm_ids, a_hat.indptr),
                             shape=a_hat.shape)
  if row_divisors is not None:
    divisors = np.asarray(row_divisors, np.float32)
    a_hat = sp.csr_matrix((a_hat.data / divisors[a_hat.indices],
                           a_hat.indices, a_hat.indptr), shape=a_hat.shape)
    a_hat_perm.data = a_hat_perm.data / divisors[perm_ids]
  return {"feat": _product(a_hat, features),
          "feat_negative": _product(a_hat_perm, features)}


def _product(a: sp.csr_matrix, x):
  """`a @ x` as `propagate` computes it, dense results in row blocks."""
  if sp.issparse(x):
    return propagate(a, x, 1)
  x = np.asarray(x, dtype=np.float32)
  result = _arrays.aligned_empty((a.shape[0], x.shape[1]), np.float32)
  for start in range(0, a.shape[0], _BLOCK_ROWS):
    result[start:start + _BLOCK_ROWS] = a[start:start + _BLOCK_ROWS] @ x
  return result
