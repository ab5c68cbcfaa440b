"""Time and peak memory of the recipe on synthetic graphs of growing size.

  python benchmarks/scale.py --out_dir=/tmp/scale \
      [--graphs=sparse_34k,dense_1e4,dense_1e5] [--extra=--config.seed=1]

Each graph comes from the built-in generator (`data.make_csbm`, set through
`--config.synthetic.*`), so nothing is downloaded or read. Each run is the
recipe's command line in its own process (`python -m tensorflow_gnn_dink
train`), with the shipped default config unless the graph names another;
its stages' wall times come from `results.json` ("timings_s"; the
selection's split into embedding the candidates and k-means from
"initialise_centres_s"), its peak resident memory is its own `ru_maxrss`
and its peak anonymous memory (without shared libraries' pages) is read
every 10 ms (`side_by_side.run_measured`). Writes
`benchmarks/results/scale.{json,md}` (again after each graph) and prints the
table.

Graphs (average degree about 10-15, communities planted):
  sparse_34k  34,000 nodes, ~248,000 edges, 8,400 bag-of-words features with
              ~33 words per node, 5 communities (the size of Coauthor-Physics).
  dense_1eN   10^N nodes, 128 dense features, average degree 10, 10
              communities; 10^5 and up train on node-row batches
              (`configs/large_graph.py`).
  sparse_1eN  as dense_1eN with 2,000 bag-of-words features, 20 words each.
"""
import argparse
import datetime
import json
import os
import shutil
import sys

import side_by_side  # benchmarks/side_by_side.py: process measurement.

RESULTS_DIR = side_by_side.RESULTS_DIR
LARGE = "configs/large_graph.py"


def _synthetic(num_nodes, n_clusters, num_features, avg_degree,
               words_per_node=None, feature_noise=2.0):
  flags = [f"--config.synthetic.num_nodes={num_nodes}",
           f"--config.synthetic.n_clusters={n_clusters}",
           f"--config.synthetic.num_features={num_features}",
           f"--config.synthetic.avg_degree={avg_degree}",
           f"--config.synthetic.feature_noise={feature_noise}"]
  if words_per_node:
    flags.append(f"--config.synthetic.words_per_node={words_per_node}")
  return flags


def graphs():
  """Name -> (config file or None, flags)."""
  result = {"sparse_34k": (None, _synthetic(34_000, 5, 8_400, 14.6, 33))}
  for exponent in range(3, 8):
    num_nodes = 10 ** exponent
    config = None if exponent < 5 else LARGE
    result[f"dense_1e{exponent}"] = (
        config, _synthetic(num_nodes, 10, 128, 10.0))
    result[f"sparse_1e{exponent}"] = (
        config, _synthetic(num_nodes, 10, 2_000, 10.0, 20))
  return result


def run_graph(name, config, flags, args):
  model_dir = os.path.join(args.out_dir, name)
  shutil.rmtree(model_dir, ignore_errors=True)  # Never resume old runs.
  os.makedirs(model_dir)
  command = [sys.executable, "-m", "tensorflow_gnn_dink", "train",
             f"--model_dir={model_dir}", *flags, *args.extra]
  if config:
    command.insert(4, f"--config={config}")
  measured = side_by_side.run_measured(
      command, os.path.join(args.out_dir, f"{name}.log"))
  with open(os.path.join(model_dir, "results.json")) as f:
    results = json.load(f)
  return {"graph": name, "config": config or "default",
          "num_nodes": results["num_nodes"],
          "num_edges": results["num_edges"],
          "stages_s": results["timings_s"],
          "selection_parts_s": results.get("initialise_centres_s", {}),
          "process_wall_s": measured.wall_s,
          "peak_rss_mib": measured.peak_rss_mib,
          "peak_anon_mib": measured.peak_anon_mib,
          "metrics": {k: v for k, v in results["metrics"].items()
                      if isinstance(v, (int, float))}}


def markdown(report):
  lines = [f"Scale, {report['date']}, {report['machine']['cpu']} "
           f"({report['machine']['cpu_count']} cores), commit "
           f"{report['git']['commit'][:10]}"
           + (" with uncommitted changes" if report["git"].get(
               "uncommitted_changes") else "")
           + (f"; flags for every run: {' '.join(report['extra'])}"
              if report.get("extra") else "") + ".", "",
           "| graph | config | nodes | pretrain s | selection s (embed / "
           "k-means) | fine-tune s | end to end s | process s | peak MiB "
           "| peak anon MiB | ACC % | NMI % |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  nan = float("nan")
  for r in report["runs"]:
    s, m = r["stages_s"], r["metrics"]
    parts = r.get("selection_parts_s") or {}
    lines.append(
        f"| {r['graph']} | {r['config']} | {r['num_nodes']:,} | "
        f"{s['pretrain']:.1f} | {s['initialise_centres']:.1f} "
        f"({parts.get('embed', nan):.1f} / {parts.get('kmeans', nan):.1f}) | "
        f"{s['finetune']:.1f} | {s['total']:.1f} | {r['process_wall_s']:.1f} "
        f"| {r['peak_rss_mib']:.0f} | {r.get('peak_anon_mib', nan):.0f} "
        f"| {100 * m.get('ACC', nan):.1f} | {100 * m.get('NMI', nan):.1f} |")
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--graphs", default="sparse_34k,dense_1e4,dense_1e5")
  parser.add_argument("--extra", action="append", default=[],
                      help="A flag for every run (repeatable).")
  parser.add_argument("--results_name", default="scale",
                      help="benchmarks/results/NAME.{json,md}")
  args = parser.parse_args()
  known = graphs()
  names = args.graphs.split(",")
  unknown = sorted(set(names) - set(known))
  if unknown:
    parser.error(f"unknown graphs {unknown}; known: {sorted(known)}")
  os.makedirs(args.out_dir, exist_ok=True)
  report = {"date": datetime.date.today().isoformat(),
            "machine": side_by_side.machine_info(),
            "git": side_by_side.git_state(), "extra": args.extra, "runs": []}
  for name in names:
    report["runs"].append(run_graph(name, *known[name], args))
    side_by_side.save_results(args.results_name, report, markdown(report))
    print(markdown(report), flush=True)


if __name__ == "__main__":
  main()
