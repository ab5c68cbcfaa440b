"""Side by side, interleaved: this package's recipe and PyAGC's DinkNet.

  python benchmarks/side_by_side.py --out_dir=/tmp/side_by_side \
      [--datasets=cora,citeseer,amazon_photo] [--repeats=3] \
      [--data_root=../shared/data] [--extra=--config.pretrain.steps=500] \
      [--results_name=NAME]

Runs, on the same machine and the same graph, in one invocation and
alternating (ours, PyAGC, ours, PyAGC, ...; repeat i uses seed i for both):
  * ours: `python -m tensorflow_gnn_dink train --config=configs/DATASET.py
    --data=... --seed=i --model_dir=...` plus the `--extra` flags, timed by
    the recipe itself (`results.json` "timings_s");
  * PyAGC's DinkNet (PyTorch, CPU): `benchmarks/pyagc_dinknet.py` with the
    interpreter of a separate virtual environment, `benchmarks/.venv-pyagc`,
    created and filled with pip on first use (`pyagc==1.1.2`, torch,
    torch-geometric, scipy, scikit-learn) and reused afterwards. It reads the
    graph from a temporary plain `.npz` written from this package's loader,
    and gets the hidden size, layers, steps and learning rates of our run's
    effective config (`results.json` "config", so `--extra` reaches it too).
Each run is its own process; its peak resident memory is its own
`ru_maxrss`, and its peak anonymous resident memory (without the pages of
shared libraries) is read every 10 ms (`run_measured`). Times are medians
over the repeats.

Columns, per implementation:
  pretrain         encoder training (ours: `pretrain`; PyAGC: `pretrain`).
  model selection  what lies between pretraining and fine-tuning. Ours:
                   `initialise_centres` (embedding + k-means of every
                   pretraining epoch, the label-free choice by modularity);
                   PyAGC: embedding + one k-means (10 inits) for the centres.
  fine-tune        ours: `finetune` (centres on the frozen embedding, epoch
                   chosen by modularity); PyAGC: `finetune` (encoder,
                   projector and centres).
  predict          cluster ids and their evaluation. Ours:
                   `assign_and_evaluate`; PyAGC: `predict` + `evaluate`.
  end to end       in-process total from the prepared graph to the metrics;
                   ours also holds `prepare` and `export` (the SavedModel).
  process wall     the child process as seen from here: interpreter start,
                   imports and reading the data included.
Writes `benchmarks/results/side_by_side.{json,md}` (again after each dataset)
and prints the table; logs and model directories go to `OUT/DATASET/`.
`--pyagc_settings=own` gives PyAGC its own per-dataset sizes, steps and
learning rates from its benchmark config instead of ours (its best quality
rather than the same work), written to `side_by_side_own.{json,md}`.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np

import quality  # benchmarks/quality.py: ROOT and the dataset paths.
from tensorflow_gnn_dink.recipe import loaders

ROOT = quality.ROOT
BENCHMARKS = os.path.join(ROOT, "benchmarks")
RESULTS_DIR = os.path.join(BENCHMARKS, "results")
PYAGC_VENV = os.path.join(BENCHMARKS, ".venv-pyagc")
PYAGC_PYTHON = os.path.join(PYAGC_VENV, "bin", "python")
PYAGC_SCRIPT = os.path.join(BENCHMARKS, "pyagc_dinknet.py")
PYAGC_VERSION = "1.1.2"
PYAGC_REQUIREMENTS = (f"pyagc=={PYAGC_VERSION}", "torch", "torch-geometric",
                      "scipy", "scikit-learn")
# Fine-tuning's discrimination weight in PyAGC's benchmark/DinkNet/
# train.conf.yaml (Cora 10, Photo 2; its default, 1, for CiteSeer).
PYAGC_ALPHA = {"cora": 10.0, "amazon_photo": 2.0}
# `--pyagc_settings=own`: PyAGC's own settings from that file (its default
# section for CiteSeer, which it does not list), for quality at its best.
PYAGC_OWN = {
    "cora": dict(hidden_units=512, pretrain_learning_rate=0.01,
                 finetune_learning_rate=0.001, pretrain_steps=200,
                 finetune_steps=50),
    "citeseer": dict(hidden_units=512, pretrain_learning_rate=0.001,
                     finetune_learning_rate=0.0001, pretrain_steps=200,
                     finetune_steps=200),
    "amazon_photo": dict(hidden_units=1024, pretrain_learning_rate=0.001,
                         finetune_learning_rate=0.0001, pretrain_steps=200,
                         finetune_steps=50)}
IMPLEMENTATIONS = {"ours": "ours (TF-GNN)", "pyagc": "PyAGC DinkNet"}
# Each column: the stages of `timings_s` whose seconds it adds up.
STAGES = {
    "ours": {"pretrain": ("pretrain",),
             "model_selection": ("initialise_centres",),
             "finetune": ("finetune",),
             "predict": ("assign_and_evaluate",),
             "end_to_end": ("total",)},
    "pyagc": {"pretrain": ("pretrain",),
              "model_selection": ("initialise_centres",),
              "finetune": ("finetune",),
              "predict": ("predict", "evaluate"),
              "end_to_end": ("total",)},
}
COLUMNS = {  # Name in the records -> (table heading, number format).
    "pretrain": ("pretrain s", ".2f"),
    "model_selection": ("model selection s", ".2f"),
    "finetune": ("fine-tune s", ".2f"), "predict": ("predict s", ".2f"),
    "end_to_end": ("end to end s", ".2f"),
    "process_wall": ("process wall s", ".2f"),
    "peak_rss_mib": ("peak RSS MiB", ".0f"),
    "peak_anon_mib": ("peak anonymous RSS MiB", ".0f")}
QUALITY = ("ACC", "NMI")
LEGEND = """\
Model selection: ours `initialise_centres` (embedding + k-means for every
pretraining epoch, the label-free choice by modularity); PyAGC the embedding
and one k-means (10 inits) for the centres. Predict: ours
`assign_and_evaluate`, PyAGC `predict` + `evaluate`. End to end: in-process,
from the prepared graph to the metrics (ours includes `prepare` and `export`,
the SavedModel). Process wall: the whole child process (interpreter start,
imports, reading the data). Peak RSS: the child's `ru_maxrss`. Peak
anonymous RSS: the highest `RssAnon` read every 10 ms, the resident memory
that is not pages of files: the process's own working memory, without the
pages of its shared libraries (TensorFlow's are some 400 MiB, torch's some
150 MiB), which the kernel can drop and read again. The machine may have
been shared with other jobs (see the load average): times are indicative.
"""


def ensure_pyagc_venv():
  """Creates `benchmarks/.venv-pyagc` with PyAGC unless it is usable already.

  torch is installed first from the wheels in pip's `--find-links`
  (PIP_FIND_LINKS) alone, where a machine keeps e.g. a CPU-only build (the
  index's default torch brings gigabytes of CUDA libraries); without one
  there, the second install takes torch from the index.
  """
  probe = [PYAGC_PYTHON, "-c",
           "import importlib.metadata, pyagc, torch_geometric, scipy, sklearn;"
           f"assert importlib.metadata.version('pyagc') == '{PYAGC_VERSION}'"]
  if (os.path.exists(PYAGC_PYTHON) and
      subprocess.run(probe, capture_output=True).returncode == 0):
    return
  print(f"[side_by_side] creating {PYAGC_VENV} ...", flush=True)
  subprocess.run([sys.executable, "-m", "venv", PYAGC_VENV], check=True)
  pip = [PYAGC_PYTHON, "-m", "pip", "install"]
  subprocess.run(pip + ["--no-index", "--no-deps", "torch"])  # May fail.
  subprocess.run(pip + list(PYAGC_REQUIREMENTS), check=True)
  subprocess.run(probe, check=True)


def data_path(dataset, data_root):
  """The dataset's file or directory, as `--data` takes it."""
  return os.path.join(data_root, quality.DATASETS[dataset])


def write_graph(dataset, data_root, path):
  """Writes the dataset as read by our loader to a plain `.npz` at `path`."""
  graph = loaders.load(data_path(dataset, data_root))
  features = graph.features  # PyAGC's DinkNet takes a dense matrix.
  features = features.toarray() if hasattr(features, "toarray") else features
  np.savez(path, features=features, edges=graph.edges, labels=graph.labels)


# Runs argv[2:] and writes its `ru_maxrss` (KiB) and the highest anonymous
# resident memory seen (`RssAnon` of /proc/PID/status, KiB, read every 10 ms)
# to the file argv[1]. Linux keeps the high-water mark of the memory an
# `execve` replaces, and a child forked from a large process starts from its
# parent's: measured from here (TensorFlow imported, graphs made), a 13 MiB
# child read as 1.5 GiB. This launcher is a fresh small process, so its
# child's peak is the child's own.
_LAUNCHER = """
import os, subprocess, sys, time
child = subprocess.Popen(sys.argv[2:])
peak_anon = 0
while True:
  pid, status, usage = os.wait4(child.pid, os.WNOHANG)
  if pid:
    break
  try:
    with open(f"/proc/{child.pid}/status") as f:
      peak_anon = max([peak_anon] + [int(l.split()[1]) for l in f
                                     if l.startswith("RssAnon:")])
  except OSError:
    pass
  time.sleep(0.01)
with open(sys.argv[1], "w") as f:
  f.write(f"{usage.ru_maxrss} {peak_anon}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


class Measured(NamedTuple):
  """A child process' wall time and memory (see `run_measured`)."""
  wall_s: float
  peak_rss_mib: float
  peak_anon_mib: float


def run_measured(command, log_path) -> Measured:
  """Runs `command` from the repository root, output to `log_path`.

  Returns:
    The wall time of the child process, its peak resident memory (its own
    `ru_maxrss`, through `_LAUNCHER`, not this process's high-water mark,
    which a child of this process would start from) and its peak anonymous
    resident memory: the resident memory that is not pages of files (shared
    libraries, mapped data), which the kernel can drop and read again; the
    highest of reads every 10 ms, so a shorter spike can be missed.

  Raises:
    RuntimeError: the command failed; the message ends with its log's tail.
  """
  print("$", " ".join(command), flush=True)
  peak_file = log_path + ".maxrss"
  with open(log_path, "w") as log:
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, peak_file, *command], cwd=ROOT,
        stdout=log, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
  if process.returncode != 0:
    with open(log_path) as log:
      tail = "".join(log.readlines()[-20:])
    raise RuntimeError(f"Exit status {process.returncode} of "
                       f"{' '.join(command)}; {log_path} ends:\n{tail}")
  with open(peak_file) as f:
    peak_kib, anon_kib = (int(v) for v in f.read().split())
  os.remove(peak_file)
  return Measured(wall, peak_kib / 1024, anon_kib / 1024)  # KiB on Linux.


