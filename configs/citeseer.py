"""CiteSeer (3,327 nodes, 6 classes): Dink-Net paper settings.

  python -m tensorflow_gnn_dink train --config=configs/citeseer.py \
      --data=../shared/data/citeseer --model_dir=/tmp/dink_citeseer
"""
from tensorflow_gnn_dink.recipe import config as config_lib


def get_config():
  config = config_lib.default_config()
  config.model.hidden_units = 1536
  config.pretrain.steps = 100
  config.pretrain.learning_rate = 5e-4
  config.finetune.steps = 200
  config.finetune.learning_rate = 1e-2
  return config
