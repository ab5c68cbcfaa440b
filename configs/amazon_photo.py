"""Amazon-Photo (7,650 nodes, 8 classes): Dink-Net paper settings.

The paper pretrains for 2,000 epochs; see README for the steps used here.

  python -m tensorflow_gnn_dink train --config=configs/amazon_photo.py \
      --data=../shared/data/amazon_photo/amazon_electronics_photo.npz
"""
from tensorflow_gnn_dink.recipe import config as config_lib


def get_config():
  config = config_lib.default_config()
  config.model.hidden_units = 512
  config.embedding.propagation_steps = 10  # The official DGL variant's power.
  config.pretrain.steps = 2000
  config.pretrain.learning_rate = 5e-4
  config.finetune.steps = 100
  config.finetune.learning_rate = 1e-2
  return config
