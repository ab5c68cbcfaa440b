"""Command line: `tfgnn-dink COMMAND` (or `python -m tensorflow_gnn_dink`).

  tfgnn-dink train     the Dink-Net recipe on a graph; writes a model dir
  tfgnn-dink predict   cluster ids of a graph from a trained model
  tfgnn-dink evaluate  metrics of saved cluster ids
  tfgnn-dink export    the serving SavedModel of a trained model, again
  tfgnn-dink sample    rooted subgraphs of a graph, with Apache Beam

`tfgnn-dink --help` and `tfgnn-dink COMMAND --help` say more (exit status
0). With no command, `train` runs: the default recipe on a built-in
synthetic graph. Bad input is one line on stderr naming the problem and the
fix, with exit status 2.
"""
from __future__ import annotations

from collections.abc import Iterator
import contextlib
import dataclasses
import difflib
import errno
import json
import os
import shlex
import shutil
import sys
import tempfile
import textwrap
import time
import traceback

# Importing the package first sets the command line's process settings
# (TensorFlow's log level and CPU allocator; `_process_setup`).
from tensorflow_gnn_dink import _keras_setup  # pylint: disable=g-import-not-at-top

_keras_setup.ensure_legacy_keras()

# pylint: disable=g-import-not-at-top,g-bad-import-order
from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags
import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink import export as export_lib
from tensorflow_gnn_dink.recipe import assignments as assignments_lib
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import interrupts
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import model_dir as model_dir_lib
from tensorflow_gnn_dink.recipe import pipeline
from tensorflow_gnn_dink.recipe import sampling
from tensorflow_gnn_dink.recipe import saved_run
from tensorflow_gnn_dink.recipe import stages
from tensorflow_gnn_dink.recipe import strategies

