"""Command line: `python -m tensorflow_gnn_dink train` (or `tfgnn-dink train`).

With no flags it runs the default Dink-Net recipe on a built-in synthetic
graph and prints the clustering metrics. Examples:

  tfgnn-dink train --model_dir=/tmp/dink
  tfgnn-dink train --config=configs/synthetic.py --seed=3 \\
      --config.finetune.steps=100 --model_dir=/tmp/dink
"""
from __future__ import annotations

import os
import sys
import tempfile
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Before TensorFlow loads.
# Before TensorFlow's first op: its BFC allocator keeps freed CPU buffers for
# the next step instead of returning them to the OS and paying page faults
# to get them back (full-graph steps of a 34k-node graph 1.3x faster).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from tensorflow_gnn_dink import _keras_setup  # pylint: disable=g-import-not-at-top

_keras_setup.ensure_legacy_keras()

# pylint: disable=g-import-not-at-top,g-bad-import-order
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags
import tensorflow as tf

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import pipeline

_COMMANDS = ("train",)
_CONFIG = config_flags.DEFINE_config_file(
    "config", config_lib.__file__,
    "A config file (Python, with get_config()), e.g. configs/cora.py; default: "
    "the built-in recipe on a synthetic graph. Override single fields with "
    "--config.FIELD=VALUE, e.g. --config.finetune.steps=100.")
_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None,
    "Where results, checkpoints and the export go (default: a new temporary "
    "directory).")
_DATA = flags.DEFINE_string(
    "data", None,
    "A graph to cluster (overrides config.data.path): a gnn-benchmark .npz, "
    "a Planetoid directory, an OGB dataset directory or a TF-GNN schema "
    ".pbtxt. Default: the built-in synthetic graph.")
_SEED = flags.DEFINE_integer("seed", None, "Overrides config.seed.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False,
    "Start over in a --model_dir that holds a finished run, or a stopped run "
    "of another config or graph (without it, a stopped run of the same "
    "config and graph resumes, and the others are refused).")


def main(argv: list[str]) -> None:
  command = argv[1:] or ["train"]
  if command[0] not in _COMMANDS or len(command) > 1:
    raise app.UsageError(f"Unknown command {' '.join(command)!r}; expected "
                         f"one of {_COMMANDS}.")
  logging.set_verbosity(logging.WARNING)
  tf.get_logger().setLevel("ERROR")
  config = _CONFIG.value
  if _SEED.value is not None:
    config.seed = _SEED.value
  model_dir = _MODEL_DIR.value or tempfile.mkdtemp(prefix="dink-")
  if _DATA.value is not None:
    config.data.path = _DATA.value
  try:
    config_lib.validate(config)  # Before reading the data.
    if config.data.path:
      graph = loaders.load(config.data.path)
    else:
      graph = data.make_csbm(seed=config.seed, **config.synthetic)
    pipeline.run(config, graph, model_dir, overwrite=_OVERWRITE.value)
  except ValueError as e:
    # Bad input: say what and how to fix in one line, without the flag list;
    # the traceback (in case it is a bug, not bad input) goes to a file.
    sys.stderr.write(f"tfgnn-dink: error: {e}\n{_save_trace(model_dir)}")
    sys.exit(2)
  except KeyboardInterrupt:
    sys.stderr.write(
        "tfgnn-dink: interrupted. Run the same command with "
        f"--model_dir={model_dir} to resume after the last completed "
        "epoch.\n")
    sys.exit(130)


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


def run_main() -> None:
  """Entry point of `python -m tensorflow_gnn_dink` and `tfgnn-dink`."""
  # absl's --help shows the main module's docstring.
  main_module = sys.modules["__main__"]
  if not (main_module.__doc__ or "").strip():
    main_module.__doc__ = __doc__
  app.run(main)
