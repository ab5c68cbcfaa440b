"""How far the label-free selection is from the best of its own candidates.

  python benchmarks/selection_ceiling.py --out_dir=/tmp/dink_ceiling \
      [--datasets=cora,citeseer,amazon_photo] [--seeds=0,1,2,3,4]
      [--restarts=20] [--set=pretrain.steps=500]

For each dataset (its `configs/DATASET.py`) and seed, pretrains as the
recipe does, then clusters the clustering embedding of every pretraining
epoch with `--restarts` k-means restarts (restart `i` seeded `seed + i`, as
`selection.kmeans`). Every candidate partition (epoch, restart) is scored
without labels (modularity, inertia) and, for this report only, with them
(ACC, NMI). Rules that choose an epoch and a restart without labels are
compared with the oracle that chooses by ACC: no label-free rule can beat
it, so the gap between the oracle and a target is one that only better
embeddings close. Writes `OUT/selection_ceiling.md` and `.json`.
"""
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import ast
import datetime
import importlib.util
import json
import platform
import sys
import tempfile

import numpy as np
from sklearn import cluster as sk_cluster
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import stages

DATASETS = {
    "cora": "cora/cora.npz",
    "citeseer": "citeseer",
    "amazon_photo": "amazon_photo/amazon_electronics_photo.npz",
}
RECIPE_RESTARTS = 10  # config.kmeans.n_init of the shipped configs.


