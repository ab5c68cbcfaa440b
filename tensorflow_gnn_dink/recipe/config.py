"""The Dink-Net recipe's configuration, as an `ml_collections.ConfigDict`.

`configs/*.py` files start from `default_config()` and change only what a
dataset needs (sizes, epochs, learning rates), as the Dink-Net paper does.
Every field can be overridden on the command line, e.g.
`--config.finetune.learning_rate=1e-3`.
"""
from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any, Optional

import ml_collections
from ml_collections import config_dict

from tensorflow_gnn_dink import _checks


def default_config() -> ml_collections.ConfigDict:
  """The default recipe: full-graph training; a synthetic graph if no data."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # None: the number of label classes (the benchmark convention; the only use
  # of labels before evaluation). Required for unlabelled graphs.
  config.n_clusters = config_dict.placeholder(int)
  # The node set to cluster, for graphs of many node sets (None: the graph's
  # own; a homogeneous graph has one).
  config.node_set = config_dict.placeholder(str)

  # The graph: a file/directory for `loaders.load`, else the synthetic CSBM.
  # feature_format: "auto" keeps features sparse (only non-zeros stored and
  # multiplied) when under 10% of them are non-zero, as for bag-of-words;
  # "sparse" or "dense" force one. The model computes the same function
  # either way (the random columns dropped in pretraining differ).
  config.data = ml_collections.ConfigDict(dict(
      path=config_dict.placeholder(str),
      normalize_features="row",  # "row" (Dink-Net: rows sum to 1) or "none".
      feature_format="auto",
  ))
  # kind: "csbm" (data.make_csbm, one node set, the fields below) or
  # "citation" (heterogeneous.make_citation_graph: papers, authors, venues;
  # `config.citation`). words_per_node: None for dense Gaussian features,
  # else a sparse binary bag of words with about that many words per node.
  config.synthetic = ml_collections.ConfigDict(dict(
      kind="csbm",
      num_nodes=1000, n_clusters=5, num_features=64, avg_degree=10.0,
      homophily=0.8, feature_noise=2.0,
      words_per_node=config_dict.placeholder(int)))
  config.citation = ml_collections.ConfigDict(dict(
      num_papers=600, num_authors=300, num_venues=20, n_clusters=4,
      num_features=32, citations_per_paper=2.0, citation_homophily=0.6,
      paper_feature_noise=1.0, papers_per_author=4, author_purity=0.9,
      venue_purity=0.9))

  # Encoder. "auto": Dink-Net's GCN + PReLU on a graph of one node set and
  # one edge set, else "graph_sage". "gcn", or one of TF-GNN's model zoo
  # (`encoders.MODEL_ZOO`: vanilla_mpnn, mt_albis, hgt, graph_sage) over
  # every node and edge set, with its own hyperparameters in `hparams`
  # (e.g. reduce_type="mean"; see `encoders.make_model_zoo_fn`).
  # activation: the GCN's, after each layer (`encoders.ACTIVATIONS`):
  # "prelu" (Dink-Net's) or "linear" (none, as NS4GC's).
  config.model = ml_collections.ConfigDict(dict(
      encoder="auto", hidden_units=512, num_layers=1, activation="prelu",
      hparams=ml_collections.ConfigDict()))

  # Embedding for clustering: L2-normalised h + A_hat^steps h.
  config.embedding = ml_collections.ConfigDict(dict(propagation_steps=5))

  # Stage 1: Dink-Net's discrimination (clean vs. feature-dropped +
  # row-shuffled graph) and NS4GC's node similarity terms.
  # candidates: how many of the last epochs the selection embeds and
  # clusters (None: every epoch; each costs an embedding pass over all nodes).
  # neighbour/sparsity_loss_weight: NS4GC's terms on `similarity_pairs`
  # sampled edges and node pairs per step; alignment_loss_weight > 0 adds a
  # second positive view (`second_view`) and NS4GC's alignment of
  # the two, the similarities then taken across the views; see
  # `DeepGraphInfomaxTask`. All three 0: Dink-Net's discrimination alone.
  # None (their default) is 1 in full-graph training (measured there) and
  # 0 on node rows (no edges to draw from) and on sampled subgraphs (not
  # measured there; set them above 0 to use them).
  # second_view: how the second view differs from the inputs ("columns":
  # other columns dropped, NS4GC's feature view; "columns_and_edges": and
  # `edge_drop_rate` of the edges, NS4GC's two augmentations) or from the
  # clean view ("edges": its columns, `edge_drop_rate` of the edges dropped;
  # the GCN reuses the clean view's projection). None (the default):
  # "columns_and_edges" for the GCN on the whole graph, "columns" for
  # encoders that do not propagate over kept edges (`second_view`).
  config.pretrain = ml_collections.ConfigDict(dict(
      steps=200, learning_rate=1e-3, feature_drop_rate=0.2,
      dgi_loss_weight=0.0, discrimination_loss_weight=1.0,
      neighbour_loss_weight=config_dict.placeholder(float),
      sparsity_loss_weight=config_dict.placeholder(float),
      alignment_loss_weight=config_dict.placeholder(float),
      similarity_pairs=4096, sparsity_threshold=0.6,
      sparsity_temperature=0.1, second_view=config_dict.placeholder(str),
      edge_drop_rate=0.3,
      candidates=config_dict.placeholder(int)))

  # Stage 2: k-means++ initialisation of the centres. batch_size: None for
  # full k-means, an integer for mini-batch k-means on batches of that many
  # rows. sample_size: None to fit on all rows, an integer to fit each
  # restart on a random sample of that many rows and assign every row to
  # the nearest centre (for millions of nodes; see configs/large_graph.py).
  # restarts_by: how the best of the n_init restarts is chosen, by the
  # partition's "modularity" or by k-means' own "inertia".
  config.kmeans = ml_collections.ConfigDict(dict(
      n_init=10, max_iter=300, batch_size=config_dict.placeholder(int),
      sample_size=config_dict.placeholder(int), restarts_by="inertia"))

  # Stage 3: fine-tune the centres with dilation + shrink, as Dink-Net's
  # official code does (embeddings detached; its discrimination weight 1e-10
  # is 0 here, so the encoder is frozen). The loss is unbounded below in the
  # centres: they drift outwards at most learning_rate per coordinate and
  # step, while the assignments settle; max_center_norm bounds them instead
  # (measured to cost accuracy on Cora, see README). modularity_margin: with
  # selection="modularity", a fine-tuned epoch replaces k-means' own centres
  # only if its partition's modularity is higher by more than this (0.002:
  # the spread of the final modularity over seeds; smaller gains changed
  # ACC by -0.37 points on average, see README).
  config.finetune = ml_collections.ConfigDict(dict(
      steps=200, learning_rate=1e-2, dilation_loss_weight=1.0,
      shrink_loss_weight=1.0, shrink="all", temperature=0.1,
      stop_gradient=True, max_center_norm=config_dict.placeholder(float),
      discrimination_loss_weight=0.0, modularity_margin=0.002))

  # Label-free model selection: "modularity" picks the k-means restart, the
  # pretraining epoch and the fine-tuning epoch whose partition has the
  # highest graph modularity; "last" keeps the last steps (and k-means'
  # lowest inertia). Candidates come every `steps_per_epoch` steps.
  config.selection = "modularity"
  config.steps_per_epoch = 50
  # None: full-graph training (every step sees the whole graph). An integer:
  # pretraining on batches of that many node rows per replica, on A_hat X
  # computed once (exact for the one-layer GCN; see `propagation`), for
  # graphs too large for full-graph steps.
  config.batch_size = config_dict.placeholder(int)
  # None: full-graph training. "10,5" (model-zoo encoders): pretraining on
  # subgraphs rooted at the clustered nodes, sampled in memory along every
  # edge set (up to 10 edges of each per root, then 5 per node reached),
  # `batch_size` roots per replica step (default 128); the embedding and
  # the export read the whole graph (see `subgraphs`).
  config.fanouts = config_dict.placeholder(str)
  # The same seed gives the same clusters on the same machine (TensorFlow's
  # op determinism; measured to cost nothing here on CPU, see README).
  config.deterministic = True
  # Refuse training (full-graph or node rows), before any work, when its
  # estimated peak memory exceeds what the machine has available (the error
  # names what to change).
  config.check_memory = True
  # PNG pictures of the run in MODEL_DIR/plots (see `plots`).
  config.plots = True
  return config


# One line per field, for `tfgnn-dink train --help` (a test checks that every
# field of `default_config()` has one).
FIELD_HELP = {
    "seed": "random seed of everything (same seed, same clusters)",
    "n_clusters": "K; default: the number of label classes (needed for "
                  "unlabelled graphs)",
    "node_set": "the node set to cluster (graphs of many node sets)",
    "data.path": "the graph (same as --data); default: the synthetic graph",
    "data.normalize_features": "'row' (rows sum to 1, Dink-Net) or 'none'",
    "data.feature_format": "'auto' (sparse under 10% non-zeros), 'sparse' "
                           "or 'dense'",
    "synthetic.kind": "synthetic graph: 'csbm' (one node set) or 'citation' "
                      "(papers, authors, venues; config.citation)",
    "synthetic.num_nodes": "synthetic graph: nodes",
    "synthetic.n_clusters": "synthetic graph: planted communities",
    "synthetic.num_features": "synthetic graph: feature columns",
    "synthetic.avg_degree": "synthetic graph: mean degree",
    "synthetic.homophily": "synthetic graph: fraction of edges inside a "
                           "community",
    "synthetic.feature_noise": "synthetic graph: feature noise (higher: "
                               "harder)",
    "synthetic.words_per_node": "synthetic graph: sparse bag of words with "
                                "about this many words (default: dense)",
    "citation.num_papers": "citation graph: papers (the node set clustered)",
    "citation.num_authors": "citation graph: authors",
    "citation.num_venues": "citation graph: venues",
    "citation.n_clusters": "citation graph: planted paper communities",
    "citation.num_features": "citation graph: paper feature columns",
    "citation.citations_per_paper": "citation graph: citations per paper",
    "citation.citation_homophily": "citation graph: fraction of citations "
                                   "inside a community",
    "citation.paper_feature_noise": "citation graph: paper feature noise "
                                    "(higher: less informative)",
    "citation.papers_per_author": "citation graph: papers each author writes",
    "citation.author_purity": "citation graph: fraction of an author's "
                              "papers in its community",
    "citation.venue_purity": "citation graph: fraction of papers published "
                             "in a venue of their community",
    "model.encoder": "'auto', 'gcn' or a TF-GNN model zoo encoder: "
                     "vanilla_mpnn, mt_albis, hgt, graph_sage",
    "model.hidden_units": "encoder width",
    "model.num_layers": "GCN layers",
    "model.activation": "the GCN's activation: 'prelu' (Dink-Net) or "
                        "'linear' (none, NS4GC), relu, selu, elu, tanh",
    "embedding.propagation_steps": "hops p of the clustering embedding "
                                   "normalize(h + A^p h)",
    "pretrain.steps": "pretraining steps (discrimination task)",
    "pretrain.candidates": "the last N pretraining epochs are the "
                           "selection's candidates (default: all)",
    "pretrain.learning_rate": "pretraining learning rate (Adam)",
    "pretrain.feature_drop_rate": "feature columns dropped in both views",
    "pretrain.dgi_loss_weight": "weight of DGI's summary loss (Dink-Net: 0)",
    "pretrain.discrimination_loss_weight": "weight of Dink-Net's "
                                           "discrimination loss",
    "pretrain.neighbour_loss_weight": "weight of NS4GC's neighbour term "
                                      "(neighbours made alike; 0: none; "
                                      "None: 1 on the whole graph)",
    "pretrain.sparsity_loss_weight": "weight of NS4GC's sparsity term "
                                     "(random pairs pushed apart; 0: none; "
                                     "None: 1 on the whole graph)",
    "pretrain.alignment_loss_weight": "weight of NS4GC's alignment of two "
                                      "positive views (0: one view; None: "
                                      "1 on the whole graph)",
    "pretrain.second_view": "the aligned second view: 'columns' (other "
                            "columns dropped), 'edges' (the clean view, "
                            "edges dropped), 'columns_and_edges' (default "
                            "None: both where the GCN drops edges)",
    "pretrain.edge_drop_rate": "edges dropped in the second view (with "
                               "second_view 'edges' or 'columns_and_edges')",
    "pretrain.similarity_pairs": "edges and node pairs drawn per step for "
                                 "the node similarity terms",
    "pretrain.sparsity_threshold": "similarity above which random pairs are "
                                   "pushed apart",
    "pretrain.sparsity_temperature": "the sparsity term's sigmoid "
                                     "temperature",
    "kmeans.n_init": "k-means restarts (the best is kept: restarts_by)",
    "kmeans.restarts_by": "'modularity' (the partition's) or 'inertia' "
                          "(k-means' own) chooses among the restarts",
    "kmeans.max_iter": "k-means iterations per restart",
    "kmeans.batch_size": "mini-batch k-means on batches of this many rows "
                         "(default: full k-means)",
    "kmeans.sample_size": "fit k-means on a random sample of this many rows, "
                          "then assign all (default: fit on all)",
    "finetune.steps": "fine-tuning steps (dilation + shrink)",
    "finetune.learning_rate": "fine-tuning learning rate (Adam)",
    "finetune.dilation_loss_weight": "weight of the cluster dilation loss",
    "finetune.shrink_loss_weight": "weight of the cluster shrink loss",
    "finetune.shrink": "'all' (Dink-Net: towards all centres) or 'assigned'",
    "finetune.temperature": "softmax temperature of soft assignments",
    "finetune.stop_gradient": "keep the encoder frozen while fine-tuning",
    "finetune.max_center_norm": "bound on the centres' norm (default: none)",
    "finetune.modularity_margin": "modularity gain over k-means' centres a "
                                  "fine-tuned epoch needs to be kept",
    "finetune.discrimination_loss_weight": "discrimination loss kept while "
                                           "fine-tuning (trains the encoder)",
    "selection": "'modularity' (label-free choice of epochs and k-means "
                 "restart) or 'last'",
    "steps_per_epoch": "steps between candidates of the selection (and "
                       "checkpoints)",
    "batch_size": "train on batches of this many node rows (large graphs; "
                  "with fanouts: sampled subgraphs); default: full-graph "
                  "steps",
    "fanouts": "model-zoo encoders: pretrain on subgraphs sampled around the "
               "clustered nodes, edges per node at each hop, e.g. '10,5'",
    "deterministic": "TensorFlow's op determinism",
    "check_memory": "refuse training that will not fit in memory, before "
                    "any work",
    "plots": "write PNG pictures of the run to MODEL_DIR/plots",
}


def get_config() -> ml_collections.ConfigDict:
  """Entry point for `--config=<this file>` (ml_collections config files)."""
  return default_config()


def frozen_encoder(config: ml_collections.ConfigDict) -> bool:
  """Whether the fine-tune leaves the encoder as pretrained.

  True when the clustering losses do not reach the encoder
  (`finetune.stop_gradient`) and no discrimination loss trains it
  (`finetune.discrimination_loss_weight <= 0`): the embedding is then
  computed once and only the centres are fine-tuned.
  """
  return bool(config.finetune.stop_gradient and
              config.finetune.discrimination_loss_weight <= 0)


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
  """`{"a.b": value}` for every leaf field of a config (or its `to_dict()`)."""
  flat = {}
  for key, value in config.items():
    if isinstance(value, (Mapping, ml_collections.ConfigDict)):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


# What a run made before a field existed did in its place: the field's value
# for a saved run whose config lacks it (`saved_config`), where the default
# has changed since.
FORMER_DEFAULTS = {
    "model.activation": "prelu",
    "pretrain.neighbour_loss_weight": 0.0,
    "pretrain.sparsity_loss_weight": 0.0,
    "pretrain.alignment_loss_weight": 0.0,
    "kmeans.restarts_by": "modularity",
}


def saved_config(saved: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """The config of a run saved as `saved` (its `to_dict()`), completed.

  A field the run's config lacks (it was added later) takes the value that
  keeps the behaviour of the code that made the run: `FORMER_DEFAULTS`,
  else its current default.
  """
  config = default_config()
  config.update(saved)
  for name, value in FORMER_DEFAULTS.items():
    if not _has(saved, name):
      parent, _, leaf = name.rpartition(".")
      _value(config, parent)[leaf] = value
  return config


def _has(saved: Mapping[str, Any], name: str) -> bool:
  for part in name.split("."):
    if not isinstance(saved, Mapping) or part not in saved:
      return False
    saved = saved[part]
  return True


def _value(config: ml_collections.ConfigDict, name: str) -> Any:
  value: Any = config
  for part in name.split("."):
    value = value[part]
  return value


def _check_number(config: ml_collections.ConfigDict, name: str, *,
                  low: float, positive: bool = False,
                  high: float = math.inf) -> None:
  """`config.<name>` is a finite number >= low (> low if positive), < high."""
  value = _value(config, name)
  ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and
        math.isfinite(value) and (value > low if positive else value >= low)
        and value < high)
  if not ok:
    bound = f"> {low}" if positive else f">= {low}"
    if high < math.inf:
      bound += f" and < {high}"
    raise ValueError(f"config.{name} must be a number {bound}, got "
                     f"{value!r}.")


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks every field a run reads, before any work.

  Raises:
    ValueError: naming the field, the value given and what is allowed.
  """
  _checks.check_non_negative_int(config.seed, "config.seed")
  if config.n_clusters is not None:
    _checks.check_n_clusters(config.n_clusters)
  for name in ("model.hidden_units", "model.num_layers", "pretrain.steps",
               "finetune.steps", "kmeans.n_init", "kmeans.max_iter",
               "steps_per_epoch", "pretrain.similarity_pairs"):
    _checks.check_positive_int(_value(config, name), f"config.{name}")
  for name in ("kmeans.batch_size", "kmeans.sample_size", "batch_size",
               "pretrain.candidates"):
    value = _value(config, name)
    if value is not None:
      _checks.check_positive_int(value, f"config.{name}")
  _checks.check_non_negative_int(config.embedding.propagation_steps,
                                 "config.embedding.propagation_steps")
  for name in ("pretrain.learning_rate", "finetune.learning_rate",
               "finetune.temperature", "pretrain.sparsity_temperature"):
    _check_number(config, name, low=0.0, positive=True)
  _check_number(config, "pretrain.feature_drop_rate", low=0.0, high=1.0)
  _check_number(config, "pretrain.edge_drop_rate", low=0.0, high=1.0)
  if config.pretrain.second_view is not None:
    _checks.check_one_of(config.pretrain.second_view, SECOND_VIEWS,
                         "config.pretrain.second_view")
  _check_number(config, "pretrain.sparsity_threshold", low=-1.0, high=1.0)
  for name in ("pretrain.dgi_loss_weight",
               "pretrain.discrimination_loss_weight",
               "finetune.dilation_loss_weight", "finetune.shrink_loss_weight",
               "finetune.discrimination_loss_weight",
               "finetune.modularity_margin"):
    _check_number(config, name, low=0.0)
  for term in SIMILARITY_TERMS:
    if config.pretrain[f"{term}_loss_weight"] is not None:
      _check_number(config, f"pretrain.{term}_loss_weight", low=0.0)
  pretraining_losses(config)  # Refuses all weights 0.
  if config.finetune.max_center_norm is not None:
    _check_number(config, "finetune.max_center_norm", low=0.0, positive=True)
  _checks.check_one_of(config.finetune.shrink, ("all", "assigned"),
                       "config.finetune.shrink")
  _checks.check_one_of(config.kmeans.restarts_by,
                       ("modularity", "inertia"), "config.kmeans.restarts_by")
  _checks.check_one_of(config.model.encoder, ENCODERS, "config.model.encoder")
  _checks.check_activation(config.model.activation, "config.model.activation")
  _checks.check_one_of(config.synthetic.kind, ("csbm", "citation"),
                       "config.synthetic.kind")
  if config.get("fanouts") is not None:
    fanouts_of(config)
  if config.node_set is not None and not (
      isinstance(config.node_set, str) and config.node_set.strip()):
    raise ValueError(f"config.node_set must name a node set, got "
                     f"{config.node_set!r}.")


