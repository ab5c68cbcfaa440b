"""One pretraining step against its limit: FLOPs, kernel rates, bare TensorFlow.

  python benchmarks/step_limit.py [--dataset=cora] [--steps=40] \
      [--data_root=../shared/data]

For the recipe's full-graph pretraining step on a dataset (its shipped
config: GCN + PReLU, Dink-Net's two views, discrimination loss, Adam):
  1. counts the floating-point operations of one step, forward and backward,
     both views -- as this package computes it (sparse `X W` once for both
     views, sparse `A_hat` products, the discrimination as a matrix-vector
     product) and as the
     dense formulation of the paper and PyAGC (dense `X W`, an `H x H`
     projection before the sum);
  2. measures this machine's rates: dense single-precision matmul
     (`tf.matmul` of the dense `X W` shapes) and TensorFlow's CSR
     sparse-dense product (`sparse.matmul` of `X W`), best of 5;
  3. divides (1) by (2): the time a step cannot beat on this machine;
  4. times the same step written as bare TensorFlow ops (one
     `tf.function`: no Keras model, no GraphTensor, no runner; the same
     kernels, views and loss; Adam by hand) and this package's step through
     `runner.run` (median step time from a Keras callback, after one
     warm-up epoch).
Writes `benchmarks/results/step_limit_DATASET.{json,md}` and prints them.
"""
import argparse
import datetime
import math
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Before TensorFlow.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # As the CLI.

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality  # pylint: disable=g-import-not-at-top
import side_by_side  # pylint: disable=g-import-not-at-top

import tensorflow as tf  # pylint: disable=g-import-not-at-top,g-bad-import-order
from tensorflow_gnn import runner  # pylint: disable=g-import-not-at-top

from tensorflow_gnn_dink import layers  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink import sparse  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import input_modes  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import loaders  # pylint: disable=g-import-not-at-top
from tensorflow_gnn_dink.recipe import stages  # pylint: disable=g-import-not-at-top


def _config(dataset):
  import runpy  # pylint: disable=g-import-not-at-top
  return runpy.run_path(os.path.join(quality.ROOT, "configs",
                                     f"{dataset}.py"))["get_config"]()


def flops(n, nnz, edges, features, hidden):
  """FLOPs of one step (2 views; forward + backward), ours and dense."""
  x_w = 2 * nnz * hidden            # Sparse X W (and X^T G for dW).
  a_y = 2 * (edges + n) * hidden    # A_hat Y with self-loops (and A^T G).
  elementwise = 8 * n * hidden      # Bias, PReLU, logits, their gradients.
  # Ours: X W once for both views (forward, and X^T G backward), A_hat
  # products and elementwise work per view.
  ours = 2 * x_w + 4 * a_y + 2 * elementwise
  dense_x_w = 2 * n * features * hidden
  projection = 2 * n * hidden * hidden  # Linear(H, H) before the sum.
  dense = 2 * (2 * dense_x_w + 2 * a_y + 3 * projection + elementwise)
  return {"ours_sparse_gflop": (2 * x_w + 4 * a_y) / 1e9,
          "ours_total_gflop": ours / 1e9,
          "dense_formulation_gflop": dense / 1e9,
          "dense_formulation_matmul_gflop":
              2 * (2 * dense_x_w + 3 * projection) / 1e9}


def best_seconds(fn, repeats=5):
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def rates(x_sparse, n, features, hidden):
  """GFLOP/s of dense matmul and of the CSR product, on the step's shapes."""
  a = tf.random.normal([n, features])
  w = tf.random.normal([features, hidden])
  dense_mm = tf.function(lambda: tf.matmul(a, w))
  dense_s = best_seconds(lambda: dense_mm().numpy())
  sparse_mm = tf.function(lambda: sparse.matmul(x_sparse, w,
                                                is_row_major=True))
  sparse_s = best_seconds(lambda: sparse_mm().numpy())
  nnz = int(x_sparse.values.shape[0])
  return {"sgemm_gflops": 2 * n * features * hidden / dense_s / 1e9,
          "csr_spmm_gflops": 2 * nnz * hidden / sparse_s / 1e9}


