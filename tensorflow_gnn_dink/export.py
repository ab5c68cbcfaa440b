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

Bad requests fail alone: a request that is not a batch of valid examples of
the graph schema raises an error for that request only (the loaded model
stays usable), with a message naming the problem, before the GNN runs:

  * bytes that are not a `tf.Example` proto: `DataLossError` at node
    `.../examples_must_be_serialized_tf_Examples`. (A proto corrupted only
    inside its feature lists still fails in ParseExample, whose message
    quotes the raw bytes: in Python, possibly a `UnicodeDecodeError`.)
  * a feature without one row of the schema's shape per node or edge:
    `InvalidArgumentError` "Node set `nodes`: feature `feat` must have one row
    of shape [W] (float32) per node; ..." -- or, where the values do not fill
    whole rows, ParseExample's "Input to reshape is a tensor with N values,
    but the requested shape requires a multiple of W";
  * edge indices not one per edge, or not nodes of their own example:
    `InvalidArgumentError` "Edge set `edges`: source indices must be in [0,
    number of nodes of `nodes`) of their own example.";
  * a feature of the wrong dtype, or no `#size` (e.g. an empty string):
    ParseExample's `InvalidArgumentError` ("Data types don't match", "The
    `#size` field must always be present ...").

An empty batch and graphs without nodes give zero output rows; graphs without
edges are served like any other. The checks cost a scan and a copy of the
request's bytes and a comparison per node and edge index.

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
from typing import Optional, Sequence, Union

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink import tasks as tasks_lib

OUTPUT_NAMES = ("cluster_id", "cluster_probabilities", "embedding")
SIGNATURE_NAME = "serving_default"


