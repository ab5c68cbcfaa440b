"""PyAGC's DinkNet (PyTorch) on one graph, one seed, each stage timed.

The peer of this package's recipe in `benchmarks/side_by_side.py`, which runs
it with the PyAGC virtual environment's interpreter:

  benchmarks/.venv-pyagc/bin/python benchmarks/pyagc_dinknet.py \
      --graph=GRAPH.npz --n_clusters=7 --seed=0 --hidden_units=512 \
      --num_layers=1 --pretrain_steps=200 --pretrain_learning_rate=1e-3 \
      --finetune_steps=200 --finetune_learning_rate=1e-2 --alpha=10

`GRAPH.npz` holds `features` [N, F] float32 (as read, not normalised),
`edges` [2, E] int64 (both directions, no self-loops) and `labels` [N] int64
(-1 unknown), written by `side_by_side.py` from this package's loader.

The stages follow PyAGC's own benchmark recipe (`benchmark/DinkNet/main.py`
and `train.conf.yaml` in the PyAGC repository, full-batch mode), with the
sizes, steps and learning rates given on the command line:
  prepare            row-normalised features (`T.NormalizeFeatures`, as
                     `pyagc.data.get_dataset`); a GCN + PReLU encoder of
                     `--num_layers` layers (`create_tuned_gnn`; PyAGC sets
                     one for Cora and Photo), a one-layer MLP projector,
                     `DinkNet(alpha=...)`.
  pretrain           Adam, full-batch `train_full(pretrain=True)`: the
                     discrimination loss, corruption = row shuffle; the
                     epoch with the lowest training loss is kept.
  initialise_centres embed, L2-normalise, `KMeansClusterHead` (torch backend,
                     10 inits, 300 iterations, `random_state=seed`); its
                     centres become the cluster head's.
  finetune           Adam on all parameters (encoder, projector, centres):
                     dilation + shrink + alpha * discrimination; the epoch
                     with the lowest training loss is kept.
  predict            `infer_full`: nearest centre to normalize(encoder(x)).
  evaluate           ACC (Hungarian matching) and NMI on the known labels.
Differences from PyAGC's script, none of which changes the model: the best
epoch is kept in memory instead of a checkpoint file; no early stopping
(`patience`), so both implementations run the same number of steps; no
k-means evaluation with labels after pretraining (a report, not a stage).

Prints one JSON line: `timings_s` per stage and `total`, `metrics` (ACC,
NMI as fractions; `non_empty_clusters`), torch's thread count and the
versions of torch, torch_geometric and pyagc. Never imports TensorFlow.
"""
import argparse
import contextlib
import copy
import importlib.metadata
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from scipy import optimize
from sklearn import metrics as sk_metrics
from torch_geometric.data import Data
from torch_geometric.nn import MLP

from pyagc.clusters import KMeansClusterHead
from pyagc.encoders import create_tuned_gnn
from pyagc.models import DinkNet
from pyagc.utils import set_seed


class Stopwatch:
  """Wall time per stage: `with stopwatch.measure("pretrain"): ...`."""

  def __init__(self):
    self._start = time.perf_counter()
    self.seconds = {}

  @contextlib.contextmanager
  def measure(self, stage):
    start = time.perf_counter()
    try:
      yield
    finally:
      self.seconds[stage] = time.perf_counter() - start

  def with_total(self):
    """The stages' seconds and `total`, the time since construction."""
    return {**self.seconds, "total": time.perf_counter() - self._start}


def load_graph(path):
  """Returns `(Data with row-normalised x, labels)` from a plain `.npz`."""
  with np.load(path) as f:
    features, edges, labels = f["features"], f["edges"], f["labels"]
  data = Data(x=torch.from_numpy(features).float(),
              edge_index=torch.from_numpy(edges).long())
  return T.NormalizeFeatures()(data), labels


