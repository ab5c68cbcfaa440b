"""Pictures of a run, as PNG files in `MODEL_DIR/plots/` (matplotlib).

  * `embedding.png`: the clustering embedding projected to 2-D (its first
    two principal components), coloured by cluster; and by label beside it
    where the graph has labels;
  * `cluster_sizes.png`: nodes per cluster (and per label);
  * `confusion.png`: labels against clusters, the clusters in the order of
    their best match (the Hungarian matching of ACC) — only with labels;
  * `training.png`: the training curves (loss, discrimination accuracy,
    non-empty clusters) read back from the run's TensorBoard scalars;
  * `selection.png`: the modularity of every candidate of the label-free
    choices, the chosen ones marked.

Each file is written atomically. Graphs with more than `max_points` nodes
are drawn from a seeded random sample in `embedding.png`. matplotlib (some
25 MiB resident) is imported when the first picture is drawn, not with this
module: a run does not carry it through training.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
import io
import os
from typing import Optional

import numpy as np

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink.recipe import evaluation

SUBDIRECTORY = "plots"


def _pyplot():
  """matplotlib's `pyplot`, drawing to files only (no display)."""
  # pylint: disable=g-import-not-at-top
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot
  return pyplot


def _subplots(*args, **kwargs):
  return _pyplot().subplots(*args, **kwargs)


def _save(figure, path: str) -> None:
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  _pyplot().close(figure)
  _files.write_atomically(path, lambda f: f.write(buffer.getvalue()),
                          binary=True)


_PCA_BLOCK_ROWS = 2048


def project_2d(z: np.ndarray) -> np.ndarray:
  """`[n, 2]` coordinates of `z` on its first two principal components.

  The components are the top eigenvectors of the `[dim, dim]` scatter
  matrix, summed in float64 over blocks of rows: memory beyond `z` is a
  block and that matrix, not the copies and the `[n, dim]` factor of an SVD
  of the centred `z` (some 45 MiB at 2,708 x 512, 330 MiB at 20,000 x 512).
  Only the two eigenvectors are computed, in place of the matrix (NumPy's
  `eigh` would add two more `[dim, dim]` matrices: 36 MiB at 1,536).
  """
  from scipy import linalg  # pylint: disable=g-import-not-at-top
  z = np.asarray(z)
  dim = z.shape[1]
  mean = np.mean(z, axis=0, dtype=np.float64)
  blocks = [slice(i, i + _PCA_BLOCK_ROWS)
            for i in range(0, len(z), _PCA_BLOCK_ROWS)]
  scatter = np.zeros((dim, dim))
  for rows in blocks:
    centred = z[rows] - mean  # float64.
    scatter += centred.T @ centred
  _, vectors = linalg.eigh(scatter, subset_by_index=[max(dim - 2, 0), dim - 1],
                           overwrite_a=True, check_finite=False)
  components = vectors[:, ::-1]  # Eigenvalues in ascending order.
  if components.shape[1] < 2:  # A one-column embedding.
    components = np.pad(components, ((0, 0), (0, 2 - components.shape[1])))
  return np.concatenate([(z[rows] - mean) @ components for rows in blocks]
                        or [np.zeros((0, 2))])


def _scatter(axis, xy: np.ndarray, colour: np.ndarray, title: str) -> None:
  axis.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="tab20", s=4,
               linewidths=0, alpha=0.8)
  axis.set_title(title)
  axis.set_xticks([])
  axis.set_yticks([])


def embedding(path: str, z: np.ndarray, cluster_ids: np.ndarray,
              labels: Optional[np.ndarray], *, max_points: int = 20000,
              seed: int = 0) -> None:
  """`embedding.png`: 2-D projection coloured by cluster (and label)."""
  nodes = np.arange(len(z))
  if len(z) > max_points:
    nodes = np.random.default_rng(seed).choice(len(z), max_points,
                                               replace=False)
  xy = project_2d(z if len(nodes) == len(z) else z[nodes])
  panels = 1 if labels is None else 2
  figure, axes = _subplots(1, panels, figsize=(5.5 * panels, 5),
                           squeeze=False)
  sample = f" ({len(nodes)} of {len(z)} nodes)" if len(nodes) < len(z) else ""
  _scatter(axes[0, 0], xy, cluster_ids[nodes], f"clusters{sample}")
  if labels is not None:
    _scatter(axes[0, 1], xy, labels[nodes], "labels")
  figure.suptitle("clustering embedding, first two principal components")
  _save(figure, path)


def cluster_sizes(path: str, cluster_ids: np.ndarray, n_clusters: int,
                  labels: Optional[np.ndarray]) -> None:
  """`cluster_sizes.png`: nodes per cluster, largest first (and labels)."""
  sizes = np.bincount(cluster_ids, minlength=n_clusters)
  figure, axis = _subplots(figsize=(max(5, 0.4 * n_clusters + 2), 3.5))
  order = np.argsort(-sizes, kind="stable")
  positions = np.arange(n_clusters)
  width = 0.4 if labels is not None else 0.8
  axis.bar(positions, sizes[order], width, label="clusters")
  if labels is not None:
    known = labels[labels >= 0]
    label_sizes = np.sort(np.bincount(known))[::-1]
    shown = label_sizes[:n_clusters]
    axis.bar(np.arange(len(shown)) + width, shown, width,
             label="labels (sorted)")
    axis.legend()
  axis.set_xticks(positions)
  axis.set_xticklabels([str(c) for c in order])
  axis.set_xlabel("cluster")
  axis.set_ylabel("nodes")
  axis.set_title(f"cluster sizes ({int(np.sum(sizes > 0))} of {n_clusters} "
                 "non-empty)")
  _save(figure, path)