def make_serving_model(
    base_model: tf.keras.Model,
    task: tasks_lib.DinkClusteringTask,
    graph_spec: tfgnn.GraphTensorSpec,
    *,
    feature_processors: Sequence[runner.GraphTensorProcessorFn] = (),
    extra_outputs: Optional[tf.keras.layers.Layer] = None,
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
    extra_outputs: Optionally, a layer from the parsed graph (the batch
      merged to components, before `feature_processors`) to a dict of more
      outputs, one row per readout row (e.g. the ids of the roots of
      sampled subgraphs: `sampling.RootIds`).
  """
  if task.cluster_head is None and task.initial_cluster_centers is None:
    raise ValueError("The DinkClusteringTask has no cluster centres: train "
                     "it (runner.run) or give it cluster_centers= first.")
  examples = tf.keras.Input(shape=(), dtype=tf.string, name="examples")
  graph_spec = graph_spec.relax(num_components=True, num_nodes=True,
                                num_edges=True)
  checked = _CheckSerializedExamples(name="check_serialized_examples")(
      examples)
  graph = tfgnn.keras.layers.ParseExample(graph_spec)(checked)
  graph = _CheckGraphs(name="check_graphs")(graph)
  graph = graph.merge_batch_to_components()
  extra = extra_outputs(graph) if extra_outputs is not None else {}
  for processor in feature_processors:
    graph = processor(graph)
  outputs = task.predict(base_model(graph))
  return tf.keras.Model(examples,
                        {**{k: outputs[k] for k in OUTPUT_NAMES}, **extra})


class _CheckSerializedExamples(tf.keras.layers.Layer):
  """Returns `examples` once each one is known to be a `tf.Example` proto.

  Without this check, ParseExample fails on bytes that are not a proto with a
  message quoting the raw bytes (in Python: a `UnicodeDecodeError` instead of
  the error). Costs one scan of each example's top-level wire format and a
  copy of its payload.
  """

  def call(self, examples: tf.Tensor) -> tf.Tensor:
    def decode():
      sizes, _ = tf.io.decode_proto(
          examples, "tensorflow.Example", field_names=["features"],
          output_types=[tf.string],
          name="examples_must_be_serialized_tf_Examples")
      return tf.reduce_all(sizes >= 0)
    # DecodeProto fails on an empty batch (which is fine: zero rows out).
    decoded = tf.cond(tf.size(examples) > 0, decode, lambda: True)
    # Grappler drops control dependencies on stateless ops such as
    # DecodeProto; an (always true) assertion on its output keeps the order.
    with tf.control_dependencies([tf.debugging.Assert(decoded, [decoded])]):
      return tf.identity(examples)


class _CheckGraphs(tf.keras.layers.Layer):
  """Returns the parsed batch of graphs once it is checked to be well-formed.

  Per example (before they are merged): every node or edge feature holds one
  row per node or edge, an edge set has one source and one target index per
  edge, and each index points to a node of the same example. A violation
  raises `InvalidArgumentError` naming the node or edge set before any op
  that would fail with a less clear message (or, on some devices, silently
  read another example's nodes). Cost: a comparison per edge.
  """

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    checks = []
    num_nodes = {}
    for name, node_set in graph.node_sets.items():
      num_nodes[name] = tf.cast(tf.reduce_sum(node_set.sizes, axis=-1),
                                tf.int64)
      checks += _check_features("Node set", name, node_set, num_nodes[name])
    for name, edge_set in graph.edge_sets.items():
      num_edges = tf.cast(tf.reduce_sum(edge_set.sizes, axis=-1), tf.int64)
      checks += _check_features("Edge set", name, edge_set, num_edges)
      indices = edge_set.adjacency.get_indices_dict()
      for tag, (node_set_name, index) in sorted(indices.items()):
        tag_name = _TAG_NAMES.get(tag, f"#index.{tag}")
        checks.append(tf.debugging.assert_equal(
            _num_rows(index), num_edges, message=(
                f"Edge set `{name}`: must have one {tag_name} index per "
                "edge; x = indices given, y = edges, per example")))
        if not isinstance(index, tf.RaggedTensor):
          index = tf.RaggedTensor.from_tensor(index)
        # On the flat values: ragged broadcasting costs several times more.
        flat = tf.cast(index.flat_values, tf.int64)
        upper = tf.gather(num_nodes[node_set_name], index.value_rowids())
        checks.append(tf.debugging.Assert(
            tf.reduce_all(tf.logical_and(flat >= 0, flat < upper)), [
                f"Edge set `{name}`: {tag_name} indices must be in [0, "
                f"number of nodes of `{node_set_name}`) of their own "
                "example."]))
    with tf.control_dependencies(checks):
      return tf.nest.map_structure(tf.identity, graph, expand_composites=True)


_TAG_NAMES = {tfgnn.SOURCE: "source", tfgnn.TARGET: "target"}


def _num_rows(value: tfgnn.Field) -> tf.Tensor:
  """int64 `[batch]`: the rows (nodes, edges) of each example's `value`."""
  if isinstance(value, tf.RaggedTensor):
    return tf.cast(value.row_lengths(), tf.int64)
  shape = tf.shape(value, out_type=tf.int64)
  return tf.fill(shape[:1], shape[1])


def _check_features(kind: str, name: str,
                    piece: Union[tfgnn.NodeSet, tfgnn.EdgeSet],
                    count: tf.Tensor) -> list[tf.Operation]:
  """Assertions that each feature of `piece` has `count` (int64) rows each."""
  item = "node" if kind == "Node set" else "edge"
  return [tf.debugging.assert_equal(
      _num_rows(value), count, message=(
          f"{kind} `{name}`: feature `{feature_name}` must have one row of "
          f"shape {value.shape[2:].as_list()} ({value.dtype.name}) per "
          f"{item}; x = rows given, y = {item}s, per example (0 rows: the "
          "feature is not in the examples, e.g. features written sparse for "
          "a model trained on dense ones, or the reverse)"))
          for feature_name, value in piece.features.items()]


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
    extra_outputs: Optional[tf.keras.layers.Layer] = None,
) -> None:
  """Builds the serving model (see `make_serving_model`) and saves it."""
  model = make_serving_model(base_model, task, graph_spec,
                             feature_processors=feature_processors,
                             extra_outputs=extra_outputs)
  save_model_atomically(model, export_dir, output_names={
      k: k for k in model.output})


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


TensorInfo = tuple[str, tuple[Optional[int], ...]]  # (dtype, shape)


def serving_signature(
    export_dir: str, signature_name: str = SIGNATURE_NAME
) -> tuple[dict[str, TensorInfo], dict[str, TensorInfo]]:
  """The inputs and outputs of a SavedModel's signature, by name.

  Read from `export_dir/saved_model.pb` without loading the model. Unknown
  dimensions are None.

  Returns:
    `(inputs, outputs)`, each `{name: (dtype name, shape)}`, e.g.
    `{"examples": ("string", (None,))}`.

  Raises:
    ValueError: `export_dir` holds no SavedModel with that signature.
  """
  saved_model = saved_model_pb2.SavedModel()
  try:
    with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pb"),
                           "rb") as f:
      saved_model.ParseFromString(f.read())
  except (tf.errors.OpError, OSError, ValueError) as e:  # DecodeError too.
    raise ValueError(f"{export_dir} holds no readable SavedModel "
                     f"({type(e).__name__}): export the model again.") from e
  for meta_graph in saved_model.meta_graphs:
    if signature_name in meta_graph.signature_def:
      signature = meta_graph.signature_def[signature_name]
      return (_tensor_infos(signature.inputs),
              _tensor_infos(signature.outputs))
  raise ValueError(f"The SavedModel in {export_dir} has no signature "
                   f"{signature_name!r}: export the model again.")


def _tensor_infos(infos) -> dict[str, TensorInfo]:
  return {name: (tf.dtypes.as_dtype(info.dtype).name, tuple(
      None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim))
          for name, info in sorted(infos.items())}


def describe_serving_signature(export_dir: str) -> str:
  """The serving signature of `export_dir` and two lines calling it.

  For logs and command lines, e.g.::

    serving_default(examples: string [None]) -> cluster_id: int64 [None],
        cluster_probabilities: float32 [None, 7], embedding: float32 [None, 512]
      serve = tf.saved_model.load("DIR").signatures["serving_default"]
      out = serve(examples=tf.constant([tfgnn.write_example(graph).SerializeToString()]))
  """
  inputs, outputs = serving_signature(export_dir)

  def listed(infos: dict[str, TensorInfo]) -> str:
    return ", ".join(
        f"{name}: {dtype} [{', '.join(str(d) for d in shape)}]"
        for name, (dtype, shape) in infos.items())

  return (f"{SIGNATURE_NAME}({listed(inputs)}) -> {listed(outputs)}\n"
          f"  serve = tf.saved_model.load({export_dir!r}).signatures"
          f"[{SIGNATURE_NAME!r}]\n"
          "  out = serve(examples=tf.constant([tfgnn.write_example(graph)"
          ".SerializeToString()]))")
