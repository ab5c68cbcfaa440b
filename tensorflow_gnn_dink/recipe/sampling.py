"""Graphs larger than one machine: rooted subgraphs from TF-GNN's Beam sampler.

The graph lives in files; Apache Beam samples one rooted subgraph per node,
written as serialized GraphTensors; training reads them through the runner's
`TFRecordDatasetProvider` (files sharded by input context), and inference
over all nodes streams the subgraphs and writes `(node id, cluster id)`:

    schema = sampling.write_unigraph(graph, "/data/graph")   # or your own
    sampling.sample(schema, "/data/samples", fanouts=(10, 5))  # Apache Beam
    config = config_lib.default_config()  # The recipe's config.
    config.n_clusters = 7
    node_ids, clusters, facts = sampling.cluster_samples(
        "/data/samples", config, model_dir="/tmp/run",
        output="/tmp/run/cluster_ids.csv", export_dir="/tmp/run/export")
    # Serving streams subgraphs (these or new ones) through the SavedModel:
    node_ids, clusters = sampling.serve_samples("/tmp/run/export",
                                                "/data/samples")

`sample` runs TF-GNN's sampling program (`tensorflow_gnn.experimental.
sampler.beam`) in a Beam pipeline: the DirectRunner by default (tests, one
machine); pass pipeline arguments (`--runner=DataflowRunner --project=...`,
Flink, Spark) to run the same pipeline on a cluster. The input is TF-GNN's
"unigraph" format: a GraphSchema whose node sets and edge sets name files
of `tf.Example`s (`#id`; `#source`, `#target`). A graph of many node sets
is sampled around one (`node_set_name`) along every edge set, and trains
an encoder of TF-GNN's model zoo (`cluster_samples`).

Sampled edges point away from the root (seed -> neighbour). The GCN passes
messages to edge targets, so `ReverseEdges` makes the root's node set's
edge set undirected (every sampled pair once in each direction) before the
encoder, in training and inference alike; a model-zoo encoder passes the
messages of the other edge sets to their sources, towards the root.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from typing import Optional

import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink import encoders
from tensorflow_gnn_dink import export as export_lib
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import sparse
from tensorflow_gnn_dink import tasks as tasks_lib
from tensorflow_gnn_dink import trainers
from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import heterogeneous
from tensorflow_gnn_dink.recipe import selection
from tensorflow_gnn_dink.recipe import subgraphs

NODE_SET = "nodes"
EDGE_SET = "edges"
FEATURE = "feat"
NODE_ID = "#id"
SCHEMA = "schema.pbtxt"  # The output GraphSchema, beside the samples.
SAMPLES = "samples.tfrecords"  # Shards: samples.tfrecords-0000i-of-0000n.
SAMPLING = "sampling.json"  # How: {"fanouts": [...], "node_set": NAME}.
ROOT_ID = "root_id"  # Context feature of each subgraph: its root's `#id`.


def write_unigraph(graph: data.Graph | heterogeneous.HeterogeneousGraph,
                   directory: str) -> str:
  """Writes `graph` in TF-GNN's unigraph format; returns the schema's path.

  One file of `tf.Example`s per node set, `<node set>.tfrecords` (`#id` and
  the float feature `feat`: dense, or for a scipy sparse matrix its non-zeros
  as the ragged `feat_columns` + `feat_values`, as `tensorflow_gnn_dink.
  sparse` holds them), one per edge set, `<edge set>.tfrecords` (`#source`,
  `#target`), and `schema.pbtxt`. A `data.Graph` is the node set `nodes`
  (ids: the graph's own `node_ids`, as strings, or the row numbers) and the
  edge set `edges` (both directions of each edge, as `graph.edges` holds
  them); a `heterogeneous.HeterogeneousGraph` keeps its node and edge sets
  and names each node by its row number. Labels are not written.
  """
  os.makedirs(directory, exist_ok=True)
  if isinstance(graph, heterogeneous.HeterogeneousGraph):
    tensor = graph.graph_tensor
    node_sets = {
        name: ([str(i).encode() for i in range(node_set.total_size)],
               np.asarray(node_set[graph.feature_name]))
        for name, node_set in tensor.node_sets.items()}
    edge_sets = {
        name: (edge_set.adjacency.source_name, edge_set.adjacency.target_name,
               np.stack([np.asarray(edge_set.adjacency.source),
                         np.asarray(edge_set.adjacency.target)]))
        for name, edge_set in tensor.edge_sets.items()}
  else:
    node_sets = {NODE_SET: ([str(i).encode() for i in
                             assignments.node_ids_of(graph).tolist()],
                            graph.features)}
    edge_sets = {EDGE_SET: (NODE_SET, NODE_SET, graph.edges)}
  schema = tfgnn.GraphSchema()
  for name, (ids, features) in node_sets.items():
    rows, columns = _feature_rows(features)
    _write_records(os.path.join(directory, f"{name}.tfrecords"), _examples(
        {NODE_ID: ids[i], **row} for i, row in enumerate(rows)))
    node_set = schema.node_sets[name]
    # `#id` declared as a feature: the sampler then keeps it in its output.
    node_set.features[NODE_ID].dtype = tf.string.as_datatype_enum
    for feature, (dtype, width) in columns.items():
      node_set.features[feature].dtype = dtype.as_datatype_enum
      node_set.features[feature].shape.dim.add().size = width
    node_set.metadata.filename = f"{name}.tfrecords"
    node_set.metadata.cardinality = len(ids)
  for name, (source, target, edges) in edge_sets.items():
    source_ids, target_ids = node_sets[source][0], node_sets[target][0]
    _write_records(os.path.join(directory, f"{name}.tfrecords"), _examples(
        {"#source": source_ids[s], "#target": target_ids[t]}
        for s, t in edges.T))
    edge_set = schema.edge_sets[name]
    edge_set.source, edge_set.target = source, target
    edge_set.metadata.filename = f"{name}.tfrecords"
    edge_set.metadata.cardinality = int(edges.shape[1])
  path = os.path.join(directory, SCHEMA)
  _files.write_text_atomically(path, str(schema))
  return path


def _feature_rows(features):
  """(per-row feature dicts, {name: (dtype, width)}) of dense or sparse
  `features`."""
  if isinstance(features, np.ndarray):
    features = np.asarray(features, np.float32)
    return ({FEATURE: row} for row in features), {
        FEATURE: (tf.float32, features.shape[1])}
  csr = features.tocsr()  # Sparse: the non-zeros of each row.
  csr.sort_indices()
  names = sparse.feature_names(FEATURE)
  return ({names[0]: csr.indices[a:b].astype(np.int64),
           names[1]: csr.data[a:b].astype(np.float32)}
          for a, b in zip(csr.indptr[:-1], csr.indptr[1:])), {
              names[0]: (tf.int64, -1), names[1]: (tf.float32, -1)}


def _examples(rows):
  """Serialized `tf.Example`s of dicts of bytes or numpy values."""
  for features in rows:
    example = tf.train.Example()
    for name, value in features.items():
      feature = example.features.feature[name]
      if isinstance(value, bytes):
        feature.bytes_list.value.append(value)
      elif value.dtype == np.int64:
        feature.int64_list.value.extend(value.tolist())
      else:
        feature.float_list.value.extend(value.tolist())
    yield example.SerializeToString()


def _write_records(path: str, records) -> None:
  temporary = path + ".tmp"
  with tf.io.TFRecordWriter(temporary) as writer:
    for record in records:
      writer.write(record)
  os.replace(temporary, path)


def check_fanouts(fanouts: Sequence[int]) -> None:
  """ValueError unless `fanouts` is one or more positive integers."""
  subgraphs.check_fanouts([int(k) for k in fanouts])


def sample(schema_path: str, output_dir: str, *,
           fanouts: Sequence[int] = (10, 5), num_shards: int = 4,
           pipeline_args: Sequence[str] = (),
           node_set_name: Optional[str] = None) -> str:
  """Samples one rooted subgraph per node with Apache Beam; returns its schema.

  Every node of `node_set_name` is a seed; hop `i` samples up to
  `fanouts[i]` out-edges of each edge set leaving the node sets reached at
  hop `i - 1`, uniformly without replacement (TF-GNN's `SamplingSpecBuilder`;
  `subgraphs.sampling_spec`). Each subgraph holds its root's `#id` as the
  context feature `ROOT_ID` (where several edge sets reach the root's node
  set, the sampler may not put the root first; `cluster_samples` does).
  Writes `num_shards` files
  `output_dir/samples.tfrecords-*` of serialized GraphTensors, their
  GraphSchema `output_dir/schema.pbtxt` and `sampling.json` (the fanouts and
  the root node set), into a staging directory beside `output_dir` that
  becomes `output_dir` when the pipeline has finished (a stopped run leaves
  no `output_dir`).

  Args:
    schema_path: A unigraph GraphSchema (e.g. from `write_unigraph`).
    output_dir: A local directory that does not exist yet (or is empty).
    fanouts: Edges sampled per node and edge set at each hop.
      `cluster_samples` needs one hop per encoder layer plus one per
      `propagation_steps` (default: two hops).
    num_shards: Output files (at least the number of input pipelines that
      will read them: the runner shards files, not records).
    pipeline_args: Beam pipeline options, e.g. `["--runner=DataflowRunner",
      ...]`; default: the DirectRunner in this process.
    node_set_name: The node set whose nodes are the roots; may be left out
      for a graph of one node set.
  """
  # pylint: disable=g-import-not-at-top  (Beam is only needed here)
  import apache_beam as beam
  from apache_beam.options import pipeline_options
  from tensorflow_gnn.data import unigraph
  from tensorflow_gnn.experimental import sampler as sampler_lib
  from tensorflow_gnn.experimental.sampler.beam import executor_lib
  from tensorflow_gnn.experimental.sampler.beam import sampler as beam_sampler
  from tensorflow_gnn.experimental.sampler.beam import unigraph_utils
  # pylint: enable=g-import-not-at-top
  check_fanouts(fanouts)
  if os.path.exists(output_dir) and os.listdir(output_dir):
    raise ValueError(f"{output_dir} is not empty: sample into a new "
                     "directory.")
  if not tf.io.gfile.exists(schema_path):
    raise ValueError(f"No unigraph schema at {schema_path}: give the "
                     "GraphSchema .pbtxt of the graph's files (e.g. from "
                     "sampling.write_unigraph).")
  graph_schema = unigraph.read_schema(schema_path)
  node_set_name = root_node_set(graph_schema, node_set_name)
  spec, _ = subgraphs.sampling_spec(graph_schema, node_set_name,
                                    [int(k) for k in fanouts])
  # Layer names are the program's ids: a fresh Keras name scope per program.
  tf.keras.backend.clear_session()
  model, layers_mapping = beam_sampler.get_sampling_model(graph_schema, spec)
  program, artifacts = sampler_lib.create_program(model)
  output_schema = tfgnn.create_schema_pb_from_graph_spec(
      model.output.spec._unbatch())  # pylint: disable=protected-access
  output_schema.context.features[ROOT_ID].dtype = tf.string.as_datatype_enum
  options = pipeline_options.PipelineOptions(
      list(pipeline_args) or ["--direct_num_workers=1"])
  with _files.directory_atomically(output_dir) as staging:
    os.makedirs(staging)
    artifacts_path = os.path.join(staging, "artifacts")
    beam_sampler.save_artifacts(artifacts, artifacts_path)
    with beam.Pipeline(options=options) as pipeline:
      feeds = pipeline | unigraph_utils.ReadAndConvertUnigraph(
          graph_schema, os.path.dirname(schema_path))
      feeds.update({layer: feeds[name] for layer, name in
                    layers_mapping.items()})
      # Keyed by the root's own id, which each subgraph then holds.
      seeds = (feeds[f"nodes/{node_set_name}"] | "SeedIds" >> beam.Keys()
               | "Seeds" >> beam.Map(_seed))
      examples = executor_lib.execute(program, {"Input": seeds}, feeds=feeds,
                                      artifacts_path=artifacts_path)
      _ = (examples | "RootIds" >> beam.MapTuple(_with_root_id)
           | "Write" >> unigraph.WriteTable(
               os.path.join(staging, f"{SAMPLES}@{int(num_shards)}")))
    tf.io.gfile.rmtree(artifacts_path)
    _files.write_json_atomically(os.path.join(staging, SAMPLING), {
        "fanouts": [int(k) for k in fanouts], "node_set": node_set_name})
    _files.write_text_atomically(os.path.join(staging, SCHEMA),
                                 str(output_schema))
  return os.path.join(output_dir, SCHEMA)


def _seed(node_id: bytes):
  """A seed of TF-GNN's Beam sampler, keyed by the node's id."""
  return node_id, [[np.array([node_id], dtype=np.object_),
                    np.array([1], dtype=np.int64)]]


def _with_root_id(root: bytes, example: tf.train.Example) -> tf.train.Example:
  """`example` with the context feature `ROOT_ID`: its root's `#id`."""
  example.features.feature[f"context/{ROOT_ID}"].bytes_list.value.append(root)
  return example


def root_node_set(schema: tfgnn.GraphSchema, name: Optional[str]) -> str:
  """`name`, a node set of `schema`; if None, its only node set.

  Raises:
    ValueError: `name` is not a node set of `schema`, or None where it has
      several.
  """
  names = sorted(schema.node_sets)
  if name is None:
    if len(names) == 1:
      return names[0]
    raise ValueError(f"The graph has the node sets {names}: name the one "
                     "whose nodes are the roots (--node_set=NAME).")
  if name not in names:
    raise ValueError(f"Node set {name!r} is not in the graph: it has "
                     f"{names}. Pass one of them (--node_set=NAME).")
  return name


def graph_spec(samples_dir: str) -> tfgnn.GraphTensorSpec:
  """The GraphTensorSpec of one sampled subgraph (from its schema).

  Raises:
    ValueError: `samples_dir` is not a directory that `sample` wrote.
  """
  path = os.path.join(samples_dir, SCHEMA)
  if (not tf.io.gfile.exists(path) or
      not tf.io.gfile.glob(file_pattern(samples_dir))):
    raise ValueError(f"{samples_dir} holds no {SCHEMA} and {SAMPLES}-* "
                     "files: not a directory of samples written by "
                     "`tfgnn-dink sample` (sampling.sample).")
  return tfgnn.create_graph_spec_from_schema_pb(tfgnn.read_schema(path))


def _sampling_facts(samples_dir: str) -> dict:
  graph_spec(samples_dir)  # A directory of samples.
  path = os.path.join(samples_dir, SAMPLING)
  try:
    with tf.io.gfile.GFile(path) as f:
      facts = json.load(f)
    return dict(fanouts=[int(k) for k in facts["fanouts"]],
                node_set=str(facts.get("node_set", NODE_SET)))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path} does not say how the samples were drawn "
                     f"({e}): sample them again with tfgnn-dink sample.") from e


