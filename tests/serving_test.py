"""The exported clustering model survives bad requests.

A fresh process that loads the SavedModel with plain TensorFlow sends a good
request, a series of bad ones, and the good one again. Each bad request gets
either an exception for that request whose message names the problem, or a
well-defined result (empty batch, graphs without nodes: zero rows; a graph
without edges: its nodes' clusters); the process never crashes, and the final
good request returns exactly the first one's outputs.
"""
import testing_utils  # pylint: disable=g-bad-import-order  (must be first)

import base64
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
import tensorflow_gnn as tfgnn

import tensorflow_gnn_dink as dink

N_CLUSTERS = 3
HIDDEN = 8
WIDTH = 12  # testing_utils.small_graph's feature width.

# Runs in a fresh process: argv = export_dir, requests file. Prints one JSON
# line: per request its outputs, or the error's type and message.
_CLIENT = textwrap.dedent("""
    import base64, json, sys
    import numpy as np
    import tensorflow as tf  # Plain TensorFlow: no TF-GNN, no this package.
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    results = []
    for name, examples in json.load(open(sys.argv[2])):
      examples = tf.constant([base64.b64decode(e) for e in examples],
                             tf.string, shape=[len(examples)])
      try:
        out = serve(examples=examples)
        results.append({
            "name": name,
            "outputs": {k: v.numpy().tolist() for k, v in out.items()},
            "shapes": {k: v.shape.as_list() for k, v in out.items()}})
      except Exception as e:  # pylint: disable=broad-except
        results.append({"name": name, "error": type(e).__name__,
                        "message": str(e)})
    first, last = results[0]["outputs"], results[-1].get("outputs", {})
    print(json.dumps({
        "results": results,
        "last_equals_first": set(first) == set(last) and all(
            np.array_equal(first[k], last[k]) for k in first),
        "imported_tfgnn": "tensorflow_gnn" in sys.modules}))
""")

# Bad request -> (exception type, part of its message).
EXPECTED_ERRORS = {
    "random_bytes": (
        "DataLossError",
        "check_serialized_examples/cond/"
        "examples_must_be_serialized_tf_Examples"),
    "wrong_width": (
        "InvalidArgumentError",
        "Input to reshape is a tensor with 25 values, but the requested "
        "shape requires a multiple of 12"),
    "wrong_width_whole_rows": (
        "InvalidArgumentError",
        "Node set `nodes`: feature `feat` must have one row of shape [12] "
        "(float32) per node; x = rows given, y = nodes, per example"),
    "wrong_dtype": (
        "InvalidArgumentError",
        "Key: nodes/nodes.feat, Index: 0.  Data types don't match. Expected "
        "type: float, Actual type: int64"),
    "empty_string": (
        "InvalidArgumentError",
        "The `#size` field must always be present when parsing graph tensor "
        "with non-static number of graph components."),
    "edge_out_of_range": (
        "InvalidArgumentError",
        "Edge set `edges`: source indices must be in [0, number of nodes of "
        "`nodes`) of their own example."),
    "edge_into_next_example": (
        "InvalidArgumentError",
        "Edge set `edges`: target indices must be in [0, number of nodes of "
        "`nodes`) of their own example."),
}
EMPTY_RESULTS = ("empty_batch", "zero_nodes")


def make_graph(num_nodes, edges=((), ()), width=WIDTH, seed=0):
  """A one-component GraphTensor with random features of `width` columns."""
  features = np.random.default_rng(seed).uniform(size=(num_nodes, width))
  return tfgnn.GraphTensor.from_pieces(
      node_sets={"nodes": tfgnn.NodeSet.from_fields(
          sizes=tf.constant([num_nodes], tf.int64),
          features={"feat": tf.constant(features, tf.float32)})},
      edge_sets={"edges": tfgnn.EdgeSet.from_fields(
          sizes=tf.constant([len(edges[0])], tf.int64),
          adjacency=tfgnn.Adjacency.from_indices(
              ("nodes", tf.constant(np.asarray(edges[0], np.int64))),
              ("nodes", tf.constant(np.asarray(edges[1], np.int64)))))})


def serialize(graph):
  return tfgnn.write_example(graph).SerializeToString()


