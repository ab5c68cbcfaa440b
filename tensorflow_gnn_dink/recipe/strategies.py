"""`tf.distribute` strategies by name, for the recipe and its command line.

  * `default`: TensorFlow's default strategy (one device);
  * `mirrored`: `MirroredStrategy` over the local GPUs (the CPU without one);
  * `multi_worker`: `MultiWorkerMirroredStrategy`, the cluster from
    `TF_CONFIG` (one process per worker, each started with the same command
    and its own `TF_CONFIG` task);
  * `parameter_server`: TF-GNN's `runner.ParameterServerStrategy` (variables
    partitioned over the parameter servers), the cluster from `TF_CONFIG`:
    the chief coordinates (`runner.run` runs there), while the workers and
    parameter servers each run `serve()`;
  * `tpu`: `TPUStrategy` on the TPU that `TPUClusterResolver` finds.

`TF_CONFIG` is TensorFlow's JSON: `{"cluster": {"worker": ["host:port",
...]}, "task": {"type": "worker", "index": 0}}`.
"""
from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
from tensorflow_gnn import runner

NAMES = ("default", "mirrored", "multi_worker", "parameter_server", "tpu")


def tf_config() -> dict[str, Any]:
  """The parsed `TF_CONFIG`, `{}` if unset.

  Raises:
    ValueError: `TF_CONFIG` is not a JSON object.
  """
  text = os.environ.get("TF_CONFIG", "")
  if not text.strip():
    return {}
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"TF_CONFIG is not JSON ({e}): set it to e.g. "
                     '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                     '"task": {"type": "worker", "index": 0}}.') from e
  if not isinstance(value, dict):
    raise ValueError(f"TF_CONFIG must be a JSON object, got {text!r}.")
  return value


def _check_cluster(name: str, needed: tuple[str, ...]) -> dict[str, Any]:
  config = tf_config()
  cluster = config.get("cluster")
  missing = [job for job in needed
             if not isinstance(cluster, dict) or not cluster.get(job)]
  if missing or not isinstance(config.get("task"), dict):
    raise ValueError(
        f"--strategy={name} reads the cluster from TF_CONFIG, which "
        f"{'is not set' if not config else 'lacks ' + ', '.join(missing or ['task'])}"
        ": set TF_CONFIG in each process, e.g. {\"cluster\": {\"worker\": "
        "[\"host1:port\", \"host2:port\"]}, \"task\": {\"type\": \"worker\", "
        "\"index\": 0}} (README, \"Beyond one machine\").")
  return config


def make_strategy(name: str) -> tf.distribute.Strategy:
  """The strategy called `name` (one of `NAMES`).

  Raises:
    ValueError: an unknown name, or a cluster strategy without a usable
      `TF_CONFIG` (the message says what to set).
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    _check_cluster(name, ("worker",))
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "parameter_server":
    _check_cluster(name, ("chief", "worker", "ps"))
    return runner.ParameterServerStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as e:
      raise ValueError(f"--strategy=tpu found no TPU ({e}): run on a TPU VM, "
                       "or choose another --strategy.") from e
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"Unknown strategy {name!r}: choose one of "
                   f"{', '.join(NAMES)}.")


def serve() -> None:
  """Runs this process' task of `TF_CONFIG` as a server, until killed.

  For the workers and parameter servers of `parameter_server`: they execute
  what the chief's coordinator sends them.
  """
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                       task_index=resolver.task_id, protocol="grpc",
                       start=True).join()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run's results (the chief, or alone).

  Under `MultiWorkerMirroredStrategy` the chief is worker 0 unless the
  cluster has a `chief` job; every other worker trains in step with it and
  writes nothing the chief writes.
  """
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  if task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return task_type == "worker" and task_id == 0 and not has_chief