def dataset_config(dataset, seed, settings):
  """`configs/DATASET.py`'s config with `seed` and `name=value` settings."""
  spec = importlib.util.spec_from_file_location(
      "dataset_config", os.path.join(ROOT, "configs", f"{dataset}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.seed = seed
  return apply_settings(config, settings)


def apply_settings(config, settings):
  """`config` with each `NAME=VALUE` of `settings` set (values parsed as
  Python literals; ConfigDict checks each field's type); an unknown field
  is a ValueError."""
  for setting in settings:
    name, sep, value = setting.partition("=")
    *parents, leaf = name.split(".")
    node = config
    for parent in parents:
      node = node.get(parent) if hasattr(node, "get") else None
    if not sep or not hasattr(node, "get") or leaf not in node:
      raise ValueError(f"--set={setting}: expected NAME=VALUE with NAME a "
                       "config field, e.g. pretrain.steps=500.")
    node[leaf] = parse_value(value)  # ConfigDict checks the field's type.
  return config


def parse_value(value):
  """A Python literal (`500`, `5e-4`, `False`, `None`), else the string."""
  try:
    return ast.literal_eval(value)
  except (ValueError, SyntaxError):
    return value


def candidates(config, graph, restarts):
  """`[epochs, restarts]` arrays: modularity, inertia, ACC and NMI (%)."""
  tf.config.experimental.enable_op_determinism()
  tf.keras.utils.set_random_seed(config.seed)
  prepared = stages.prepare(config, graph)
  with tempfile.TemporaryDirectory() as model_dir:
    run = stages.Run(config, tf.distribute.get_strategy(), model_dir,
                     log=lambda line: None, verbosity=-1)
    pretrained = stages.pretrain(run, prepared)
    weights = list(pretrained.weights)  # Read before the directory goes.
  edges, labels = prepared.graph.edges, prepared.graph.labels
  shape = (len(pretrained.steps), restarts)
  scores = {name: np.zeros(shape) for name in ("modularity", "inertia",
                                                "ACC", "NMI")}
  for epoch, epoch_weights in enumerate(weights):
    pretrained.encoder.set_weights(epoch_weights)
    z = stages.embed(prepared, pretrained.encoder)
    for restart in range(restarts):
      km = sk_cluster.KMeans(prepared.n_clusters, n_init=1,
                             random_state=config.seed + restart).fit(z)
      metrics = evaluation.evaluate(km.labels_, labels, edges)
      scores["modularity"][epoch, restart] = metrics["modularity"]
      scores["inertia"][epoch, restart] = km.inertia_
      scores["ACC"][epoch, restart] = 100 * metrics["ACC"]
      scores["NMI"][epoch, restart] = 100 * metrics["NMI"]
  return dict(steps=pretrained.steps, **{k: v.tolist()
                                         for k, v in scores.items()})


def choose(scores, rule):
  """The `(epoch, restart)` that `rule` picks from `candidates`' scores.

  Rules (the first two are label-free; "oracle" reads the labels):
    "recipe": for each epoch the highest-modularity restart among the
      first `RECIPE_RESTARTS`; the epoch whose pick has the highest
      modularity (the recipe's `selection="modularity"`).
    "all_restarts": the same over every restart.
    "inertia_restart": each epoch's lowest-inertia restart (of the first
      `RECIPE_RESTARTS`), the epoch by modularity.
    "last_epoch": the last epoch, its restart by modularity.
    "oracle": the candidate with the highest ACC.
  """
  q, inertia, acc = (np.asarray(scores[k]) for k in ("modularity", "inertia",
                                                      "ACC"))
  epochs = np.arange(len(q))
  if rule == "oracle":
    return np.unravel_index(np.argmax(acc), acc.shape)
  if rule == "last_epoch":
    return len(q) - 1, int(np.argmax(q[-1, :RECIPE_RESTARTS]))
  if rule == "inertia_restart":
    restart = np.argmin(inertia[:, :RECIPE_RESTARTS], axis=1)
  elif rule == "recipe":
    restart = np.argmax(q[:, :RECIPE_RESTARTS], axis=1)
  elif rule == "all_restarts":
    restart = np.argmax(q, axis=1)
  else:
    raise ValueError(f"Unknown rule {rule!r}.")
  epoch = int(np.argmax(q[epochs, restart]))
  return epoch, int(restart[epoch])


RULES = ("recipe", "all_restarts", "inertia_restart", "last_epoch", "oracle")


def summary(runs):
  """`{rule: {"ACC": [...], "NMI": [...]}}` over the runs of one dataset."""
  result = {}
  for rule in RULES:
    picks = [choose(run, rule) for run in runs]
    result[rule] = {m: [run[m][e][r] for run, (e, r) in zip(runs, picks)]
                    for m in ("ACC", "NMI")}
  return result


def _dataset_names(value):
  """`--datasets`: names of `DATASETS`, comma-separated."""
  names = value.split(",")
  unknown = [name for name in names if name not in DATASETS]
  if unknown:
    raise argparse.ArgumentTypeError(
        f"unknown dataset(s) {', '.join(unknown)}: choose from "
        f"{', '.join(DATASETS)}")
  return names


def dataset_arguments(description):
  """A parser of --out_dir, --datasets, --seeds, --data_root and --set."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--datasets", default=",".join(DATASETS),
                      type=_dataset_names,
                      help=f"comma-separated, of {', '.join(DATASETS)}")
  parser.add_argument("--seeds", default="0,1,2,3,4")
  parser.add_argument("--data_root",
                      default=os.path.join(ROOT, "..", "shared", "data"))
  parser.add_argument("--set", action="append", default=[],
                      help="a config setting for every run, e.g. "
                      "--set=pretrain.steps=500")
  return parser


def main():
  parser = dataset_arguments(__doc__.splitlines()[0])
  parser.add_argument("--restarts", type=int, default=20)
  args = parser.parse_args()
  if args.restarts < RECIPE_RESTARTS:
    parser.error(f"--restarts must be at least {RECIPE_RESTARTS}, the "
                 "recipe's restarts.")
  os.makedirs(args.out_dir, exist_ok=True)
  seeds = [int(s) for s in args.seeds.split(",")]
  report = {}
  lines = [f"Measured {datetime.date.today()} on {platform.machine()}, "
           f"{os.cpu_count()} CPU cores; seeds {seeds}; {args.restarts} "
           f"k-means restarts per epoch; settings: "
           f"{' '.join(args.set) or 'none'}.", "",
           "| dataset | rule | ACC | NMI |", "|---|---|---|---|"]
  for dataset in args.datasets:
    graph = loaders.load(os.path.join(args.data_root, DATASETS[dataset]))
    runs = []
    for seed in seeds:
      config = dataset_config(dataset, seed, args.set)
      runs.append(candidates(config, graph, args.restarts))
      print(f"{dataset} seed {seed}: {len(runs[-1]['steps'])} epochs",
            flush=True)
    report[dataset] = {"runs": runs, "summary": summary(runs)}
    for rule, values in report[dataset]["summary"].items():
      acc, nmi = np.array(values["ACC"]), np.array(values["NMI"])
      lines.append(f"| {dataset} | {rule} | {acc.mean():.2f} ± "
                   f"{acc.std():.2f} | {nmi.mean():.2f} ± {nmi.std():.2f} |")
  table = "\n".join(lines) + "\n"
  with open(os.path.join(args.out_dir, "selection_ceiling.md"), "w") as f:
    f.write(table)
  with open(os.path.join(args.out_dir, "selection_ceiling.json"), "w") as f:
    json.dump(report, f)
  print(table)


if __name__ == "__main__":
  main()
