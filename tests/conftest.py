"""pytest set-up: the same as running each test file on its own."""
import testing_utils  # noqa: F401  (Keras 2 and two logical CPUs first)
from absl import flags

# `tf.test.main()` parses absl flags when a file runs on its own; under pytest
# nothing does, and `create_tempdir()` reads `--test_tmpdir`.
flags.FLAGS.mark_as_parsed()
