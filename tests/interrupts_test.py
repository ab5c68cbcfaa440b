"""Tests for `interrupts`: a Ctrl-C swallowed by Python is raised again."""
import testing_utils  # pylint: disable=g-bad-import-order

import os
import signal

from tensorflow_gnn_dink.recipe import interrupts


class _SignalsWhenFreed:
  """Sends SIGINT to this process from its `__del__`."""

  def __del__(self):
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))  # Python code after it: the handler runs in here.


class InterruptsTest(testing_utils.TestCase):

  def setUp(self):
    super().setUp()
    self.addCleanup(signal.signal, signal.SIGINT,
                    signal.getsignal(signal.SIGINT))
    self.addCleanup(interrupts._state.update, interrupts._state.copy())

  def test_a_ctrl_c_raised_inside_del_is_raised_again(self):
    interrupts.install()
    interrupts.check()  # Nothing yet.
    # Freed at once; Python swallows the interrupt ("Exception ignored in
    # ... __del__") and goes on.
    _SignalsWhenFreed()
    with self.assertRaises(KeyboardInterrupt):
      interrupts.check()

  def test_a_ctrl_c_still_raises_where_it_arrives(self):
    interrupts.install()
    with self.assertRaises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
      sum(range(1000))


if __name__ == "__main__":
  testing_utils.main()