def fanouts_of(config: ml_collections.ConfigDict) -> Optional[list[int]]:
  """`config.fanouts` as a list of ints (None: full-graph training)."""
  if config.get("fanouts") is None:
    return None
  try:
    fanouts = [int(k) for k in str(config.fanouts).split(",")]
  except ValueError:
    fanouts = []
  if not fanouts or min(fanouts) < 1:
    raise ValueError(f"config.fanouts={config.fanouts!r}: give positive "
                     "integers, one per hop, e.g. --config.fanouts=10,5.")
  return fanouts


# `config.model.encoder`'s values: TF-GNN's model zoo (`encoders.MODEL_ZOO`)
# besides Dink-Net's GCN.
ENCODERS = ("auto", "gcn", "vanilla_mpnn", "mt_albis", "hgt", "graph_sage")


def encoder_name(config: ml_collections.ConfigDict, many: bool) -> str:
  """`config.model.encoder`, "auto" resolved (`many`: the graph has several
  node or edge sets).

  Raises:
    ValueError: "gcn" for a graph of many node or edge sets.
  """
  encoder = config.model.get("encoder", "auto")
  if encoder == "auto":
    return "graph_sage" if many else "gcn"
  if encoder == "gcn" and many:
    raise ValueError(
        "config.model.encoder='gcn' is Dink-Net's GCN of one node set and "
        "one edge set; this graph has several. Pass one of TF-GNN's model "
        f"zoo: --config.model.encoder=NAME, NAME one of "
        f"{', '.join(sorted(ENCODERS[2:]))} (or 'auto': graph_sage).")
  return encoder


