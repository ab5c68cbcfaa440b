"""How training sees the graph: the whole graph per step, or batches of rows.

Both input modes have one interface, so that no stage of the recipe branches
on the mode:

  * `FullGraph`: every step (of every replica) sees the whole graph as one
    GraphTensor; the encoder is the GCN of `encoders.make_gcn_model_fn`.
  * `NodeRows`: a one-layer GCN is `PReLU(A_hat X W + b)`, i.e. a Dense layer
    + PReLU on rows of `A_hat X`. `A_hat X` and the negative view
    `A_hat (P X)` are computed once (`propagation.gcn_input_rows`), and steps
    see fixed-size batches of independent node rows (TPU-ready shapes, one
    shard per replica). The trained weights are carried over to the same GCN
    on the graph for embedding and serving.

Sparse features (`tensorflow_gnn_dink.sparse`) stay sparse in both: the
rows of `A_hat X` are then sparse too.

`make(config, graph_tensor, input_width)` picks the mode from
`config.batch_size`.
"""
from __future__ import annotations

import abc
from collections.abc import Callable
import gc
from typing import Optional

import ml_collections
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_gnn as tfgnn
from tensorflow_gnn import runner

from tensorflow_gnn_dink import _arrays
from tensorflow_gnn_dink import encoders
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import sparse
from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import propagation
from tensorflow_gnn_dink.recipe import subgraphs

NODE_SET = "nodes"
EDGE_SET = "edges"
FEATURE = "feat"
_NEGATIVE = "feat_negative"
_EMBED_CHUNK_ROWS = 65536  # 64 MB of 256-wide float32 states.
_EMBED_BLOCK_COLUMNS = 32  # At most; fewer where a block would exceed:
_EMBED_BLOCK_BYTES = 256 << 20  # (down to 8 columns: narrower hops are slow;
_EMBED_MIN_BLOCK_COLUMNS = 8  # measured 41 ms a column at 8, 22 at 32.)


