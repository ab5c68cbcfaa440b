"""Tests for `_checks`: the shared argument checks and their messages.

Each check must return the accepted value (as an int where it says so) and
raise `ValueError` naming the bad value, what was expected and how to fix it,
so that every caller reports the same problem the same way.
"""
import testing_utils  # pylint: disable=g-bad-import-order

import re

from absl.testing import parameterized
import numpy as np

from tensorflow_gnn_dink import _checks


class CheckNClustersTest(testing_utils.TestCase):
  """`_checks.check_n_clusters`."""

  @parameterized.parameters(2, 7, 2.0, np.int64(5), np.int32(3))
  def test_accepts_integers_from_two(self, value):
    got = _checks.check_n_clusters(value)
    self.assertIs(type(got), int)
    self.assertEqual(got, int(value))

  @parameterized.named_parameters(
      ("one", 1), ("zero", 0), ("negative", -3), ("fraction", 1.5),
      ("string", "3"), ("bool", True), ("none", None), ("nan", float("nan")),
      ("list", [3]))
  def test_rejects(self, value):
    with self.assertRaisesRegex(
        ValueError,
        "n_clusters must be an integer >= 2, got " + re.escape(repr(value)) +
        ": the dilation loss"):
      _checks.check_n_clusters(value)

  def test_num_nodes_bound(self):
    self.assertEqual(_checks.check_n_clusters(5, num_nodes=5), 5)
    with self.assertRaisesRegex(
        ValueError, r"n_clusters=6 exceeds the number of nodes \(5\): pass a "
        r"smaller n_clusters"):
      _checks.check_n_clusters(6, num_nodes=5)


class CheckIntTest(testing_utils.TestCase):
  """`_checks.check_positive_int` and `_checks.check_non_negative_int`."""

  @parameterized.parameters(1, 10, 3.0, np.int64(4))
  def test_positive_accepts(self, value):
    got = _checks.check_positive_int(value, "steps")
    self.assertIs(type(got), int)
    self.assertEqual(got, int(value))

  @parameterized.parameters(0, -1, 2.5, "2", True, None)
  def test_positive_rejects(self, value):
    with self.assertRaisesRegex(
        ValueError,
        "^steps must be an integer >= 1, got " + re.escape(repr(value)) +
        r"\.$"):
      _checks.check_positive_int(value, "steps")

  @parameterized.parameters(0, 1, 10, 0.0)
  def test_non_negative_accepts(self, value):
    got = _checks.check_non_negative_int(value, "hops")
    self.assertIs(type(got), int)
    self.assertEqual(got, int(value))

  @parameterized.parameters(-1, 0.5, "0", False, None)
  def test_non_negative_rejects(self, value):
    with self.assertRaisesRegex(
        ValueError,
        "^hops must be an integer >= 0, got " + re.escape(repr(value)) +
        r"\.$"):
      _checks.check_non_negative_int(value, "hops")


class CheckPositiveNumberTest(testing_utils.TestCase):
  """`_checks.check_positive_number` and `check_positive_int`'s `fix`."""

  @parameterized.parameters(1, 0.5, 1e-30, 3e38, np.float32(2.0),
                            np.int64(7))
  def test_accepts_finite_positive_numbers(self, value):
    got = _checks.check_positive_number(value, "temperature")
    self.assertIs(type(got), float)
    self.assertEqual(got, float(value))

  @parameterized.named_parameters(
      ("zero", 0), ("negative", -0.5), ("nan", float("nan")),
      ("inf", float("inf")), ("minus_inf", -float("inf")), ("bool", True),
      ("str", "1.0"), ("none", None), ("list", [1.0]))
  def test_rejects(self, value):
    with self.assertRaisesRegex(
        ValueError,
        "^temperature must be a finite number > 0, got " +
        re.escape(repr(value)) + r"\.$"):
      _checks.check_positive_number(value, "temperature")

  def test_positive_int_fix_ends_the_message(self):
    with self.assertRaisesRegex(
        ValueError, r"^width must be an integer >= 1, got 0: pass the "
        r"encoder's output size\.$"):
      _checks.check_positive_int(0, "width", fix="pass the encoder's output "
                                 "size")


class CheckOneOfTest(testing_utils.TestCase):
  """`_checks.check_one_of`."""

  def test_accepts_and_returns_the_value(self):
    for value in _checks.READOUTS:
      self.assertEqual(_checks.check_one_of(value, _checks.READOUTS,
                                            "readout"), value)

  def test_rejects_listing_the_allowed_values(self):
    with self.assertRaisesRegex(
        ValueError, r"readout must be one of \('first_node', 'all_nodes'\), "
        r"got 'roots'\."):
      _checks.check_one_of("roots", _checks.READOUTS, "readout")


class CheckGraphNamesTest(testing_utils.TestCase):
  """`_checks.check_node_set` and `_checks.check_feature`."""

  def test_node_set(self):
    _checks.check_node_set({"paper": None, "author": None}, "paper")
    with self.assertRaisesRegex(
        ValueError, r"Node set 'nodes' not in the graph; it has node sets "
        r"\['author', 'paper'\]\. Pass one of them as node_set_name\."):
      _checks.check_node_set({"paper": None, "author": None}, "nodes")

  def test_feature(self):
    _checks.check_feature(["feat", "hidden_state"], "paper", "feat")
    with self.assertRaisesRegex(
        ValueError, r"Node feature 'x' not in node set 'paper'; it has "
        r"\['feat', 'hidden_state'\]\. Pass feature_name=\.\.\. \."):
      _checks.check_feature(["hidden_state", "feat"], "paper", "x")


if __name__ == "__main__":
  testing_utils.main()