def make_record(implementation, seed, timings, metrics, measured):
  """One run's row: the table's columns, ACC/NMI in %, all timings/metrics."""
  record = {column: sum(timings[stage] for stage in stages)
            for column, stages in STAGES[implementation].items()}
  record.update(seed=seed, process_wall=measured.wall_s,
                peak_rss_mib=measured.peak_rss_mib,
                peak_anon_mib=measured.peak_anon_mib,
                stages_s=timings, metrics=metrics)
  record.update({m: 100 * metrics[m] for m in QUALITY})
  return record


def run_ours(dataset, seed, args, work_dir):
  """Runs our recipe's command line; returns (record, results.json)."""
  model_dir = os.path.join(work_dir, f"ours_seed_{seed}")
  shutil.rmtree(model_dir, ignore_errors=True)  # Never resume old checkpoints.
  command = [sys.executable, "-m", "tensorflow_gnn_dink", "train",
             f"--config={os.path.join(ROOT, 'configs', dataset + '.py')}",
             f"--data={data_path(dataset, args.data_root)}",
             f"--seed={seed}", f"--model_dir={model_dir}", *args.extra]
  measured = run_measured(command, model_dir + ".log")
  with open(os.path.join(model_dir, "results.json")) as f:
    results = json.load(f)
  return (make_record("ours", seed, results["timings_s"], results["metrics"],
                      measured), results)


