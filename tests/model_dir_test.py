"""A model directory between runs: resumed, refused, or started over."""
import testing_utils  # First: Keras 2 before TensorFlow.

import dataclasses
import hashlib
import json
import os

import numpy as np

from tensorflow_gnn_dink.recipe import config as config_lib
from tensorflow_gnn_dink.recipe import data
from tensorflow_gnn_dink.recipe import model_dir

_GRAPH = data.make_csbm(seed=0, num_nodes=50, n_clusters=2, num_features=4)


def _start(directory, config=None, graph=_GRAPH, **kwargs):
  lines = []
  resumed = model_dir.start(directory, config or config_lib.default_config(),
                            graph, log=lines.append, **kwargs)
  return resumed, lines


class StartTest(testing_utils.TestCase):

  def test_a_new_directory_records_the_run(self):
    directory = os.path.join(self.create_tempdir().full_path, "new")
    self.assertEqual(_start(directory), (False, []))
    with open(os.path.join(directory, model_dir.RUN_FILE)) as f:
      record = json.load(f)
    self.assertEqual(record["config"]["seed"], 0)
    self.assertEqual(record["graph"]["num_nodes"], 50)

  def test_the_same_run_resumes_and_drops_partial_files(self):
    directory = self.create_tempdir().full_path
    _start(directory)
    partial = os.path.join(directory, "pretrain", "snapshots", ".tmp-x")
    os.makedirs(os.path.dirname(partial))
    open(partial, "w").close()
    os.makedirs(os.path.join(directory, ".staging-y", "new"))
    resumed, lines = _start(directory)
    self.assertTrue(resumed)
    self.assertIn("resuming the run", lines[0])
    self.assertFalse(os.path.exists(partial))
    self.assertFalse(os.path.exists(os.path.join(directory, ".staging-y")))

  def test_a_path_of_the_data_alone_may_change(self):
    directory = self.create_tempdir().full_path
    _start(directory)
    config = config_lib.default_config()
    config.data.path = "/elsewhere/graph.npz"
    config.check_memory = False
    self.assertTrue(_start(directory, config)[0])

  def test_another_config_is_refused_naming_the_change(self):
    directory = self.create_tempdir().full_path
    _start(directory)
    config = config_lib.default_config()
    config.pretrain.steps = 100
    with self.assertRaisesRegex(
        ValueError, r"holds an unfinished run of another config "
        r"\(pretrain.steps: 200 -> 100\).*--overwrite"):
      _start(directory, config)

  def test_another_graph_is_refused(self):
    directory = self.create_tempdir().full_path
    _start(directory)
    other = data.make_csbm(seed=1, num_nodes=50, n_clusters=2, num_features=4)
    with self.assertRaisesRegex(ValueError, "holds a run on another graph"):
      _start(directory, graph=other)

  def test_a_finished_run_is_refused_and_overwrite_starts_over(self):
    directory = self.create_tempdir().full_path
    _start(directory)
    for name in ("results.json", "cluster_ids.csv", "user_notes.txt"):
      open(os.path.join(directory, name), "w").close()
    os.makedirs(os.path.join(directory, "export"))
    with self.assertRaisesRegex(ValueError,
                                "holds a finished run.*pass --overwrite"):
      _start(directory)
    self.assertEqual(_start(directory, overwrite=True), (False, []))
    # Only what the recipe writes is deleted.
    self.assertCountEqual(os.listdir(directory),
                          [model_dir.RUN_FILE, "user_notes.txt"])

  def test_what_no_run_wrote_is_never_replaced(self):
    directory = self.create_tempdir().full_path
    os.makedirs(os.path.join(directory, "export"))
    open(os.path.join(directory, "cluster_ids.csv"), "w").close()
    for overwrite in (False, True):
      with self.assertRaisesRegex(
          ValueError, "already holds export, cluster_ids.csv, not written by "
          "a run of this recipe"):
        _start(directory, overwrite=overwrite)
    self.assertTrue(os.path.isdir(os.path.join(directory, "export")))

  def test_a_corrupt_run_record_is_a_clear_error(self):
    directory = self.create_tempdir().full_path
    with open(os.path.join(directory, model_dir.RUN_FILE), "w") as f:
      f.write("{not json")
    with self.assertRaisesRegex(ValueError,
                                "run.json is not readable JSON.*--overwrite"):
      _start(directory)

  def test_a_file_is_not_a_model_directory(self):
    path = self.create_tempfile().full_path
    with self.assertRaisesRegex(ValueError, "is a file, not a directory"):
      _start(path)


class FingerprintTest(testing_utils.TestCase):

  def test_digest_of_the_bytes_in_row_order_read_in_place(self):
    graph = data.make_csbm(num_nodes=50, n_clusters=2, seed=0)
    want = hashlib.blake2b(digest_size=16)
    for array in (graph.edges, graph.features, graph.labels):
      want.update(array.tobytes())  # The digest of earlier run records.
    self.assertEqual(model_dir.graph_fingerprint(graph)["digest"],
                     want.hexdigest())
    columns = dataclasses.replace(graph, features=np.asfortranarray(
        graph.features))  # Not C-contiguous: the same digest.
    self.assertEqual(model_dir.graph_fingerprint(columns)["digest"],
                     want.hexdigest())
    moved = graph.features.copy()
    moved[0, 0] += 1.0
    self.assertNotEqual(model_dir.graph_fingerprint(dataclasses.replace(
        graph, features=moved))["digest"], want.hexdigest())


class ArraysTest(testing_utils.TestCase):

  def test_round_trip_without_pickles(self):
    path = os.path.join(self.create_tempdir().full_path, "a", "x.npz")
    arrays = {"w0000": np.arange(6, dtype=np.float32).reshape(2, 3),
              "choice": np.array(json.dumps({"index": 1}))}
    model_dir.save_arrays(path, arrays)
    loaded = model_dir.load_arrays(path)
    self.assertAllEqual(loaded["w0000"], arrays["w0000"])
    self.assertEqual(json.loads(str(loaded["choice"])), {"index": 1})
    model_dir.save_arrays(path, {"o": np.array([{"a": 1}], dtype=object)})
    with self.assertRaisesRegex(ValueError, "x.npz is damaged.*allow_pickle"):
      model_dir.load_arrays(path)

  def test_a_damaged_file_is_a_clear_error(self):
    path = os.path.join(self.create_tempdir().full_path, "x.npz")
    model_dir.save_arrays(path, {"w": np.ones((100, 100))})
    with open(path, "rb") as f:
      head = f.read()[:1000]
    with open(path, "wb") as f:
      f.write(head)
    with self.assertRaisesRegex(ValueError, "x.npz is damaged.*--overwrite"):
      model_dir.load_arrays(path)


if __name__ == "__main__":
  testing_utils.main()
