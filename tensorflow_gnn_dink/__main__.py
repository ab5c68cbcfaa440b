"""Dink-Net graph clustering for TF-GNN: `python -m tensorflow_gnn_dink train`.

With no flags, runs the default recipe (pretrain, k-means, fine-tune, assign,
evaluate, export) on a built-in synthetic graph and prints its metrics.

  python -m tensorflow_gnn_dink train --model_dir=/tmp/dink
  python -m tensorflow_gnn_dink train --config=configs/synthetic.py --seed=3 \\
      --config.finetune.steps=100 --model_dir=/tmp/dink
"""
from absl import flags

from tensorflow_gnn_dink.recipe import cli

flags.adopt_module_key_flags(cli)  # List cli's flags in --help.
cli.run_main()
