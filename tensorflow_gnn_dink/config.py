"""The Dink-Net recipe's configuration, as an `ml_collections.ConfigDict`.

`configs/*.py` files start from `default_config()` and change only what a
dataset needs (sizes, epochs, learning rates). Every field can be overridden
on the command line, e.g. `--config.finetune.learning_rate=1e-3`.
"""
from __future__ import annotations

import ml_collections


def default_config() -> ml_collections.ConfigDict:
  """The default recipe: a synthetic CSBM graph, full-graph training."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # n_clusters: None = the number of label classes (the benchmark convention).
  config.n_clusters = ml_collections.config_dict.placeholder(int)

  config.synthetic = ml_collections.ConfigDict(dict(
      num_nodes=1000, n_clusters=5, num_features=64, avg_degree=10.0,
      homophily=0.8, feature_noise=2.0))

  config.model = ml_collections.ConfigDict(dict(
      hidden_units=256, num_layers=1))

  config.pretrain = ml_collections.ConfigDict(dict(
      steps=100, learning_rate=1e-3, feature_drop_rate=0.2,
      dgi_loss_weight=0.0, discrimination_loss_weight=1.0))

  config.kmeans = ml_collections.ConfigDict(dict(n_init=10, max_iter=300))

  config.finetune = ml_collections.ConfigDict(dict(
      steps=50, learning_rate=1e-3, dilation_loss_weight=0.2,
      shrink_loss_weight=1.0, discrimination_loss_weight=1.0))

  config.steps_per_epoch = 25
  return config


def get_config() -> ml_collections.ConfigDict:
  """Entry point for `--config=<this file>` (ml_collections config files)."""
  return default_config()
