"""Cora (2,708 nodes, 7 classes): Dink-Net paper settings.

  python -m tensorflow_gnn_dink train --config=configs/cora.py \
      --data=../shared/data/cora/cora.npz --model_dir=/tmp/dink_cora
"""
from tensorflow_gnn_dink.recipe import config as config_lib


def get_config():
  config = config_lib.default_config()
  config.model.hidden_units = 512
  config.pretrain.steps = 200
  config.pretrain.learning_rate = 1e-3
  config.finetune.steps = 200
  config.finetune.learning_rate = 1e-2
  return config
