"""The command line's process settings, made before TensorFlow loads."""
import testing_utils  # First: Keras 2 before TensorFlow.

import subprocess
import sys

from tensorflow_gnn_dink import _process_setup


class ProcessSetupTest(testing_utils.TestCase):

  def test_is_command_line(self):
    yes = _process_setup.is_command_line
    self.assertTrue(yes(["/usr/bin/tfgnn-dink", "train"], []))
    self.assertTrue(yes(["-m"], ["python3", "-m", "tensorflow_gnn_dink"]))
    self.assertTrue(yes(["-m"], ["python3", "-u", "-m",
                                 "tensorflow_gnn_dink", "train"]))
    self.assertFalse(yes(["-m"], ["python3", "-m", "pytest", "tests"]))
    self.assertFalse(yes(["x.py"], ["python3", "x.py", "-m",
                                    "tensorflow_gnn_dink"]))
    self.assertFalse(yes(["-c"], ["python3", "-c", "import x"]))
    self.assertFalse(_process_setup.is_command_line())  # pytest, not us.

  def test_verbosity(self):
    verbosity = _process_setup.verbosity
    self.assertEqual(verbosity(["train"]), 0)
    self.assertEqual(verbosity(["train", "--verbosity=1"]), 1)
    self.assertEqual(verbosity(["-v", "-1", "train"]), -1)
    self.assertEqual(verbosity(["-v=2"]), 2)
    self.assertEqual(verbosity(["--verbosity", "x"]), 0)

  def test_is_noise(self):
    noise = _process_setup.is_noise
    self.assertTrue(noise(b"I0000 00:00:1795629441.305344   30715 "
                          b"cudart_stub.cc:31] Could not find cuda drivers"))
    self.assertTrue(noise(b"W0000 00:00:1795629386.849139   30594 "
                          b"op_level_cost_estimator.cc:699] Error in "
                          b"PredictCost()"))
    self.assertTrue(noise(b"E0000 00:00:1795629445.777983   30715 "
                          b"cuda_platform.cc:52] failed call to cuInit: "
                          b"INTERNAL"))
    self.assertTrue(noise(b"WARNING: All log messages before "
                          b"absl::InitializeLog() is called are written to "
                          b"STDERR"))
    self.assertTrue(noise(b"E0000 00:00:1795631090.331115    3038 "
                          b"node_def_util.cc:682] NodeDef mentions attribute "
                          b"use_unbounded_threadpool which is not in the op "
                          b"definition: Op<...> This may be expected if your "
                          b"graph generating binary is newer  than this "
                          b"binary."))
    # Real errors, Python's own output and tracebacks pass.
    self.assertFalse(noise(b"E0000 00:00:1795629445.777983   30715 "
                           b"bfc_allocator.cc:1] Allocator ran out of "
                           b"memory"))
    self.assertFalse(noise(b"F0000 00:00:1.1 1 check.cc:1] Check failed"))
    self.assertFalse(noise(b"Traceback (most recent call last):"))
    self.assertFalse(noise(b"tfgnn-dink: error: --data is empty"))

  def test_the_command_line_hides_tensorflows_start_up_log_only(self):
    # A crash after TensorFlow's start-up log: the log is dropped, the
    # command's own stderr (here a traceback) comes through whole.
    code = ("import sys; sys.argv[0] = 'tfgnn-dink'\n"
            "import tensorflow_gnn_dink\n"
            "import tensorflow as tf\n"
            "tf.zeros([1])\n"
            "print('out', flush=True)\n"
            "raise SystemExit('the end: ' + 'x' * 100000)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=300,
                          cwd=str(testing_utils.ROOT))
    self.assertEqual(proc.returncode, 1)
    self.assertEqual(proc.stdout, "out\n")
    self.assertEqual(proc.stderr, "the end: " + "x" * 100000 + "\n")
    # Asked for (-v 1): everything TensorFlow logs.
    proc = subprocess.run([sys.executable, "-c", code, "-v", "1"],
                          capture_output=True, text=True, timeout=300,
                          cwd=str(testing_utils.ROOT))
    self.assertIn("the end", proc.stderr)
    self.assertRegex(proc.stderr, r"(?m)^[IWE]\d{4} ")


if __name__ == "__main__":
  testing_utils.main()