def sampled_fanouts(samples_dir: str) -> list[int]:
  """The fanouts of each hop that `sample` used (from `sampling.json`)."""
  return _sampling_facts(samples_dir)["fanouts"]


def sampled_node_set(samples_dir: str) -> str:
  """The node set of the roots (from `sampling.json`; samples written
  before it said so are of the node set `nodes`)."""
  return _sampling_facts(samples_dir)["node_set"]


def input_width(samples_dir: str, node_set_name: str = NODE_SET) -> int:
  """The number of columns of the feature `feat` of `node_set_name`.

  Dense: its static width. Held sparse (`feat_columns` + `feat_values`):
  1 + the largest column id in the samples (one pass over them; every node
  is a root, so these are the graph's own columns, up to all-zero trailing
  ones, which change nothing).
  """
  spec = graph_spec(samples_dir)
  features = spec.node_sets_spec[node_set_name].features_spec
  if not sparse.is_sparse(features, FEATURE):
    if FEATURE not in features:
      raise ValueError(f"The samples in {samples_dir} have no feature "
                       f"{FEATURE!r} (dense, or sparse as "
                       f"{' + '.join(sparse.feature_names(FEATURE))}); "
                       f"they have {sorted(features)}.")
    return int(features[FEATURE].shape[-1])
  name = sparse.feature_names(FEATURE)[0]
  files = sorted(tf.io.gfile.glob(file_pattern(samples_dir)))
  ds = tf.data.TFRecordDataset(files).batch(1024).map(
      lambda s: tf.reduce_max(tf.concat([tfgnn.parse_example(spec, s)
                                         .node_sets[node_set_name][name]
                                         .flat_values, [-1]], 0)))
  return int(ds.reduce(tf.constant(-1, tf.int64), tf.maximum)) + 1


