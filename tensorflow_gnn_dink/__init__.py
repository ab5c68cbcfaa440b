"""Dink-Net neural graph clustering for TensorFlow GNN.

The library: Keras layers, pure loss functions, Keras metrics, runner tasks,
dataset providers, encoders, a runner trainer with XLA, plain-Keras training
helpers, the serving export, and sparse node features inside GraphTensors
(`sparse`). (The
Dink-Net recipe and its command line live in `tensorflow_gnn_dink.recipe`;
nothing here imports it.)

```python
import tensorflow_gnn_dink as dink  # before TensorFlow: arranges Keras 2
import tensorflow_gnn as tfgnn
```
"""
from tensorflow_gnn_dink import _process_setup
from tensorflow_gnn_dink import _keras_setup

_process_setup.configure_if_command_line()  # Only in `tfgnn-dink`.
_keras_setup.ensure_legacy_keras()

# pylint: disable=g-import-not-at-top,g-bad-import-order
from tensorflow_gnn_dink import encoders
from tensorflow_gnn_dink import export
from tensorflow_gnn_dink import geometry
from tensorflow_gnn_dink import inputs
from tensorflow_gnn_dink import keras_training
from tensorflow_gnn_dink import layers
from tensorflow_gnn_dink import losses
from tensorflow_gnn_dink import metrics
from tensorflow_gnn_dink import sparse
from tensorflow_gnn_dink import tasks
from tensorflow_gnn_dink import trainers

__version__ = "0.1.0"

# Layers.
DinkClusterHead = layers.DinkClusterHead
DinkDiscriminationLogits = layers.DinkDiscriminationLogits
ProjectedGCNConv = layers.ProjectedGCNConv
ProjectNodeFeature = layers.ProjectNodeFeature
MultiHopSmoothing = layers.MultiHopSmoothing
ClusteringEmbedding = layers.ClusteringEmbedding
NormalizeFeatureRows = layers.NormalizeFeatureRows
DropFeatureColumns = layers.DropFeatureColumns
DropEdges = layers.DropEdges
ShuffleNodeRows = layers.ShuffleNodeRows
ReplaceFeature = layers.ReplaceFeature
mark_real_components = layers.mark_real_components

# Runner tasks.
DeepGraphInfomaxTask = tasks.DeepGraphInfomaxTask
DinkClusteringTask = tasks.DinkClusteringTask

# TF-GNN's KerasTrainer with `jit_compile` (XLA, as on TPU).
KerasTrainer = trainers.KerasTrainer

# Keras metrics.
NonEmptyClusters = metrics.NonEmptyClusters
ClusterSizeEntropy = metrics.ClusterSizeEntropy

# Export for serving.
DinkModelExporter = export.DinkModelExporter
make_serving_model = export.make_serving_model
save_serving_model = export.save_serving_model
serving_signature = export.serving_signature
describe_serving_signature = export.describe_serving_signature

# Dataset providers and encoders for `runner.run`.
FullGraphDatasetProvider = inputs.FullGraphDatasetProvider
NodeRowsDatasetProvider = inputs.NodeRowsDatasetProvider
make_gcn_model_fn = encoders.make_gcn_model_fn
make_gcn_rows_model_fn = encoders.make_gcn_rows_model_fn
make_model_zoo_fn = encoders.make_model_zoo_fn

# Plain Keras `model.fit` with runner tasks.
make_training_model = keras_training.make_training_model
compile_kwargs = keras_training.compile_kwargs
add_labels = keras_training.add_labels

# Pure functions.
dilation_loss = losses.dilation_loss
shrink_loss = losses.shrink_loss
shrink_loss_per_example = losses.shrink_loss_per_example
assigned_shrink_loss_per_example = losses.assigned_shrink_loss_per_example
gcn_propagation = layers.gcn_propagation
squared_distances = geometry.squared_distances
soft_assignments = geometry.soft_assignments
hard_assignments = geometry.hard_assignments