class InputMode(abc.ABC):
  """The training data, encoder and negative view of one way to train.

  Attributes:
    graph_tensor: The whole (feature-processed) graph, one component; in
      `NodeRows`, its adjacency only (the features live in the rows).
    graph_spec: The spec of the whole graph with its features (what a model
      of the whole graph, e.g. the served one, takes).
    description: What one training step sees, for the log.
    provider: The `runner.DatasetProvider` of training.
    spec: The `GraphTensorSpec` of one training input (the runner's gtspec).
    stacks_views: Whether pretraining computes its views (clean, negative
      and, with NS4GC's alignment, a second positive one) in one encoder
      call (`DeepGraphInfomaxTask(stacked_views=True)`, the negative view
      being `corruptor`'s row shuffle) instead of one call per view.
    drops_edges: Whether the encoder propagates over the edges a view
      keeps (`layers.KEPT_EDGES`, from `layers.DropEdges`), as the GCN does.
    readout: The pretraining task's readout of a training input:
      `"all_nodes"`, or `"first_node"` (the roots of sampled subgraphs).
    examples_per_replica: How many of the provider's elements one replica's
      step batches (the runner's `global_batch_size` per replica).
  """
  description: str
  stacks_views: bool = False
  drops_edges: bool = False
  readout: str = "all_nodes"
  examples_per_replica: int = 1
  provider: runner.DatasetProvider
  spec: tfgnn.GraphTensorSpec

  def __init__(self, config: ml_collections.ConfigDict,
               graph_tensor: tfgnn.GraphTensor, input_width: int):
    self.graph_tensor = graph_tensor
    self.graph_spec = graph_tensor.spec
    self._propagate = None  # `A_hat x` of `embed`, built on first use.
    self._gcn_fn = encoders.make_gcn_model_fn(
        node_set_name=NODE_SET, edge_set_name=EDGE_SET, feature_name=FEATURE,
        hidden_units=config.model.hidden_units,
        num_layers=config.model.num_layers, seed=config.seed,
        input_width=input_width, activation=config.model.activation)

  @abc.abstractmethod
  def build_encoder(self) -> tf.keras.Model:
    """Returns a new encoder for `spec` (call inside the strategy's scope)."""

  @abc.abstractmethod
  def corruptor(self, seed: int) -> tf.keras.layers.Layer:
    """Returns the layer making Dink-Net's negative view (row shuffle)."""

  @abc.abstractmethod
  def encode(self, encoder: tf.keras.Model) -> np.ndarray:
    """Returns the encoder's `[num_nodes, hidden_units]` states of all nodes,
    in a new writeable buffer (`_arrays.aligned_empty`)."""

  def serving_encoder(self, encoder: tf.keras.Model) -> tf.keras.Model:
    """Returns the trained encoder as a model of the whole graph."""
    return encoder

  def encoder_to_restore(self) -> tf.keras.Model:
    """A new encoder to read a checkpoint of `build_encoder`'s weights into
    (for `encode` and `serving_encoder`; not for training)."""
    return self.build_encoder()

  def release_pretraining_inputs(self) -> None:
    """Frees what only pretraining reads, for a run that is done with it.

    `encode`, `embed` and `serving_encoder` still work. `FullGraph` frees
    nothing (fine-tuning trains on the same graph); `NodeRows` frees its
    negative rows, and its `provider` refuses to train again.
    """

  def release_embedding_inputs(self) -> None:
    """Frees what only `encode` and `embed` read, for a frozen encoder.

    For a run whose remaining stages read the embedding already computed
    (a frozen fine-tune, `config_lib.frozen_encoder`), not the encoder's
    inputs. `serving_encoder` still works. `FullGraph` frees the propagation
    matrix of `embed` (its graph is fine-tuning's input too); `NodeRows`
    frees its `A_hat X` rows as well, and `encode` then raises.
    """
    self._propagate = None

  def embed(self, encoder: tf.keras.Model,
            embedding: layers.ClusteringEmbedding) -> np.ndarray:
    """The clustering embedding of every node: `embedding` of the states.

    The same ops as `embedding` (read out over all nodes), computed in place
    in the states' buffer: the smoothing in blocks of columns, the
    normalisation in blocks of rows, so that memory beyond the
    `[num_nodes, hidden_units]` result is a few blocks, not a few copies of
    it (10^6 nodes at 256 hidden units: 1 GB each). The propagation's CSR
    matrix is built on the first call and kept for the next ones (one per
    selection candidate), before the states exist: its temporaries (a few
    `[num_edges]` tensors) and the states are never held at once.
    """
    if self._propagate is None and embedding.propagation_steps:
      self._propagate = layers.gcn_propagation(
          self.graph_tensor, embedding.edge_set_name, reuse_matrix=True)
    states = self.encode(encoder)
    return embed_in_place(self.graph_tensor, states, embedding,
                          propagate=self._propagate)


