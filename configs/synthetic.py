"""The default recipe on the built-in synthetic graph (CSBM, 5 communities).

  python -m tensorflow_gnn_dink train --config=configs/synthetic.py
"""
from tensorflow_gnn_dink.recipe import config as config_lib


def get_config():
  return config_lib.default_config()
