"""Serving throughput: the exported SavedModel against the in-memory model.

  python benchmarks/serving.py [--num_nodes=10000,100000] [--repeats=5]

For each size, trains the recipe briefly on a built-in synthetic graph
(`data.make_csbm`; 128 dense features, average degree 10, default sizes,
20 pretraining and 10 fine-tuning steps: serving cost does not depend on how
well the model is trained), exports it as `train` does, and times, after one
warm-up call each:
  * in memory: the trained encoder and the clustering task (embedding
    `normalize(h + A_hat^p h)`, nearest centre, soft assignment) on the
    processed GraphTensor, in one `tf.function`;
  * SavedModel: `tf.saved_model.load(export)` and its `serving_default`
    signature on the graph serialized as one `tf.Example` (parsing and the
    feature normalisation included);
  * serialize: writing that `tf.Example` on the client, once.
Reports medians over `--repeats` calls, nodes per second, and checks that
both give the same cluster ids. Writes `benchmarks/results/serving.{json,md}`.
"""
import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # As the CLI.

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side  # pylint: disable=g-import-not-at-top

import numpy as np  # pylint: disable=g-import-not-at-top,g-bad-import-order
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_gnn as tfgnn  # pylint: disable=g-import-not-at-top

from tensorflow_gnn_dink import tasks  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import config as config_lib  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import data  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import stages  # pylint: disable=g-import-not-at-top


def _median_seconds(fn, repeats):
  fn()  # Warm-up: tracing, first allocations.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def measure(num_nodes, repeats, work_dir):
  config = config_lib.default_config()
  config.pretrain.steps, config.finetune.steps = 20, 10
  config.steps_per_epoch = 10
  graph = data.make_csbm(num_nodes=num_nodes, n_clusters=10,
                         num_features=128, avg_degree=10.0,
                         feature_noise=2.0, seed=0)
  run = stages.Run(config, tf.distribute.get_strategy(), work_dir,
                   log=lambda _: None)
  prepared = stages.prepare(config, graph)
  pretrained = stages.pretrain(run, prepared)
  initialised = stages.initialise_centres(run, prepared, pretrained)
  finetuned = stages.finetune(run, prepared, pretrained, initialised)
  export_dir = stages.export(run, prepared, pretrained, finetuned)

  encoder = prepared.mode.serving_encoder(pretrained.encoder)
  task = tasks.DinkClusteringTask(
      stages.NODE_SET, n_clusters=prepared.n_clusters, readout="all_nodes",
      cluster_centers=finetuned.cluster_centers, edge_set_name=stages.EDGE_SET,
      propagation_steps=config.embedding.propagation_steps)
  in_memory = tf.function(lambda g: task.predict(encoder(g)))
  in_memory_ids = in_memory(prepared.graph_tensor)["cluster_id"].numpy()
  in_memory_s = _median_seconds(
      lambda: in_memory(prepared.graph_tensor)["cluster_id"].numpy(), repeats)

  raw = data.to_graph_tensor(graph, node_set_name=stages.NODE_SET,
                             edge_set_name=stages.EDGE_SET,
                             feature_name="feat")
  start = time.perf_counter()
  examples = tf.constant([tfgnn.write_example(raw).SerializeToString()])
  serialize_s = time.perf_counter() - start
  serve = tf.saved_model.load(export_dir).signatures["serving_default"]
  served_ids = serve(examples=examples)["cluster_id"].numpy()
  served_s = _median_seconds(
      lambda: serve(examples=examples)["cluster_id"].numpy(), repeats)
  return {"num_nodes": num_nodes, "num_edges": int(graph.edges.shape[1]),
          "hidden_units": config.model.hidden_units,
          "in_memory_s": in_memory_s, "saved_model_s": served_s,
          "serialize_s": serialize_s,
          "in_memory_nodes_per_s": num_nodes / in_memory_s,
          "saved_model_nodes_per_s": num_nodes / served_s,
          "same_cluster_ids": float(np.mean(in_memory_ids == served_ids))}


def markdown(report):
  lines = [f"Serving, {report['date']}, {report['machine']['cpu']} "
           f"({report['machine']['cpu_count']} cores), commit "
           f"{report['git']['commit'][:10]}; medians of {report['repeats']} "
           "calls, one full graph per call.", "",
           "| nodes | edges | in memory s | SavedModel s | serialize s | in "
           "memory nodes/s | SavedModel nodes/s | same ids |",
           "|---|---|---|---|---|---|---|---|"]
  for r in report["runs"]:
    lines.append(
        f"| {r['num_nodes']:,} | {r['num_edges']:,} | {r['in_memory_s']:.3f} "
        f"| {r['saved_model_s']:.3f} | {r['serialize_s']:.3f} | "
        f"{r['in_memory_nodes_per_s']:,.0f} | "
        f"{r['saved_model_nodes_per_s']:,.0f} | "
        f"{100 * r['same_cluster_ids']:.1f}% |")
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--num_nodes", default="10000,100000")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--results_name", default="serving",
                      help="benchmarks/results/NAME.{json,md}")
  args = parser.parse_args()
  report = {"date": datetime.date.today().isoformat(),
            "machine": side_by_side.machine_info(),
            "git": side_by_side.git_state(), "repeats": args.repeats,
            "runs": []}
  for num_nodes in (int(n) for n in args.num_nodes.split(",")):
    with tempfile.TemporaryDirectory(prefix="dink-serving-") as work_dir:
      report["runs"].append(measure(num_nodes, args.repeats, work_dir))
    side_by_side.save_results(args.results_name, report, markdown(report))
    print(markdown(report), flush=True)


if __name__ == "__main__":
  main()
