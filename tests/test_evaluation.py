"""Clustering metrics against hand-computed cases."""
import numpy as np
import pytest

from tensorflow_gnn_dink import evaluation


def test_accuracy_uses_the_best_one_to_one_matching():
  labels = np.array([0, 0, 0, 1, 1, 2])
  clusters = np.array([2, 2, 1, 0, 0, 1])  # 2->0, 0->1, 1->2: 5 of 6 right.
  assert evaluation.accuracy(labels, clusters) == pytest.approx(5 / 6)
  # Permuted ids are a perfect clustering.
  assert evaluation.accuracy(labels, (labels + 1) % 3) == 1.0


def test_more_clusters_than_classes_and_unknown_labels():
  labels = np.array([0, 0, 1, 1, -1])
  clusters = np.array([0, 1, 2, 2, 0])  # Cluster 0 or 1 stays unmatched.
  assert evaluation.accuracy(labels, clusters) == pytest.approx(3 / 4)


def test_f1_nmi_ari_hand_computed():
  labels = np.array([0, 0, 1, 1])
  clusters = np.array([1, 1, 1, 0])
  # Matching 1->0, 0->1: predicted [0, 0, 0, 1]. Class 0: P=2/3, R=1, F1=0.8;
  # class 1: P=1, R=1/2, F1=2/3.
  result = evaluation.evaluate(clusters, labels)
  assert result["F1"] == pytest.approx((0.8 + 2 / 3) / 2)
  assert result["ACC"] == pytest.approx(0.75)
  # NMI (arithmetic mean): H(Y)=ln2, H(C)=H(.75,.25), I = H(Y) - H(Y|C),
  # H(Y|C) = 3/4 * H(2/3, 1/3).
  h = lambda *p: -sum(x * np.log(x) for x in p)
  mutual = h(.5, .5) - 0.75 * h(2 / 3, 1 / 3)
  assert result["NMI"] == pytest.approx(mutual / ((h(.5, .5) + h(.75, .25)) / 2))
  # ARI: pairs: sum C(n_ij,2) = C(2,2)+C(1,2)=1; rows: C(2,2)*2=2; cols:
  # C(3,2)+C(1,2)=3; expected = 2*3/C(4,2)=1; max = (2+3)/2 = 2.5.
  assert result["ARI"] == pytest.approx((1 - 1) / (2.5 - 1))
  assert result["non_empty_clusters"] == 2
  assert set(evaluation.evaluate(clusters)) == {"non_empty_clusters"}


def test_modularity_and_conductance_hand_computed():
  # Two triangles joined by one edge (2-3); clusters = the triangles.
  undirected = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)]
  edges = np.array(undirected + [(b, a) for a, b in undirected]).T
  clusters = np.array([0, 0, 0, 1, 1, 1])
  # m = 7; each cluster: L_c = 3, vol_c = 7. Q = 2 * (3/7 - (7/14)^2).
  assert evaluation.modularity(edges, clusters) == pytest.approx(
      2 * (3 / 7 - 0.25))
  # cut = 1 edge, vol = 7 each: conductance 1/7.
  assert evaluation.conductance(edges, clusters) == pytest.approx(1 / 7)
  # All in one cluster: Q = 1 - 1 = 0, conductance 0.
  one = np.zeros(6, np.int64)
  assert evaluation.modularity(edges, one) == pytest.approx(0.0)
  assert evaluation.conductance(edges, one) == 0.0
  result = evaluation.evaluate(clusters, edges=edges)
  assert result["modularity"] == pytest.approx(2 * (3 / 7 - 0.25))
  # Compare with networkx-free brute force on a random graph.
  rng = np.random.default_rng(0)
  pairs = {tuple(sorted(p)) for p in rng.integers(0, 30, (80, 2)) if p[0] != p[1]}
  edges = np.array(list(pairs) + [(b, a) for a, b in pairs]).T
  clusters = rng.integers(0, 4, 30)
  adjacency = np.zeros((30, 30))
  adjacency[edges[0], edges[1]] = 1
  degree = adjacency.sum(1)
  two_m = adjacency.sum()
  same = clusters[:, None] == clusters[None, :]
  expected = ((adjacency - np.outer(degree, degree) / two_m) * same).sum() / two_m
  assert evaluation.modularity(edges, clusters) == pytest.approx(expected)
