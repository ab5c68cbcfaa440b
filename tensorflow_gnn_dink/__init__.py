"""Dink-Net neural graph clustering for TensorFlow GNN.

```python
import tensorflow_gnn_dink as dink  # before TensorFlow: arranges Keras 2
import tensorflow_gnn as tfgnn
```
"""
from tensorflow_gnn_dink import _keras_setup

_keras_setup.ensure_legacy_keras()

# pylint: disable=g-import-not-at-top,g-bad-import-order
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import losses
from tensorflow_gnn_dink import metrics
from tensorflow_gnn_dink import tasks

__version__ = "0.1.0"

DinkClusterHead = layers.DinkClusterHead
DinkDiscriminationLogits = layers.DinkDiscriminationLogits
ChainCorruptors = layers.ChainCorruptors
DropFeatureColumns = layers.DropFeatureColumns
ShuffleFeaturesGlobally = layers.ShuffleFeaturesGlobally
ReplaceFeature = layers.ReplaceFeature

DeepGraphInfomaxTask = tasks.DeepGraphInfomaxTask
DinkClusteringTask = tasks.DinkClusteringTask

NonEmptyClusters = metrics.NonEmptyClusters
ClusterSizeEntropy = metrics.ClusterSizeEntropy

dilation_loss = losses.dilation_loss
shrink_loss = losses.shrink_loss
soft_assignments = losses.soft_assignments
hard_assignments = losses.hard_assignments
squared_distances = losses.squared_distances
