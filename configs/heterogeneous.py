"""Papers, authors and venues (the built-in citation graph): cluster papers.

  python -m tensorflow_gnn_dink train --config=configs/heterogeneous.py \
      --model_dir=/tmp/dink_hetero

The synthetic graph of `heterogeneous.make_citation_graph` (600 papers in 4
planted communities, 300 authors, 20 venues; every relation in both
directions) unless --data names a graph of many node sets, e.g. TF-GNN
files (a GraphSchema beside its TFRecords) or an OGB dataset of several
node types: then pass --config.node_set=NAME, the node set to cluster, and
--config.n_clusters=K if it has no labels.

The encoder is TF-GNN's GraphSAGE over every edge set, two rounds (so that
what authors and venues learn from their papers reaches the papers back),
with its own hyperparameters in `config.model.hparams` (TF-GNN's defaults,
written out to be overridden: --config.model.hparams.reduce_type=sum). The
features are Gaussian, so they are not row-normalised.
"""
import ml_collections

from tensorflow_gnn_dink.recipe import config as config_lib


def get_config():
  config = config_lib.default_config()
  config.synthetic.kind = "citation"
  config.citation.paper_feature_noise = 2.0
  config.node_set = "paper"
  config.data.normalize_features = "none"
  config.model.encoder = "graph_sage"
  config.model.hidden_units = 128
  config.model.num_layers = 2
  config.model.hparams = ml_collections.ConfigDict(dict(
      reduce_type="mean", use_pooling=True, dropout_rate=0.0,
      l2_normalize=True, combine_type="sum"))
  config.pretrain.steps = 300
  config.pretrain.learning_rate = 1e-3
  config.finetune.steps = 100
  return config
