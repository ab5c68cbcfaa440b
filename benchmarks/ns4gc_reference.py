"""NS4GC, the best label-free method of PyAGC's benchmark, in TensorFlow.

  python benchmarks/ns4gc_reference.py --out_dir=/tmp/dink_ns4gc \
      [--datasets=cora,citeseer,amazon_photo] [--seeds=0,1,2,3,4]
      [--set=dims=(512,)] [--set=pd=(0.0,0.0)]

A reference point for issue 16, not part of the recipe: NS4GC (Liu et al.,
"Reliable Node Similarity Matrix Guided Contrastive Graph Clustering", TKDE
2024) as its paper and published settings describe it, on the same graphs,
features and k-means as the recipe, so that the recipe's label-free results
can be read against it. Per step: two views (each edge kept with
probability `1 - pd`, each feature column with `1 - pm`; `A + I`
renormalised), a GCN of `dims` (SELU between layers, none after; rows
scaled to unit length), the similarity `S = Z1 Z2^T` of all pairs, and the
loss `-mean diag(S) - lam mean_{edges} S_ij + gam mean_{others}
sigmoid((S_ij - s) / tau)`; Adam with weight decay `wd`. After the last
epoch (no checkpoint is chosen), k-means on the unit rows of the whole
graph's embedding with the recipe's 10 restarts, the lowest inertia kept
(`selection.kmeans` without edges). Labels only score the partition.
`--set=NAME=VALUE` overrides a setting of every dataset (a Python literal:
`dims=(512,)`, `pd=(0.0,0.0)`, `lr=5e-4`).
Memory is `O(N^2)` (the full `S`): graphs of up to ~10^4 nodes. Writes
`OUT/ns4gc_reference.md` and `.json`.
"""
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
import datetime
import json
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import selection_ceiling
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import selection

# NS4GC's published settings (its params.txt), by dataset.
SETTINGS = {
    "cora": dict(epochs=200, dims=(256, 64), pd=(0.3, 0.3), pm=(0.2, 0.2),
                 s=0.6),
    "citeseer": dict(epochs=50, dims=(256,), pd=(0.6, 0.8), pm=(0.0, 0.4),
                     s=0.5),
    "amazon_photo": dict(epochs=200, dims=(256, 128), pd=(0.8, 0.8),
                         pm=(0.0, 0.0), s=0.6),
}
COMMON = dict(tau=0.1, lam=1.0, gam=1.0, lr=1e-3, wd=1e-5)


def _normalized_adjacency(source, target, keep, num_nodes):
  """`D^-1/2 (A' + I) D^-1/2` of the kept edges, as a SparseTensor."""
  loops = tf.range(num_nodes, dtype=tf.int64)
  s = tf.concat([tf.boolean_mask(source, keep), loops], 0)
  t = tf.concat([tf.boolean_mask(target, keep), loops], 0)
  inv_sqrt = tf.math.rsqrt(tf.math.unsorted_segment_sum(
      tf.ones_like(s, tf.float32), s, num_nodes))
  values = tf.gather(inv_sqrt, s) * tf.gather(inv_sqrt, t)
  return tf.sparse.reorder(tf.SparseTensor(tf.stack([s, t], 1), values,
                                           [num_nodes, num_nodes]))