def with_int64_features(example: bytes) -> bytes:
  """`example` with its float feature `feat` written as an int64 list."""
  proto = tf.train.Example.FromString(example)
  feature = proto.features.feature["nodes/nodes.feat"]
  values = [int(10 * v) for v in feature.float_list.value]
  assert values, "The feature key of tfgnn.write_example has changed."
  feature.ClearField("float_list")
  feature.int64_list.value.extend(values)
  return proto.SerializeToString()


def requests(good: bytes) -> list[tuple[str, list[bytes]]]:
  """The requests, in order: (name, batch of serialized examples)."""
  return [
      ("good", [good]),
      ("random_bytes", [np.random.default_rng(0).bytes(64)]),
      ("empty_batch", []),
      ("zero_nodes", [serialize(make_graph(0))]),
      ("no_edges", [serialize(make_graph(5))]),
      # 5 x 5 values: not whole rows of 12.
      ("wrong_width", [serialize(make_graph(5, ([0, 1], [1, 0]), width=5))]),
      # 6 x 10 values: 5 whole rows of 12, for 6 nodes.
      ("wrong_width_whole_rows",
       [serialize(make_graph(6, ([0, 1], [1, 0]), width=10))]),
      ("wrong_dtype", [with_int64_features(good)]),
      ("empty_string", [b""]),
      ("edge_out_of_range", [serialize(make_graph(3, ([0, 7], [1, 0])))]),
      # Node 4 of the first example would be node 1 of the second once the
      # batch is merged into one graph.
      ("edge_into_next_example", [serialize(make_graph(3, ([0], [4]))),
                                  serialize(make_graph(5, seed=1))]),
      ("good_again", [good]),
  ]


class ServingBadRequestsTest(testing_utils.TestCase):

  def test_bad_requests_fail_alone_in_a_fresh_process(self):
    _, graph = testing_utils.small_graph(num_nodes=20)
    gnn = dink.make_gcn_model_fn(hidden_units=HIDDEN, seed=0)(graph.spec)
    centers = np.random.default_rng(1).normal(size=(N_CLUSTERS, HIDDEN))
    task = dink.DinkClusteringTask(
        "nodes", n_clusters=N_CLUSTERS, readout="all_nodes",
        cluster_centers=centers.astype(np.float32), propagation_steps=1,
        edge_set_name="edges")
    processors = [dink.NormalizeFeatureRows()]
    tmp = self.create_tempdir().full_path
    export_dir = os.path.join(tmp, "export")
    dink.save_serving_model(gnn, task, graph.spec, export_dir,
                            feature_processors=processors)
    in_memory = dink.make_serving_model(gnn, task, graph.spec,
                                        feature_processors=processors)
    sent = requests(serialize(graph))
    requests_file = os.path.join(tmp, "requests.json")
    with open(requests_file, "w") as f:
      json.dump([(name, [base64.b64encode(e).decode() for e in examples])
                 for name, examples in sent], f)

    proc = subprocess.run(
        [sys.executable, "-c", _CLIENT, export_dir, requests_file],
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"), capture_output=True,
        text=True, timeout=300, check=False)
    self.assertEqual(proc.returncode, 0, msg=proc.stderr[-3000:])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])

    self.assertTrue(summary["last_equals_first"])
    self.assertFalse(summary["imported_tfgnn"])
    results = {r["name"]: r for r in summary["results"]}
    self.assertEqual([r["name"] for r in summary["results"]],
                     [name for name, _ in sent])
    for name, (error, message) in EXPECTED_ERRORS.items():
      self.assertEqual(results[name].get("error"), error, msg=name)
      self.assertIn(message, results[name]["message"], msg=name)
    for name in EMPTY_RESULTS:
      self.assertEqual(results[name]["shapes"], {
          "cluster_id": [0], "cluster_probabilities": [0, N_CLUSTERS],
          "embedding": [0, HIDDEN]}, msg=name)
    # Valid requests give the in-memory model's outputs.
    for name in ("good", "no_edges", "good_again"):
      expected = in_memory(tf.constant(dict(sent)[name]))
      outputs = results[name]["outputs"]
      self.assertAllEqual(outputs["cluster_id"], expected["cluster_id"])
      for key in ("cluster_probabilities", "embedding"):
        self.assertAllClose(outputs[key], expected[key], rtol=1e-5,
                            atol=1e-6, msg=f"{name}: {key}")
    self.assertLen(results["no_edges"]["outputs"]["cluster_id"], 5)


if __name__ == "__main__":
  testing_utils.main()