def bare_step_seconds(prepared, width, hidden, rate, steps):
  """Median time of the step written as bare TensorFlow ops."""
  graph = prepared.graph_tensor
  features = graph.node_sets["nodes"].features
  cols, vals = (features[k] for k in sparse.feature_names("feat"))
  n = int(cols.nrows())
  propagate = layers.gcn_propagation(graph, "edges")
  init = tf.keras.initializers.GlorotUniform(seed=0)
  weights = [tf.Variable(init([width, hidden])), tf.Variable(tf.zeros([hidden])),
             tf.Variable(tf.fill([hidden], 0.25)),
             tf.Variable(init([hidden, hidden])),
             tf.Variable(tf.zeros([hidden]))]
  moments = [(tf.Variable(tf.zeros_like(w)), tf.Variable(tf.zeros_like(w)))
             for w in weights]
  count = tf.Variable(0.0)

  def encode(columns, values, perm, w, b, alpha):
    """Both views, `X W` computed once (`P X W = P (X W)`), as the GCN does."""
    y = sparse.matmul(sparse.to_sparse_tensor(columns, values, width), w,
                      is_row_major=True)
    views = []
    for projected in (y, tf.gather(y, perm)):
      h = propagate(projected) + b
      views.append(tf.maximum(h, 0.0) + alpha * tf.minimum(h, 0.0))
    return views

  @tf.function
  def step():
    keep = tf.cast(tf.random.uniform([width]) >= rate, tf.float32)
    dropped = tf.RaggedTensor.from_row_splits(
        vals.flat_values * tf.gather(keep, cols.flat_values), vals.row_splits)
    perm = tf.argsort(tf.random.uniform([n]))
    with tf.GradientTape() as tape:
      w, b, alpha, proj, proj_b = weights
      v = tf.reduce_sum(proj, axis=1)
      clean, negative = encode(cols, dropped, perm, w, b, alpha)
      logits = tf.concat([tf.linalg.matvec(clean, v),
                          tf.linalg.matvec(negative, v)], 0) + tf.reduce_sum(
                              proj_b)
      labels = tf.concat([tf.ones([n]), tf.zeros([n])], 0)
      loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
          labels, logits))
    grads = tape.gradient(loss, weights)
    count.assign_add(1.0)
    lr = 1e-3 * tf.sqrt(1 - 0.999 ** count) / (1 - 0.9 ** count)
    for var, grad, (m, s) in zip(weights, grads, moments):
      m.assign(0.9 * m + 0.1 * grad)
      s.assign(0.999 * s + 0.001 * tf.square(grad))
      var.assign_sub(lr * m / (tf.sqrt(s) + 1e-7))
    return loss

  step()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    step().numpy()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