def confusion(path: str, cluster_ids: np.ndarray, labels: np.ndarray) -> None:
  """`confusion.png`: label x cluster counts, clusters in matched order."""
  known = labels >= 0
  labels, cluster_ids = labels[known], cluster_ids[known]
  n_labels = int(labels.max()) + 1
  n_clusters = int(cluster_ids.max()) + 1
  counts = np.zeros((n_labels, n_clusters), np.int64)
  np.add.at(counts, (labels, cluster_ids), 1)
  matched = evaluation.match_clusters(labels, cluster_ids)  # Per node.
  mapping = {}
  for cluster, label in zip(cluster_ids, matched):
    mapping.setdefault(int(cluster), int(label))
  order = sorted(range(n_clusters),
                 key=lambda c: (mapping.get(c, n_labels), c))
  counts = counts[:, order]
  figure, axis = _subplots(
      figsize=(max(4, 0.45 * n_clusters + 2), max(3.5, 0.45 * n_labels + 1)))
  image = axis.imshow(counts, cmap="Blues")
  figure.colorbar(image, ax=axis, fraction=0.046)
  if counts.size <= 400:
    threshold = counts.max() / 2
    for (i, j), count in np.ndenumerate(counts):
      axis.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
  axis.set_xticks(range(n_clusters))
  axis.set_xticklabels([str(c) for c in order])
  axis.set_yticks(range(n_labels))
  axis.set_xlabel("cluster (in the order of the matched label)")
  axis.set_ylabel("label")
  axis.set_title(f"labels x clusters, ACC "
                 f"{evaluation.accuracy(labels, cluster_ids):.4f}")
  _save(figure, path)


def training(path: str,
             curves: Mapping[str, Mapping[str, Mapping[int, float]]]) -> None:
  """`training.png`: one panel per (stage, scalar) of `curves`."""
  panels = [(stage, name, points) for stage, scalars in curves.items()
            for name, points in sorted(  # The loss first.
                scalars.items(), key=lambda item: (item[0] != "loss", item[0]))
            if points]
  if not panels:
    return
  columns = min(3, len(panels))
  rows = -(-len(panels) // columns)
  figure, axes = _subplots(rows, columns,
                           figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
  for axis, (stage, name, points) in zip(axes.flat, panels):
    steps = sorted(points)
    axis.plot(steps, [points[s] for s in steps])
    axis.set_title(f"{stage}: {name.replace('_', ' ')}")
    axis.set_xlabel("step")
  for axis in list(axes.flat)[len(panels):]:
    axis.axis("off")
  figure.tight_layout()
  _save(figure, path)


def selection(path: str, histories: Mapping[str, Sequence[Sequence[float]]],
              chosen: Mapping[str, int]) -> None:
  """`selection.png`: modularity per candidate step; the chosen marked."""
  figure, axes = _subplots(1, len(histories),
                           figsize=(4.5 * len(histories), 3.2), squeeze=False)
  for axis, (stage, history) in zip(axes.flat, histories.items()):
    steps = [int(s) for s, _ in history]
    values = [float(m) for _, m in history]
    axis.plot(steps, values, marker="o")
    if stage in chosen and chosen[stage] in steps:
      i = steps.index(chosen[stage])
      axis.plot([steps[i]], [values[i]], marker="*", markersize=14,
                color="tab:red", label=f"chosen: step {steps[i]}")
      axis.legend()
    axis.set_title(f"{stage}: modularity of each candidate")
    axis.set_xlabel("step")
  figure.tight_layout()
  _save(figure, path)


def write_all(model_dir: str, *, z: np.ndarray, cluster_ids: np.ndarray,
              n_clusters: int, labels: Optional[np.ndarray],
              curves: Mapping[str, Mapping[str, Mapping[int, float]]],
              histories: Mapping[str, Sequence[Sequence[float]]],
              chosen: Mapping[str, int], seed: int = 0) -> list[str]:
  """Writes every picture of the module docstring; returns their paths."""
  directory = os.path.join(model_dir, SUBDIRECTORY)
  path = lambda name: os.path.join(directory, name)
  embedding(path("embedding.png"), z, cluster_ids, labels, seed=seed)
  cluster_sizes(path("cluster_sizes.png"), cluster_ids, n_clusters, labels)
  written = ["embedding.png", "cluster_sizes.png"]
  if labels is not None and np.any(labels >= 0):
    confusion(path("confusion.png"), cluster_ids, labels)
    written.append("confusion.png")
  if any(curves.values()):
    training(path("training.png"), curves)
    written.append("training.png")
  selection(path("selection.png"), histories, chosen)
  written.append("selection.png")
  return [path(name) for name in written]
