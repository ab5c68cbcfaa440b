"""Tests for `tensorflow_gnn_dink.recipe.config` and `configs/*.py`."""
import testing_utils  # Keras 2 before TensorFlow: the first import.

import importlib.util

from absl.testing import parameterized
import ml_collections

from tensorflow_gnn_dink.recipe import config as config_lib

CONFIGS_DIR = testing_utils.ROOT / "configs"

# Every field of `default_config()`: (default value, field type).
DEFAULTS = {
    "seed": (0, int),
    "n_clusters": (None, int),
    "node_set": (None, str),
    "data.path": (None, str),
    "data.normalize_features": ("row", str),
    "data.feature_format": ("auto", str),
    "synthetic.kind": ("csbm", str),
    "synthetic.num_nodes": (1000, int),
    "synthetic.n_clusters": (5, int),
    "synthetic.num_features": (64, int),
    "synthetic.avg_degree": (10.0, float),
    "synthetic.homophily": (0.8, float),
    "synthetic.feature_noise": (2.0, float),
    "synthetic.words_per_node": (None, int),
    "citation.num_papers": (600, int),
    "citation.num_authors": (300, int),
    "citation.num_venues": (20, int),
    "citation.n_clusters": (4, int),
    "citation.num_features": (32, int),
    "citation.citations_per_paper": (2.0, float),
    "citation.citation_homophily": (0.6, float),
    "citation.paper_feature_noise": (1.0, float),
    "citation.papers_per_author": (4, int),
    "citation.author_purity": (0.9, float),
    "citation.venue_purity": (0.9, float),
    "model.encoder": ("auto", str),
    "model.hidden_units": (512, int),
    "model.num_layers": (1, int),
    "model.activation": ("prelu", str),
    "embedding.propagation_steps": (5, int),
    "pretrain.steps": (200, int),
    "pretrain.learning_rate": (1e-3, float),
    "pretrain.feature_drop_rate": (0.2, float),
    "pretrain.dgi_loss_weight": (0.0, float),
    "pretrain.discrimination_loss_weight": (1.0, float),
    "pretrain.candidates": (None, int),
    "pretrain.neighbour_loss_weight": (None, float),
    "pretrain.sparsity_loss_weight": (None, float),
    "pretrain.alignment_loss_weight": (None, float),
    "pretrain.similarity_pairs": (4096, int),
    "pretrain.sparsity_threshold": (0.6, float),
    "pretrain.sparsity_temperature": (0.1, float),
    "pretrain.second_view": (None, str),
    "pretrain.edge_drop_rate": (0.3, float),
    "kmeans.restarts_by": ("inertia", str),
    "kmeans.n_init": (10, int),
    "kmeans.max_iter": (300, int),
    "kmeans.batch_size": (None, int),
    "kmeans.sample_size": (None, int),
    "finetune.steps": (200, int),
    "finetune.learning_rate": (1e-2, float),
    "finetune.dilation_loss_weight": (1.0, float),
    "finetune.shrink_loss_weight": (1.0, float),
    "finetune.shrink": ("all", str),
    "finetune.temperature": (0.1, float),
    "finetune.stop_gradient": (True, bool),
    "finetune.max_center_norm": (None, float),
    "finetune.discrimination_loss_weight": (0.0, float),
    "finetune.modularity_margin": (0.002, float),
    "selection": ("modularity", str),
    "check_memory": (True, bool),
    "plots": (True, bool),
    "deterministic": (True, bool),
    "steps_per_epoch": (50, int),
    "batch_size": (None, int),
    "fanouts": (None, str),
}

