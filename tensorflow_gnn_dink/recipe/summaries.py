"""TensorBoard: what a run logs under `MODEL_DIR/tensorboard/`.

  * `pretrain/`, `finetune/`: the training stages' scalars, every
    `every_n_steps` steps (`TrainingScalars`): the loss and the metrics that
    mean something (`progress.meaningful_metrics`: the discrimination
    accuracy; the non-empty clusters and the cluster-size entropy);
  * `selection/`: the modularity of every candidate of the label-free
    choices (pretraining epoch, fine-tuning epoch), by step, and the final
    partition's label-free metrics (and ACC/NMI where labels exist);
  * `projector/`: the final clustering embedding in the embedding projector,
    with `cluster_id` (and `label` where known) as metadata; graphs with
    more than `max_points` nodes show a seeded random sample of them.

Open it with `tensorboard --logdir=MODEL_DIR/tensorboard`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
import os
import shutil
from typing import Any, Optional

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

from tensorflow_gnn_dink.recipe import progress

SUBDIRECTORY = "tensorboard"


def directory(model_dir: str, *parts: str) -> str:
  """`MODEL_DIR/tensorboard/PARTS...`."""
  return os.path.join(model_dir, SUBDIRECTORY, *parts)


class TrainingScalars(tf.keras.callbacks.Callback):
  """Writes `meaningful_metrics` as scalars every `every_n_steps` steps."""

  def __init__(self, log_dir: str, every_n_steps: int):
    super().__init__()
    self._supports_tf_logs = True  # Read the values only when written.
    self._log_dir = log_dir
    self._every_n_steps = max(1, every_n_steps)
    self._writer = None
    self._step = progress.StepCounter()

  def on_train_begin(self, logs=None) -> None:
    self._writer = tf.summary.create_file_writer(self._log_dir)

  def on_train_batch_end(self, batch: int, logs=None) -> None:
    step = self._step.after_batch(self.model)
    if step % self._every_n_steps == 0:
      with self._writer.as_default(step=step):
        for name, value in progress.meaningful_metrics(logs).items():
          tf.summary.scalar(name, float(value))

  def on_train_end(self, logs=None) -> None:
    if self._writer is not None:
      self._writer.close()


def write_choices(model_dir: str,
                  histories: Mapping[str, Sequence[Sequence[float]]],
                  final_metrics: Mapping[str, Any]) -> None:
  """The selections and the final partition's metrics, under `selection/`.

  Args:
    model_dir: The run's directory.
    histories: Per stage, `[step, modularity]` of each candidate, written as
      scalars `STAGE_modularity` by step.
    final_metrics: Written as step-0 scalars `final/NAME`.
  """
  log_dir = directory(model_dir, "selection")
  shutil.rmtree(log_dir, ignore_errors=True)  # Of a stopped earlier try.
  writer = tf.summary.create_file_writer(log_dir)
  with writer.as_default():
    for stage, history in histories.items():
      for step, modularity in history:
        tf.summary.scalar(f"{stage}_modularity", float(modularity),
                          step=int(step))
    for name, value in sorted(final_metrics.items()):
      tf.summary.scalar(f"final/{name}", float(value), step=0)
  writer.close()


def read_scalars(log_dir: str) -> dict[str, dict[int, float]]:
  """`{tag: {step: value}}` of the scalars written under `log_dir`."""
  # pylint: disable-next=g-import-not-at-top
  from tensorboard.backend.event_processing import event_accumulator
  accumulator = event_accumulator.EventAccumulator(
      log_dir, size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return {tag: {e.step: float(tf.make_ndarray(e.tensor_proto))
                for e in accumulator.Tensors(tag)}
          for tag in accumulator.Tags()["tensors"]}


def write_projector(model_dir: str, z: np.ndarray, cluster_ids: np.ndarray,
                    labels: Optional[np.ndarray], *, max_points: int = 10000,
                    seed: int = 0,
                    node_ids: Optional[np.ndarray] = None) -> int:
  """Puts the embedding `z` into TensorBoard's projector; returns the points.

  Metadata: `node_id` (the graph's own `node_ids` where given, else the row
  number), `cluster_id` and, where known, `label` per point.
  """
  log_dir = directory(model_dir, "projector")
  shutil.rmtree(log_dir, ignore_errors=True)  # Of a stopped earlier try.
  os.makedirs(log_dir)
  nodes = np.arange(len(z))
  if len(z) > max_points:
    nodes = np.sort(np.random.default_rng(seed).choice(
        len(z), max_points, replace=False))
  names = nodes if node_ids is None else node_ids[nodes]
  columns = {"node_id": [_tsv_field(v) for v in names.tolist()],
             "cluster_id": cluster_ids[nodes].tolist()}
  if labels is not None:
    columns["label"] = labels[nodes].tolist()
  with open(os.path.join(log_dir, "metadata.tsv"), "w",
            encoding="utf-8") as f:
    f.write("\t".join(columns) + "\n")
    for row in zip(*columns.values()):
      f.write("\t".join(str(v) for v in row) + "\n")
  points = z if len(nodes) == len(z) else z[nodes]  # No copy of all rows.
  checkpoint = tf.train.Checkpoint(
      embedding=tf.Variable(np.asarray(points, np.float32)))
  checkpoint.save(os.path.join(log_dir, "embedding.ckpt"))
  config = projector.ProjectorConfig()
  embedding = config.embeddings.add()
  embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
  embedding.metadata_path = "metadata.tsv"
  projector.visualize_embeddings(log_dir, config)
  return len(nodes)


def _tsv_field(value: Any) -> str:
  """`value` as one field of the projector's metadata (no tabs, newlines)."""
  return " ".join(str(value).split()) or "_"
