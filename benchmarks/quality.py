"""Quality benchmark: the dataset configs over several seeds, as a table.

  python benchmarks/quality.py --out_dir=/tmp/dink_bench [--seeds=0,1,2,3,4]
      [--datasets=cora,citeseer,amazon_photo] [--data_root=../shared/data]
      [--extra=--config.pretrain.steps=500]

Each run is the command line a user runs (`python -m tensorflow_gnn_dink
train`), in its own process, writing `OUT/DATASET/seed_N/results.json`; runs
whose results exist are skipped, so a killed benchmark resumes. Writes
`OUT/quality.md` (mean ± std over seeds of ACC, NMI, ARI, F1 in %, the
label-free modularity and conductance of the final partition (×100), ACC
and NMI of k-means before fine-tuning, and the run time) and
`OUT/quality.json`.
No labels are used for training or model selection.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = {
    "cora": "cora/cora.npz",
    "citeseer": "citeseer",
    "amazon_photo": "amazon_photo/amazon_electronics_photo.npz",
}
PUBLISHED = {  # Dink-Net paper, Table 1 (selected with labels): ACC, NMI.
    "cora": (78.10, 62.28), "citeseer": (70.36, 45.87),
    "amazon_photo": (81.71, 74.36)}
METRICS = ("ACC", "NMI", "ARI", "F1")
# Label-free scores of the final partition, for runs without labels.
GRAPH_METRICS = ("modularity", "conductance")


def run_one(dataset, seed, args):
  model_dir = os.path.join(args.out_dir, dataset, f"seed_{seed}")
  results_file = os.path.join(model_dir, "results.json")
  if not os.path.exists(results_file):
    command = [sys.executable, "-m", "tensorflow_gnn_dink", "train",
               f"--config={os.path.join(ROOT, 'configs', dataset + '.py')}",
               f"--data={os.path.join(args.data_root, DATASETS[dataset])}",
               f"--seed={seed}", f"--model_dir={model_dir}", *args.extra]
    print("$", " ".join(command), flush=True)
    log_file = os.path.join(args.out_dir, dataset, f"seed_{seed}.log")
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "w") as log:
      subprocess.run(command, cwd=ROOT, check=True, stdout=log,
                     stderr=subprocess.STDOUT)
  with open(results_file) as f:
    return json.load(f)


def summarize(values, scale=1.0):
  values = scale * np.asarray(values, dtype=np.float64)
  return f"{values.mean():.2f} ± {values.std():.2f}"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--seeds", default="0,1,2,3,4")
  parser.add_argument("--datasets", default=",".join(DATASETS))
  parser.add_argument("--data_root",
                      default=os.path.join(ROOT, "..", "shared", "data"))
  parser.add_argument("--extra", action="append", default=[],
                      help="Extra flags for every run, e.g. "
                      "--extra=--config.pretrain.steps=500")
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  rows, summary = [], {}
  for dataset in args.datasets.split(","):
    runs = [run_one(dataset, seed, args) for seed in seeds]
    final = {m: [100 * r["metrics"][m] for r in runs] for m in METRICS}
    kmeans = {m: [100 * r["kmeans_metrics"][m] for r in runs]
              for m in METRICS}
    graph_scores = {m: [r["metrics"][m] for r in runs]
                    for m in GRAPH_METRICS}
    seconds = [r["timings_s"]["total"] for r in runs]
    summary[dataset] = {"final": final, "kmeans_before_finetune": kmeans,
                        "graph_scores": graph_scores,
                        "seconds": seconds, "seeds": seeds,
                        "collapsed": [r["collapsed"] for r in runs]}
    rows.append(
        f"| {dataset} | " + " | ".join(summarize(final[m]) for m in METRICS)
        + " | " + " | ".join(summarize(graph_scores[m], 100)
                             for m in GRAPH_METRICS)
        + f" | {summarize(kmeans['ACC'])} / {summarize(kmeans['NMI'])} | "
        f"{PUBLISHED[dataset][0]:.2f} / {PUBLISHED[dataset][1]:.2f} | "
        f"{np.mean(seconds):.0f} |")
  header = (
      f"Measured {datetime.date.today()} on {platform.machine()}, "
      f"{os.cpu_count()} CPU cores, seeds {seeds} (mean ± std); extra flags: "
      f"{' '.join(args.extra) or 'none'}.\n\n"
      "| dataset | ACC | NMI | ARI | F1 | modularity ×100 | conductance ×100 "
      "| k-means before fine-tune ACC / NMI | published ACC / NMI "
      "| seconds per run |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n")
  table = header + "\n".join(rows) + "\n"
  with open(os.path.join(args.out_dir, "quality.md"), "w") as f:
    f.write(table)
  with open(os.path.join(args.out_dir, "quality.json"), "w") as f:
    json.dump(summary, f, indent=2)
  print(table)


if __name__ == "__main__":
  main()