# What the aligned second view changes: `config.pretrain.second_view`.
SECOND_VIEWS = ("columns", "edges", "columns_and_edges")
# NS4GC's terms: `config.pretrain.{term}_loss_weight`.
SIMILARITY_TERMS = ("neighbour", "sparsity", "alignment")


def similarity_weights(config: ml_collections.ConfigDict, *,
                       on_by_default: bool = True) -> dict[str, float]:
  """`{term: weight}` of NS4GC's terms: a weight left None is 1.0 where they
  are `on_by_default` (full-graph training) and 0.0 elsewhere (node rows,
  sampled subgraphs)."""
  weights = {}
  for term in SIMILARITY_TERMS:
    weight = config.pretrain[f"{term}_loss_weight"]
    weights[term] = float(on_by_default) if weight is None else float(weight)
  return weights


def check_terms_have_edges(config: ml_collections.ConfigDict,
                           inputs: str) -> None:
  """Refuses NS4GC's terms set above 0 (`config.pretrain`) for training
  `inputs` (a description) that carry no edges."""
  if any(config.pretrain[f"{term}_loss_weight"]
         for term in SIMILARITY_TERMS):
    raise ValueError(
        f"config.pretrain.neighbour_loss_weight, sparsity_loss_weight and "
        f"alignment_loss_weight (NS4GC's terms) need the edges of each "
        f"training input, and {inputs} carry none. Leave them unset (None: "
        "off on such inputs) or 0, or train on the whole graph (unset "
        "config.batch_size) or on sampled subgraphs (config.fanouts).")


