"""Are the other node sets used? The recipe on papers, authors and venues
against the same recipe on the papers and their citations alone.

  python benchmarks/many_node_sets.py --out_dir=/tmp/dink_hetero
      [--seeds=0,1,2] [--noise=1.0,2.0,3.0] [--set=pretrain.steps=300]

On `heterogeneous.make_citation_graph` (600 papers in 4 planted
communities, 300 authors, 20 venues), with `configs/heterogeneous.py`
(GraphSAGE, 2 rounds, 128 hidden units, 300 pretraining steps), for each
paper feature noise (higher: paper features say less) and seed:

  * `every node set`: the recipe on the whole graph (`--config=configs/
    heterogeneous.py`);
  * `papers alone, graph_sage`: the same recipe and encoder on the paper
    node set and its citations only (`HeterogeneousGraph.clustered()`);
  * `papers alone, gcn`: the same, with Dink-Net's GCN;
  * `k-means on paper features`: no training.

Each run is `pipeline.run` in this process, in `OUT/NOISE/VARIANT/seed_N`;
runs whose results exist are read back, so a killed benchmark resumes.
Writes `OUT/many_node_sets.md` (ACC / NMI mean ± std over seeds, %) and
`OUT/many_node_sets.json`. Labels are used for the table only.
"""
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import datetime
import importlib.util
import json
import platform
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tensorflow_gnn_dink.recipe import evaluation
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import pipeline
from tensorflow_gnn_dink.recipe import selection
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import selection_ceiling  # The --set parser.

VARIANTS = ("every node set", "papers alone, graph_sage", "papers alone, gcn",
            "k-means on paper features")


def base_config(settings):
  """configs/heterogeneous.py with `settings` (`["a.b=1", ...]`) applied."""
  path = os.path.join(ROOT, "configs", "heterogeneous.py")
  spec = importlib.util.spec_from_file_location("heterogeneous_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.plots = False
  return selection_ceiling.apply_settings(config, settings)


def run_one(variant, noise, seed, settings, out_dir):
  """ACC, NMI (fractions) and seconds of one variant, run or read back."""
  model_dir = os.path.join(out_dir, f"noise_{noise}",
                           variant.replace(", ", "_").replace(" ", "_"),
                           f"seed_{seed}")
  results_file = os.path.join(model_dir, "results.json")
  if os.path.exists(results_file):
    with open(results_file) as f:
      return json.load(f)
  config = base_config(settings)
  config.seed = seed
  config.citation.paper_feature_noise = noise
  graph = heterogeneous.make_citation_graph(seed=seed, **config.citation)
  if variant == "k-means on paper features":
    papers = graph.clustered()
    start = datetime.datetime.now()
    _, ids = selection.kmeans(np.asarray(papers.features, np.float32),
                              config.citation.n_clusters, seed=seed,
                              n_init=config.kmeans.n_init)
    metrics = evaluation.evaluate(ids, papers.labels, papers.edges)
    seconds = (datetime.datetime.now() - start).total_seconds()
    os.makedirs(model_dir, exist_ok=True)
    with open(results_file, "w") as f:
      json.dump({"metrics": metrics, "timings_s": {"total": seconds}}, f)
    return {"metrics": metrics, "timings_s": {"total": seconds}}
  if variant != "every node set":
    config.node_set = None  # One node set now.
    config.model.encoder = variant.rsplit(", ", 1)[1]
    graph = graph.clustered()
  print(f"[bench] noise {noise}, {variant}, seed {seed}", flush=True)
  return pipeline.run(config, graph, model_dir, log=lambda _: None,
                      verbosity=-1)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--noise", default="1.0,2.0,3.0")
  parser.add_argument("--set", action="append", default=[],
                      help="config field NAME=VALUE, e.g. pretrain.steps=100")
  args = parser.parse_args(argv)
  seeds = [int(s) for s in args.seeds.split(",")]
  noises = [float(n) for n in args.noise.split(",")]
  settings = args.set
  base_config(settings)  # A bad --set fails before any run.
  table = {}
  for noise in noises:
    for variant in VARIANTS:
      runs = [run_one(variant, noise, seed, settings, args.out_dir)
              for seed in seeds]
      table[f"{noise}/{variant}"] = dict(
          noise=noise, variant=variant, seeds=seeds,
          ACC=[r["metrics"]["ACC"] for r in runs],
          NMI=[r["metrics"]["NMI"] for r in runs],
          seconds=[r["timings_s"]["total"] for r in runs])
  lines = [f"Measured {datetime.date.today()} on {platform.machine()}, "
           f"{os.cpu_count()} CPUs; seeds {seeds}; configs/heterogeneous.py"
           + (f" with {', '.join(settings)}" if settings else "") + ".", "",
           "| paper feature noise | " + " | ".join(VARIANTS) + " |",
           "|---|" + "---|" * len(VARIANTS)]
  for noise in noises:
    cells = []
    for variant in VARIANTS:
      row = table[f"{noise}/{variant}"]
      acc, nmi = 100 * np.array(row["ACC"]), 100 * np.array(row["NMI"])
      cells.append(f"{acc.mean():.1f} ± {acc.std():.1f} / {nmi.mean():.1f}")
    lines.append(f"| {noise} | " + " | ".join(cells) + " |")
  lines += ["", "ACC mean ± std / NMI mean over seeds, %."]
  report = "\n".join(lines) + "\n"
  os.makedirs(args.out_dir, exist_ok=True)
  with open(os.path.join(args.out_dir, "many_node_sets.md"), "w") as f:
    f.write(report)
  with open(os.path.join(args.out_dir, "many_node_sets.json"), "w") as f:
    json.dump(dict(settings=settings, machine=platform.machine(),
                   date=str(datetime.date.today()), rows=table), f, indent=2)
  print(report)
  return table


if __name__ == "__main__":
  main()
