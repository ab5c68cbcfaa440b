"""Seed ensembles: k-means on the embeddings of several pretrainings.

  python benchmarks/seed_ensemble.py --out_dir=/tmp/dink_ensemble \
      [--datasets=cora,citeseer,amazon_photo] [--seeds=0,1,2,3,4]
      [--members=3] [--set=pretrain.steps=500]

A measurement of one label-free route to stability across seeds (issue 16:
consensus over seeds), not part of the recipe. For each dataset (its
`configs/DATASET.py`) and seed, pretrains and chooses the epoch and k-means
restart as the recipe does (`stages.pretrain`, `stages.initialise_centres`),
keeping the chosen clustering embedding (unit rows). Then, for every subset
of `--members` seeds, runs the recipe's k-means (`selection.kmeans`: the
configured restarts, the highest-modularity one kept, seeded by the
subset's first seed) on the members' embeddings side by side, divided by
`sqrt(members)` (unit rows again). Labels only score the partitions. Writes
`OUT/seed_ensemble.md` and `.json`: ACC, NMI and modularity of the single
seeds and of the ensembles, and what an ensemble costs (its members'
pretraining and selection, and its own k-means).
"""
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
import datetime
import itertools
import json
import platform
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import selection_ceiling
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import selection
from tensorflow_gnn_dink.recipe import stages


def member(config, graph):
  """One seed's chosen clustering embedding, its metrics and seconds."""
  start = time.perf_counter()
  tf.keras.utils.set_random_seed(config.seed)
  if config.get("deterministic", True):
    tf.config.experimental.enable_op_determinism()
  with tempfile.TemporaryDirectory() as model_dir:
    run = stages.Run(config, tf.distribute.get_strategy(), model_dir,
                     log=lambda _: None, verbosity=-1)
    prepared = stages.prepare(config, graph)
    initialised = stages.initialise_centres(
        run, prepared, stages.pretrain(run, prepared))
  return dict(z=initialised.z, metrics=initialised.metrics,
              seconds=time.perf_counter() - start)


def ensemble(config, graph, embeddings, seeds):
  """Metrics of k-means on the embeddings of `seeds`, side by side."""
  start = time.perf_counter()
  z = np.concatenate([embeddings[s] for s in seeds], axis=1)
  z /= np.sqrt(len(seeds))
  _, ids = selection.kmeans(
      z, stages.resolve_n_clusters(config, graph), seed=seeds[0],
      n_init=config.kmeans.n_init, max_iter=config.kmeans.max_iter,
      edges=graph.edges)
  metrics = evaluation.evaluate(ids, graph.labels, graph.edges)
  return dict(metrics, seconds=time.perf_counter() - start)


def _percent(metrics):
  """ACC, NMI and modularity in %, and the seconds."""
  return dict({name: 100 * float(metrics[name])
               for name in ("ACC", "NMI", "modularity")},
              seconds=metrics["seconds"])


def _mean_std(runs, name):
  values = np.asarray([run[name] for run in runs.values()], np.float64)
  return f"{values.mean():.2f} ± {values.std():.2f}"


def table_rows(dataset, singles, ensembles, members):
  """Two markdown rows: the single seeds, the ensembles."""
  rows = []
  member_s = np.mean([r["seconds"] for r in singles.values()])
  ensemble_s = np.mean([r["seconds"] for r in ensembles.values()])
  for name, runs, seconds in (
      ("single seeds", singles, f"{member_s:.0f}"),
      (f"ensembles of {members} ({len(ensembles)})", ensembles,
       f"{members} x {member_s:.0f} + {ensemble_s:.1f}")):
    rows.append(
        f"| {dataset}, {name} | {_mean_std(runs, 'ACC')} | "
        f"{min(r['ACC'] for r in runs.values()):.2f} | "
        f"{_mean_std(runs, 'NMI')} | {_mean_std(runs, 'modularity')} | "
        f"{seconds} |")
  return rows


def main():
  parser = selection_ceiling.dataset_arguments(__doc__.splitlines()[0])
  parser.add_argument("--members", type=int, default=3)
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  if not 2 <= args.members <= len(seeds):
    parser.error(f"--members must be at least 2 and at most the number of "
                 f"--seeds ({len(seeds)}), got {args.members}.")
  os.makedirs(args.out_dir, exist_ok=True)
  results, lines = {}, []
  for dataset in args.datasets:
    path = os.path.join(args.data_root, selection_ceiling.DATASETS[dataset])
    singles, embeddings = {}, {}
    for seed in seeds:  # Each run reads the graph, as the command line does.
      config = selection_ceiling.dataset_config(dataset, seed, args.set)
      out = member(config, loaders.load(path))
      embeddings[seed] = out["z"]
      singles[seed] = _percent(dict(out["metrics"], seconds=out["seconds"]))
      print(f"{dataset} seed {seed}: {singles[seed]}", flush=True)
    graph, ensembles = loaders.load(path), {}
    for subset in itertools.combinations(seeds, args.members):
      config = selection_ceiling.dataset_config(dataset, subset[0], args.set)
      key = ",".join(map(str, subset))
      ensembles[key] = _percent(ensemble(config, graph, embeddings,
                                         list(subset)))
      print(f"{dataset} ensemble {key}: {ensembles[key]}", flush=True)
    results[dataset] = dict(singles=singles, ensembles=ensembles)
    lines += table_rows(dataset, singles, ensembles, args.members)
  header = (
      f"Seed ensembles, {datetime.date.today()}, {platform.machine()}, "
      f"{os.cpu_count()} CPU cores, seeds {seeds}; settings: "
      f"{args.set or 'none'}. Mean ± std over the runs, in %.\n\n"
      "| runs | ACC | lowest ACC | NMI | modularity ×100 | seconds |\n"
      "|---|---|---|---|---|---|\n")
  with open(os.path.join(args.out_dir, "seed_ensemble.md"), "w") as f:
    f.write(header + "\n".join(lines) + "\n")
  with open(os.path.join(args.out_dir, "seed_ensemble.json"), "w") as f:
    json.dump(results, f, indent=2)
  print(header + "\n".join(lines))


if __name__ == "__main__":
  main()