def pyagc_settings(dataset, ours_results, own=False):
  """PyAGC's flags: our run's K, sizes, steps and rates; PyAGC's alpha.

  With `own`, PyAGC's own sizes, steps and rates (`PYAGC_OWN`) instead.
  """
  config = ours_results["config"]
  settings = {"n_clusters": ours_results["n_clusters"],
              "hidden_units": config["model"]["hidden_units"],
              "num_layers": config["model"]["num_layers"],
              "pretrain_steps": config["pretrain"]["steps"],
              "pretrain_learning_rate": config["pretrain"]["learning_rate"],
              "finetune_steps": config["finetune"]["steps"],
              "finetune_learning_rate": config["finetune"]["learning_rate"],
              "alpha": PYAGC_ALPHA.get(dataset, 1.0)}
  if own:
    settings.update(PYAGC_OWN[dataset])
  return settings


def run_pyagc(seed, graph_path, settings, work_dir):
  """Runs `pyagc_dinknet.py` in the PyAGC venv; returns (record, its JSON)."""
  log_path = os.path.join(work_dir, f"pyagc_seed_{seed}.log")
  command = [PYAGC_PYTHON, PYAGC_SCRIPT, f"--graph={graph_path}",
             f"--seed={seed}",
             *(f"--{name}={value}" for name, value in settings.items())]
  measured = run_measured(command, log_path)
  with open(log_path) as log:
    output = json.loads([line for line in log if line.startswith("{")][-1])
  return (make_record("pyagc", seed, output["timings_s"], output["metrics"],
                      measured), output)