_CONFIG_HELP = (
    "A config file (Python, with get_config()), e.g. configs/cora.py; default: "
    "the built-in recipe on a synthetic graph. Override single fields with "
    "--config.FIELD=VALUE, e.g. --config.finetune.steps=100.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "The run's directory.")
_DATA = flags.DEFINE_string("data", None, "A graph file or directory.")
_SEED = flags.DEFINE_integer("seed", None, "Overrides config.seed.")
_STRATEGY = flags.DEFINE_string("strategy", "default",
                                "The tf.distribute strategy.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "Replace what is there.")
_OUTPUT = flags.DEFINE_string("output", None, "What to write.")
_ASSIGNMENTS = flags.DEFINE_string("assignments", None,
                                   "A node_id,cluster_id CSV.")
_SAMPLES = flags.DEFINE_string("samples", None,
                               "A directory of sampled subgraphs.")
_UNIGRAPH = flags.DEFINE_string("unigraph", None,
                                "A unigraph GraphSchema .pbtxt.")
_FANOUTS = flags.DEFINE_list("fanouts", ["10", "5"], "Edges per hop.")
_NODE_SET = flags.DEFINE_string("node_set", None,
                                "A node set of a many-typed graph.")
_SHARDS = flags.DEFINE_integer("shards", 4, "Output files.")
_BEAM_ARGS = flags.DEFINE_string("beam_args", "",
                                 "Apache Beam pipeline options.")
_GRAPH_FORMATS = ("a gnn-benchmark .npz, a Planetoid directory, an OGB "
                  "dataset directory or a TF-GNN schema .pbtxt")
_DATA_OF_RUN = (f"the graph ({_GRAPH_FORMATS}); default: the graph the run in "
                "--model_dir trained on")
_RUN_DIR = "the --model_dir of a finished train run"


@dataclasses.dataclass(frozen=True)
class _Command:
  summary: str
  usage: str
  flags: dict[str, str]  # Name: what it means for this command.
  details: str = ""


_VERBOSITY = ("-1 quiet (results and errors only), 0 progress (default), 1 "
              "also Keras' metrics per epoch and TensorFlow's own log")
_COMMANDS = {
    "train": _Command(
        "Run the Dink-Net recipe on a graph: pretrain, k-means, fine-tune, "
        "assign, evaluate, export.",
        "tfgnn-dink train [--config=FILE] [--config.FIELD=VALUE ...] "
        "[--data=PATH] [--model_dir=DIR] [--seed=N] [--strategy=NAME] "
        "[--overwrite]",
        {"config": _CONFIG_HELP,
         "data": f"the graph to cluster ({_GRAPH_FORMATS}); default: "
                 "config.data.path, else the built-in synthetic graph",
         "samples": "train on the rooted subgraphs that `tfgnn-dink "
                    "sample` wrote to this directory instead of a --data "
                    "graph in memory (needs --config.n_clusters; writes "
                    "DIR/cluster_ids.csv, DIR/results.json and DIR/export/, "
                    "the SavedModel that serves sampled subgraphs)",
         "model_dir": "where results, checkpoints and the export go; "
                      "default: a new temporary directory",
         "seed": "overrides config.seed",
         "strategy": "the tf.distribute strategy: default, mirrored (local "
                     "GPUs), multi_worker (the cluster in TF_CONFIG: start "
                     "the same command in every worker process; worker 0 "
                     "writes --model_dir, the others DIR/workers/worker_N), "
                     "parameter_server (with --samples: the same command in "
                     "the chief, the workers and the parameter servers of "
                     "TF_CONFIG; the chief writes --model_dir), or tpu "
                     "(with --samples: padded batches)",
         "overwrite": "start over in a --model_dir that holds a finished "
                      "run, or a stopped run of another config or graph "
                      "(without it a stopped run of the same config and "
                      "graph resumes, and the others are refused)"},
        "Writes DIR/results.json (metrics, choices, timings), "
        "DIR/cluster_ids.csv (and .parquet), DIR/export/ (the serving "
        "SavedModel), DIR/checkpoint/, DIR/tensorboard/ (tensorboard "
        "--logdir=DIR/tensorboard) and DIR/plots/. A stopped run resumes when started again with the "
        "same command.\n\nExamples:\n"
        "  tfgnn-dink train --model_dir=/tmp/dink\n"
        "  tfgnn-dink train --config=configs/cora.py "
        "--data=../shared/data/cora/cora.npz --model_dir=/tmp/cora\n"
        "  tfgnn-dink train --config=configs/cora.py "
        "--config.pretrain.steps=400 --seed=3 --model_dir=/tmp/cora3"),
    "predict": _Command(
        "Cluster ids for a graph from the model that train saved.",
        "tfgnn-dink predict --model_dir=DIR --output=FILE.csv [--data=PATH "
        "| --samples=DIR] [--overwrite]",
        {"model_dir": _RUN_DIR, "data": _DATA_OF_RUN,
         "samples": "for a `train --samples` run: the sampled subgraphs to "
                    "assign, streamed through DIR/export in batches "
                    "(default: the samples the run trained on)",
         "output": "the file to write, FILE.csv or FILE.parquet: "
                   "node_id,cluster_id rows (node_id: the graph's own node "
                   "ids where its file names them, else row numbers)",
         "overwrite": "replace an existing --output"},
        "Reads the graph as train reads it, with the run's config; on the "
        "graph train read, FILE.csv equals DIR/cluster_ids.csv. Another "
        "graph must have the features the model was trained on (the same "
        "columns). A `train --samples` run assigns the roots of sampled "
        "subgraphs instead, a batch at a time, so memory does not grow with "
        "the graph; on the samples train read, FILE.csv equals "
        "DIR/cluster_ids.csv.\n\nExamples:\n"
        "  tfgnn-dink predict --model_dir=/tmp/cora "
        "--data=../shared/data/cora/cora.npz --output=/tmp/cora_ids.csv\n"
        "  tfgnn-dink predict --model_dir=/tmp/cora_sampled "
        "--samples=/tmp/cora_samples --output=/tmp/cora_ids.csv"),
    "evaluate": _Command(
        "Metrics of saved cluster ids: ACC/NMI/ARI/F1 against the graph's "
        "labels where it has them; modularity, conductance and non-empty "
        "clusters always.",
        "tfgnn-dink evaluate [--assignments=FILE.csv] [--model_dir=DIR] "
        "[--data=PATH] [--node_set=NAME] [--output=FILE.json] [--overwrite]",
        {"assignments": "node_id,cluster_id rows, a .csv or .parquet file "
                        "(as train and predict write them); default: "
                        "cluster_ids.csv of --model_dir",
         "model_dir": _RUN_DIR + " (for its assignments and graph)",
         "data": _DATA_OF_RUN,
         "node_set": "the node set that the assignments are of, for a "
                     "--data graph of several node sets (default: the "
                     "run's)",
         "output": "also write the metrics to this JSON file",
         "overwrite": "replace an existing --output"},
        "Give --assignments and --data, or --model_dir, or both. Prints the "
        "metrics as JSON.\n\nExample:\n"
        "  tfgnn-dink evaluate --assignments=/tmp/cora_ids.csv "
        "--data=../shared/data/cora/cora.npz"),
    "export": _Command(
        "Write the serving SavedModel of a trained model to a new directory.",
        "tfgnn-dink export --model_dir=DIR --output=EXPORT_DIR [--data=PATH] "
        "[--overwrite]",
        {"model_dir": _RUN_DIR,
         "output": "the directory of the SavedModel",
         "data": _DATA_OF_RUN + " (it sets the features' format)",
         "overwrite": "replace an existing SavedModel at --output"},
        "The same model as DIR/export: it takes serialized GraphTensors with "
        "the features as train read them (see the README's serving "
        "section).\n\nExample:\n"
        "  tfgnn-dink export --model_dir=/tmp/cora --output=/tmp/serving/1"),
    "sample": _Command(
        "Sample one rooted subgraph per node with TF-GNN's Apache Beam "
        "sampler, for `train --samples`.",
        "tfgnn-dink sample (--data=PATH | --unigraph=SCHEMA.pbtxt) "
        "--output=DIR [--node_set=NAME] [--fanouts=10,5] [--shards=4] "
        "[--beam_args=OPTIONS]",
        {"data": f"a graph file ({_GRAPH_FORMATS}), read into memory and "
                 "written as a unigraph in DIR.unigraph/ first",
         "unigraph": "a graph already in TF-GNN's unigraph files (a "
                     "GraphSchema .pbtxt naming tf.Example TFRecords of "
                     "nodes with #id and feat, and edges with #source and "
                     "#target), never read into this process",
         "output": "a new directory for the subgraphs (sharded TFRecords "
                   "of GraphTensors) and their schema.pbtxt",
         "node_set": "the node set whose nodes are the roots, for a graph "
                     "of several node sets (each hop then samples along "
                     "every edge set; train --samples clusters this node "
                     "set)",
         "fanouts": "edges sampled per node (and edge set) at each hop "
                    "(train --samples uses two hops)",
         "shards": "output files (at least the number of input pipelines "
                   "that will train on them)",
         "beam_args": "Apache Beam pipeline options, e.g. "
                      "'--runner=DataflowRunner --project=P --region=R "
                      "--temp_location=gs://B/tmp'; default: the "
                      "DirectRunner in this process"},
        "The directory appears when sampling has finished (a stopped run "
        "leaves none).\n\nExample:\n"
        "  tfgnn-dink sample --data=../shared/data/cora/cora.npz "
        "--output=/tmp/cora_samples\n"
        "  tfgnn-dink train --samples=/tmp/cora_samples "
        "--config.n_clusters=7 --model_dir=/tmp/cora_sampled\n"
        "  tfgnn-dink sample --data=/tmp/citation/schema.pbtxt "
        "--node_set=paper --output=/tmp/paper_samples"),
}
_DEFAULT_COMMAND = "train"


def _config_fields_help() -> str:
  lines = [_wrapped("config fields (--config.FIELD=VALUE; the defaults of the "
                    "built-in config, which configs/*.py change in part):")]
  for field, value in config_lib.flatten(config_lib.default_config()).items():
    lines.append(f"  --config.{field}={value!r}")
    lines.append(_wrapped("      " + config_lib.FIELD_HELP[field]))
  return "\n".join(lines)


def help_text(command: str | None) -> str:
  """What `tfgnn-dink [COMMAND] --help` prints."""
  if command not in _COMMANDS:
    width = max(map(len, _COMMANDS))
    listing = "\n".join(
        _wrapped(f"  {name.ljust(width)}  {c.summary}",
                 indent=" " * (width + 2)) for name, c in _COMMANDS.items())
    return (f"Dink-Net graph clustering for TF-GNN.\n\n"
            f"usage: tfgnn-dink COMMAND [flags]\n\ncommands:\n{listing}\n\n"
            "`tfgnn-dink COMMAND --help` shows a command's flags; with no "
            "command, train runs\n(the default recipe on a built-in "
            "synthetic graph).\n")
  spec = _COMMANDS[command]
  flag_lines = [_wrapped(f"  --{name}: {text}", indent="    ")
                for name, text in {**spec.flags,
                                   "verbosity": _VERBOSITY}.items()]
  parts = [_wrapped(spec.summary), _wrapped(f"usage: {spec.usage}",
                                           indent="    "),
           "flags:\n" + "\n".join(flag_lines),
           "\n".join(_wrapped(line, indent="    " if line[:1] == " " else "")
                     for line in spec.details.splitlines())]
  if command == "train":
    parts.append(_config_fields_help())
  return "\n\n".join(p for p in parts if p) + "\n"


def _wrapped(text: str, indent: str = "") -> str:
  lead = text[:len(text) - len(text.lstrip())]
  return textwrap.fill(text, width=79, subsequent_indent=lead + indent,
                       break_on_hyphens=False) if text else ""


_HELP_FLAGS = ("-h", "--help", "-?", "--helpshort", "--helpfull")


def _command_of(argv: list[str]) -> str | None:
  # The first command name (a flag's value given as `--flag VALUE` is no
  # command).
  return next((a for a in argv[1:] if a in _COMMANDS), None)


def _fail(message: str, status: int = 2) -> None:
  sys.stderr.write(f"tfgnn-dink: error: {message}\n")
  sys.stderr.flush()
  sys.exit(status)


def _check_flags(command: str, argv: list[str]) -> None:
  """Refuses flags that the command does not read (they would be ignored).

  `argv`: the whole command line (absl's `main` gets only what is left).
  """
  allowed = set(_COMMANDS[command].flags)
  known = set().union(*(c.flags for c in _COMMANDS.values())) - {"config"}
  given = {name for name in known if flags.FLAGS[name].present}
  if any(a.startswith("--config") for a in argv[1:]):
    given.add("config")
  extra = sorted(given - allowed)
  if extra:
    hint = (" (predict, evaluate and export use the config saved in "
            "--model_dir)" if "config" in extra or "seed" in extra else "")
    _fail(f"{command} does not take {', '.join('--' + e for e in extra)}"
          f"{hint}: see tfgnn-dink {command} --help.")


def main(argv: list[str]) -> None:
  positional = argv[1:]
  command = positional[0] if positional else _DEFAULT_COMMAND
  if command not in _COMMANDS or len(positional) > 1:
    close = difflib.get_close_matches(" ".join(positional), _COMMANDS, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    _fail(f"Unknown command {' '.join(positional)!r}.{hint} Commands: "
          f"{', '.join(_COMMANDS)} (tfgnn-dink --help).")
  verbosity = (flags.FLAGS["verbosity"].value
               if flags.FLAGS["verbosity"].present else 0)
  logging.set_verbosity(logging.INFO if verbosity > 0 else logging.WARNING)
  tf.get_logger().setLevel("INFO" if verbosity > 0 else "ERROR")
  _check_flags(command, sys.argv)
  {"train": _train, "predict": _predict, "evaluate": _evaluate,
   "export": _export, "sample": _sample}[command](verbosity)


def _say(verbosity: int):
  def log(line: str) -> None:
    if verbosity >= 0:
      print(line, flush=True)
  return log


def _strategy() -> tf.distribute.Strategy:
  """The --strategy, created before any other TensorFlow op (as
  MultiWorkerMirroredStrategy needs)."""
  if _STRATEGY.value == "parameter_server":
    if _SAMPLES.value is None:
      _fail("--strategy=parameter_server trains on sampled subgraphs: "
            "tfgnn-dink sample --data=PATH --output=DIR, then tfgnn-dink "
            "train --samples=DIR --strategy=parameter_server in every task "
            "of TF_CONFIG (the in-memory recipe embeds and clusters the "
            "graph between its training stages, outside runner.run); or use "
            "--strategy=multi_worker.")
    try:
      task = strategies.tf_config().get("task")
    except ValueError as e:
      _fail(str(e))
    task_type = task.get("type") if isinstance(task, dict) else None
    # Without a task, make_strategy says what TF_CONFIG needs.
    if task_type not in (None, "chief"):  # Workers and servers serve.
      _say(0)(f"[dink] {task_type} of the parameter-server cluster: serving")
      strategies.serve()
  try:
    return strategies.make_strategy(_STRATEGY.value)
  except ValueError as e:
    _fail(str(e))
  raise AssertionError("unreachable")


def _train(verbosity: int) -> None:
  if _STRATEGY.value == "tpu" and _SAMPLES.value is None:
    _fail("--strategy=tpu trains on sampled subgraphs (fixed-size padded "
          "batches; the recipe's full-graph and node-row training are not "
          "padded for TPU): tfgnn-dink sample --data=PATH --output=DIR, then "
          "tfgnn-dink train --samples=DIR --strategy=tpu ...")
  strategy = _strategy()
  config = flags.FLAGS.config
  if _SEED.value is not None:
    config.seed = _SEED.value
  temporary = _MODEL_DIR.value is None
  model_dir = root_dir = _MODEL_DIR.value or tempfile.mkdtemp(prefix="dink-")
  if not strategies.is_chief(strategy):
    # Trains in step with the chief, which writes --model_dir.
    resolver = strategy.cluster_resolver
    model_dir = os.path.join(model_dir, "workers",
                             f"{resolver.task_type}_{resolver.task_id}")
  if _DATA.value is not None:
    config.data.path = _DATA.value
  if config.data.path and config.data.path.strip():
    # As run.json records it: predict, evaluate and export, run from
    # another directory, read the same graph.
    config.data.path = os.path.abspath(config.data.path)
  if _SAMPLES.value is not None:
    _train_sampled(config, model_dir, strategy, verbosity)
    return
  interrupts.install()  # Ctrl-C stops the run even if Python swallows it.
  try:
    config_lib.validate(config)  # Before reading the data.
    # The only reference to the graph as read: `run` frees its features
    # once processed.
    results = pipeline.run(config, _with_config_hint(
        saved_run.read_graph(config, _DATA.value), _say(verbosity)),
                           model_dir, strategy=strategy,
                           overwrite=_OVERWRITE.value, log=_say(verbosity),
                           verbosity=verbosity)
    if verbosity < 0:
      print(f"{model_dir}: {stages.format_metrics(results['metrics'])}")
  except ValueError as e:
    # Bad input: say what and how to fix in one line, without the flag list;
    # the traceback (in case it is a bug, not bad input) goes to a file.
    if temporary and not os.path.exists(os.path.join(model_dir, "run.json")):
      # Refused before it began: nothing to keep.
      shutil.rmtree(root_dir, ignore_errors=True)
      _fail(str(e))
    sys.stderr.write(f"tfgnn-dink: error: {e}\n{_save_trace(model_dir)}")
    sys.exit(2)
  except (OSError, tf.errors.ResourceExhaustedError) as e:
    if not _is_disk_problem(e):
      raise
    _fail(f"cannot write to {model_dir}: {e}. Free some space (or make it "
          "writable) and run the same command again: the run resumes after "
          "its last completed epoch.", status=1)
  except KeyboardInterrupt:
    sys.stderr.write(
        "tfgnn-dink: interrupted. Run the same command with "
        f"--model_dir={model_dir} to resume after the last completed "
        "epoch.\n")
    sys.exit(130)


def _with_config_hint(graph, say):
  """`graph`, after pointing to configs/heterogeneous.py where a graph of
  many node sets runs without a config file."""
  if (isinstance(graph, heterogeneous.HeterogeneousGraph) and
      not any(a.startswith("--config=") for a in sys.argv[1:])):
    say(f"[dink] {graph.name} has several node sets, and the default config "
        "is Dink-Net's for its GCN on one: start from --config=configs/"
        "heterogeneous.py (measured better: README, \"Many node sets\")")
  return graph


def _train_sampled(config: ml_collections.ConfigDict, model_dir: str,
                   strategy: tf.distribute.Strategy, verbosity: int) -> None:
  """`train --samples`: the recipe on sampled subgraphs (`sampling`)."""
  if _DATA.value is not None:
    _fail("train takes --samples or --data, not both.")
  say = _say(verbosity)
  with _bad_input():
    config_lib.validate(config)
    output = os.path.join(model_dir, "cluster_ids.csv")
    if os.path.exists(output) and not _OVERWRITE.value:
      raise ValueError(f"{model_dir} holds a finished run: pass --overwrite "
                       "to start over, or choose another --model_dir.")
    ignored = sampling.unused_settings(config)
    if ignored:
      say(f"[dink] not read when training on samples: "
          f"{', '.join('config.' + f for f in ignored)}")
    start = time.time()
    export_dir = os.path.join(model_dir, "export")
    ids, clusters, facts = sampling.cluster_samples(
        _SAMPLES.value, config, model_dir=os.path.join(model_dir, "sampled"),
        output=output, strategy=strategy, export_dir=export_dir, log=say)
    say("[dink] serving signature: "
        + export_lib.describe_serving_signature(export_dir))
    sizes = np.bincount(clusters, minlength=config.n_clusters)
    results = {"samples": os.path.abspath(_SAMPLES.value),
               "export": os.path.abspath(export_dir),
               "num_nodes": len(ids), "n_clusters": config.n_clusters,
               "cluster_sizes": sizes.tolist(), **facts,
               "not_read": ignored,
               "total_seconds": round(time.time() - start, 1),
               "config": json.loads(config.to_json())}
    _files.write_json_atomically(os.path.join(model_dir, "results.json"),
                                 results)
  node_set = ("" if facts["node_set"] == sampling.NODE_SET else
              f" --node_set={facts['node_set']}")
  say(f"[dink] {model_dir}: {len(ids)} nodes in {int((sizes > 0).sum())} "
      f"clusters (evaluate with tfgnn-dink evaluate --assignments={output} "
      f"--data=...{node_set})")


def _sample(verbosity: int) -> None:
  output = _need(_OUTPUT, "sample", "/tmp/samples")
  if (_DATA.value is None) == (_UNIGRAPH.value is None):
    _fail("sample needs one of --data=PATH (a graph file) or "
          "--unigraph=SCHEMA.pbtxt (tfgnn-dink sample --help).")
  if os.path.exists(output) and (not os.path.isdir(output) or
                                 os.listdir(output)):
    _fail(f"--output {output} exists: choose a new directory.")
  try:
    fanouts = [int(f) for f in _FANOUTS.value]
    sampling.check_fanouts(fanouts)
  except ValueError:
    _fail(f"--fanouts={','.join(_FANOUTS.value)}: give positive integers, "
          "one per hop, e.g. --fanouts=10,5.")
  if _SHARDS.value < 1:
    _fail(f"--shards={_SHARDS.value}: give at least 1.")
  say = _say(verbosity)
  with _bad_input():
    schema, node_set = _UNIGRAPH.value, _NODE_SET.value
    if schema is None:
      config = config_lib.default_config()
      config.node_set = node_set
      graph = saved_run.read_graph(config, _DATA.value)
      if node_set and not isinstance(graph, heterogeneous.HeterogeneousGraph):
        raise ValueError(f"--node_set={node_set}: {_DATA.value} is a graph "
                         "of one node set; leave --node_set out.")
      schema = sampling.write_unigraph(graph, output.rstrip("/") +
                                       ".unigraph")
      say(f"[dink] wrote {graph.name} ({graph.num_nodes} nodes to sample "
          f"from) as a unigraph: {schema}")
    start = time.time()
    sampling.sample(schema, output, fanouts=fanouts, num_shards=_SHARDS.value,
                    pipeline_args=shlex.split(_BEAM_ARGS.value),
                    node_set_name=node_set)
  say(f"[dink] sampled {output} ({_SHARDS.value} files, fanouts "
      f"{fanouts}) in {time.time() - start:.1f} s")


def _need(flag: flags.FlagHolder, command: str, example: str) -> str:
  if not flag.value:
    _fail(f"{command} needs --{flag.name}, e.g. --{flag.name}={example} "
          f"(tfgnn-dink {command} --help).")
  return flag.value


def _check_output(path: str) -> None:
  if os.path.lexists(path) and not _OVERWRITE.value:
    _fail(f"--output {path} exists: pass --overwrite to replace it, or "
          "choose another --output.")
  # Missing directories are created; one that is a file cannot be.
  ancestor = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    _fail(f"--output {path}: {ancestor} is a file, not a directory: "
          "choose another --output.")


def _graph_of_run(config: ml_collections.ConfigDict, model_dir: str):
  """The graph of --data, else the one the run in `model_dir` read."""
  try:
    return saved_run.read_graph(config, _DATA.value)
  except ValueError as e:
    if _DATA.value is not None:
      raise
    raise ValueError(f"{e} (This is the graph the run in {model_dir} "
                     "trained on: pass --data=PATH.)") from e


def _restored(model_dir: str, verbosity: int) -> saved_run.Restored:
  config = saved_run.load_config(model_dir)
  graph = _graph_of_run(config, model_dir)
  _say(verbosity)(f"[dink] graph {graph.name}: {graph.num_nodes} nodes; "
                  f"model of {model_dir}")
  return saved_run.restore(model_dir, graph, config)


def _predict(verbosity: int) -> None:
  output = _need(_OUTPUT, "predict", "cluster_ids.csv")
  model_dir = _need(_MODEL_DIR, "predict", "/tmp/dink")
  _check_output(output)
  if os.path.isdir(output):
    _fail(f"--output {output} is a directory: name a CSV file.")
  with _bad_input():
    assignments_lib.format_of(output)  # Before any work.
    samples = _samples_of_run(model_dir)
    if samples is not None:
      _predict_samples(model_dir, samples, output, verbosity)
      return
    restored = _restored(model_dir, verbosity)
    cluster_ids = saved_run.predict(restored)
    with _writing(output):
      assignments_lib.write(output, cluster_ids,
                        restored.prepared.graph.node_ids)
  _say(verbosity)(f"[dink] wrote {output} ({len(cluster_ids)} nodes, "
                  f"{len(set(cluster_ids.tolist()))} clusters)")


def _samples_of_run(model_dir: str) -> str | None:
  """--samples, or those a `train --samples` run in `model_dir` read; None
  for a run on a whole graph."""
  results_file = os.path.join(model_dir, "results.json")
  record = (model_dir_lib.read_json(results_file)
            if os.path.isfile(results_file) else None)
  trained_on = record.get("samples") if isinstance(record, dict) else None
  if _SAMPLES.value is not None:
    if _DATA.value is not None:
      raise ValueError("predict takes --samples or --data, not both.")
    if trained_on is None:
      raise ValueError(
          f"{model_dir} was trained on a whole graph, not on sampled "
          "subgraphs: pass --data=PATH instead of --samples.")
    return _SAMPLES.value
  if trained_on is not None and _DATA.value is not None:
    raise ValueError(
        f"{model_dir} was trained on sampled subgraphs ({trained_on}): "
        "pass --samples=DIR (subgraphs written by tfgnn-dink sample) "
        "instead of --data.")
  return trained_on


def _predict_samples(model_dir: str, samples: str, output: str,
                     verbosity: int) -> None:
  """`predict` of a `train --samples` run: streams `samples` through its
  export."""
  ids, clusters = sampling.serve_samples(os.path.join(model_dir, "export"),
                                         samples)
  with _writing(output):
    assignments_lib.write(output, clusters, node_ids=ids)
  _say(verbosity)(f"[dink] wrote {output} ({len(ids)} roots of {samples}, "
                  f"{len(set(clusters.tolist()))} clusters)")


def _evaluate(verbosity: int) -> None:
  model_dir, assignments = _MODEL_DIR.value, _ASSIGNMENTS.value
  if not (model_dir or (assignments and _DATA.value)):
    _fail("evaluate needs --assignments=FILE.csv and --data=PATH, or "
          "--model_dir=DIR of a finished run (tfgnn-dink evaluate --help).")
  if _OUTPUT.value:
    _check_output(_OUTPUT.value)
  with _bad_input():
    if model_dir:
      config = saved_run.load_config(model_dir)
      assignments = assignments or os.path.join(model_dir,
                                                "cluster_ids.csv")
    else:
      config = config_lib.default_config()
    if _NODE_SET.value:
      config.node_set = _NODE_SET.value
    graph = (_graph_of_run(config, model_dir) if model_dir else
             saved_run.read_graph(config, _DATA.value))
    metrics = saved_run.evaluate(graph, assignments_lib.read(assignments,
                                                             graph))
    if _OUTPUT.value:
      with _writing(_OUTPUT.value):
        _files.write_json_atomically(_OUTPUT.value, metrics)
  del verbosity  # The metrics are the output.
  print(json.dumps(metrics, indent=2, sort_keys=True))


def _export(verbosity: int) -> None:
  output = _need(_OUTPUT, "export", "/tmp/serving/1")
  model_dir = _need(_MODEL_DIR, "export", "/tmp/dink")
  _check_output(output)
  if os.path.lexists(output) and not os.path.exists(
      os.path.join(output, "saved_model.pb")):  # Only with --overwrite.
    _fail(f"--output {output} exists and is not a SavedModel: choose "
          "another --output (--overwrite replaces SavedModels only).")
  with _bad_input():
    restored = _restored(model_dir, verbosity)
    with _writing(output):
      saved_run.export(restored, output)
  _say(verbosity)(f"[dink] wrote the serving SavedModel to {output}: "
                  + export_lib.describe_serving_signature(output))


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
  """An OSError while writing `path`: one line naming it, status 1."""
  try:
    yield
  except OSError as e:
    _fail(f"cannot write {path}: {e.strerror or e}. Check the directory "
          "and its permissions, or free some space.", status=1)


class _bad_input:  # pylint: disable=invalid-name
  """Bad input (a ValueError naming its fix) or a file that cannot be read
  or written (OSError): one line, status 2; Ctrl-C: one line, status 130."""

  def __enter__(self):
    return self

  def __exit__(self, kind, value, tb):
    if kind is None:
      return False
    if issubclass(kind, ValueError):
      _fail(str(value))
    if issubclass(kind, OSError):
      _fail(f"{value.strerror or value}: {value.filename or ''}".rstrip(": ")
            + ". Check the path and its permissions.")
    if issubclass(kind, KeyboardInterrupt):
      _fail("interrupted; nothing was written.", status=130)
    return False


def _is_disk_problem(error: Exception) -> bool:
  """A full or read-only disk: nothing is lost, the run resumes later."""
  if isinstance(error, OSError):
    return error.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
  return "No space left on device" in str(error)


def _save_trace(model_dir: str) -> str:
  """Saves the current traceback in `model_dir/error.txt`; says where."""
  if not os.path.isdir(model_dir) or os.path.exists(
      os.path.join(model_dir, "results.json")):
    return ""  # Not ours to write into.
  trace_file = os.path.join(model_dir, "error.txt")
  try:
    with open(trace_file, "w") as f:
      f.write(traceback.format_exc())
  except OSError:
    return ""
  return f"(traceback: {trace_file})\n"


def _config_error(error: Exception, argv: list[str]) -> str:
  """What went wrong loading `--config` or applying `--config.FIELD=`."""
  path = next((a.split("=", 1)[1] for a in argv
               if a.startswith("--config=")), config_lib.__file__)
  if isinstance(error, SyntaxError):
    return (f"the config file {path} does not parse: {error.msg} (line "
            f"{error.lineno}). Fix it, or pass another --config.")
  if isinstance(error, OSError):
    return (f"cannot load the config file {path}: it does not exist, cannot "
            "be read, or its get_config() returns no ConfigDict. Pass "
            "--config=FILE.py, a Python file whose get_config() returns an "
            "ml_collections.ConfigDict (e.g. configs/cora.py).")
  if isinstance(error, AttributeError) and "get_config" in str(error):
    return (f"the config file {path} has no get_config(): define "
            "get_config() returning an ml_collections.ConfigDict (e.g. "
            "start from configs/cora.py).")
  fields = set(config_lib.flatten(config_lib.default_config()))
  for arg in argv:
    if arg.startswith("--config."):
      field = arg[len("--config."):].split("=", 1)[0]
      if field.startswith("model.hparams.") and field not in fields:
        name = field[len("model.hparams."):]
        return (f"--config.{field}: the config file sets no such "
                "hyperparameter. config.model.hparams holds the encoder's "
                "own TF-GNN hyperparameters: set them in a config file, "
                "config.model.hparams = ml_collections.ConfigDict(dict("
                f"{name}=...)) (see configs/heterogeneous.py); then "
                f"--config.{field}=VALUE overrides it.")
      if field not in fields:
        close = difflib.get_close_matches(field, fields, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return (f"--config.{field}: no such config field.{hint} "
                "`tfgnn-dink train --help` lists the fields and their "
                "defaults.")
  return f"the config could not be loaded: {type(error).__name__}: {error}"


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing; a config that does not load is a one-line error."""
  try:
    # Defined here, not at import: defining it loads the default config and
    # applies the --config.FIELD overrides, which can fail.
    config_flags.DEFINE_config_file("config", config_lib.__file__,
                                    _CONFIG_HELP)
    args = flags.FLAGS(argv)
    if not isinstance(flags.FLAGS.config, ml_collections.ConfigDict):
      # ml_collections defers a file that does not load to its first use.
      raise OSError(f"get_config() gave {type(flags.FLAGS.config)}")
    return args
  except flags.Error as e:
    if "before a value for --config" in str(e):
      # ml_collections' FlagOrderError (not exported by its package).
      _fail("--config.FIELD=VALUE overrides come after --config=FILE on the "
            "command line: move --config=FILE before them.")
    _fail(f"{e} (tfgnn-dink --help)")
  except Exception as e:  # pylint: disable=broad-except
    # Loading --config runs the user's file: anything can go wrong there.
    _fail(_config_error(e, argv))
  raise AssertionError("unreachable")


def run_main() -> None:
  """Entry point of `python -m tensorflow_gnn_dink` and `tfgnn-dink`."""
  sys.stdout.reconfigure(line_buffering=True)  # Progress shows when piped.
  if any(a in _HELP_FLAGS or a.startswith(("--help=", "--helpfull="))
         for a in sys.argv[1:]):
    sys.stdout.write(help_text(_command_of(sys.argv)))
    sys.exit(0)
  app.run(main, flags_parser=_parse_flags)