def embed_in_place(graph_tensor: tfgnn.GraphTensor, states: np.ndarray,
                   embedding: layers.ClusteringEmbedding, *,
                   propagate: Optional[Callable[[tf.Tensor], tf.Tensor]] = None
                   ) -> np.ndarray:
  """`embedding` of `graph_tensor` holding `states`, computed in `states`.

  Equals `embedding(graph_tensor.replace_features(...states...))` for
  `embedding.readout == "all_nodes"`: `h + A_hat^p h` column block by
  column block (each column propagates on its own; blocks of at most
  `_EMBED_BLOCK_BYTES` down to 8 columns), then each row
  L2-normalised, row block by row block. `propagate`: `x -> A_hat x` of
  `graph_tensor`'s edge set (`layers.gcn_propagation(...,
  reuse_matrix=True)`), if built already. Returns `states`, overwritten.
  """
  if embedding.readout != "all_nodes":
    raise ValueError("embed_in_place reads out all nodes, not "
                     f"readout={embedding.readout!r}.")
  if embedding.propagation_steps:
    propagate = propagate or layers.gcn_propagation(
        graph_tensor, embedding.edge_set_name,
        dtype=tf.as_dtype(states.dtype), reuse_matrix=True)
    columns = max(_EMBED_MIN_BLOCK_COLUMNS, min(
        _EMBED_BLOCK_COLUMNS,
        _EMBED_BLOCK_BYTES // max(1, states.shape[0] * states.itemsize)))
    for start in range(0, states.shape[1], columns):
      block = states[:, start:start + columns]
      smooth = _arrays.aligned_empty(block.shape, block.dtype)
      smooth[...] = block
      smooth = _arrays.as_tensor(smooth)
      for _ in range(embedding.propagation_steps):
        smooth = propagate(smooth)
      block += np.asarray(smooth)
  if embedding.normalize:
    for start in range(0, states.shape[0], _EMBED_CHUNK_ROWS):
      rows = states[start:start + _EMBED_CHUNK_ROWS]
      rows[...] = np.asarray(
          layers.l2_normalize_rows(tf.constant(rows)))
  return states


class FullGraph(InputMode):
  """Every step sees the whole graph."""

  description = "full-graph steps"
  stacks_views = True  # The GCN projects the features once for both
  # the clean and the negative view.
  drops_edges = True

  def __init__(self, config: ml_collections.ConfigDict,
               graph_tensor: tfgnn.GraphTensor, input_width: int):
    super().__init__(config, graph_tensor, input_width)
    self.provider = inputs.FullGraphDatasetProvider(graph_tensor)
    self.spec = graph_tensor.spec

  def build_encoder(self) -> tf.keras.Model:
    return self._gcn_fn(self.spec)

  def corruptor(self, seed: int) -> tf.keras.layers.Layer:
    return layers.ShuffleNodeRows(seed=seed)

  def encode(self, encoder: tf.keras.Model) -> np.ndarray:
    states = encoder(self.graph_tensor).node_sets[NODE_SET][tfgnn.HIDDEN_STATE]
    result = _arrays.aligned_empty(states.shape, states.dtype.as_numpy_dtype)
    result[...] = states
    return result


class ManyNodeSets(InputMode):
  """Every step sees the whole graph; the encoder is one of TF-GNN's model zoo.

  For graphs of many node and edge sets (and homogeneous ones with
  `config.model.encoder` other than the GCN): every node set's feature
  `feature_name` is projected to the hidden size, then messages pass over
  every edge set (`encoders.make_model_zoo_fn`); the states of
  `node_set_name` are clustered. The negative view shuffles the rows of
  every node set (each with its own permutation), as TF-GNN's Deep Graph
  Infomax does.
  """

  def __init__(self, config: ml_collections.ConfigDict,
               graph_tensor: tfgnn.GraphTensor, *, node_set_name: str,
               feature_name: str, encoder: str,
               receiver_tag: int = tfgnn.TARGET):
    self._set_graph(config, graph_tensor, node_set_name=node_set_name,
                    feature_name=feature_name, encoder=encoder,
                    receiver_tag=receiver_tag)
    self.provider = inputs.FullGraphDatasetProvider(graph_tensor)
    self.spec = graph_tensor.spec
    self.description = (f"full-graph {encoder} steps over "
                        f"{len(graph_tensor.node_sets)} node sets and "
                        f"{len(graph_tensor.edge_sets)} edge sets")

  def _set_graph(self, config: ml_collections.ConfigDict,
                 graph_tensor: tfgnn.GraphTensor, *, node_set_name: str,
                 feature_name: str, encoder: str, receiver_tag: int) -> None:
    # Not InputMode.__init__: there is no GCN to build.
    self.graph_tensor = graph_tensor
    self.graph_spec = graph_tensor.spec
    self._propagate = None
    self.node_set_name = node_set_name
    self._model_fn = encoders.make_model_zoo_fn(
        encoder, hidden_units=config.model.hidden_units,
        num_layers=config.model.num_layers, feature_name=feature_name,
        receiver_tag=receiver_tag, **config.model.hparams.to_dict())

  def build_encoder(self) -> tf.keras.Model:
    return self._model_fn(self.spec)

  def corruptor(self, seed: int) -> tf.keras.layers.Layer:
    return layers.ShuffleNodeRows(seed=seed)  # Every node set.

  def encode(self, encoder: tf.keras.Model) -> np.ndarray:
    states = encoder(self.graph_tensor).node_sets[self.node_set_name][
        tfgnn.HIDDEN_STATE]
    result = _arrays.aligned_empty(states.shape, states.dtype.as_numpy_dtype)
    result[...] = states
    return result


class SampledSubgraphs(ManyNodeSets):
  """Steps see batches of subgraphs rooted at the clustered nodes.

  Sampled in memory along every edge set with `config.fanouts`
  (`subgraphs.SubgraphsProvider`), `config.batch_size` roots per replica
  step; the encoder passes messages towards each edge's source, i.e. from
  the sampled neighbours to the root (`subgraphs`). The embedding and the
  served model run the trained encoder on the whole graph (its node and
  edge sets that the samples hold), where each node reads all its
  neighbours instead of a sample of them.
  """

  readout = "first_node"

  def __init__(self, config: ml_collections.ConfigDict,
               graph_tensor: tfgnn.GraphTensor, *, node_set_name: str,
               feature_name: str, encoder: str, fanouts: list[int]):
    batch_size = config.get("batch_size") or DEFAULT_SUBGRAPHS_PER_STEP
    provider = subgraphs.SubgraphsProvider(
        graph_tensor, node_set_name, fanouts=fanouts, seed=config.seed,
        feature_name=feature_name)
    # The whole graph as far as the samples reach it.
    unused = sorted(set(graph_tensor.edge_sets) -
                    set(provider.edge_set_names))
    graph_tensor = tfgnn.GraphTensor.from_pieces(
        context=graph_tensor.context,
        node_sets={name: graph_tensor.node_sets[name]
                   for name in provider.node_set_names},
        edge_sets={name: graph_tensor.edge_sets[name]
                   for name in provider.edge_set_names})
    self._set_graph(config, graph_tensor, node_set_name=node_set_name,
                    feature_name=feature_name, encoder=encoder,
                    receiver_tag=tfgnn.SOURCE)
    self.provider = provider
    self.examples_per_replica = batch_size
    self.unused_edge_sets = unused
    self._whole = None  # The encoder on the whole graph, built once.
    self.description = (
        f"{encoder} steps of {batch_size} subgraphs per replica (fanouts "
        f"{','.join(map(str, fanouts))} over {len(provider.edge_set_names)} "
        "edge sets)")

  @property
  def spec(self) -> tfgnn.GraphTensorSpec:
    return self.provider.spec  # Traces the sampler the first time.

  def build_encoder(self) -> tf.keras.Model:
    # For the runner's batches: many subgraphs merged into one graph.
    return self._model_fn(self.spec.relax(num_components=True))

  def encoder_to_restore(self) -> tf.keras.Model:
    return self.serving_encoder(None)

  def serving_encoder(self, encoder: Optional[tf.keras.Model]
                      ) -> tf.keras.Model:
    if self._whole is None:
      self._whole = self._model_fn(self.graph_spec)
    if encoder is not None and encoder is not self._whole:
      self._whole.set_weights(encoder.get_weights())
    return self._whole

  def encode(self, encoder: tf.keras.Model) -> np.ndarray:
    return super().encode(self.serving_encoder(encoder))


# Subgraphs per replica step of `SampledSubgraphs` without config.batch_size.
DEFAULT_SUBGRAPHS_PER_STEP = 128


class NodeRows(InputMode):
  """Steps see batches of `A_hat X` rows, computed once (one-layer GCN).

  `row_divisors`: optional `[num_nodes]`; `X` is then the graph's features
  with each row divided by its divisor (`propagation.gcn_input_rows`).
  """

  def __init__(self, config: ml_collections.ConfigDict,
               graph_tensor: tfgnn.GraphTensor, input_width: int,
               row_divisors: Optional[np.ndarray] = None):
    super().__init__(config, graph_tensor, input_width)
    num_nodes = int(graph_tensor.node_sets[NODE_SET].total_size)
    _check_node_rows(config, num_nodes)
    adjacency = graph_tensor.edge_sets[EDGE_SET].adjacency
    a_hat = propagation.normalized_adjacency(
        (np.asarray(adjacency.source),
         np.asarray(adjacency.target)), num_nodes)
    rows = propagation.gcn_input_rows(
        a_hat, _features(graph_tensor, input_width), seed=config.seed,
        row_divisors=row_divisors)
    del a_hat
    # One at a time, each numpy/scipy copy freed once converted.
    self._rows = _as_features(FEATURE, rows.pop("feat"))
    negative = _as_features(_NEGATIVE, rows.pop("feat_negative"))
    # The encoder reads the clean rows only: `encode` fills the negative
    # features of its batches with them (the same tensors, not copies).
    self._negative_names = dict(zip(self._rows, negative))
    self.provider = inputs.NodeRowsDatasetProvider(
        {**self._rows, **negative}, config.batch_size, node_set_name=NODE_SET,
        seed=config.seed)
    self.spec = inputs.node_rows_graph(
        self._with_negative({k: v[:1] for k, v in self._rows.items()}),
        NODE_SET).spec.relax(num_nodes=True)
    self.description = (f"steps of {config.batch_size} node rows per "
                        "replica")
    # The features are in the rows now: held twice, they would cost a copy
    # of the graph's features for nothing.
    self.graph_tensor = graph_tensor.replace_features(node_sets={NODE_SET: {}})
    self._rows_fn = encoders.make_gcn_rows_model_fn(
        node_set_name=NODE_SET, feature_name=FEATURE,
        hidden_units=config.model.hidden_units, seed=config.seed,
        input_width=input_width, activation=config.model.activation)

  def build_encoder(self) -> tf.keras.Model:
    return self._rows_fn(self.spec)

  def corruptor(self, seed: int) -> tf.keras.layers.Layer:
    del seed  # The permutation was drawn once, in `gcn_input_rows`.
    return layers.ReplaceFeature(node_set_name=NODE_SET, source=_NEGATIVE,
                                 target=FEATURE)

  def encode(self, encoder: tf.keras.Model) -> np.ndarray:
    # Chunks written into one numpy buffer: TensorFlow's allocator (which
    # keeps its high-water mark) never holds the chunks and their
    # concatenation at once.
    if self._rows is None:
      raise RuntimeError(
          "The encoder's input rows were released for a frozen fine-tune "
          "(InputMode.release_embedding_inputs); prepare the graph again "
          "(stages.prepare) to encode it once more.")
    num_nodes = int(self.graph_tensor.node_sets[NODE_SET].total_size)
    states = None
    for i in range(0, num_nodes, _EMBED_CHUNK_ROWS):
      batch = inputs.node_rows_graph(self._with_negative(
          {k: v[i:i + _EMBED_CHUNK_ROWS] for k, v in self._rows.items()}),
                                     NODE_SET)
      chunk = encoder(batch).node_sets[NODE_SET][tfgnn.HIDDEN_STATE]
      if states is None:
        states = _arrays.aligned_empty((num_nodes, chunk.shape[-1]),
                                       chunk.dtype.as_numpy_dtype)
      states[i:i + _EMBED_CHUNK_ROWS] = np.asarray(chunk)
    return states

  def serving_encoder(self, encoder: tf.keras.Model) -> tf.keras.Model:
    gcn = self._gcn_fn(self.graph_spec)  # The same GCN, on the graph.
    gcn.set_weights(encoder.get_weights())
    return gcn

  def release_pretraining_inputs(self) -> None:
    """Frees the negative rows `A_hat P X` (as large as the features)."""
    self.provider = _Released()
    gc.collect()  # The datasets that read them, if in reference cycles.

  def release_embedding_inputs(self) -> None:
    """Frees the `A_hat X` rows (as large as the features) too."""
    super().release_embedding_inputs()
    self._rows = None
    self.release_pretraining_inputs()  # Collects what held either.

  def _with_negative(self, rows: dict) -> dict:
    return {**rows, **{self._negative_names[k]: v for k, v in rows.items()}}


class _Released(runner.DatasetProvider):
  """The provider after `InputMode.release_pretraining_inputs`."""

  def get_dataset(self, context: tf.distribute.InputContext) -> tf.data.Dataset:
    raise RuntimeError(
        "The training inputs were released after pretraining "
        "(InputMode.release_pretraining_inputs); prepare the graph again "
        "(stages.prepare) to train on it once more.")


def _features(graph_tensor: tfgnn.GraphTensor, width: int):
  """The node features as a numpy array, or as scipy CSR if held sparse."""
  features = graph_tensor.node_sets[NODE_SET].features
  if FEATURE in features:
    return np.asarray(features[FEATURE])
  columns, values = (features[n] for n in sparse.feature_names(FEATURE))
  return sp.csr_matrix((np.asarray(values.flat_values),
                        np.asarray(columns.flat_values),
                        np.asarray(columns.row_splits)),
                       shape=(int(columns.nrows()), width))


def _as_features(name: str, x) -> dict:
  """Rows `x` as node features `name`: dense, or the sparse pair."""
  if sp.issparse(x):
    return sparse.from_csr(name, x.indptr, x.indices, x.data)
  return {name: _arrays.as_tensor(x, np.float32)}


# Rough peak-memory model of a full-graph pretraining step, fitted to runs on
# a 2-core CPU machine (e.g. 34,000 nodes, 248,000 edges, 8,400 sparse
# features with 1.1M non-zeros, 512 hidden units: 2.1-2.3 GB measured).
_STATES_PER_NODE = 20  # [num_nodes, hidden_units] float32 tensors alive.
_COPIES_PER_NONZERO = 6  # Feature and adjacency entries (12-20 bytes each).
_DENSE_FEATURE_COPIES = 4  # Views and their gradients' inputs.
_BASELINE_BYTES = 600 << 20  # TensorFlow, TF-GNN and the Python process.


def full_graph_bytes(config: ml_collections.ConfigDict, num_nodes: int,
                     num_edges: int, num_features: int,
                     feature_nonzeros: Optional[int]) -> int:
  """Estimated peak memory of full-graph training (`feature_nonzeros`: None
  for dense features).

  Fitted with two views (clean and negative); a second positive view
  (`config.pretrain.alignment_loss_weight`) adds half again of the states
  and feature copies (scaled, not fitted).
  """
  views = 1.5 if config_lib.similarity_weights(config)["alignment"] else 1.0
  states = int(views * _STATES_PER_NODE * num_nodes
               * config.model.hidden_units * 4)
  if feature_nonzeros is None:
    features = int(views * _DENSE_FEATURE_COPIES * num_nodes
                   * num_features * 4)
  else:
    features = int(views * _COPIES_PER_NONZERO * feature_nonzeros * 12)
  edges = _COPIES_PER_NONZERO * (num_edges + num_nodes) * 20
  return _BASELINE_BYTES + states + features + edges


# Node-row training (`NodeRows`), fitted the same way: measured peaks of
# 3,779 MiB (10^6 nodes, 128 dense features, 256 hidden units), 8,415 MiB
# (10^6 nodes, 2,000 sparse features) and 20,542 MiB (10^7 nodes, dense, 128
# hidden units) against estimates of 3,844, 8,393 and 20,837 MiB.
# Per non-zero of `A_hat X`: both views as scipy CSR (8 B each) and as
# tensors (12 B each), not all alive at once.
_ROW_BYTES_PER_NONZERO = 36
_STATE_COPIES = 2.5  # The selection's embedding, its hop buffers, blocks.
_BYTES_PER_EDGE = 30  # Edges in the GraphTensor, the CSR matrix of `A_hat`.


def node_rows_bytes(config: ml_collections.ConfigDict, num_nodes: int,
                    num_edges: int, num_features: int,
                    rows_nonzeros: Optional[int]) -> tuple[int, int, int]:
  """Estimated peak memory of node-row training, and its two large parts.

  `rows_nonzeros`: the non-zeros of `A_hat X` (a bound,
  `propagation.rows_nonzeros_bound`) for sparse features, None for dense.
  Returns `(total, rows, states)`: the `A_hat X` and `A_hat P X` rows while
  `prepare` makes them, and the selection's `[num_nodes, hidden_units]`
  embedding with what it holds beside it (one view of the rows).
  """
  if rows_nonzeros is None:
    rows_made, rows_kept = 12 * num_nodes * num_features, (
        4 * num_nodes * num_features)  # The features, then the two views.
  else:
    rows_made, rows_kept = (_ROW_BYTES_PER_NONZERO * rows_nonzeros,
                            12 * rows_nonzeros)
  states = rows_kept + int(
      _STATE_COPIES * 4 * num_nodes * config.model.hidden_units)
  total = (_BASELINE_BYTES + _BYTES_PER_EDGE * (num_edges + num_nodes)
           + max(rows_made, states))
  return total, rows_made, states


def _proc_bytes(path: str, field: str) -> Optional[int]:
  """A `NAME: value kB` field of a Linux /proc file in bytes, or None."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def available_bytes() -> Optional[int]:
  """Memory available to this process now (Linux `MemAvailable`), or None."""
  return _proc_bytes("/proc/meminfo", "MemAvailable")


def resident_bytes() -> int:
  """This process's resident memory now (Linux `VmRSS`), or 0."""
  return _proc_bytes("/proc/self/status", "VmRSS") or 0


def check_fits(config: ml_collections.ConfigDict, num_nodes: int,
               num_edges: int, num_features: int,
               feature_nonzeros: Optional[int],
               rows_nonzeros: Optional[int] = None) -> None:
  """Refuses, before any work, training that will not fit in memory.

  Raises ValueError naming the settings that make it fit when the estimate
  (`full_graph_bytes`, or `node_rows_bytes` with `config.batch_size`), the
  process's peak, exceeds what the process may grow to: the memory it holds
  already (the interpreter, the graph as read: parts of the estimate) and
  the memory available beside it. `rows_nonzeros` (node rows with sparse
  features): see `node_rows_bytes`.
  """
  if not config.get("check_memory", True):
    return
  node_rows = config.get("batch_size") is not None
  if node_rows:
    needed, rows, states = node_rows_bytes(config, num_nodes, num_edges,
                                           num_features, rows_nonzeros)
  else:
    needed = full_graph_bytes(config, num_nodes, num_edges, num_features,
                              feature_nonzeros)
  available = available_bytes()
  if available is None:
    return
  held = resident_bytes()
  if needed <= held + available:
    return
  gib = 1 << 30
  room = (f"this process holds {held / gib:.1f} GiB and {available / gib:.1f}"
          " GiB more are available")
  dense = (rows_nonzeros if node_rows else feature_nonzeros) is None
  graph = (f"this graph ({num_nodes} nodes, {num_edges} directed edges, "
           f"{num_features} {'dense' if dense else 'sparse'} features, "
           f"{config.model.hidden_units} hidden units) needs about "
           f"{needed / gib:.1f} GiB")
  estimate = ". (An estimate: config.check_memory=False tries anyway.)"
  if node_rows:
    raise ValueError(
        f"Node-row training of {graph} ({rows / gib:.1f} GiB making the "
        "A_hat X rows of both views"
        + ("" if dense else f", up to {rows_nonzeros} non-zeros each")
        + f"; {states / gib:.1f} GiB while the selection embeds every "
        f"node); {room}. Lower "
        "config.model.hidden_units, or train on sampled subgraphs, which "
        "never hold A_hat X (`tfgnn-dink sample --data=... --output=DIR`, "
        "then `tfgnn-dink train --samples=DIR`)" + estimate)
  raise ValueError(
      f"Full-graph training of {graph}; {room}. Train on batches of node "
      "rows (config.batch_size="
      f"{min(8192, num_nodes)}, see configs/large_graph.py), or lower "
      "config.model.hidden_units"
      + (", or keep mostly-zero features sparse "
         "(config.data.feature_format='sparse')" if dense else "")
      + estimate)


def _check_node_rows(config: ml_collections.ConfigDict, num_nodes: int) -> None:
  """Node rows are exact for the one-layer GCN and a frozen fine-tune only."""
  if config.model.num_layers != 1:
    raise ValueError(
        "config.batch_size trains a one-layer GCN on precomputed A_hat X "
        f"rows, but config.model.num_layers={config.model.num_layers}: set "
        "config.model.num_layers=1, or config.batch_size=None for "
        "full-graph training.")
  if not config_lib.frozen_encoder(config):
    raise ValueError(
        "config.batch_size fine-tunes the centres on the frozen encoder's "
        "embedding: keep config.finetune.stop_gradient=True and "
        "config.finetune.discrimination_loss_weight=0, or set "
        "config.batch_size=None for full-graph training.")
  if not 1 <= config.batch_size <= num_nodes:  # Before any precomputation.
    raise ValueError(f"config.batch_size must be in [1, {num_nodes}] (the "
                     f"number of nodes) or None, got {config.batch_size}.")
  config_lib.check_terms_have_edges(
      config, f"steps of {config.batch_size} node rows per replica")
  config_lib.pretraining_losses(config, on_by_default=False)  # Some loss.


def make(config: ml_collections.ConfigDict, graph_tensor: tfgnn.GraphTensor,
         input_width: int, row_divisors: Optional[np.ndarray] = None
         ) -> InputMode:
  """`FullGraph` if `config.batch_size` is None, else `NodeRows`.

  `input_width` is the number of feature columns (dense or sparse);
  `row_divisors` (node rows only) see `NodeRows`.
  """
  if config.get("batch_size") is None:
    if row_divisors is not None:
      raise ValueError("row_divisors are for node-row training only "
                       "(config.batch_size).")
    return FullGraph(config, graph_tensor, input_width)
  return NodeRows(config, graph_tensor, input_width, row_divisors)