def file_pattern(samples_dir: str) -> str:
  return os.path.join(samples_dir, f"{SAMPLES}-*")


@tf.keras.utils.register_keras_serializable(package="tensorflow_gnn_dink")
class ReverseEdges(tf.keras.layers.Layer):
  """Makes `edge_set_name` undirected: each edge once in each direction.

  GraphTensor -> GraphTensor. A sampled subgraph holds the sampled
  directions only (root -> neighbour; an edge may also have been sampled
  back, neighbour -> root, at the next hop); the result holds every sampled
  pair `{u, v}` exactly once as `u -> v` and once as `v -> u`, without
  self-loops (the GCN adds its own), grouped by component as TF-GNN needs,
  so that the GCN's messages reach the root and no edge counts twice.
  Features of the edge set are dropped (sampled subgraphs have none). Not for
  XLA (the number of edges depends on the data): apply it in the input
  pipeline, before padding.
  """

  def __init__(self, edge_set_name: str = EDGE_SET, **kwargs):
    super().__init__(**kwargs)
    self.edge_set_name = edge_set_name

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    edge_set = graph.edge_sets[self.edge_set_name]
    adjacency = edge_set.adjacency
    if adjacency.source_name != adjacency.target_name:
      raise ValueError(f"ReverseEdges: edge set {self.edge_set_name!r} joins "
                       f"{adjacency.source_name!r} to "
                       f"{adjacency.target_name!r}, not a node set to itself.")
    node_set = graph.node_sets[adjacency.source_name]
    source = tf.cast(tf.concat([adjacency.source, adjacency.target], 0),
                     tf.int64)
    target = tf.cast(tf.concat([adjacency.target, adjacency.source], 0),
                     tf.int64)
    # Sorted by (source, target): grouped by component (a component's nodes
    # are contiguous), each pair once.
    keys = source * tf.cast(node_set.total_size, tf.int64) + target
    order = tf.argsort(keys, stable=True)
    keys = tf.gather(keys, order)
    source, target = tf.gather(source, order), tf.gather(target, order)
    keep = tf.logical_and(
        tf.concat([[True], keys[1:] != keys[:-1]], 0), source != target)
    source = tf.boolean_mask(source, keep)
    target = tf.boolean_mask(target, keep)
    num_components = tf.shape(node_set.sizes, out_type=tf.int64)[0]
    component = tf.repeat(tf.range(num_components), node_set.sizes)
    sizes = tf.math.unsorted_segment_sum(
        tf.ones_like(source), tf.gather(component, source), num_components)
    indices_dtype = adjacency.source.dtype
    edge_sets = dict(graph.edge_sets)
    edge_sets[self.edge_set_name] = tfgnn.EdgeSet.from_fields(
        sizes=tf.cast(sizes, edge_set.sizes.dtype),
        adjacency=tfgnn.Adjacency.from_indices(
            (adjacency.source_name, tf.cast(source, indices_dtype)),
            (adjacency.target_name, tf.cast(target, indices_dtype))))
    return tfgnn.GraphTensor.from_pieces(
        context=graph.context, node_sets=dict(graph.node_sets),
        edge_sets=edge_sets)

  def get_config(self):
    return dict(edge_set_name=self.edge_set_name, **super().get_config())


