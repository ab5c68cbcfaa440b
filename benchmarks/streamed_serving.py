"""Streamed serving: a graph larger than one request, through the SavedModel.

  python benchmarks/streamed_serving.py [--num_nodes=2000,20000]
      [--batch_size=256] [--work_dir=DIR]

Makes built-in synthetic graphs (`data.make_csbm`; 128 dense features,
average degree 10, 10 communities) of each size, samples one rooted subgraph
per node with TF-GNN's Beam sampler (DirectRunner; fanouts 10,5), trains the
recipe on the samples of the smallest graph (`sampling.cluster_samples`; 32
hidden units, 50 pretraining and 10 fine-tuning steps: serving cost does not
depend on how well the model is trained) and writes its serving SavedModel.
Then, for each graph, a fresh process loads the export and streams every
subgraph through its `serving_default` signature, `--batch_size` serialized
subgraphs a request (`sampling.serve_samples`), and reports:
  * nodes per second (roots assigned / wall time of the stream, loading the
    model excluded);
  * resident memory after loading the model and the process's peak: with
    memory bounded by one request, the peak does not grow with the graph;
  * on the training graph, whether the served cluster ids equal the ones
    training wrote (`cluster_ids.csv`).
Writes `benchmarks/results/streamed_serving.{json,md}`.
"""
import argparse
import datetime
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side  # pylint: disable=g-import-not-at-top

import numpy as np  # pylint: disable=g-import-not-at-top,g-bad-import-order

from tensorflow_gnn_dink.recipe import config as config_lib  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import data  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import sampling  # pylint: disable=g-import-not-at-top

FANOUTS = (10, 5)


def _rss_mib() -> float:
  """This process's resident memory now (Linux)."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmRSS:"):
        return int(line.split()[1]) / 1024
  return float("nan")


def serve(export_dir, samples_dir, batch_size, output):
  """The child process: loads the export, streams the samples, writes JSON."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.saved_model.load(export_dir)  # Loaded once here to measure it alone.
  loaded_rss = _rss_mib()
  start = time.perf_counter()
  ids, clusters = sampling.serve_samples(export_dir, samples_dir,
                                         batch_size=batch_size)
  seconds = time.perf_counter() - start
  with open(output, "w") as f:
    json.dump({"seconds": seconds, "loaded_rss_mib": loaded_rss,
               "ids": ids.tolist(), "clusters": clusters.tolist()}, f)


def make_samples(num_nodes, work_dir):
  """Samples of a synthetic graph; returns (graph, samples dir, seconds)."""
  graph = data.make_csbm(num_nodes=num_nodes, n_clusters=10,
                         num_features=128, avg_degree=10.0,
                         feature_noise=2.0, seed=0)
  base = os.path.join(work_dir, str(num_nodes))
  schema = sampling.write_unigraph(graph, os.path.join(base, "graph"))
  start = time.perf_counter()
  sampling.sample(schema, os.path.join(base, "samples"), fanouts=FANOUTS,
                  num_shards=4)
  return graph, os.path.join(base, "samples"), time.perf_counter() - start


def train(samples_dir, work_dir):
  """Trains on `samples_dir`; returns (export dir, {root id: cluster})."""
  config = config_lib.default_config()
  config.n_clusters = 10
  config.model.hidden_units = 32
  config.pretrain.steps, config.finetune.steps = 50, 10
  export_dir = os.path.join(work_dir, "export")
  ids, clusters, _ = sampling.cluster_samples(
      samples_dir, config, model_dir=os.path.join(work_dir, "run"),
      output=os.path.join(work_dir, "cluster_ids.csv"),
      export_dir=export_dir, log=lambda _: None)
  return export_dir, dict(zip(ids.tolist(), clusters.tolist()))


def measure(num_nodes_list, batch_size, work_dir):
  """The report's runs: one per graph size, each served in a fresh process."""
  prepared = [make_samples(n, work_dir) for n in num_nodes_list]
  export_dir, trained = train(prepared[0][1], work_dir)
  runs = []
  for graph, samples_dir, sample_s in prepared:
    output = os.path.join(work_dir, f"served_{graph.num_nodes}.json")
    measured = side_by_side.run_measured(
        [sys.executable, os.path.abspath(__file__), "--serve", export_dir,
         samples_dir, str(batch_size), output], output + ".log")
    with open(output) as f:
      served = json.load(f)
    same = (float(np.mean([trained[i] == c for i, c in
                           zip(served["ids"], served["clusters"])]))
            if samples_dir == prepared[0][1] else None)
    runs.append({
        "num_nodes": graph.num_nodes, "num_edges": int(graph.edges.shape[1]),
        "roots_served": len(served["ids"]),
        "requests": -(-len(served["ids"]) // batch_size),
        "sample_s": sample_s, "serve_s": served["seconds"],
        "process_wall_s": measured.wall_s,
        "nodes_per_s": len(served["ids"]) / served["seconds"],
        "loaded_rss_mib": served["loaded_rss_mib"],
        "peak_rss_mib": measured.peak_rss_mib, "same_as_training": same})
  return runs


def markdown(report):
  lines = [f"Streamed serving, {report['date']}, {report['machine']['cpu']} "
           f"({report['machine']['cpu_count']} cores), commit "
           f"{report['git']['commit'][:10]}; fanouts "
           f"{','.join(map(str, FANOUTS))}, {report['batch_size']} subgraphs "
           "a request, each graph streamed by a fresh process.", "",
           "| nodes | edges | requests | serve s | nodes/s | RSS after load "
           "MiB | peak RSS MiB | same ids as training | Beam sampling s |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in report["runs"]:
    same = ("-" if r["same_as_training"] is None else
            f"{100 * r['same_as_training']:.1f}%")
    lines.append(
        f"| {r['num_nodes']:,} | {r['num_edges']:,} | {r['requests']:,} | "
        f"{r['serve_s']:.1f} | {r['nodes_per_s']:,.0f} | "
        f"{r['loaded_rss_mib']:,.0f} | {r['peak_rss_mib']:,.0f} | {same} | "
        f"{r['sample_s']:.0f} |")
  return "\n".join(lines) + "\n"


def main():
  if sys.argv[1:2] == ["--serve"]:
    export_dir, samples_dir, batch_size, output = sys.argv[2:6]
    serve(export_dir, samples_dir, int(batch_size), output)
    return
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_nodes", default="2000,20000",
                      help="graph sizes; the model trains on the first")
  parser.add_argument("--batch_size", type=int, default=256,
                      help="subgraphs per request")
  parser.add_argument("--work_dir", default=None,
                      help="where graphs, samples and the model go "
                      "(default: a temporary directory, removed after)")
  parser.add_argument("--results_name", default="streamed_serving",
                      help="benchmarks/results/NAME.{json,md}")
  args = parser.parse_args()
  sizes = [int(n) for n in args.num_nodes.split(",")]
  with tempfile.TemporaryDirectory(prefix="dink-streamed-") as tmp:
    runs = measure(sizes, args.batch_size, args.work_dir or tmp)
  report = {"date": datetime.date.today().isoformat(),
            "machine": side_by_side.machine_info(),
            "git": side_by_side.git_state(), "batch_size": args.batch_size,
            "fanouts": list(FANOUTS), "runs": runs}
  side_by_side.save_results(args.results_name, report, markdown(report))
  print(markdown(report), flush=True)


if __name__ == "__main__":
  main()
