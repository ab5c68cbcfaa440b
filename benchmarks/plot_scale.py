"""Log-log plot of the scale runs: time and peak memory against edges.

  python benchmarks/plot_scale.py [--results=benchmarks/results/scale*.json]
      [--out=benchmarks/results/scale.png]

Reads the JSON files `benchmarks/scale.py` writes and plots, for each graph
family (dense / bag-of-words features), end-to-end time, pretraining time,
selection time and peak resident memory against the number of undirected
edges, on log-log axes, with the slope of a line through the points (1 is
linear). Where a run is recorded more than once, the newest file's wins.
Runs recorded before `results.json` held `num_edges` are placed at the
graph's nominal size (nodes x average degree / 2, from the generator's
flags in `scale.graphs()`) and drawn hollow.
"""
import argparse
import glob
import json
import os

import matplotlib

matplotlib.use("Agg")  # Files only.
from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

import scale  # benchmarks/scale.py: the graphs and their flags.

_SERIES = (("end to end", lambda r: r["stages_s"]["total"], "s"),
           ("pretrain", lambda r: r["stages_s"]["pretrain"], "s"),
           ("selection", lambda r: r["stages_s"]["initialise_centres"], "s"),
           ("peak RSS", lambda r: r["peak_rss_mib"] / 1024, "GiB"))


def _nominal_edges(name):
  flags = dict(f.lstrip("-").split("=", 1) for f in scale.graphs()[name][1])
  return (int(flags["config.synthetic.num_nodes"])
          * float(flags["config.synthetic.avg_degree"]) / 2)


def _family(name, run):
  """(features, config): points on one line differ only in size."""
  return name.rsplit("_", 1)[0] if "_1e" in name else name, run["config"]


def newest_runs(paths):
  """`{graph name: (run, measured_edges, date)}`, newest file first wins."""
  reports = []
  for path in paths:
    with open(path) as f:
      reports.append(json.load(f))
  runs = {}
  for report in sorted(reports, key=lambda r: r["date"]):
    for run in report["runs"]:
      runs[run["graph"]] = (run, "num_edges" in run, report["date"])
  return runs


def slope(x, y):
  """The least-squares slope of log y against log x (None below 2 points)."""
  if len(x) < 2:
    return None
  return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plot(runs, out):
  """Draws one panel per series; returns `{series: {family: slope}}`."""
  figure, axes = plt.subplots(1, len(_SERIES), figsize=(4 * len(_SERIES), 4))
  slopes = {}
  for axis, (title, value, unit) in zip(axes, _SERIES):
    slopes[title] = {}
    for family, config in sorted({_family(name, run)
                                  for name, (run, _, _) in runs.items()}):
      points = sorted(
          (run["num_edges"] if measured else _nominal_edges(name),
           value(run), measured)
          for name, (run, measured, _) in runs.items()
          if _family(name, run) == (family, config))
      x, y, measured = (np.array(v) for v in zip(*points))
      k = slope(x, y)
      label = f"{family}, {os.path.basename(config)}"
      slopes[title][label] = k
      marker = "o" if family.startswith("dense") else "s"
      line, = axis.plot(x, y, "-", label=label + (
          f" (slope {k:.2f})" if k is not None else ""))
      axis.scatter(x, y, marker=marker, color=line.get_color(),
                   facecolors=np.where(measured, line.get_color(), "none"))
    axis.set(xscale="log", yscale="log", title=title,
             xlabel="undirected edges", ylabel=unit)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  figure.savefig(out + ".tmp.png", dpi=100)
  plt.close(figure)
  os.replace(out + ".tmp.png", out)  # Atomic: never half a picture.
  return slopes


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--results", default=os.path.join(
      scale.RESULTS_DIR, "scale*.json"))
  parser.add_argument("--out",
                      default=os.path.join(scale.RESULTS_DIR, "scale.png"))
  args = parser.parse_args()
  paths = sorted(glob.glob(args.results))
  if not paths:
    parser.error(f"no results match {args.results}: run benchmarks/scale.py")
  runs = newest_runs(paths)
  slopes = plot(runs, args.out)
  for name, (run, measured, date) in sorted(
      runs.items(), key=lambda item: item[1][0]["num_nodes"]):
    print(f"{name}: {run['num_nodes']:,} nodes, "
          f"{run['stages_s']['total']:.0f} s, "
          f"{run['peak_rss_mib'] / 1024:.1f} GiB ({date}"
          f"{'' if measured else ', nominal edges'})")
  for title, by_family in slopes.items():
    print(f"slope of {title}: " + ", ".join(
        f"{family} {k:.2f}" for family, k in by_family.items()
        if k is not None))
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