# What each config file changes relative to `default_config()`, exactly.
OVERRIDES = {
    "amazon_photo": {
        "embedding.propagation_steps": 10,
        "pretrain.steps": 2000,
        "pretrain.learning_rate": 5e-4,
        "finetune.steps": 100,
    },
    "citeseer": {
        "model.hidden_units": 1536,
        "pretrain.steps": 100,
        "pretrain.learning_rate": 5e-4,
    },
    "cora": {},
    "heterogeneous": {
        "synthetic.kind": "citation",
        "citation.paper_feature_noise": 2.0,
        "node_set": "paper",
        "data.normalize_features": "none",
        "model.encoder": "graph_sage",
        "model.hidden_units": 128,
        "model.num_layers": 2,
        "model.hparams.reduce_type": "mean",
        "model.hparams.use_pooling": True,
        "model.hparams.dropout_rate": 0.0,
        "model.hparams.l2_normalize": True,
        "model.hparams.combine_type": "sum",
        "pretrain.steps": 300,
        "finetune.steps": 100,
    },
    "large_graph": {
        "batch_size": 8192,
        "model.hidden_units": 256,
        "pretrain.steps": 1000,
        "finetune.steps": 100,
        "kmeans.n_init": 3,
        "kmeans.sample_size": 65536,
        "steps_per_epoch": 500,
        "pretrain.candidates": 1,
        "synthetic.num_nodes": 200_000,
        "synthetic.n_clusters": 10,
    },
    "synthetic": {},
}


def _flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict:
  """`{"a.b": value}` for every leaf field of `config`."""
  flat = {}
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[prefix + key] = value
  return flat


def _field_type(config: ml_collections.ConfigDict, dotted: str) -> type:
  *parents, leaf = dotted.split(".")
  for parent in parents:
    config = config[parent]
  return config.get_type(leaf)


