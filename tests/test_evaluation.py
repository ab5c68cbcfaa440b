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