def summarize(runs):
  """Medians (times, memory, quality), mean/std of quality, ratios."""
  summary = {}
  for implementation, records in runs.items():
    summary[implementation] = {
        "median": {c: float(np.median([r[c] for r in records]))
                   for c in (*COLUMNS, *QUALITY)},
        "mean": {m: float(np.mean([r[m] for r in records])) for m in QUALITY},
        "std": {m: float(np.std([r[m] for r in records])) for m in QUALITY}}
  summary["ratio_ours_over_pyagc"] = {
      c: summary["ours"]["median"][c] / summary["pyagc"]["median"][c]
      for c in COLUMNS}
  return summary


def benchmark_dataset(dataset, args):
  """Interleaved runs on one dataset; returns its part of the JSON."""
  work_dir = os.path.join(args.out_dir, dataset)
  os.makedirs(work_dir, exist_ok=True)
  runs = {"ours": [], "pyagc": []}
  with tempfile.TemporaryDirectory(dir=work_dir) as temporary:
    graph_path = os.path.join(temporary, "graph.npz")
    write_graph(dataset, args.data_root, graph_path)
    for seed in range(args.repeats):
      ours, results = run_ours(dataset, seed, args, work_dir)
      settings = pyagc_settings(dataset, results,
                                own=args.pyagc_settings == "own")
      pyagc, output = run_pyagc(seed, graph_path, settings, work_dir)
      runs["ours"].append(ours)
      runs["pyagc"].append(pyagc)
      print(f"[side_by_side] {dataset} seed {seed}: "
            + "; ".join(f"{IMPLEMENTATIONS[k]} {r['end_to_end']:.1f} s, "
                        f"ACC {r['ACC']:.2f}" for k, r in
                        (("ours", ours), ("pyagc", pyagc))), flush=True)
  return {"ours_config": results["config"], "pyagc_settings": settings,
          "pyagc_versions": output["versions"],
          "pyagc_torch_threads": output["torch_threads"],
          "runs": runs, **summarize(runs)}


def machine_info():
  """The machine in a few fields, for the JSON and the table's header."""
  cpu = platform.processor()
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      names = [l.split(":", 1)[1].strip() for l in f
               if l.startswith("model name")]
    cpu = names[0] if names else cpu
  return {"platform": platform.platform(), "machine": platform.machine(),
          "cpu": cpu, "cpu_count": os.cpu_count(),
          "python": platform.python_version()}


