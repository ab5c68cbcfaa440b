"""Memory: `_memory.release_freed` returns freed heap pages to the OS
(glibc); imports only where used; traced graphs are not kept alive by the
custom gradients (`_custom_gradients`) of the sparse product and the
distances."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import gc
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import tensorflow as tf

from tensorflow_gnn_dink import _memory
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import sparse

# In a fresh interpreter: 4,000 buffers of 64 KiB (below glibc's mmap
# threshold, so on the heap), all freed but the last, which pins the top of
# the heap: glibc keeps the 250 MiB below it until trimmed.
_CHILD = textwrap.dedent("""
    import ctypes
    from tensorflow_gnn_dink import _memory
    def rss_mib():
      with open("/proc/self/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f
                    if l.startswith("VmRSS:"))
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 * 1024
    buffers = [libc.malloc(size) for _ in range(4000)]
    for b in buffers:
      ctypes.memset(b, 1, size)  # Resident.
    for b in buffers[:-1]:
      libc.free(b)
    before = rss_mib()
    released = _memory.release_freed()
    print(before, rss_mib(), released)
""")


# What the command line imports before it trains: SciPy's optimizer and
# matplotlib are imported by the functions that use them, when first called;
# scikit-learn only by mini-batch k-means.
_IMPORTS = textwrap.dedent("""
    import sys
    from tensorflow_gnn_dink.recipe import cli, pipeline, plots, selection
    print(" ".join(sorted({m.split(".")[0] if m != "scipy.optimize" else m
                           for m in sys.modules})))
""")


# The selection and the evaluation of a labelled graph, as the recipe runs
# them: k-means and the label metrics are numpy, scikit-learn stays out.
_SELECTION = textwrap.dedent("""
    import sys
    from tensorflow_gnn_dink.recipe import data, evaluation, selection
    graph = data.make_csbm(num_nodes=200, n_clusters=4, num_features=8,
                           seed=0)
    _, ids = selection.kmeans(graph.features, 4, seed=0, n_init=3,
                              edges=graph.edges)
    _, ids = selection.kmeans(graph.features, 4, seed=0, sample_size=100)
    evaluation.evaluate(ids, graph.labels, graph.edges)
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
""")


def _modules_loaded_by(script: str) -> set[str]:
  """The module names `script` prints, run in a fresh interpreter."""
  return set(subprocess.run(
      [sys.executable, "-c", script], check=True, capture_output=True,
      text=True, cwd=str(testing_utils.ROOT),
      env=testing_utils.run_subprocess_env()).stdout.split())


class LazyImportsTest(testing_utils.TestCase):

  def test_training_does_not_carry_what_only_the_end_needs(self):
    loaded = _modules_loaded_by(_IMPORTS)
    self.assertIn("tensorflow", loaded)
    self.assertEqual(loaded & {"sklearn", "matplotlib", "scipy.optimize"},
                     set())

  def test_selection_and_evaluation_do_not_import_scikit_learn(self):
    loaded = _modules_loaded_by(_SELECTION)
    self.assertIn("numpy", loaded)
    self.assertNotIn("sklearn", loaded)


class TracedGraphsTest(testing_utils.TestCase):
  """Graphs of dropped `tf.function`s are freed (not held by gradients)."""

  def test_a_dropped_training_step_frees_its_graph(self):
    a = tf.sparse.SparseTensor([[0, 0], [1, 2], [2, 1]], [1.0, 2.0, 3.0],
                               [3, 3])
    kernel = tf.Variable(np.ones((3, 2), np.float32))
    prelu = layers.PReLU()
    prelu.build([None, 2])

    def step(x, centres):
      with tf.GradientTape() as tape:
        h = prelu(sparse.matmul(a, tf.matmul(x, kernel), is_row_major=True))
        loss = tf.reduce_sum(geometry.squared_distances(h, centres))
      return tape.gradient(loss, [kernel, prelu.alpha])

    def traced_graph():
      function = tf.function(step)
      concrete = function.get_concrete_function(
          tf.TensorSpec([3, 3]), tf.TensorSpec([2, 2]))
      grads = concrete(tf.eye(3), tf.ones((2, 2)))
      self.assertAllEqual([g.shape for g in grads], [(3, 2), (2,)])
      return weakref.ref(concrete.graph)

    graphs = [traced_graph() for _ in range(3)]
    gc.collect()
    self.assertEqual([g() for g in graphs], [None] * 3)
    # Eager and traced steps agree (eagerly, the functions run as they are).
    x, centres = tf.eye(3), tf.ones((2, 2))
    eager = step(x, centres)
    traced = tf.function(step)(x, centres)
    for e, t in zip(eager, traced):
      self.assertAllClose(e, t, rtol=1e-6, atol=1e-6)


class ReleaseFreedTest(testing_utils.TestCase):

  def test_freed_heap_pages_leave_the_resident_set(self):
    out = subprocess.run([sys.executable, "-c", _CHILD], check=True,
                         capture_output=True, text=True,
                         cwd=str(testing_utils.ROOT)).stdout.split()
    before, after, released = int(out[0]), int(out[1]), out[2] == "True"
    self.assertTrue(released)
    self.assertGreater(before - after, 200)  # Of the 250 MiB freed.

  def test_safe_to_call_any_time(self):
    _memory.release_freed()
    self.assertIsInstance(_memory.release_freed(), bool)


if __name__ == "__main__":
  testing_utils.main()
