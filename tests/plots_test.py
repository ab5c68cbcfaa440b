"""PNG pictures of a run."""
import testing_utils  # First: Keras 2 before TensorFlow.

import os

from matplotlib import image as mpl_image
import numpy as np

from tensorflow_gnn_dink.recipe import plots


def _read_png(path):
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
  return mpl_image.imread(path)


class PlotsTest(testing_utils.TestCase):

  def test_project_2d_is_the_first_two_principal_components(self):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 5)) * [5.0, 3.0, 1.0, 0.5, 0.1]
    xy = plots.project_2d(z)
    self.assertEqual(xy.shape, (200, 2))
    centred = z - z.mean(axis=0)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(centred.T)))[::-1]
    self.assertAllClose(np.var(xy, axis=0, ddof=1), eigenvalues[:2],
                        rtol=1e-6)
    self.assertEqual(plots.project_2d(z[:, :1]).shape, (200, 2))

  def test_project_2d_in_blocks_equals_the_svd_of_the_centred_rows(self):
    rng = np.random.default_rng(1)
    z = (rng.normal(size=(5000, 6)) * [4.0, 2.0, 1.0, 0.5, 0.2, 0.1] + 3.0
         ).astype(np.float32)  # Several blocks of rows, an offset mean.
    centred = z.astype(np.float64) - z.astype(np.float64).mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    xy = plots.project_2d(z)
    signs = np.sign(np.sum(xy * expected, axis=0))  # Each axis up to sign.
    self.assertAllClose(xy * signs, expected, atol=1e-6)

  def test_write_all_with_and_without_labels(self):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 8)).astype(np.float32)
    cluster_ids = rng.integers(0, 4, 300)
    labels = (cluster_ids + (rng.random(300) < 0.2)) % 4
    labels[:10] = -1  # Unknown labels are left out.
    curves = {"pretrain": {"loss": {10: 0.7, 20: 0.5},
                           "discrimination_accuracy": {10: 0.5, 20: 0.8}},
              "finetune": {}}
    histories = {"pretrain": [[10, 0.2], [20, 0.3]],
                 "finetune": [[0, 0.3], [10, 0.31]]}
    model_dir = self.create_tempdir().full_path
    paths = plots.write_all(model_dir, z=z, cluster_ids=cluster_ids,
                            n_clusters=5, labels=labels, curves=curves,
                            histories=histories,
                            chosen={"pretrain": 20, "finetune": 10})
    self.assertEqual([os.path.basename(p) for p in paths], [
        "embedding.png", "cluster_sizes.png", "confusion.png",
        "training.png", "selection.png"])
    for path in paths:
      pixels = _read_png(path)
      self.assertGreater(pixels.shape[0], 100)
      self.assertGreater(pixels.shape[1], 100)
    # Without labels or training curves: the pictures that need neither.
    other = self.create_tempdir().full_path
    paths = plots.write_all(other, z=z, cluster_ids=cluster_ids,
                            n_clusters=4, labels=None, curves={},
                            histories=histories, chosen={})
    self.assertEqual(sorted(os.listdir(os.path.join(other, "plots"))), [
        "cluster_sizes.png", "embedding.png", "selection.png"])

  def test_large_embeddings_are_sampled(self):
    z = np.random.default_rng(2).normal(size=(500, 3))
    path = os.path.join(self.create_tempdir().full_path, "e.png")
    plots.embedding(path, z, np.zeros(500, np.int64), None, max_points=50)
    _read_png(path)


if __name__ == "__main__":
  testing_utils.main()
