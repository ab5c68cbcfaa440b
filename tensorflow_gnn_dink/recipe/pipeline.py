"""The Dink-Net recipe end to end, on one in-memory graph: `run`.

prepare -> pretrain (Dink-Net discrimination) -> initialise_centres (embed
`normalize(h + A_hat^p h)`, k-means; the pretraining epoch chosen by
modularity) -> finetune the centres (dilation + shrink; with
`finetune.stop_gradient=False` or a discrimination weight, the encoder too)
-> export -> assign_and_evaluate -> write_results. Each stage is a function
of `stages`; training runs through `tensorflow_gnn.runner.run` under the
given `tf.distribute` strategy; labels are used only to count classes (K)
and to evaluate.

Files written to `model_dir` (each atomically):
  * `results.json`: `metrics` (ACC/NMI/ARI/F1 as fractions when labels are
    known; label-free `modularity`, `conductance`, `non_empty_clusters`),
    the same for k-means before fine-tuning (`kmeans_metrics`), `collapsed`,
    the `selection` rule, the chosen steps and the modularity per candidate
    (`pretrain_selected_step`, `pretrain_modularity`,
    `finetune_selected_step`, `finetune_modularity`), `n_clusters`,
    `timings_s` per stage and `initialise_centres_s`, where the selection's
    time went (embedding the candidates, k-means, evaluation), the config;
  * `cluster_ids.csv`: `node_id,cluster_id` for every node;
  * `export/`: the serving SavedModel, which takes the graph as given (see
    `tensorflow_gnn_dink.export`);
  * `checkpoint/model`: the same model (encoder, `cluster_centers`) as a
    `tf.train.Checkpoint`;
  * `tensorboard/`: training scalars, the selections' modularity, the final
    metrics and the embedding projector (`summaries`);
  * `plots/`: PNG pictures of the embedding, the clusters and training
    (`plots`; unless `config.plots=False`);
  * `run.json`: the config and the graph's fingerprint.

A run stopped by a crash, a kill or Ctrl-C continues when started again with
the same `model_dir`, config and graph: after its last completed stage, and
within a training stage after its last completed epoch (`model_dir` module).
A finished run, or one of another config or graph, is not overwritten
unless `overwrite=True`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Optional

import ml_collections
import tensorflow as tf

from tensorflow_gnn_dink import _memory
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import model_dir as model_dir_lib
from tensorflow_gnn_dink.recipe import progress
from tensorflow_gnn_dink.recipe import stages


def run(config: ml_collections.ConfigDict,
        graph: data.Graph | heterogeneous.HeterogeneousGraph,
        model_dir: str,
        *,
        strategy: Optional[tf.distribute.Strategy] = None,
        overwrite: bool = False,
        log: Callable[[str], None] = print,
        verbosity: int = 0) -> dict[str, Any]:
  """Runs the whole recipe, or the rest of a stopped run.

  Args:
    config: The recipe's config (`config.default_config()`).
    graph: The graph to cluster (of many node sets: the node set
      `config.node_set`, else the graph's own, is clustered). Once its features are processed, `run`
      holds no reference to them: a caller that passes its only one
      (`run(config, read_graph(...), ...)`, as the command line does)
      frees them for training.
    model_dir: Where to write (see the module docstring).
    strategy: The `tf.distribute` strategy of training; default: the
      current one.
    overwrite: Start over in a `model_dir` that holds a finished run or one
      of another config or graph (else a ValueError says what it holds).
    log: Where progress lines go (each stage's time, as it ends).
    verbosity: Progress bars of training stages: none below 0, one per
      stage at 0, and Keras' per-epoch metrics above 0.

  Returns:
    The content of `results.json`.
  """
  timings = progress.Timings(log)

  @contextlib.contextmanager
  def stage(name: str, **kwargs) -> Iterator[None]:
    with timings.measure(name, **kwargs):
      yield
    _memory.release_freed()  # Its temporaries, before the next stage's.

  if config.get("deterministic", True):
    tf.config.experimental.enable_op_determinism()
  tf.keras.utils.set_random_seed(config.seed)
  context = stages.Run(config, strategy or tf.distribute.get_strategy(),
                       model_dir, log, verbosity)
  with stage("prepare", log=False):  # Before the model dir.
    prepared = stages.prepare(config, graph)
  resumed = model_dir_lib.start(model_dir, config, graph, overwrite=overwrite,
                                log=log)
  del graph  # Its features, if the caller holds them no more (see above).
  graph = prepared.graph
  log(f"[dink] graph {graph.name}: {prepared.description}; "
      f"K={prepared.n_clusters}; "
      f"{context.strategy.num_replicas_in_sync} replica(s)")
  with stage("pretrain"):
    pretrained = stages.pretrain(context, prepared)
  prepared.mode.release_pretraining_inputs()  # Memory for the selection.
  with stage("initialise_centres"):
    initialised = stages.initialise_centres(context, prepared, pretrained)
  if config_lib.frozen_encoder(config):  # The embedding is computed.
    prepared.mode.release_embedding_inputs()
  with stage("finetune"):
    finetuned = stages.finetune(context, prepared, pretrained, initialised)
  with stage("export"):
    stages.export(context, prepared, pretrained, finetuned)
  with stage("assign_and_evaluate"):
    assigned = stages.assign_and_evaluate(context, prepared, finetuned)
  with stage("summaries"):
    stages.write_summaries(context, prepared, initialised, finetuned,
                           assigned)
  results = stages.write_results(context, prepared, initialised, finetuned,
                                 assigned, timings.with_total(), resumed)
  model_dir_lib.finish(model_dir)
  log(f"[dink] wrote {model_dir}/results.json, cluster_ids.csv, export/, "
      "checkpoint/, tensorboard/, plots/ "
      f"({results['timings_s']['total']:.1f}s)")
  return results
