"""Command line: `python -m tensorflow_gnn_dink train` (or `tfgnn-dink train`).

With no flags it runs the default Dink-Net recipe on a built-in synthetic
graph and prints the clustering metrics. Examples:

  tfgnn-dink train --model_dir=/tmp/dink
  tfgnn-dink train --config=configs/synthetic.py --seed=3 \\
      --config.finetune.steps=100 --model_dir=/tmp/dink
"""
from __future__ import annotations

import difflib
import errno
import os
import shutil
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
import ml_collections
from ml_collections import config_flags
import tensorflow as tf

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import loaders
from tensorflow_gnn_dink.recipe import pipeline

_COMMANDS = ("train",)
_CONFIG_HELP = (
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
  config = flags.FLAGS.config
  if _SEED.value is not None:
    config.seed = _SEED.value
  temporary = _MODEL_DIR.value is None
  model_dir = _MODEL_DIR.value or tempfile.mkdtemp(prefix="dink-")
  if _DATA.value is not None:
    config.data.path = _DATA.value
  try:
    if _DATA.value is not None and not _DATA.value.strip():
      raise ValueError("--data is empty: pass a graph file or directory, or "
                       "leave --data out for the built-in synthetic graph.")
    config_lib.validate(config)  # Before reading the data.
    if config.data.path:
      graph = loaders.load(config.data.path)
    else:
      graph = data.make_csbm(seed=config.seed, **config.synthetic)
    pipeline.run(config, graph, model_dir, overwrite=_OVERWRITE.value)
  except ValueError as e:
    # Bad input: say what and how to fix in one line, without the flag list;
    # the traceback (in case it is a bug, not bad input) goes to a file.
    if temporary and not os.path.exists(os.path.join(model_dir, "run.json")):
      # Refused before it began: nothing to keep.
      shutil.rmtree(model_dir, ignore_errors=True)
      sys.stderr.write(f"tfgnn-dink: error: {e}\n")
    else:
      sys.stderr.write(f"tfgnn-dink: error: {e}\n{_save_trace(model_dir)}")
    sys.exit(2)
  except (OSError, tf.errors.ResourceExhaustedError) as e:
    if not _is_disk_problem(e):
      raise
    sys.stderr.write(
        f"tfgnn-dink: error: cannot write to {model_dir}: {e}. Free some "
        "space (or make it writable) and run the same command again: the "
        "run resumes after its last completed epoch.\n")
    sys.exit(1)
  except KeyboardInterrupt:
    sys.stderr.write(
        "tfgnn-dink: interrupted. Run the same command with "
        f"--model_dir={model_dir} to resume after the last completed "
        "epoch.\n")
    sys.exit(130)


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
      if field not in fields:
        close = difflib.get_close_matches(field, fields, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return (f"--config.{field}: no such config field.{hint} The fields "
                "and their defaults are in tensorflow_gnn_dink/recipe/"
                "config.py.")
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
    if "before a value for --config" not in str(e):
      raise  # absl reports these itself.
    # ml_collections' FlagOrderError (not exported by its package).
    sys.stderr.write("tfgnn-dink: error: --config.FIELD=VALUE overrides come "
                     "after --config=FILE on the command line: move "
                     "--config=FILE before them.\n")
    sys.exit(2)
  except Exception as e:  # pylint: disable=broad-except
    # Loading --config runs the user's file: anything can go wrong there.
    sys.stderr.write(f"tfgnn-dink: error: {_config_error(e, argv)}\n")
    sys.exit(2)


def run_main() -> None:
  """Entry point of `python -m tensorflow_gnn_dink` and `tfgnn-dink`."""
  # absl's --help shows the main module's docstring.
  main_module = sys.modules["__main__"]
  if not (main_module.__doc__ or "").strip():
    main_module.__doc__ = __doc__
  app.run(main, flags_parser=_parse_flags)
