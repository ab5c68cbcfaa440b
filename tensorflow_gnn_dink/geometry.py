"""Pure tensor functions of cluster geometry: distances and assignments.

Every function is stateless and written for `[n, d]` embeddings and `[K, d]`
cluster centres, so that it can be checked against numpy directly.

Numerics. Distances use the matmul form `|x|^2 + |y|^2 - 2 x.y` (one matmul,
no `[n, m, d]` tensor), computed on inputs scaled by one power of two (`scale`)
so that the squares can neither overflow nor underflow: the scaling is exact,
so in the usual range results are those of the unscaled form, while inputs as
large as 1e30 or as small as 1e-30 (float32) still give the right nearest
centre, soft assignments that are finite and sum to 1, and finite gradients.
Only a value that is itself beyond the dtype's range (a squared distance above
~3e38 in float32) overflows, to +inf, never to NaN.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from tensorflow_gnn_dink import _custom_gradients

# Binary exponents e per float dtype such that 2^e and 2^-e are both normal
# numbers: scaling by them is exact, also where denormals are flushed to 0.
_MAX_EXPONENT = {tf.float16: 14, tf.bfloat16: 126, tf.float32: 126,
                 tf.float64: 1022}
_LOG_2 = 0.6931471805599453


def max_abs_of(x: tf.Tensor, axis=None, keepdims: bool = False) -> tf.Tensor:
  """`reduce_max(|x|)` as `max(reduce_max(x), -reduce_min(x))`.

  The same value, from two reading passes over `x` instead of a pass that
  writes `|x|` and one that reads it.
  """
  return tf.maximum(tf.reduce_max(x, axis=axis, keepdims=keepdims),
                    -tf.reduce_min(x, axis=axis, keepdims=keepdims))


def _exponent(max_abs: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
  """`floor(log2(max_abs))` (0 where max_abs is 0), within +-`_MAX_EXPONENT`."""
  high = _MAX_EXPONENT.get(dtype, 126)
  exponent = tf.where(max_abs > 0, tf.floor(tf.math.log(max_abs) / _LOG_2),
                      tf.zeros_like(max_abs))
  return tf.clip_by_value(exponent, -high, high)


def _wide(dtype: tf.DType) -> tf.DType:
  return tf.float64 if dtype == tf.float64 else tf.float32


def _two(like: tf.Tensor) -> tf.Tensor:
  return tf.constant(2.0, like.dtype)


def scale(*tensors: tf.Tensor) -> tf.Tensor:
  """A power of two near the largest `|value|` of `tensors` (a scalar).

  Multiplying by its reciprocal (also a normal power of two) is exact and
  brings every value into `[-4, 4]`; it is 1 where every value is 0 (or there
  are none), and has no gradient.
  """
  dtype = tensors[0].dtype
  max_abs = tf.zeros([], _wide(dtype))
  for t in tensors:  # Empty tensors: max with 0.
    max_abs = tf.maximum(max_abs, tf.cast(max_abs_of(t), max_abs.dtype))
  exponent = _exponent(max_abs, dtype)
  return tf.stop_gradient(tf.cast(tf.pow(_two(exponent), exponent), dtype))


def inverse_scale(max_abs: tf.Tensor) -> tf.Tensor:
  """Elementwise `2^-floor(log2(max_abs))` (1 where max_abs is 0), no gradient.

  A normal power of two (never flushed to 0, unlike `1 / max_abs` for
  `max_abs` near the dtype's maximum): multiplying values of magnitude up
  to `max_abs` by it is exact and brings them into `[-2, 2)`.
  """
  exponent = _exponent(tf.cast(max_abs, _wide(max_abs.dtype)), max_abs.dtype)
  return tf.stop_gradient(tf.cast(tf.pow(_two(exponent), -exponent),
                                  max_abs.dtype))


def _gradients(g: tf.Tensor, x: tf.Tensor,
               y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """`sum_ij g_ij d|x_i - y_j|^2 / d(x, y)`: two matmuls, no `[n, m, d]`."""
  dx = 2.0 * (tf.reduce_sum(g, axis=1, keepdims=True) * x - tf.matmul(g, y))
  dy = 2.0 * (tf.reduce_sum(g, axis=0)[:, None] * y -
              tf.matmul(g, x, transpose_a=True))
  return dx, dy


def squared_distances(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """Returns the `[n, m]` squared Euclidean distances between rows of x and y.

  Computed as `|x|^2 + |y|^2 - 2 x.y` on inputs divided by `scale(x, y)`
  then multiplied back, and clamped at 0, so rounding never yields a negative
  value and nothing overflows before the result does. The gradient is the
  exact `d/dx_i = 2 sum_j g_ij (x_i - y_j)` (and likewise for y), finite
  wherever the inputs are, even where the value overflows.

  Args:
    x: A `[n, d]` float tensor.
    y: A `[m, d]` float tensor of the same dtype.
  """
  return scaled_squared_distances(x, y)[0]


def scaled_squared_distances(
    x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """`(squared_distances(x, y), the same divided by s^2, s = scale(x, y))`.

  The scaled distances are finite for any finite inputs: compare or shift
  them (e.g. before a softmax) where the true ones may overflow.
  """
  x = tf.convert_to_tensor(x)
  return _scaled_squared_distances(x, tf.convert_to_tensor(y, x.dtype))


@_custom_gradients.traced_apart
def _scaled_squared_distances(x: tf.Tensor, y: tf.Tensor):
  """`scaled_squared_distances` of tensors of one dtype."""
  s = scale(x, y)
  inverse = tf.math.reciprocal(s)

  @tf.custom_gradient
  def distances(x, y):
    xs, ys = x * inverse, y * inverse
    xx = tf.reduce_sum(tf.square(xs), axis=-1, keepdims=True)
    yy = tf.reduce_sum(tf.square(ys), axis=-1, keepdims=True)
    scaled = tf.maximum(
        xx + tf.transpose(yy) - 2.0 * tf.matmul(xs, ys, transpose_b=True),
        0.0)

    def grad(g, g_scaled):
      # The exact gradient of |x_i - y_j|^2 (of the scaled distances: in
      # scaled units, then times 1/s), never through s^2, which may overflow
      # where the inputs and their gradients do not.
      dx, dy = tf.zeros_like(x), tf.zeros_like(y)
      if g is not None:
        dx, dy = _gradients(g, x, y)
      if g_scaled is not None:
        dxs, dys = _gradients(g_scaled, xs, ys)
        dx, dy = dx + dxs * inverse, dy + dys * inverse
      return dx, dy

    return (scaled * s * s, scaled), grad

  return (*distances(x, y), s)


def safe_sqrt(x: tf.Tensor) -> tf.Tensor:
  """`sqrt(max(x, 0))` whose gradient is 0 (not inf or NaN) where x <= 0."""
  positive = x > 0.0
  return tf.where(positive, tf.sqrt(tf.where(positive, x, tf.ones_like(x))),
                  tf.zeros_like(x))


def soft_assignments(z: tf.Tensor, cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[n, K]` row-stochastic `softmax(-|z_i - c_j|)` (never NaN)."""
  return assignments(z, cluster_centers)[1]


def hard_assignments(z: tf.Tensor, cluster_centers: tf.Tensor) -> tf.Tensor:
  """Returns `[n]` int64 indices of each embedding's nearest centre.

  The argmin of `|c_j|^2 - 2 z_i.c_j` (`|z_i|^2` is the same for every
  centre): one matmul, no pass over `|z|^2`.
  """
  return assignments(z, cluster_centers, soft=False)[0]


def assignments(z: tf.Tensor, cluster_centers: tf.Tensor, *,
                soft: bool = True) -> tuple[tf.Tensor, Optional[tf.Tensor]]:
  """`(hard_assignments, soft_assignments)` from one matmul `z C^T`.

  The hard ids are exactly `hard_assignments` (the same expression), so
  every caller assigns near-ties alike; with `soft=False` the second item
  is None. Both are computed on `z` and the centres divided by their
  `scale` (exact), so they hold for any magnitude of the inputs; the soft
  assignments are `softmax(-s (d_ij - min_j d_ij))` with `d` the scaled
  distances, equal to `softmax(-|z_i - c_j|)` and never NaN.
  """
  z = tf.convert_to_tensor(z)
  cluster_centers = tf.convert_to_tensor(cluster_centers, z.dtype)
  s = scale(z, cluster_centers)
  inverse = tf.math.reciprocal(s)
  z, cluster_centers = z * inverse, cluster_centers * inverse
  cc = tf.reduce_sum(tf.square(cluster_centers), axis=-1)
  shifted = cc - 2.0 * tf.matmul(z, cluster_centers, transpose_b=True)
  hard = tf.argmin(shifted, axis=-1)
  if not soft:
    return hard, None
  zz = tf.reduce_sum(tf.square(z), axis=-1, keepdims=True)
  distances = safe_sqrt(zz + shifted)
  nearest = tf.stop_gradient(tf.reduce_min(distances, axis=-1, keepdims=True))
  return hard, tf.nn.softmax((nearest - distances) * s, axis=-1)
