"""SavedModel export of a trained clustering model for serving.

The exported signature `serving_default` takes what TF-GNN models take -- a
batch of serialized `tf.Example`s holding GraphTensors, input key `examples` --
and returns, for each example row of the `DinkClusteringTask` readout:

  * `cluster_id`: int64 `[n]`, the nearest centre;
  * `cluster_probabilities`: float `[n, n_clusters]`;
  * `embedding`: float `[n, dim]`, the (normalised) embedding.

Only the feature processors, the base GNN and the clustering task run at
serving time: no corruption, no contrastive head, deterministic outputs. Give
the export the same `feature_processors` as training (e.g.
`layers.NormalizeFeatureRows()`), and it takes the graph as read from disk.

Example:

```python
runner.run(..., task={"dgi": dgi, "dink": dink},
           model_exporters=[DinkModelExporter(dink, graph.spec)])
serve = tf.saved_model.load(export_dir).signatures["serving_default"]
out = serve(examples=tf.constant([tfgnn.write_example(graph)
                                  .SerializeToString()]))
out["cluster_id"], out["cluster_probabilities"], out["embedding"]
```
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink import tasks as tasks_lib

OUTPUT_NAMES = ("cluster_id", "cluster_probabilities", "embedding")


def make_serving_model(
    base_model: tf.keras.Model,
    task: tasks_lib.DinkClusteringTask,
    graph_spec: tfgnn.GraphTensorSpec,
    *,
    feature_processors: Sequence[runner.GraphTensorProcessorFn] = (),
) -> tf.keras.Model:
  """Returns a Keras model: serialized examples -> dict of clustering outputs.

  Args:
    base_model: The trained base GNN (`RunResult.base_model`).
    task: The `DinkClusteringTask` it was trained with (holds the centres),
      or one made with the trained `cluster_centers=`.
    graph_spec: The spec of one (unbatched) input GraphTensor, e.g. the
      training graph's; its numbers of components, nodes and edges are
      relaxed, so the model serves graphs of any size.
    feature_processors: The `feature_processors` given to `runner.run`.
  """
  if task.cluster_head is None and task.initial_cluster_centers is None:
    raise ValueError("The DinkClusteringTask has no cluster centres: train "
                     "it (runner.run) or give it cluster_centers= first.")
  examples = tf.keras.Input(shape=(), dtype=tf.string, name="examples")
  graph_spec = graph_spec.relax(num_components=True, num_nodes=True,
                                num_edges=True)
  graph = tfgnn.keras.layers.ParseExample(graph_spec)(examples)
  graph = graph.merge_batch_to_components()
  for processor in feature_processors:
    graph = processor(graph)
  outputs = task.predict(base_model(graph))
  return tf.keras.Model(examples, {k: outputs[k] for k in OUTPUT_NAMES})


def save_model_atomically(model: tf.keras.Model, export_dir: str,
                          **export_kwargs) -> None:
  """`runner.export_model` into a staging directory, then moved in place.

  A crash never leaves a half-written `export_dir`; an existing export is
  replaced only once the new one is complete.
  """
  with _files.directory_atomically(export_dir) as staging:
    runner.export_model(model, staging, **export_kwargs)


def save_serving_model(
    base_model: tf.keras.Model,
    task: tasks_lib.DinkClusteringTask,
    graph_spec: tfgnn.GraphTensorSpec,
    export_dir: str,
    *,
    feature_processors: Sequence[runner.GraphTensorProcessorFn] = (),
) -> None:
  """Builds the serving model (see `make_serving_model`) and saves it."""
  model = make_serving_model(base_model, task, graph_spec,
                             feature_processors=feature_processors)
  save_model_atomically(model, export_dir,
                        output_names={k: k for k in OUTPUT_NAMES})


class DinkModelExporter(runner.ModelExporter):
  """A `runner.ModelExporter` writing the clustering serving model.

  Use it in `runner.run(model_exporters=[DinkModelExporter(task, spec)])`.
  """

  def __init__(self,
               task: tasks_lib.DinkClusteringTask,
               graph_spec: tfgnn.GraphTensorSpec,
               *,
               feature_processors: Sequence[runner.GraphTensorProcessorFn] = (),
               subdirectory: Optional[str] = None):
    """Initializes the exporter.

    Args:
      task: The `DinkClusteringTask` trained by the run.
      graph_spec: The spec of one input GraphTensor (the runner's `gtspec`).
      feature_processors: The run's `feature_processors`.
      subdirectory: Optional subdirectory of the runner's export directory.
    """
    self._task = task
    self._graph_spec = graph_spec
    self._feature_processors = tuple(feature_processors)
    self._subdirectory = subdirectory

  def save(self, run_result: runner.RunResult, export_dir: str) -> None:
    if self._subdirectory:
      export_dir = os.path.join(export_dir, self._subdirectory)
    save_serving_model(run_result.base_model, self._task, self._graph_spec,
                       export_dir, feature_processors=self._feature_processors)
