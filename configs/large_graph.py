"""Template for graphs too large for full-graph steps (10^5 nodes and up).

Pretraining runs on batches of node rows of `A_hat X`, computed once (exact
for Dink-Net's one-layer GCN, see `tensorflow_gnn_dink/propagation.py`), so a
step costs the same however large the graph. Sizes follow the Dink-Net
paper's ogbn-products setting (batch 8192, hidden 1024 there); copy this file
and adjust `hidden_units`, `batch_size` and the steps to the graph and the
machine. Memory: the features twice (clean and negative rows) plus the
`[num_nodes, hidden_units]` embedding a few times over, in float32.

  python -m tensorflow_gnn_dink train --config=configs/large_graph.py \\
      --data=PATH --config.n_clusters=K --model_dir=DIR

Without --data it runs on a synthetic graph of 200,000 nodes.
"""
from tensorflow_gnn_dink.recipe import config as config_lib


def get_config():
  config = config_lib.default_config()
  # Node rows per replica and step. They carry no edges: Dink-Net's
  # discrimination alone (NS4GC's terms, config.pretrain.*_loss_weight=None,
  # are off on such inputs).
  config.batch_size = 8192
  config.model.hidden_units = 256
  config.pretrain.steps = 1000
  config.pretrain.learning_rate = 1e-3
  config.finetune.steps = 100
  config.finetune.learning_rate = 1e-2
  config.kmeans.n_init = 3
  # Each k-means restart fits on 65,536 random nodes, then assigns all:
  # about 1 s at 10^6 nodes (mini-batch k-means, kmeans.batch_size=8192:
  # 5 s; full k-means: 7 s).
  config.kmeans.sample_size = 65536
  # Checkpoints every 500 steps. Candidates of the label-free selection: each
  # costs an embedding pass over all nodes (at 10^6 nodes on 2 cores about a
  # quarter of the run), so the last epoch only; the modularity then chooses
  # among its k-means restarts. (At 10^6 nodes the 500-step candidate scored
  # modularity 0.627 against 0.632 and was not chosen.) None: every epoch.
  config.steps_per_epoch = 500
  config.pretrain.candidates = 1
  config.synthetic.num_nodes = 200_000
  config.synthetic.n_clusters = 10
  return config