def _load_config_file(name: str) -> ml_collections.ConfigDict:
  path = CONFIGS_DIR / f"{name}.py"
  spec = importlib.util.spec_from_file_location(f"configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _config_file_names() -> list:
  return sorted(p.stem for p in CONFIGS_DIR.glob("*.py")
                if p.stem != "__init__")


class DefaultConfigTest(testing_utils.TestCase):

  def test_flatten_of_a_config_and_of_its_dict(self):
    config = config_lib.default_config()
    self.assertEqual(config_lib.flatten(config), _flatten(config))
    self.assertEqual(config_lib.flatten(config.to_dict()), _flatten(config))

  def test_fields_are_exactly_the_documented_ones(self):
    self.assertCountEqual(_flatten(config_lib.default_config()), DEFAULTS)
    # Each with its line in `tfgnn-dink train --help`.
    self.assertCountEqual(config_lib.FIELD_HELP, DEFAULTS)

  def test_default_values_and_types(self):
    config = config_lib.default_config()
    flat = _flatten(config)
    for key, (value, field_type) in DEFAULTS.items():
      with self.subTest(key):
        if value is None:
          self.assertIsNone(flat[key])
        else:
          self.assertEqual(flat[key], value)
          self.assertIs(type(flat[key]), field_type)
        self.assertIs(_field_type(config, key), field_type)

  def test_placeholders_accept_their_type_only(self):
    config = config_lib.default_config()
    config.n_clusters = 7
    config.batch_size = 64
    config.data.path = "/tmp/graph.npz"
    config.finetune.max_center_norm = 2.5
    self.assertEqual((config.n_clusters, config.batch_size, config.data.path,
                      config.finetune.max_center_norm),
                     (7, 64, "/tmp/graph.npz", 2.5))
    with self.assertRaisesRegex(TypeError, "n_clusters"):
      config.n_clusters = "seven"
    with self.assertRaisesRegex(TypeError, "seed"):
      config.seed = 1.5

  def test_each_call_returns_a_fresh_config(self):
    first = config_lib.default_config()
    first.model.hidden_units = 8
    self.assertEqual(config_lib.default_config().model.hidden_units, 512)

  def test_get_config_is_the_default(self):
    self.assertEqual(_flatten(config_lib.get_config()), _flatten(
        config_lib.default_config()))


class ConfigFilesTest(testing_utils.TestCase):

  def test_there_are_config_files(self):
    self.assertContainsSubset(OVERRIDES, _config_file_names())

  def test_every_config_file_has_exactly_the_default_fields(self):
    names = _config_file_names()
    self.assertNotEmpty(names)
    default = config_lib.default_config()
    for name in names:
      with self.subTest(name):
        config = _load_config_file(name)
        self.assertIsInstance(config, ml_collections.ConfigDict)
        # The encoder's own hyperparameters (model.hparams) are the
        # config file's to name.
        flat = {k: v for k, v in _flatten(config).items()
                if not k.startswith("model.hparams.")}
        self.assertEqual(sorted(flat), sorted(DEFAULTS),
                         f"configs/{name}.py adds or drops fields")
        for key in flat:
          self.assertIs(_field_type(config, key), _field_type(default, key),
                        f"configs/{name}.py changes the type of {key}")

  @parameterized.parameters(*sorted(OVERRIDES))
  def test_config_file_changes_only_its_overrides(self, name):
    flat = _flatten(_load_config_file(name))
    default = _flatten(config_lib.default_config())
    changed = {k: v for k, v in flat.items()
               if k not in default or v != default[k]}  # (hparams: new.)
    self.assertEqual(changed, OVERRIDES[name])


class FrozenEncoderTest(testing_utils.TestCase):

  @parameterized.parameters(
      (True, 0.0, True),
      (True, -1.0, True),
      (True, 1e-10, False),
      (True, 1.0, False),
      (False, 0.0, False),
      (False, -1.0, False),
      (False, 1e-10, False),
      (False, 1.0, False),
  )
  def test_truth_table(self, stop_gradient, weight, expected):
    config = config_lib.default_config()
    config.finetune.stop_gradient = stop_gradient
    config.finetune.discrimination_loss_weight = weight
    result = config_lib.frozen_encoder(config)
    self.assertIs(result, expected)

  def test_default_is_frozen(self):
    self.assertTrue(config_lib.frozen_encoder(config_lib.default_config()))


# Bad values of config fields: each is refused before any work, with a
# message naming the field.
BAD_FIELDS = (
    ("negative_seed", "seed", -1, "config.seed must be an integer >= 0"),
    ("k_below_two", "n_clusters", 1, "n_clusters must be an integer >= 2"),
    ("zero_hidden_units", "model.hidden_units", 0,
     "config.model.hidden_units must be an integer >= 1"),
    ("zero_layers", "model.num_layers", 0,
     "config.model.num_layers must be an integer >= 1"),
    ("zero_pretrain_steps", "pretrain.steps", 0,
     "config.pretrain.steps must be an integer >= 1"),
    ("negative_finetune_steps", "finetune.steps", -5,
     "config.finetune.steps must be an integer >= 1"),
    ("zero_kmeans_restarts", "kmeans.n_init", 0,
     "config.kmeans.n_init must be an integer >= 1"),
    ("zero_kmeans_iterations", "kmeans.max_iter", 0,
     "config.kmeans.max_iter must be an integer >= 1"),
    ("zero_kmeans_batch", "kmeans.batch_size", 0,
     "config.kmeans.batch_size must be an integer >= 1"),
    ("zero_kmeans_sample", "kmeans.sample_size", 0,
     "config.kmeans.sample_size must be an integer >= 1"),
    ("zero_steps_per_epoch", "steps_per_epoch", 0,
     "config.steps_per_epoch must be an integer >= 1"),
    ("zero_batch_size", "batch_size", 0,
     "config.batch_size must be an integer >= 1"),
    ("negative_propagation", "embedding.propagation_steps", -1,
     "config.embedding.propagation_steps must be an integer >= 0"),
    ("negative_learning_rate", "pretrain.learning_rate", -1e-3,
     r"config.pretrain.learning_rate must be a number > 0.0"),
    ("zero_learning_rate", "finetune.learning_rate", 0.0,
     r"config.finetune.learning_rate must be a number > 0.0"),
    ("nan_learning_rate", "finetune.learning_rate", float("nan"),
     r"config.finetune.learning_rate must be a number > 0.0"),
    ("drop_everything", "pretrain.feature_drop_rate", 1.0,
     r"config.pretrain.feature_drop_rate must be a number >= 0.0 and < 1.0"),
    ("negative_loss_weight", "finetune.shrink_loss_weight", -1.0,
     r"config.finetune.shrink_loss_weight must be a number >= 0.0"),
    ("zero_temperature", "finetune.temperature", 0.0,
     r"config.finetune.temperature must be a number > 0.0"),
    ("negative_neighbour_weight", "pretrain.neighbour_loss_weight", -1.0,
     r"config.pretrain.neighbour_loss_weight must be a number >= 0.0"),
    ("no_similarity_pairs", "pretrain.similarity_pairs", 0,
     r"config.pretrain.similarity_pairs must be an integer >= 1, got 0"),
    ("threshold_beyond_cosine", "pretrain.sparsity_threshold", 1.0,
     r"config.pretrain.sparsity_threshold must be a number >= -1.0 and "
     r"< 1.0"),
    ("zero_sparsity_temperature", "pretrain.sparsity_temperature", 0.0,
     r"config.pretrain.sparsity_temperature must be a number > 0.0"),
    ("restarts_by_labels", "kmeans.restarts_by", "labels",
     r"config.kmeans.restarts_by"),
    ("unknown_activation", "model.activation", "swish",
     r"config.model.activation must be one of \('prelu', 'linear'"),
    ("zero_center_norm", "finetune.max_center_norm", 0.0,
     r"config.finetune.max_center_norm must be a number > 0.0"),
    ("negative_margin", "finetune.modularity_margin", -0.01,
     r"config.finetune.modularity_margin must be a number >= 0.0"),
    ("drop_every_edge", "pretrain.edge_drop_rate", 1.0,
     r"config.pretrain.edge_drop_rate must be a number >= 0.0 and < 1.0"),
    ("unknown_second_view", "pretrain.second_view", "nodes",
     r"config.pretrain.second_view must be one of \('columns', 'edges', "
     r"'columns_and_edges'\), got 'nodes'"),
    ("unknown_shrink", "finetune.shrink", "some",
     r"config.finetune.shrink must be one of \('all', 'assigned'\)"),
)


class ValidateTest(testing_utils.TestCase):

  @parameterized.parameters(*_config_file_names())
  def test_shipped_configs_are_valid(self, name):
    config_lib.validate(_load_config_file(name))

  def test_second_view_dropping_edges_needs_an_encoder_over_kept_edges(self):
    config = config_lib.default_config()
    self.assertEqual(  # None: edges too where the encoder drops them.
        [config_lib.second_view(config, drops_edges=d, inputs="graph")
         for d in (True, False)], ["columns_and_edges", "columns"])
    for view in config_lib.SECOND_VIEWS:
      config.pretrain.second_view = view
      self.assertEqual(config_lib.second_view(config, drops_edges=True,
                                              inputs="graph"), view)
      if view == "columns":
        continue
      with self.assertRaisesRegex(
          ValueError, f"config.pretrain.second_view='{view}' drops edges, "
          "which only the GCN on the whole graph propagates over, not the "
          "encoder of sampled subgraphs. Set config.pretrain.second_view="
          "'columns'"):
        config_lib.second_view(config, drops_edges=False,
                               inputs="sampled subgraphs")

  def test_no_pretraining_loss_is_refused(self):
    config = config_lib.default_config()
    config.update_from_flattened_dict({
        f"pretrain.{name}_loss_weight": 0.0 for name in (
            "dgi", "discrimination", "neighbour", "sparsity", "alignment")})
    with self.assertRaisesRegex(
        ValueError, "alignment_loss_weight are all 0: nothing would train "
        "the encoder"):
      config_lib.validate(config)

  @parameterized.named_parameters(*BAD_FIELDS)
  def test_bad_field_is_refused(self, field, value, message):
    config = config_lib.default_config()
    config.update_from_flattened_dict({field: value})
    with self.assertRaisesRegex(ValueError, message):
      config_lib.validate(config)


if __name__ == "__main__":
  testing_utils.main()