class _StepTimes(tf.keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.times = []

  def on_train_batch_begin(self, batch, logs=None):
    self._start = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    self.times.append(time.perf_counter() - self._start)


def ours_step_seconds(config, prepared, steps, model_dir):
  """Median step time of the recipe's pretraining through `runner.run`."""
  encoder = prepared.mode.build_encoder()
  dgi = stages.pretraining_task(config, prepared)
  timer = _StepTimes()
  runner.run(
      train_ds_provider=prepared.mode.provider, model_fn=lambda _: encoder,
      optimizer_fn=lambda: tf.keras.optimizers.Adam(1e-3),
      trainer=runner.KerasTrainer(
          tf.distribute.get_strategy(), model_dir=model_dir,
          steps_per_epoch=steps, verbose=0, summarize_every_n_steps="never",
          callbacks=[timer]),
      task=dgi, gtspec=prepared.mode.spec, global_batch_size=1,
      epochs=2, model_exporters=[])
  return statistics.median(timer.times[steps:])  # The second epoch.


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", default="cora",
                      choices=sorted(quality.DATASETS))
  parser.add_argument("--data_root",
                      default=os.path.join(quality.ROOT, "..", "shared",
                                           "data"))
  parser.add_argument("--steps", type=int, default=40)
  args = parser.parse_args()
  config = _config(args.dataset)
  config.data.feature_format = "sparse"
  graph = loaders.load(os.path.join(args.data_root,
                                    quality.DATASETS[args.dataset]))
  prepared = stages.prepare(config, graph)
  features = prepared.graph_tensor.node_sets[stages.NODE_SET].features
  x = sparse.read(features, input_modes.FEATURE, width=graph.num_features)
  n, hidden = graph.num_nodes, config.model.hidden_units
  nnz, edges = int(x.values.shape[0]), int(graph.edges.shape[1])
  counted = flops(n, nnz, edges, graph.num_features, hidden)
  measured = rates(x, n, graph.num_features, hidden)
  limit_ms = 1e3 * (counted["ours_sparse_gflop"] / measured["csr_spmm_gflops"])
  dense_limit_ms = 1e3 * (counted["dense_formulation_matmul_gflop"] /
                          measured["sgemm_gflops"])
  bare_ms = 1e3 * bare_step_seconds(prepared, graph.num_features, hidden,
                                    config.pretrain.feature_drop_rate,
                                    args.steps)
  with tempfile.TemporaryDirectory() as model_dir:
    ours_ms = 1e3 * ours_step_seconds(config, prepared, args.steps, model_dir)
  report = {
      "date": datetime.datetime.now().isoformat(timespec="seconds"),
      "machine": side_by_side.machine_info(), "git": side_by_side.git_state(),
      "dataset": args.dataset, "num_nodes": n, "directed_edges": edges,
      "features": graph.num_features, "feature_nonzeros": nnz,
      "hidden_units": hidden, **counted, **measured,
      "sparse_limit_ms": limit_ms, "dense_formulation_limit_ms": dense_limit_ms,
      "bare_tensorflow_step_ms": bare_ms, "ours_step_ms": ours_ms}
  lines = [
      f"Pretraining step on {args.dataset}, {report['date']}, "
      f"{report['machine']['cpu']} ({report['machine']['cpu_count']} cores), "
      f"commit {report['git']['commit'][:10]}: {n:,} nodes, {edges:,} "
      f"directed edges, {graph.num_features:,} features ({nnz:,} non-zeros), "
      f"{hidden} hidden units, two views, forward and backward.", "",
      "| quantity | value |", "|---|---|",
      f"| FLOPs, as computed here (sparse) | "
      f"{counted['ours_total_gflop']:.3f} GFLOP, of which sparse products "
      f"{counted['ours_sparse_gflop']:.3f} |",
      f"| FLOPs, dense formulation (paper, PyAGC) | "
      f"{counted['dense_formulation_gflop']:.2f} GFLOP, of which matmuls "
      f"{counted['dense_formulation_matmul_gflop']:.2f} |",
      f"| dense matmul rate (sgemm) | {measured['sgemm_gflops']:.1f} GFLOP/s |",
      f"| CSR sparse-dense product rate | "
      f"{measured['csr_spmm_gflops']:.2f} GFLOP/s |",
      f"| limit, dense formulation at the sgemm rate | {dense_limit_ms:.1f} ms |",
      f"| limit, our sparse products at the CSR rate | {limit_ms:.1f} ms |",
      f"| the step as bare TensorFlow ops | {bare_ms:.1f} ms |",
      f"| our step through runner.run | {ours_ms:.1f} ms |"]
  text = "\n".join(lines) + "\n"
  side_by_side.save_results(f"step_limit_{args.dataset}", report, text)
  print(text)
  if not math.isfinite(ours_ms):
    sys.exit(1)


if __name__ == "__main__":
  main()
