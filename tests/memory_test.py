"""`_memory.release_freed` returns freed heap pages to the OS (glibc)."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import subprocess
import sys
import textwrap

from tensorflow_gnn_dink import _memory

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


# What the command line imports before it trains: scikit-learn, SciPy's
# optimizer and matplotlib (some 90 MiB resident together) are imported by
# the functions that use them, when first called.
_IMPORTS = textwrap.dedent("""
    import sys
    from tensorflow_gnn_dink.recipe import cli, pipeline, plots, selection
    print(" ".join(sorted({m.split(".")[0] if m != "scipy.optimize" else m
                           for m in sys.modules})))
""")


class LazyImportsTest(testing_utils.TestCase):

  def test_training_does_not_carry_what_only_the_end_needs(self):
    loaded = set(subprocess.run(
        [sys.executable, "-c", _IMPORTS], check=True, capture_output=True,
        text=True, cwd=str(testing_utils.ROOT),
        env=testing_utils.run_subprocess_env()).stdout.split())
    self.assertIn("tensorflow", loaded)
    self.assertEqual(loaded & {"sklearn", "matplotlib", "scipy.optimize"},
                     set())


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
