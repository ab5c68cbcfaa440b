"""A model directory between runs: what a stopped run left, and resuming it.

`pipeline.run` keeps in its model directory, besides its results:

  * `run.json`: the config and a fingerprint of the graph, written before
    any training. A run started again in the same directory must match them;
  * `pretrain/snapshots/`, `finetune/snapshots/`: the state after every
    epoch (the selection's candidates), one `.npz` file each;
  * `pretrain/backup/`, `finetune/backup/`: the runner's
    `BackupAndRestore` state, so that an epoch cut short restarts from the
    last completed one;
  * `initialise_centres.npz`, `finetune/choice.json`: the stages' choices.

Started again after a crash, a kill or Ctrl-C with the same config and
graph, a run continues after its last completed epoch; with another config
or graph it is refused, and so is a finished run (`results.json` present):
`overwrite=True` deletes what this package wrote there and starts over.
Every file is written atomically, so a file that exists is whole.

A resumed run restores the encoder, the centres and the optimizer; the
weights of the pretraining task's own heads are kept only within one
process, so a fine-tune that trains the encoder beside the discrimination
loss (`finetune.discrimination_loss_weight > 0`, not the default) starts
those heads afresh when resumed after pretraining.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import ml_collections
import numpy as np
import scipy.sparse as sp

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import heterogeneous

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
# What `pipeline.run` writes; `overwrite` deletes these and nothing else.
OWNED = (RUN_FILE, "pretrain", "initialise_centres.npz", "finetune",
         "export", "checkpoint", "tensorboard", "plots", RESULTS_FILE,
         "cluster_ids.csv", "cluster_ids.parquet", "error.txt")
# Config fields that do not change what a run computes.
_NOT_COMPARED = ("check_memory", "data.path", "plots")


def graph_fingerprint(graph: data.Graph | heterogeneous.HeterogeneousGraph
                      ) -> dict[str, Any]:
  """Sizes and a digest of edges, features, labels: equal for equal graphs."""
  digest = hashlib.blake2b(digest_size=16)
  if isinstance(graph, heterogeneous.HeterogeneousGraph):
    return _heterogeneous_fingerprint(graph, digest)
  features = graph.features
  arrays = ([features.data, features.indices, features.indptr]
            if sp.issparse(features) else [features])
  labels = [] if graph.labels is None else [graph.labels]
  for array in (graph.edges, *arrays, *labels):
    digest.update(np.ascontiguousarray(array))  # A view: no copy.
  return dict(name=graph.name, num_nodes=graph.num_nodes,
              num_edges=int(graph.edges.shape[1]),
              num_features=graph.num_features, digest=digest.hexdigest())


def _heterogeneous_fingerprint(graph: heterogeneous.HeterogeneousGraph,
                               digest) -> dict[str, Any]:
  """`graph_fingerprint` of every node and edge set, by name."""
  tensor = graph.graph_tensor
  for name, node_set in sorted(tensor.node_sets.items()):
    digest.update(name.encode())
    for feature in sorted(node_set.features):
      digest.update(np.ascontiguousarray(np.asarray(node_set[feature])))
  for name, edge_set in sorted(tensor.edge_sets.items()):
    adjacency = edge_set.adjacency
    digest.update(f"{name}:{adjacency.source_name}:{adjacency.target_name}"
                  .encode())
    for index in (adjacency.source, adjacency.target):
      digest.update(np.ascontiguousarray(np.asarray(index, np.int64)))
  if graph.labels is not None:
    digest.update(np.ascontiguousarray(graph.labels))
  return dict(name=graph.name, node_set=graph.node_set_name,
              num_nodes={n: int(s.total_size)
                         for n, s in sorted(tensor.node_sets.items())},
              num_edges={n: int(s.total_size)
                         for n, s in sorted(tensor.edge_sets.items())},
              digest=digest.hexdigest())


def _compared(config: Mapping[str, Any]) -> dict[str, Any]:
  # Through JSON, as stored: tuples become lists.
  flat = json.loads(json.dumps(config_lib.flatten(config)))
  return {k: v for k, v in flat.items() if k not in _NOT_COMPARED}


def _check_is_directory(model_dir: str) -> None:
  if os.path.exists(model_dir) and not os.path.isdir(model_dir):
    raise ValueError(f"--model_dir {model_dir} is a file, not a directory: "
                     "give a directory (it is created if missing).")
  try:
    os.makedirs(model_dir, exist_ok=True)
  except OSError as e:
    raise ValueError(f"Cannot create the model directory {model_dir}: "
                     f"{e.strerror}. Choose a --model_dir you can write to."
                     ) from e


def start(model_dir: str, config: ml_collections.ConfigDict,
          graph: data.Graph, *, overwrite: bool = False,
          log: Callable[[str], None] = print) -> bool:
  """Prepares `model_dir` for a run; returns whether it resumes one.

  Args:
    model_dir: The run's directory (created if missing).
    config: The run's config.
    graph: The graph it clusters.
    overwrite: Delete what an earlier run wrote (the `OWNED` entries only)
      and start over.
    log: Where to say what was found.

  Raises:
    ValueError: `model_dir` is a file or cannot be written; or it holds a
      finished run, or one of another config or graph, and not `overwrite`.
  """
  _check_is_directory(model_dir)
  run_file = os.path.join(model_dir, RUN_FILE)
  record = dict(config=config.to_dict(), graph=graph_fingerprint(graph))
  exists = lambda name: os.path.exists(os.path.join(model_dir, name))
  resumed = False
  if not (exists(RUN_FILE) or exists(RESULTS_FILE)):
    # Not a run of this recipe: what is there is the user's, not ours.
    foreign = [n for n in OWNED if n != "error.txt" and exists(n)]
    if foreign:
      raise ValueError(
          f"{model_dir} already holds {', '.join(foreign)}, not written by "
          "a run of this recipe (no run.json): choose another --model_dir, "
          "or move them away.")
  elif overwrite:
    for name in OWNED:
      path = os.path.join(model_dir, name)
      if os.path.isdir(path):
        shutil.rmtree(path)
      elif os.path.exists(path):
        os.remove(path)
  elif exists(RESULTS_FILE):
    raise ValueError(
        f"{model_dir} holds a finished run ({RESULTS_FILE}): pass "
        "--overwrite to train again there (its results, checkpoint and "
        "export are replaced), or choose another --model_dir.")
  else:
    _check_same_run(model_dir, read_json(run_file), record)
    _remove_partial_files(model_dir)
    log(f"[dink] resuming the run in {model_dir} (same config and graph)")
    resumed = True
  try:  # Also on resume: finds a directory that became read-only.
    _files.write_json_atomically(run_file, record)
  except OSError as e:
    hint = ("free some space or choose another --model_dir"
            if e.errno == errno.ENOSPC else "choose a --model_dir you can "
            "write to")
    raise ValueError(f"Cannot write to the model directory {model_dir}: "
                     f"{e.strerror}; {hint}.") from e
  return resumed


def _remove_partial_files(model_dir: str) -> None:
  """Removes what a stopped atomic write left (`_files`' temporary names)."""
  for root, dirs, files in os.walk(model_dir):
    for name in dirs + files:
      if name.startswith((".tmp-", ".staging-")):
        path = os.path.join(root, name)
        if os.path.isdir(path):
          shutil.rmtree(path, ignore_errors=True)
        else:
          os.remove(path)


def read_json(path: str) -> Any:
  """The JSON in `path`; a ValueError naming the file if it is damaged."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path} is not readable JSON ({e}): delete it to redo "
                     "what it saved, or pass --overwrite to start over."
                     ) from e


def _check_same_run(model_dir: str, stored: Any, record: dict[str, Any]
                    ) -> None:
  if not isinstance(stored, dict) or {"config", "graph"} - set(stored):
    raise ValueError(f"{model_dir}/{RUN_FILE} is not a run record: pass "
                     "--overwrite to start over.")
  if stored["graph"] != record["graph"]:
    raise ValueError(
        f"{model_dir} holds a run on another graph ({stored['graph']}, now "
        f"{record['graph']}; the built-in synthetic graph depends on the "
        "seed and config.synthetic): pass --overwrite to start over there, "
        "or choose another --model_dir.")
  old, new = _compared(stored["config"]), _compared(record["config"])
  changed = sorted(k for k in old.keys() | new.keys()
                   if old.get(k) != new.get(k))
  if changed:
    diffs = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
                      for k in changed[:5])
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    raise ValueError(
        f"{model_dir} holds an unfinished run of another config ({diffs}"
        f"{more}): run the same command as before to resume it, pass "
        "--overwrite to start over there, or choose another --model_dir.")


def save_arrays(path: str, arrays: Mapping[str, np.ndarray]) -> None:
  """Saves named arrays as `.npz` atomically (no pickles)."""
  _files.write_atomically(path, lambda f: np.savez(f, **arrays), binary=True)


def load_arrays(path: str) -> dict[str, np.ndarray]:
  """The arrays `save_arrays` wrote (never unpickles).

  Raises:
    ValueError: the file is not a whole `.npz` of numeric arrays (only a
      hand-edited or damaged file can be: writes are atomic).
  """
  try:
    with np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(
        f"{path} is damaged ({type(e).__name__}: {e}): delete it to redo "
        "what it saved, or pass --overwrite to start over.") from e


def finish(model_dir: str) -> None:
  """Drops what only a resumed run needs, once the results are written."""
  for stage in ("pretrain", "finetune"):
    shutil.rmtree(os.path.join(model_dir, stage), ignore_errors=True)
  for name in ("initialise_centres.npz", "error.txt"):
    path = os.path.join(model_dir, name)
    if os.path.exists(path):
      os.remove(path)