def second_view(config: ml_collections.ConfigDict, *, drops_edges: bool,
                inputs: str) -> str:
  """`config.pretrain.second_view`, None resolved: `"columns_and_edges"`
  where the encoder propagates over the edges a view keeps (`drops_edges`),
  `"columns"` elsewhere. Refuses a view that drops edges where the encoder
  of the training `inputs` (a description) does not."""
  view = config.pretrain.second_view
  if view is None:
    return "columns_and_edges" if drops_edges else "columns"
  if view != "columns" and not drops_edges:
    raise ValueError(
        f"config.pretrain.second_view={view!r} drops edges, which only the "
        f"GCN on the whole graph propagates over, not the encoder of "
        f"{inputs}. Set config.pretrain.second_view='columns' (or leave it "
        f"None, or set alignment_loss_weight=0).")
  return view


def pretraining_losses(config: ml_collections.ConfigDict, *,
                       on_by_default: bool = True) -> dict[str, Any]:
  """`DeepGraphInfomaxTask`'s loss arguments from `config.pretrain`, NS4GC's
  terms left None resolved by `similarity_weights(on_by_default=)`.

  Raises:
    ValueError: every loss weight is 0.
  """
  pt = config.pretrain
  terms = similarity_weights(config, on_by_default=on_by_default)
  if not any((pt.dgi_loss_weight, pt.discrimination_loss_weight,
              *terms.values())):
    raise ValueError(
        "config.pretrain.dgi_loss_weight, discrimination_loss_weight, "
        "neighbour_loss_weight, sparsity_loss_weight and "
        "alignment_loss_weight are all 0"
        + ("" if on_by_default else " (NS4GC's terms are off by default on "
           "these inputs)") + ": nothing "
        "would train the encoder. Set one above 0 (Dink-Net: "
        "discrimination_loss_weight=1).")
  return dict(
      dgi_loss_weight=pt.dgi_loss_weight,
      discrimination_loss_weight=pt.discrimination_loss_weight,
      **{f"{term}_loss_weight": weight for term, weight in terms.items()},
      similarity_pairs=pt.similarity_pairs,
      sparsity_threshold=pt.sparsity_threshold,
      sparsity_temperature=pt.sparsity_temperature)
