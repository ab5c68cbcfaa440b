"""Graphs larger than one machine: rooted subgraphs from TF-GNN's Beam sampler.

The graph lives in files; Apache Beam samples one rooted subgraph per node,
written as serialized GraphTensors; training reads them through the runner's
`TFRecordDatasetProvider` (files sharded by input context), and inference
over all nodes streams the subgraphs and writes `(node id, cluster id)`:

    schema = sampling.write_unigraph(graph, "/data/graph")   # or your own
    sampling.sample(schema, "/data/samples", fanouts=(10, 5))  # Apache Beam
    node_ids, clusters = sampling.cluster_samples(
        "/data/samples", n_clusters=7, model_dir="/tmp/run",
        output="/tmp/run/cluster_ids.csv")

`sample` runs TF-GNN's sampling program (`tensorflow_gnn.experimental.
sampler.beam`) in a Beam pipeline: the DirectRunner by default (tests, one
machine); pass pipeline arguments (`--runner=DataflowRunner --project=...`,
Flink, Spark) to run the same pipeline on a cluster. The input is TF-GNN's
"unigraph" format: a GraphSchema whose node set and edge set name files of
`tf.Example`s (`#id`; `#source`, `#target`).

Sampled edges point away from the root (seed -> neighbour); the GCN passes
messages to edge targets, so `ReverseEdges` adds each edge's reverse (the
graph is undirected) before the encoder, in training and inference alike.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _files
from tensorflow_gnn_dink import encoders
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import sparse
from tensorflow_gnn_dink import tasks as tasks_lib
from tensorflow_gnn_dink import trainers
from tensorflow_gnn_dink.recipe import assignments
from tensorflow_gnn_dink.recipe import data

NODE_SET = "nodes"
EDGE_SET = "edges"
FEATURE = "feat"
NODE_ID = "#id"
SCHEMA = "schema.pbtxt"  # The output GraphSchema, beside the samples.
SAMPLES = "samples.tfrecords"  # Shards: samples.tfrecords-0000i-of-0000n.


def write_unigraph(graph: data.Graph, directory: str) -> str:
  """Writes `graph` in TF-GNN's unigraph format; returns the schema's path.

  Files: `nodes.tfrecords` (`#id` and the float feature `feat`: dense, or
  for a scipy sparse matrix its non-zeros as the ragged `feat_columns` +
  `feat_values`, as `tensorflow_gnn_dink.sparse` holds them), `edges.
  tfrecords` (`#source`, `#target`: both directions of each edge, as
  `graph.edges` holds them) and `schema.pbtxt`. Node ids are the graph's own
  (`node_ids`, as strings) or the row numbers.
  """
  os.makedirs(directory, exist_ok=True)
  ids = [str(i).encode() for i in assignments.node_ids_of(graph).tolist()]

  def examples(rows):
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

  if isinstance(graph.features, np.ndarray):
    features = np.asarray(graph.features, np.float32)
    rows = ({FEATURE: features[i]} for i in range(graph.num_nodes))
    columns = {FEATURE: (tf.float32, graph.num_features)}
  else:  # Sparse: the non-zeros of each row.
    csr = graph.features.tocsr()
    csr.sort_indices()
    names = sparse.feature_names(FEATURE)
    rows = ({names[0]: csr.indices[a:b].astype(np.int64),
             names[1]: csr.data[a:b].astype(np.float32)}
            for a, b in zip(csr.indptr[:-1], csr.indptr[1:]))
    columns = {names[0]: (tf.int64, -1), names[1]: (tf.float32, -1)}
  _write_records(os.path.join(directory, "nodes.tfrecords"), examples(
      {NODE_ID: ids[i], **row} for i, row in enumerate(rows)))
  _write_records(os.path.join(directory, "edges.tfrecords"), examples(
      {"#source": ids[s], "#target": ids[t]} for s, t in graph.edges.T))
  schema = tfgnn.GraphSchema()
  node_set = schema.node_sets[NODE_SET]
  # `#id` declared as a feature: the sampler then keeps it in its output.
  node_set.features[NODE_ID].dtype = tf.string.as_datatype_enum
  for name, (dtype, width) in columns.items():
    node_set.features[name].dtype = dtype.as_datatype_enum
    node_set.features[name].shape.dim.add().size = width
  node_set.metadata.filename = "nodes.tfrecords"
  node_set.metadata.cardinality = graph.num_nodes
  edge_set = schema.edge_sets[EDGE_SET]
  edge_set.source = edge_set.target = NODE_SET
  edge_set.metadata.filename = "edges.tfrecords"
  edge_set.metadata.cardinality = int(graph.edges.shape[1])
  path = os.path.join(directory, SCHEMA)
  _files.write_text_atomically(path, str(schema))
  return path


def _write_records(path: str, records) -> None:
  temporary = path + ".tmp"
  with tf.io.TFRecordWriter(temporary) as writer:
    for record in records:
      writer.write(record)
  os.replace(temporary, path)


def sample(schema_path: str, output_dir: str, *,
           fanouts: Sequence[int] = (10, 5), num_shards: int = 4,
           pipeline_args: Sequence[str] = ("--direct_num_workers=1",),
           node_set_name: str = NODE_SET,
           edge_set_name: str = EDGE_SET) -> str:
  """Samples one rooted subgraph per node with Apache Beam; returns its schema.

  Every node of `node_set_name` is a seed; hop `i` samples up to
  `fanouts[i]` out-edges of `edge_set_name` of each node reached, uniformly
  without replacement (TF-GNN's `SamplingSpecBuilder`). The root is the
  first node of its subgraph, with its `#id`. Writes `num_shards` files
  `output_dir/samples.tfrecords-*` of serialized GraphTensors and their
  GraphSchema `output_dir/schema.pbtxt`, into a staging directory beside
  `output_dir` that becomes `output_dir` when the pipeline has finished (a
  stopped run leaves no `output_dir`).

  Args:
    schema_path: A unigraph GraphSchema (e.g. from `write_unigraph`).
    output_dir: A local directory that does not exist yet (or is empty).
    fanouts: Edges sampled per node at each hop. `cluster_samples` needs
      one hop per encoder layer plus one per `propagation_steps` (default:
      two hops).
    num_shards: Output files (at least the number of input pipelines that
      will read them: the runner shards files, not records).
    pipeline_args: Beam pipeline options, e.g. `["--runner=DataflowRunner",
      ...]`; default: the DirectRunner in this process.
    node_set_name: The node set whose nodes are the roots.
    edge_set_name: The edge set to sample along.
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
  if not fanouts or any(int(k) < 1 for k in fanouts):
    raise ValueError(f"fanouts must be positive integers, got {fanouts}.")
  if os.path.exists(output_dir) and os.listdir(output_dir):
    raise ValueError(f"{output_dir} is not empty: sample into a new "
                     "directory.")
  if not tf.io.gfile.exists(schema_path):
    raise ValueError(f"No unigraph schema at {schema_path}: give the "
                     "GraphSchema .pbtxt of the graph's files (e.g. from "
                     "sampling.write_unigraph).")
  graph_schema = unigraph.read_schema(schema_path)
  builder = tfgnn.sampler.SamplingSpecBuilder(
      graph_schema,
      default_strategy=tfgnn.sampler.SamplingStrategy.RANDOM_UNIFORM)
  hop = builder.seed(node_set_name)
  for fanout in fanouts:
    hop = hop.sample(int(fanout), edge_set_name)
  spec = builder.build()
  # Layer names are the program's ids: a fresh Keras name scope per program.
  tf.keras.backend.clear_session()
  model, layers_mapping = beam_sampler.get_sampling_model(graph_schema, spec)
  program, artifacts = sampler_lib.create_program(model)
  output_schema = tfgnn.create_schema_pb_from_graph_spec(
      model.output.spec._unbatch())  # pylint: disable=protected-access
  options = pipeline_options.PipelineOptions(list(pipeline_args))
  with _files.directory_atomically(output_dir) as staging:
    os.makedirs(staging)
    artifacts_path = os.path.join(staging, "artifacts")
    beam_sampler.save_artifacts(artifacts, artifacts_path)
    with beam.Pipeline(options=options) as pipeline:
      feeds = pipeline | unigraph_utils.ReadAndConvertUnigraph(
          graph_schema, os.path.dirname(schema_path))
      feeds.update({layer: feeds[name] for layer, name in
                    layers_mapping.items()})
      seeds = unigraph_utils.seeds_from_graph_dict(feeds, spec)
      examples = executor_lib.execute(program, {"Input": seeds}, feeds=feeds,
                                      artifacts_path=artifacts_path)
      _ = (examples | "DropIds" >> beam.Values()
           | "Write" >> unigraph.WriteTable(
               os.path.join(staging, f"{SAMPLES}@{int(num_shards)}")))
    tf.io.gfile.rmtree(artifacts_path)
    _files.write_text_atomically(os.path.join(staging, SCHEMA),
                                 str(output_schema))
  return os.path.join(output_dir, SCHEMA)


def graph_spec(samples_dir: str) -> tfgnn.GraphTensorSpec:
  """The GraphTensorSpec of one sampled subgraph (from its schema)."""
  path = os.path.join(samples_dir, SCHEMA)
  if not tf.io.gfile.exists(path):
    raise ValueError(f"No {SCHEMA} in {samples_dir}: not a directory of "
                     "samples written by sampling.sample (or not finished).")
  return tfgnn.create_graph_spec_from_schema_pb(tfgnn.read_schema(path))


def input_width(samples_dir: str) -> int:
  """The number of columns of the samples' feature `feat`.

  Dense: its static width. Held sparse (`feat_columns` + `feat_values`):
  1 + the largest column id in the samples (one pass over them; every node
  is a root, so these are the graph's own columns, up to all-zero trailing
  ones, which change nothing).
  """
  spec = graph_spec(samples_dir)
  features = spec.node_sets_spec[NODE_SET].features_spec
  if not sparse.is_sparse(features, FEATURE):
    if FEATURE not in features:
      raise ValueError(f"The samples in {samples_dir} have no node feature "
                       f"{FEATURE!r} (dense, or sparse as "
                       f"{' + '.join(sparse.feature_names(FEATURE))}); "
                       f"they have {sorted(features)}.")
    return int(features[FEATURE].shape[-1])
  name = sparse.feature_names(FEATURE)[0]
  files = sorted(tf.io.gfile.glob(file_pattern(samples_dir)))
  ds = tf.data.TFRecordDataset(files).batch(1024).map(
      lambda s: tf.reduce_max(tf.concat([tfgnn.parse_example(spec, s)
                                         .node_sets[NODE_SET][name]
                                         .flat_values, [-1]], 0)))
  return int(ds.reduce(tf.constant(-1, tf.int64), tf.maximum)) + 1


def file_pattern(samples_dir: str) -> str:
  return os.path.join(samples_dir, f"{SAMPLES}-*")


@tf.keras.utils.register_keras_serializable(package="tensorflow_gnn_dink")
class ReverseEdges(tf.keras.layers.Layer):
  """Adds the reverse of every edge of `edge_set_name` (GraphTensor -> same).

  A sampled subgraph holds the sampled direction only (root -> neighbour);
  with the reverses, the GCN's messages reach the root. Features of the edge
  set are dropped (there are none in sampled subgraphs).
  """

  def __init__(self, edge_set_name: str = EDGE_SET, **kwargs):
    super().__init__(**kwargs)
    self.edge_set_name = edge_set_name

  def call(self, graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    edge_set = graph.edge_sets[self.edge_set_name]
    adjacency = edge_set.adjacency
    edge_sets = dict(graph.edge_sets)
    edge_sets[self.edge_set_name] = tfgnn.EdgeSet.from_fields(
        sizes=2 * edge_set.sizes,
        adjacency=tfgnn.Adjacency.from_indices(
            (adjacency.source_name, _interleave(adjacency.source,
                                                adjacency.target, edge_set)),
            (adjacency.target_name, _interleave(adjacency.target,
                                                adjacency.source, edge_set))))
    return tfgnn.GraphTensor.from_pieces(
        context=graph.context, node_sets=dict(graph.node_sets),
        edge_sets=edge_sets)

  def get_config(self):
    return dict(edge_set_name=self.edge_set_name, **super().get_config())


def _interleave(first: tf.Tensor, second: tf.Tensor,
                edge_set: tfgnn.EdgeSet) -> tf.Tensor:
  """Per component: its edges' `first` ends, then their `second` ends."""
  component = tf.repeat(tf.range(tf.shape(edge_set.sizes)[0]),
                        edge_set.sizes)
  keys = tf.concat([2 * component, 2 * component + 1], 0)
  order = tf.argsort(keys, stable=True)
  return tf.gather(tf.concat([first, second], 0), order)


def _prepare(normalize_features: bool):
  """Sampled subgraph(s) -> what the encoder reads, the same in every stage.

  Without the string node ids (`#id`: no TPU or XLA program takes
  strings), with reversed edges, optionally features scaled to rows summing
  to 1 (the recipe's `data.normalize_features="row"`, a per-node operation,
  so the same in a subgraph as in the whole graph), and the real-components
  mark (`layers.mark_real_components`, for padding).
  """
  reverse = ReverseEdges()
  normalize = layers.NormalizeFeatureRows(FEATURE)

  def prepare(graph: tfgnn.GraphTensor) -> tfgnn.GraphTensor:
    if NODE_ID in graph.node_sets[NODE_SET].features:
      graph = graph.remove_features(node_sets={NODE_SET: [NODE_ID]})
    graph = reverse(graph)
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
    self._prepare = _prepare(normalize_features)

  def get_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
    return self._records.get_dataset(context).map(
        lambda s: self._prepare(tfgnn.parse_single_example(self._spec, s)),
        num_parallel_calls=tf.data.AUTOTUNE)


def cluster_samples(samples_dir: str, *, n_clusters: int, model_dir: str,
                    output: Optional[str] = None, hidden_units: int = 64,
                    batch_size: int = 64, pretrain_steps: int = 300,
                    finetune_steps: int = 50, learning_rate: float = 1e-3,
                    propagation_steps: int = 1,
                    normalize_features: bool = True,
                    feature_drop_rate: float = 0.2, seed: int = 0,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    padding: Optional[bool] = None, jit_compile: bool = False,
                    log=print) -> tuple[np.ndarray, np.ndarray]:
  """Dink-Net on sampled subgraphs; returns (root ids, cluster ids).

  Pretrains the one-layer GCN with Dink-Net's discrimination loss on
  batches of subgraphs (`runner.run`, one example per root), k-means on
  the roots' embeddings (`ClusteringEmbedding`: the root's state plus its
  `propagation_steps`-hop smoothing inside the subgraph, L2-normalised; with
  as many more hops sampled as the encoder has layers), then trains
  both tasks (`DinkClusteringTask` from the k-means centres), and assigns
  every root. With `output` (`.csv` or `.parquet`), writes `node_id,
  cluster_id` rows (`assignments.write`). Labels are never read.
  Features are scaled to rows summing to 1 unless `normalize_features` is
  False (as the recipe's `data.normalize_features`).

  TPU-ready: with `padding` (default: under `TPUStrategy`, which needs it)
  batches are padded to fixed sizes by the runner's `train_padding`
  (`runner.FitOrSkipPadding`: the rare batch that does not fit is skipped);
  the subgraphs are marked (`layers.mark_real_components`), so padding
  changes neither the views nor the losses. `jit_compile` compiles each
  training step with XLA (`trainers.KerasTrainer`), as a TPU does.
  """
  # pylint: disable-next=g-import-not-at-top
  from sklearn import cluster as sk_cluster
  strategy = strategy or tf.distribute.get_strategy()
  width = input_width(samples_dir)
  provider = _Provider(samples_dir, normalize_features)
  train_spec = provider.get_dataset(
      tf.distribute.InputContext()).element_spec
  gcn_fn = encoders.make_gcn_model_fn(
      node_set_name=NODE_SET, edge_set_name=EDGE_SET, feature_name=FEATURE,
      hidden_units=hidden_units, seed=seed, input_width=width)
  encoder = []

  def model_fn(runner_spec):  # One encoder, trained by both stages.
    if not encoder:
      encoder.extend([gcn_fn(runner_spec), runner_spec])
    return encoder[0]

  def local_encoder() -> tf.keras.Model:
    """The trained encoder's weights in a model of this process, outside
    the strategy (under ParameterServerStrategy or on TPU the trained
    variables live elsewhere); inference runs here."""
    model = gcn_fn(encoder[1])
    model.set_weights(encoder[0].get_weights())
    return model
  dgi = tasks_lib.DeepGraphInfomaxTask(
      NODE_SET, seed=seed, svd_metrics=False, dgi_loss_weight=0.0,
      augmentor=layers.DropFeatureColumns(feature_drop_rate, seed=seed))

  if padding is None:
    padding = isinstance(strategy, tf.distribute.TPUStrategy)
  train_padding = (runner.FitOrSkipPadding(train_spec, provider)
                   if padding else None)

  def train(task, steps, stage):
    start = time.time()
    trainer = trainers.KerasTrainer(
        strategy, model_dir=os.path.join(model_dir, stage),
        steps_per_epoch=steps, verbose=0, summarize_every_n_steps="never",
        checkpoint_every_n_steps="never", jit_compile=jit_compile)
    result = runner.run(
        train_ds_provider=provider, model_fn=model_fn,
        optimizer_fn=lambda: tf.keras.optimizers.Adam(learning_rate),
        trainer=trainer, task=task, gtspec=train_spec,
        global_batch_size=batch_size, epochs=1, model_exporters=[],
        train_padding=train_padding)
    log(f"[dink] sampled {stage}: {steps} steps of {batch_size} subgraphs "
        f"in {time.time() - start:.1f} s")
    return result

  train(dgi, pretrain_steps, "pretrain")
  clustering_kwargs = dict(n_clusters=n_clusters, dilation_loss_weight=0.1,
                           propagation_steps=propagation_steps,
                           edge_set_name=EDGE_SET)
  clustering = tasks_lib.DinkClusteringTask(NODE_SET, **clustering_kwargs)
  ids, z = embed_roots(samples_dir, local_encoder(),
                       clustering.embedding_layer,
                       normalize_features=normalize_features)
  if len(ids) < n_clusters:
    raise ValueError(f"{len(ids)} sampled roots, fewer than n_clusters="
                     f"{n_clusters}.")
  kmeans = sk_cluster.KMeans(n_clusters, n_init=10, random_state=seed).fit(z)
  clusters = kmeans.labels_
  if finetune_steps:
    clustering = tasks_lib.DinkClusteringTask(
        NODE_SET, cluster_centers=kmeans.cluster_centers_,
        **clustering_kwargs)
    train({"dgi": dgi, "dink": clustering}, finetune_steps, "finetune")
    ids, z = embed_roots(samples_dir, local_encoder(),
                         clustering.embedding_layer,
                         normalize_features=normalize_features)
    clusters = geometry.hard_assignments(
        z, clustering.cluster_head.cluster_centers.numpy()).numpy()
  if output:
    assignments.write(output, clusters, node_ids=ids)
    log(f"[dink] wrote {len(ids)} cluster ids to {output}")
  return ids, clusters


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
  prepare = _prepare(normalize_features)
  files = sorted(tf.io.gfile.glob(file_pattern(samples_dir)))
  ds = tf.data.TFRecordDataset(files).batch(batch_size).map(
      lambda s: tfgnn.parse_example(spec, s).merge_batch_to_components())

  @tf.function
  def embed(graph):
    roots = tfgnn.gather_first_node(graph, NODE_SET, feature_name=NODE_ID)
    return roots, embedding(base_model(prepare(graph)))

  ids, rows = [], []
  for graph in ds.prefetch(2):
    roots, z = embed(graph)
    ids.append(roots.numpy())
    rows.append(z.numpy())
  return (np.concatenate(ids).astype(str),
          np.concatenate(rows) if rows else np.zeros((0, 0), np.float32))