def own_edge_sets(spec: tfgnn.GraphTensorSpec, node_set_name: str
                  ) -> list[str]:
  """The edge sets of `spec` from `node_set_name` to itself, sorted."""
  return sorted(name for name, edge_set in spec.edge_sets_spec.items()
                if edge_set.adjacency_spec.source_name == node_set_name ==
                edge_set.adjacency_spec.target_name)


def _prepare(spec: tfgnn.GraphTensorSpec, node_set_name: str,
             normalize_features: bool):
  """Sampled subgraph(s) -> what the encoder reads, the same in every stage.

  Each root first in its node set `node_set_name` (`subgraphs.
  put_roots_first`, by the subgraph's `ROOT_ID`: TF-GNN's Beam sampler
  orders the nodes of a node set as it likes where several edge sets reach
  it); without the string ids (`#id`, `ROOT_ID`: no TPU or XLA program
  takes strings); the edge sets from the root's node set to itself made
  undirected (`ReverseEdges`), the others as sampled (away from the root);
  optionally every node set's features scaled to rows summing to 1 (the
  recipe's `data.normalize_features="row"`, a per-node operation, so the
  same in a subgraph as in the whole graph); and the real-components mark
  (`layers.mark_real_components`, for padding).
  """
  reverse = [ReverseEdges(name) for name in own_edge_sets(spec, node_set_name)]
  normalize = layers.NormalizeFeatureRows(FEATURE)
  has_root_id = ROOT_ID in spec.context_spec.features_spec

  def prepare(graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    if has_root_id:
      graph = subgraphs.put_roots_first(graph, node_set_name,
                                        graph.context[ROOT_ID])
    graph = graph.remove_features(
        context=[ROOT_ID] if has_root_id else None,
        node_sets={name: [NODE_ID] for name, node_set in
                   graph.node_sets.items() if NODE_ID in node_set.features})
    for layer in reverse:
      graph = layer(graph)
    if normalize_features:
      graph = normalize(graph)
    return layers.mark_real_components(graph)

  return prepare


class _Provider(runner.DatasetProvider):
  """The runner's TFRecord provider (files sharded by input context), parsed
  and prepared (`_prepare`)."""

  def __init__(self, samples_dir: str, normalize_features: bool = True):
    self._spec = graph_spec(samples_dir)
    self._records = runner.TFRecordDatasetProvider(
        file_pattern=file_pattern(samples_dir), shuffle_filenames=True,
        examples_shuffle_size=4096)
    self._prepare = _prepare(self._spec, sampled_node_set(samples_dir),
                             normalize_features)

  def get_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
    return self._records.get_dataset(context).map(
        lambda s: self._prepare(tfgnn.parse_single_example(self._spec, s)),
        num_parallel_calls=tf.data.AUTOTUNE)


# Config fields that training on samples does not read (the recipe's
# in-memory graph, its label-free selection and its pictures).
UNUSED_FIELDS = ("data.path", "data.feature_format", "synthetic",
                 "citation", "fanouts", "selection", "steps_per_epoch",
                 "pretrain.candidates", "check_memory", "plots")
DEFAULT_BATCH_SIZE = 64  # Subgraphs per replica step, unless config sets it.


def unused_settings(config: ml_collections.ConfigDict) -> list[str]:
  """The `UNUSED_FIELDS` that `config` sets to other than the defaults."""
  default = config_lib.default_config()
  changed = []
  for field in UNUSED_FIELDS:
    value, base = config, default
    for part in field.split("."):
      value, base = value[part], base[part]
    if (value.to_dict() if hasattr(value, "to_dict") else value) != (
        base.to_dict() if hasattr(base, "to_dict") else base):
      changed.append(field)
  return changed


def cluster_samples(samples_dir: str, config: ml_collections.ConfigDict, *,
                    model_dir: str, output: Optional[str] = None,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    padding: Optional[bool] = None, jit_compile: bool = False,
                    export_dir: Optional[str] = None,
                    log=print) -> tuple[np.ndarray, np.ndarray, dict]:
  """The Dink-Net recipe on sampled subgraphs; returns (ids, clusters, facts).

  The recipe's stages, with `config` as the recipe reads it
  (`config_lib.default_config()`; `config.n_clusters` is required):
  pretraining of the encoder (`model.*`) with Dink-Net's discrimination task
  (`pretrain.*`) on batches of `config.batch_size` (default 64) subgraphs
  per replica (`runner.run`, one example per root); k-means (`kmeans.*`) on
  the roots' embeddings (`ClusteringEmbedding`: the root's state plus its
  `embedding.propagation_steps`-hop smoothing inside its subgraph,
  L2-normalised); fine-tuning (`finetune.*`: the centres, and the encoder
  unless `config_lib.frozen_encoder`); every root assigned. Without the whole
  graph in memory there is no modularity selection: the last epoch and
  k-means' lowest inertia are kept. The `UNUSED_FIELDS` are not read. With
  `output` (`.csv` or `.parquet`), writes `node_id,cluster_id` rows; with
  `export_dir`, the serving SavedModel of sampled subgraphs
  (`save_serving_model`: it assigns every root as `output` does). Labels
  are never read.

  Samples of one node set and one edge set train Dink-Net's GCN; samples of
  many (`sample(..., node_set_name=...)` on a many-typed graph) train
  `config.model.encoder` of TF-GNN's model zoo (`"auto"`: GraphSAGE, with
  `config.model.hparams`) over every sampled edge set, messages flowing from
  the sampled neighbours towards the root, and cluster the roots' node set
  (`config.node_set`, if set, must be it). The smoothing runs over the
  root's node set's own edge set (none: no smoothing).

  The subgraphs hold `len(fanouts)` hops (`sample`); the encoder's layers
  plus the smoothing may not need more: `embedding.propagation_steps` is
  lowered to fit (the facts returned and the log say so), and an encoder
  deeper than the samples is a ValueError.

  TPU-ready: with `padding` (default: under `TPUStrategy`, which needs it)
  batches are padded to fixed sizes by the runner's `train_padding`
  (`runner.FitOrSkipPadding`: the rare batch that does not fit is skipped);
  the subgraphs are marked (`layers.mark_real_components`), so padding
  changes neither the views nor the losses. `jit_compile` compiles each
  training step with XLA (`trainers.KerasTrainer`), as a TPU does.

  Returns:
    Root ids (strings), their cluster ids, and facts for a results file:
    the node set, the encoder, the effective batch size and smoothing hops,
    the hops sampled, and the seconds of each stage.
  """
  if config.n_clusters is None:
    raise ValueError("Training on samples needs config.n_clusters (the "
                     "subgraphs carry no labels to count classes from): "
                     "pass --config.n_clusters=K.")
  n_clusters = int(config.n_clusters)
  strategy = strategy or tf.distribute.get_strategy()
  if config.get("deterministic", True):
    tf.config.experimental.enable_op_determinism()
  tf.keras.utils.set_random_seed(config.seed)
  spec = graph_spec(samples_dir)
  node_set = sampled_node_set(samples_dir)
  if config.get("node_set") not in (None, node_set):
    raise ValueError(f"config.node_set={config.node_set!r}, but the roots "
                     f"of {samples_dir} are of {node_set!r}: leave "
                     "config.node_set out, or sample the node set to "
                     "cluster (tfgnn-dink sample --node_set=NAME).")
  many = len(spec.node_sets_spec) > 1 or len(spec.edge_sets_spec) > 1
  encoder_name = config_lib.encoder_name(config, many)
  own = own_edge_sets(spec, node_set)
  hops = len(sampled_fanouts(samples_dir))
  layers_needed = int(config.model.num_layers)
  if layers_needed > hops:
    raise ValueError(
        f"config.model.num_layers={layers_needed} needs subgraphs of at "
        f"least {layers_needed} hops; {samples_dir} holds {hops}: sample "
        f"with more --fanouts, or lower model.num_layers.")
  propagation_steps = min(int(config.embedding.propagation_steps),
                          hops - layers_needed if own else 0)
  facts = dict(node_set=node_set, encoder=encoder_name, hops_sampled=hops,
               propagation_steps=propagation_steps,
               batch_size=int(config.batch_size or DEFAULT_BATCH_SIZE),
               selection="last (no whole graph in memory for modularity)",
               seconds={})
  if propagation_steps < config.embedding.propagation_steps:
    log(f"[dink] embedding.propagation_steps="
        f"{config.embedding.propagation_steps}: " + (
            f"the samples hold {hops} hops, {layers_needed} for the encoder, "
            f"so the embedding smooths {propagation_steps} (sample more hops "
            "for more)" if own else
            f"{node_set!r} has no edge set to itself to smooth over, so the "
            "embedding does not smooth"))
  normalize = config.data.normalize_features == "row"
  provider = _Provider(samples_dir, normalize)
  train_spec = provider.get_dataset(
      tf.distribute.InputContext()).element_spec
  if encoder_name == "gcn":
    encoder_fn = encoders.make_gcn_model_fn(
        node_set_name=node_set, edge_set_name=own[0], feature_name=FEATURE,
        hidden_units=config.model.hidden_units, num_layers=layers_needed,
        seed=config.seed, input_width=input_width(samples_dir, node_set),
        activation=config.model.activation)
  else:  # Messages from the sampled neighbours towards the root.
    encoder_fn = encoders.make_model_zoo_fn(
        encoder_name, hidden_units=config.model.hidden_units,
        num_layers=layers_needed, feature_name=FEATURE,
        receiver_tag=tfgnn.SOURCE, **config.model.hparams.to_dict())
  encoder = []

  def model_fn(runner_spec):  # One encoder, trained by both stages.
    if not encoder:
      encoder.extend([encoder_fn(runner_spec), runner_spec])
    return encoder[0]

  def local_encoder() -> tf.keras.Model:
    """The trained encoder's weights in a model of this process, outside
    the strategy (under ParameterServerStrategy or on TPU the trained
    variables live elsewhere); inference runs here."""
    model = encoder_fn(encoder[1])
    model.set_weights(encoder[0].get_weights())
    return model

  if padding is None:
    padding = isinstance(strategy, tf.distribute.TPUStrategy)
  train_padding = (runner.FitOrSkipPadding(train_spec, provider)
                   if padding else None)

  def train(task, stage_config, stage):
    start = time.time()
    trainer = trainers.KerasTrainer(
        strategy, model_dir=os.path.join(model_dir, stage),
        steps_per_epoch=stage_config.steps, verbose=0,
        summarize_every_n_steps="never", checkpoint_every_n_steps="never",
        jit_compile=jit_compile)
    runner.run(
        train_ds_provider=provider, model_fn=model_fn,
        optimizer_fn=lambda: tf.keras.optimizers.Adam(
            stage_config.learning_rate),
        trainer=trainer, task=task, gtspec=train_spec,
        global_batch_size=facts["batch_size"] *
        strategy.num_replicas_in_sync, epochs=1, model_exporters=[],
        train_padding=train_padding)
    facts["seconds"][stage] = round(time.time() - start, 1)
    log(f"[dink] sampled {stage}: {stage_config.steps} steps of "
        f"{facts['batch_size']} subgraphs per replica "
        f"({type(strategy).__name__}, {strategy.num_replicas_in_sync} "
        f"replicas) in {facts['seconds'][stage]} s")

  pt = config.pretrain
  if not own:
    config_lib.check_terms_have_edges(
        config, f"subgraphs without {node_set!r}-to-{node_set!r} edges")
  # NS4GC's terms stay off unless set: not measured on sampled subgraphs.
  losses = config_lib.pretraining_losses(config, on_by_default=False)
  if losses["alignment_loss_weight"]:
    config_lib.second_view(config, drops_edges=False,
                           inputs="sampled subgraphs")  # Columns only.
  dgi = tasks_lib.DeepGraphInfomaxTask(
      node_set, seed=config.seed, svd_metrics=False, **losses,
      augmentor=layers.DropFeatureColumns(pt.feature_drop_rate,
                                          seed=config.seed),
      second_augmentor=layers.DropFeatureColumns(
          pt.feature_drop_rate, seed=config.seed + 1)
      if losses["alignment_loss_weight"] else None)
  train({"dgi": dgi}, pt, "pretrain")
  ft = config.finetune
  smoothing_edge_set = own[0] if own else None
  clustering_kwargs = dict(
      n_clusters=n_clusters, propagation_steps=propagation_steps,
      edge_set_name=smoothing_edge_set,
      dilation_loss_weight=ft.dilation_loss_weight,
      shrink_loss_weight=ft.shrink_loss_weight, shrink=ft.shrink,
      temperature=ft.temperature, max_center_norm=ft.max_center_norm)
  embedding = layers.ClusteringEmbedding(
      node_set, edge_set_name=smoothing_edge_set,
      propagation_steps=propagation_steps, readout="first_node")
  ids, z = embed_roots(samples_dir, local_encoder(), embedding,
                       normalize_features=normalize)
  if len(ids) < n_clusters:
    raise ValueError(f"{len(ids)} sampled roots, fewer than n_clusters="
                     f"{n_clusters}.")
  start = time.time()
  centres, clusters = selection.kmeans(
      z, n_clusters, seed=config.seed, n_init=config.kmeans.n_init,
      max_iter=config.kmeans.max_iter, batch_size=config.kmeans.batch_size,
      sample_size=config.kmeans.get("sample_size"))
  facts["seconds"]["kmeans"] = round(time.time() - start, 1)
  if ft.steps:
    clustering = tasks_lib.DinkClusteringTask(
        node_set, cluster_centers=centres,
        stop_gradient=ft.stop_gradient,
        **clustering_kwargs)
    task = {"dink": clustering}
    if not config_lib.frozen_encoder(config):
      dgi.scale_loss_weights(ft.discrimination_loss_weight)
      task["dgi"] = dgi
    train(task, ft, "finetune")
    if not config_lib.frozen_encoder(config):
      ids, z = embed_roots(samples_dir, local_encoder(), embedding,
                           normalize_features=normalize)
    centres = clustering.cluster_head.cluster_centers.numpy()
    clusters = geometry.hard_assignments(z, centres).numpy()
  if export_dir:
    save_serving_model(samples_dir, local_encoder(), centres, export_dir,
                       propagation_steps=propagation_steps,
                       normalize_features=normalize,
                       temperature=ft.temperature)
    log(f"[dink] wrote the serving SavedModel of sampled subgraphs to "
        f"{export_dir}")
  if output:
    assignments.write(output, clusters, node_ids=ids)
    log(f"[dink] wrote {len(ids)} cluster ids to {output}")
  return ids, clusters, facts


@tf.keras.utils.register_keras_serializable(package="tensorflow_gnn_dink")
class RootIds(tf.keras.layers.Layer):
  """Sampled subgraphs -> `{"node_id": [num_components]}`: each root's `#id`.

  From the subgraph's `ROOT_ID` where it has one, else (samples written
  before they held it, one node set) the first node's `#id`.
  """

  def __init__(self, node_set_name: str = NODE_SET, **kwargs):
    super().__init__(**kwargs)
    self.node_set_name = node_set_name

  def call(self, graph: tfgnn.GraphTensor) -> dict[str, tf.Tensor]:
    if ROOT_ID in graph.context.features:
      return {"node_id": tf.reshape(graph.context[ROOT_ID], [-1])}
    return {"node_id": tfgnn.gather_first_node(
        graph, self.node_set_name, feature_name=NODE_ID)}

  def get_config(self):
    return dict(node_set_name=self.node_set_name, **super().get_config())


class _Prepare(tf.keras.layers.Layer):
  """`_prepare` as a layer of the serving model."""

  def __init__(self, prepare, **kwargs):
    super().__init__(**kwargs)
    self._prepare_fn = prepare

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    return self._prepare_fn(graph)


def save_serving_model(samples_dir: str, encoder: tf.keras.Model,
                       cluster_centers: np.ndarray, export_dir: str, *,
                       propagation_steps: int, normalize_features: bool = True,
                       temperature: float = 1.0) -> None:
  """Writes the serving SavedModel of a model trained on `samples_dir`.

  Its `serving_default` signature takes a batch of serialized subgraphs as
  `sample` writes them (`examples`: `tf.string [batch]`, one rooted subgraph
  each, of the samples' GraphSchema: these, or new ones sampled from a
  graph with the same node sets and features), prepares them as training
  did (`_prepare`), runs `encoder` and assigns each root to the nearest of
  `cluster_centers` by its embedding (the root's state plus its
  `propagation_steps`-hop smoothing inside its subgraph, L2-normalised, as
  `cluster_samples` assigns it). Returns, one row per example: `node_id`
  (the root's `#id`), `cluster_id`, `cluster_probabilities` (softmax of
  `temperature`-scaled negative squared distances) and `embedding`.
  Memory holds one request: a graph of any size is served by streaming its
  subgraphs in batches (`serve_samples`). Bad requests fail alone, as for
  the whole-graph export (`export`). Written atomically.
  """
  spec = graph_spec(samples_dir)
  node_set = sampled_node_set(samples_dir)
  own = own_edge_sets(spec, node_set)
  task = tasks_lib.DinkClusteringTask(
      node_set, n_clusters=int(cluster_centers.shape[0]),
      cluster_centers=cluster_centers, readout="first_node",
      propagation_steps=propagation_steps,
      edge_set_name=own[0] if own else None, temperature=temperature)
  export_lib.save_serving_model(
      encoder, task, spec, export_dir,
      feature_processors=[_Prepare(_prepare(spec, node_set,
                                            normalize_features))],
      extra_outputs=RootIds(node_set))


def serve_samples(export_dir: str, samples_dir: str, *, batch_size: int = 256
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Streams the subgraphs of `samples_dir` through a sampled-run export.

  Returns `(root ids, cluster ids)` of every subgraph, in file order. One
  request of `batch_size` serialized subgraphs at a time (a few batches are
  read ahead), so memory does not grow with the graph. `export_dir`: a
  `save_serving_model` SavedModel (`train --samples` writes
  `MODEL_DIR/export`).

  Raises:
    ValueError: `export_dir` is not such a SavedModel, `samples_dir` holds
      no samples, or they do not fit the SavedModel (other node sets, edge
      sets or features).
  """
  _, outputs = export_lib.serving_signature(export_dir)
  if "node_id" not in outputs:
    raise ValueError(
        f"The SavedModel in {export_dir} serves whole graphs, not sampled "
        "subgraphs: pass the export of a `train --samples` run (its "
        "MODEL_DIR/export), or serve the whole graph (tfgnn-dink predict "
        "--data=...).")
  files = sorted(tf.io.gfile.glob(file_pattern(samples_dir)))
  if not files:
    raise ValueError(f"{samples_dir} holds no sampled subgraphs ({SAMPLES}-*"
                     "): write them with tfgnn-dink sample --output=DIR.")
  serve = tf.saved_model.load(export_dir).signatures[
      export_lib.SIGNATURE_NAME]
  ids, clusters = [], []
  for batch in tf.data.TFRecordDataset(files).batch(batch_size).prefetch(2):
    try:
      out = serve(examples=batch)
    except tf.errors.InvalidArgumentError as e:
      failed = re.search(r"assertion failed: \[([^\]]{1,300})", e.message)
      reason = failed.group(1).strip() if failed else "they do not parse"
      raise ValueError(
          f"The subgraphs of {samples_dir} do not fit the SavedModel in "
          f"{export_dir} ({reason}): pass subgraphs with the node sets, "
          "edge sets and features it was trained on (tfgnn-dink sample of "
          "a graph with the training graph's schema).") from None
    ids.append(out["node_id"].numpy())
    clusters.append(out["cluster_id"].numpy())
  if not ids:
    return np.zeros([0], str), np.zeros([0], np.int64)
  return _decoded(ids), np.concatenate(clusters)


def _decoded(ids: list[np.ndarray]) -> np.ndarray:
  """Batches of root ids (UTF-8 bytes, the unigraph `#id`) as strings."""
  return np.array([i.decode("utf-8") for i in np.concatenate(ids)])


def embed_roots(samples_dir: str, base_model: tf.keras.Model,
                embedding: tf.keras.layers.Layer, *,
                batch_size: int = 256, normalize_features: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
  """Streams every sampled subgraph; returns (root `#id`s, root embeddings).

  Memory holds one batch of subgraphs at a time (plus the `[num_roots, dim]`
  result). `embedding` maps the encoder's output graph to one row per
  component (e.g. `DinkClusteringTask(...).embedding_layer`, which reads
  the first node by the task's `readout`). The subgraphs are prepared as in
  training (`normalize_features` as given to `cluster_samples`).
  """
  spec = graph_spec(samples_dir)
  node_set = sampled_node_set(samples_dir)
  prepare = _prepare(spec, node_set, normalize_features)
  root_ids = RootIds(node_set)
  files = sorted(tf.io.gfile.glob(file_pattern(samples_dir)))
  ds = tf.data.TFRecordDataset(files).batch(batch_size).map(
      lambda s: tfgnn.parse_example(spec, s).merge_batch_to_components())

  # One trace for every batch (the last one is smaller).
  @tf.function(input_signature=[ds.element_spec])
  def embed(graph):
    return (root_ids(graph)["node_id"],
            embedding(base_model(prepare(graph))))

  ids, rows = [], []
  for graph in ds.prefetch(2):
    roots, z = embed(graph)
    ids.append(roots.numpy())
    rows.append(z.numpy())
  if not ids:
    return np.zeros([0], str), np.zeros((0, 0), np.float32)
  return _decoded(ids), np.concatenate(rows)
