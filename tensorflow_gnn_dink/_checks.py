"""Argument checks shared by the library's classes and the recipe.

Each check raises `ValueError` saying what was given, what was expected and how
to fix it, so that every caller reports the same problem the same way.
"""
from __future__ import annotations

from collections.abc import Collection
import math
from typing import Any, Optional

READOUTS = ("first_node", "all_nodes")


def _is_int(value: Any) -> bool:
  try:
    return int(value) == value and not isinstance(value, bool)
  except (TypeError, ValueError):
    return False


def check_n_clusters(n_clusters: Any, num_nodes: Optional[int] = None) -> int:
  """Returns `n_clusters` as an int if it is an integer in `[2, num_nodes]`.

  Args:
    n_clusters: The number of clusters K.
    num_nodes: If known, the number of nodes to be clustered (K may not
      exceed it).

  Raises:
    ValueError: if `n_clusters` is not an integer, is below 2 or exceeds
      `num_nodes`.
  """
  if not _is_int(n_clusters) or n_clusters < 2:
    raise ValueError(
        f"n_clusters must be an integer >= 2, got {n_clusters!r}: the "
        "dilation loss is a mean over pairs of distinct centres.")
  if num_nodes is not None and n_clusters > num_nodes:
    raise ValueError(
        f"n_clusters={n_clusters} exceeds the number of nodes ({num_nodes}): "
        "pass a smaller n_clusters.")
  return int(n_clusters)


def check_positive_int(value: Any, name: str, fix: str = "") -> int:
  """Returns `value` as an int if it is an integer >= 1; else ValueError.

  `fix`, if given, ends the message (how to correct the value).
  """
  if not _is_int(value) or value < 1:
    raise ValueError(f"{name} must be an integer >= 1, got {value!r}"
                     + (f": {fix}." if fix else "."))
  return int(value)


def check_positive_number(value: Any, name: str) -> float:
  """Returns `value` as a float if it is a finite real number > 0.

  Raises:
    ValueError: for anything else (0, negative, NaN, inf, bool, str, None).
  """
  try:
    ok = not isinstance(value, (bool, str)) and 0 < float(value) < math.inf
  except (TypeError, ValueError):
    ok = False
  if not ok:
    raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
  return float(value)


def check_non_negative_int(value: Any, name: str) -> int:
  """Returns `value` as an int if it is an integer >= 0; else ValueError."""
  if not _is_int(value) or value < 0:
    raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
  return int(value)


def check_one_of(value: Any, allowed: Collection[Any], name: str) -> Any:
  """Returns `value` if it is in `allowed`; else ValueError listing them."""
  if value not in allowed:
    raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}.")
  return value


# The GCN's activations (`encoders.make_gcn_model_fn`): PReLU (Dink-Net's)
# or a Keras activation name ("linear": none, as NS4GC's).
ACTIVATIONS = ("prelu", "linear", "relu", "selu", "elu", "tanh")


def check_activation(activation: str, name: str = "activation") -> str:
  """Returns `activation` if one of `ACTIVATIONS`; else ValueError."""
  return check_one_of(activation, ACTIVATIONS, name)


def check_node_set(node_set_names: Collection[str], node_set_name: str) -> None:
  """Raises ValueError if `node_set_name` is not among the graph's node sets."""
  if node_set_name not in node_set_names:
    raise ValueError(
        f"Node set {node_set_name!r} not in the graph; it has node sets "
        f"{sorted(node_set_names)}. Pass one of them as node_set_name.")


def check_edge_set(edge_set_names: Collection[str], edge_set_name: str) -> None:
  """Raises ValueError if `edge_set_name` is not among the graph's edge sets."""
  if edge_set_name not in edge_set_names:
    raise ValueError(
        f"Edge set {edge_set_name!r} not in the graph; it has "
        f"{sorted(edge_set_names)}. Pass edge_set_name=... .")


def check_feature(feature_names: Collection[str], node_set_name: str,
                  feature_name: str) -> None:
  """Raises ValueError if `feature_name` is not a feature of the node set."""
  if feature_name not in feature_names:
    raise ValueError(
        f"Node feature {feature_name!r} not in node set {node_set_name!r}; "
        f"it has {sorted(feature_names)}. Pass feature_name=... .")
