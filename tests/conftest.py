"""pytest set-up: the same as running each test file on its own."""
import testing_utils  # noqa: F401  (Keras 2 and two logical CPUs first)