def git_state():
  """Our code's commit, and whether the work tree differs from it."""
  def git(*command):
    return subprocess.run(["git", *command], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
  return {"commit": git("rev-parse", "HEAD"),
          "uncommitted_changes": bool(git("status", "--porcelain",
                                          "--untracked-files=no"))}


def markdown(report):
  """The table: per dataset, both implementations' medians and the ratio."""
  info, git = report["machine"], report["ours_git"]
  code = git["commit"][:12] + (" with uncommitted changes"
                               if git["uncommitted_changes"] else "")
  lines = [
      f"Measured {report['date']} on {info['machine']} ({info['cpu']}), "
      f"{info['cpu_count']} CPU cores, load average "
      f"{report['load_average_start'][0]:.1f} at the start and "
      f"{report['load_average_end'][0]:.1f} at the end; {report['repeats']} "
      f"repeat(s), seeds 0-{report['repeats'] - 1}, interleaved ours / "
      f"PyAGC; our code {code}; extra flags: "
      f"{' '.join(report['extra']) or 'none'}. Times: medians in seconds; "
      "ACC and NMI: mean ± std in %.", ""]
  for dataset, result in report["datasets"].items():
    s = result["pyagc_settings"]
    lines.append(
        f"- {dataset}: hidden {s['hidden_units']}, pretrain "
        f"{s['pretrain_steps']} steps at {s['pretrain_learning_rate']:g}, "
        f"fine-tune {s['finetune_steps']} steps at "
        f"{s['finetune_learning_rate']:g}; PyAGC alpha {s['alpha']:g}, "
        f"torch {result['pyagc_versions']['torch']}.")
  headings = [heading for heading, _ in COLUMNS.values()]
  lines += ["", "| dataset | implementation | " + " | ".join(headings)
            + " | ACC | NMI |", "|---" * (len(headings) + 4) + "|"]
  for dataset, result in report["datasets"].items():
    for implementation, label in IMPLEMENTATIONS.items():
      r = result[implementation]
      times = [f"{r['median'][c]:{f}}" for c, (_, f) in COLUMNS.items()]
      scores = [f"{r['mean'][m]:.2f} ± {r['std'][m]:.2f}" for m in QUALITY]
      lines.append(f"| {dataset} | {label} | " + " | ".join(times + scores)
                   + " |")
    ratios = [f"{result['ratio_ours_over_pyagc'][c]:.2f}" for c in COLUMNS]
    lines.append(f"| {dataset} | ratio ours / PyAGC | " + " | ".join(ratios)
                 + " | | |")
  return "\n".join(lines) + "\n\n" + LEGEND


def write_results(report, name=None):
  """Writes `NAME.{json,md}` to `benchmarks/results`; default NAME:
  `side_by_side`, or `side_by_side_own` for PyAGC's own settings.

  Returns the markdown table.
  """
  table = markdown(report)
  save_results(name or ("side_by_side_own"
                        if report.get("pyagc_settings") == "own"
                        else "side_by_side"), report, table)
  return table


def save_results(name, report, table):
  """Writes `report` and its markdown `table` to `benchmarks/results/NAME.*`."""
  os.makedirs(RESULTS_DIR, exist_ok=True)
  base = os.path.join(RESULTS_DIR, name)
  with open(base + ".json", "w") as f:
    json.dump(report, f, indent=2)
  with open(base + ".md", "w") as f:
    f.write(table)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out_dir", required=True,
                      help="Logs, model directories and temporary graphs.")
  parser.add_argument("--datasets", default=",".join(quality.DATASETS))
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--data_root",
                      default=os.path.join(ROOT, "..", "shared", "data"))
  parser.add_argument("--extra", action="append", default=[],
                      help="Extra flags for our runs, e.g. "
                      "--extra=--config.pretrain.steps=500 (sizes, steps and "
                      "learning rates reach PyAGC's runs too).")
  parser.add_argument(
      "--pyagc_settings", choices=("matched", "own"), default="matched",
      help="matched: PyAGC gets our run's sizes, steps and learning rates "
      "(the same work, for times); own: PyAGC's own per-dataset settings from "
      "its benchmark (for its best quality).")
  parser.add_argument("--results_name", default=None,
                      help="benchmarks/results/NAME.{json,md} (default: "
                      "side_by_side or side_by_side_own)")
  args = parser.parse_args()
  args.out_dir = os.path.abspath(args.out_dir)
  ensure_pyagc_venv()
  report = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine_info(), "command": sys.argv,
            "repeats": args.repeats, "extra": args.extra,
            "pyagc_settings": args.pyagc_settings,
            "ours_git": git_state(),
            "load_average_start": os.getloadavg()}
  report["datasets"] = {}
  for dataset in args.datasets.split(","):
    report["datasets"][dataset] = benchmark_dataset(dataset, args)
    report["load_average_end"] = os.getloadavg()
    # After each dataset: a crash loses less.
    table = write_results(report, args.results_name)
  print(table)


if __name__ == "__main__":
  main()