def train(graph, settings, seed):
  """NS4GC's encoder trained on `graph`: the `[N, dims[-1]]` unit rows."""
  settings = dict(COMMON, **settings)
  tf.keras.utils.set_random_seed(seed)
  n = graph.num_nodes
  x = graph.features
  x = tf.constant(x.toarray() if sp.issparse(x) else np.asarray(x),
                  tf.float32)
  source = tf.constant(graph.edges[0], tf.int64)
  target = tf.constant(graph.edges[1], tf.int64)
  widths = (x.shape[1],) + tuple(settings["dims"])
  init = tf.keras.initializers.GlorotUniform(seed=seed)
  kernels = [tf.Variable(init([a, b])) for a, b in zip(widths, widths[1:])]
  biases = [tf.Variable(tf.zeros([b])) for b in widths[1:]]
  variables = kernels + biases
  optimizer = tf.keras.optimizers.Adam(settings["lr"])
  not_pairs = tf.constant(float(n * n - n - graph.edges.shape[1]))

  def encode(adjacency, features):
    h = features
    for layer, (kernel, bias) in enumerate(zip(kernels, biases)):
      h = tf.sparse.sparse_dense_matmul(adjacency, h @ kernel) + bias
      if layer < len(kernels) - 1:
        h = tf.nn.selu(h)
    return tf.math.l2_normalize(h, axis=1)

  def view(p_edge, p_feature):
    keep = tf.random.uniform([graph.edges.shape[1]]) >= p_edge
    columns = tf.cast(tf.random.uniform([x.shape[1]]) >= p_feature,
                      tf.float32)
    return _normalized_adjacency(source, target, keep, n), x * columns

  @tf.function
  def step():
    views = [view(settings["pd"][v], settings["pm"][v]) for v in (0, 1)]
    with tf.GradientTape() as tape:
      z1, z2 = [encode(*v) for v in views]
      similarity = tf.matmul(z1, z2, transpose_b=True)
      alignment = -tf.reduce_mean(tf.linalg.diag_part(similarity))
      on_edges = tf.gather_nd(similarity, tf.stack([source, target], 1))
      sparse = tf.sigmoid((similarity - settings["s"]) / settings["tau"])
      others = (tf.reduce_sum(sparse) - tf.reduce_sum(
          tf.linalg.diag_part(sparse)) - tf.reduce_sum(tf.gather_nd(
              sparse, tf.stack([source, target], 1))))
      loss = (alignment - settings["lam"] * tf.reduce_mean(on_edges) +
              settings["gam"] * others / not_pairs)
      total = loss + 0.5 * settings["wd"] * tf.add_n(
          [tf.reduce_sum(tf.square(v)) for v in variables])
    grads = tape.gradient(total, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return loss

  losses = [float(step()) for _ in range(settings["epochs"])]
  full = _normalized_adjacency(source, target,
                               tf.ones([graph.edges.shape[1]], tf.bool), n)
  return encode(full, x).numpy(), losses


def run(graph, settings, seed, n_clusters):
  """Metrics (%) of one seed: train, then k-means by inertia."""
  start = time.perf_counter()
  z, losses = train(graph, settings, seed)
  _, ids = selection.kmeans(z, n_clusters, seed=seed, n_init=10)
  metrics = evaluation.evaluate(ids, graph.labels, graph.edges)
  return dict({k: 100 * v for k, v in metrics.items()
               if k in ("ACC", "NMI", "ARI", "F1", "modularity")},
              first_loss=losses[0], last_loss=losses[-1],
              seconds=time.perf_counter() - start)


def main():
  parser = selection_ceiling.dataset_arguments(__doc__.splitlines()[0])
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  overrides = {}
  for setting in args.set:
    name, sep, value = setting.partition("=")
    if not sep or name not in {**COMMON, **SETTINGS["cora"]}:
      parser.error(f"--set={setting}: expected NAME=VALUE with NAME one of "
                   f"{sorted({**COMMON, **SETTINGS['cora']})}.")
    overrides[name] = selection_ceiling.parse_value(value)
  os.makedirs(args.out_dir, exist_ok=True)
  results, rows = {}, []
  for dataset in args.datasets:
    graph = loaders.load(os.path.join(args.data_root,
                                      selection_ceiling.DATASETS[dataset]))
    runs = []
    for seed in seeds:
      runs.append(run(graph, dict(SETTINGS[dataset], **overrides), seed,
                      graph.num_classes))
      print(f"{dataset} seed {seed}: {runs[-1]}", flush=True)
    results[dataset] = runs
    cells = [f"{np.mean([r[m] for r in runs]):.2f} ± "
             f"{np.std([r[m] for r in runs]):.2f}"
             for m in ("ACC", "NMI", "ARI", "F1", "modularity")]
    rows.append(f"| {dataset} | " + " | ".join(cells) +
                f" | {np.mean([r['seconds'] for r in runs]):.0f} |")
  table = (
      f"NS4GC (TensorFlow reference), {datetime.date.today()}, "
      f"{platform.machine()}, {os.cpu_count()} CPU cores, seeds {seeds}; "
      f"settings changed: {args.set or 'none'}; k-means after the last "
      "epoch. Mean ± std, in %.\n\n"
      "| dataset | ACC | NMI | ARI | F1 | modularity ×100 | seconds |\n"
      "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
  with open(os.path.join(args.out_dir, "ns4gc_reference.md"), "w") as f:
    f.write(table)
  with open(os.path.join(args.out_dir, "ns4gc_reference.json"), "w") as f:
    json.dump(dict(settings=SETTINGS, common=COMMON, overrides=overrides,
                   runs=results), f,
              indent=2)
  print(table)


if __name__ == "__main__":
  main()