def build_model(num_features, args):
  """DinkNet as PyAGC's benchmark builds it (GCN + PReLU encoder)."""
  set_seed(args.seed)
  # PyAGC's script also passes GCNConv options (cached, normalize, ...) that
  # `create_tuned_gnn` drops with a warning; GCNConv's defaults apply.
  encoder = create_tuned_gnn(
      gnn_type="gcn", in_channels=num_features,
      hidden_channels=args.hidden_units, num_layers=args.num_layers,
      out_channels=None,
      dropout=0.0, act="prelu", act_first=False, act_last=True, norm=None,
      residual=False, pre_linear=False, jk=None)
  projector = MLP(in_channels=args.hidden_units,
                  hidden_channels=args.hidden_units,
                  out_channels=args.hidden_units, num_layers=1)
  return DinkNet(encoder=encoder, projector=projector,
                 n_clusters=args.n_clusters, hidden_channels=args.hidden_units,
                 alpha=args.alpha)


def train(model, data, steps, learning_rate, seed, pretrain):
  """Full-batch Adam steps; loads the weights of the lowest-loss step.

  As PyAGC's `train_stage`: each step's loss is measured before its update
  and the weights after the update are the ones kept for it.
  """
  set_seed(seed)
  optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate,
                               weight_decay=0.0)
  best_loss, best_state = float("inf"), None
  for step in range(1, steps + 1):
    loss = model.train_full(data, optimizer, step, verbose=False,
                            pretrain=pretrain)
    if loss < best_loss:
      best_loss, best_state = loss, copy.deepcopy(model.state_dict())
  model.load_state_dict(best_state)


@torch.no_grad()
def initialise_centres(model, data, seed):
  """k-means on the normalised embedding; its centres become the head's."""
  set_seed(seed)
  model.eval()
  z = F.normalize(model.embed(data.x, data.edge_index), p=2, dim=1)
  kmeans = KMeansClusterHead(n_clusters=model.n_clusters, backend="torch",
                             n_init=10, max_iter=300, random_state=seed)
  kmeans.fit_predict(z)
  model.cluster_head.reset_cluster_centers(kmeans.cluster_centers.detach())


def evaluate(labels, clusters):
  """ACC (Hungarian matching of max overlap) and NMI on labels >= 0."""
  known = labels >= 0
  labels, clusters = labels[known], clusters[known]
  overlap = np.zeros((clusters.max() + 1, labels.max() + 1), np.int64)
  np.add.at(overlap, (clusters, labels), 1)
  rows, cols = optimize.linear_sum_assignment(-overlap)
  return {"ACC": float(overlap[rows, cols].sum() / labels.size),
          "NMI": float(sk_metrics.normalized_mutual_info_score(labels,
                                                               clusters))}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--graph", required=True)
  parser.add_argument("--n_clusters", type=int, required=True)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--hidden_units", type=int, required=True)
  parser.add_argument("--num_layers", type=int, default=1)
  parser.add_argument("--pretrain_steps", type=int, required=True)
  parser.add_argument("--pretrain_learning_rate", type=float, required=True)
  parser.add_argument("--finetune_steps", type=int, required=True)
  parser.add_argument("--finetune_learning_rate", type=float, required=True)
  parser.add_argument("--alpha", type=float, required=True,
                      help="Weight of the discrimination loss in fine-tuning "
                      "(PyAGC's train.conf.yaml: Cora 10, Photo 2, else 1).")
  args = parser.parse_args()

  stopwatch = Stopwatch()
  with stopwatch.measure("prepare"):
    data, labels = load_graph(args.graph)
  with stopwatch.measure("build_model"):
    model = build_model(data.num_features, args)
  with stopwatch.measure("pretrain"):
    train(model, data, args.pretrain_steps, args.pretrain_learning_rate,
          args.seed, pretrain=True)
  with stopwatch.measure("initialise_centres"):
    initialise_centres(model, data, args.seed)
  with stopwatch.measure("finetune"):
    train(model, data, args.finetune_steps, args.finetune_learning_rate,
          args.seed, pretrain=False)
  with stopwatch.measure("predict"):
    clusters = model.infer_full(data).numpy()
  with stopwatch.measure("evaluate"):
    metrics = evaluate(labels, clusters)
  metrics["non_empty_clusters"] = int(np.unique(clusters).size)
  if "tensorflow" in sys.modules:
    raise RuntimeError("TensorFlow was imported; the peer must run without.")
  print(json.dumps({
      "timings_s": stopwatch.with_total(), "metrics": metrics,
      "torch_threads": torch.get_num_threads(),
      "versions": {name: importlib.metadata.version(name)
                   for name in ("torch", "torch_geometric", "pyagc")}}))


if __name__ == "__main__":
  main()
