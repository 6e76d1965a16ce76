"""Feed-forward layers and the input checks every layer module shares.

Dimension letters used across the library: N batch, T time, D input features,
W word-vector size, H hidden size, V vocabulary size.

Each operation is a pair: ``x_forward(...) -> (out, cache)`` and
``x_backward(dout, cache) -> gradients`` in the forward's argument order.
"""
import numpy as np
import scipy.sparse

__all__ = ["affine_forward", "affine_backward", "softmax_loss", "softmax_cross_entropy",
           "scatter_add_rows"]


# ----------------------------------------------------------------------------
# Boundary checks. They only look at shapes and dtypes (O(1)), except the index
# range check, which is one min/max pass over an integer array.
# ----------------------------------------------------------------------------

def check_float_array(name, a, ndim=None):
    """Return ``a`` as a floating ndarray, or raise naming ``name``.

    Integer, bool and object arrays are refused rather than silently cast:
    a float32 model must not be promoted to float64 by a stray int array.
    """
    return _checked_array(name, a, np.floating, "a floating-point array", ndim)


def _checked_array(name, a, kind, kind_text, ndim):
    """``a`` as an ndarray whose dtype is a subtype of ``kind``, with ``ndim``."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if not np.issubdtype(a.dtype, kind):
        raise TypeError(f"{name} must be {kind_text}, got dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimensions, got shape {a.shape} ({a.ndim} dimensions)"
        )
    return a


def check_positive_int(name, value, allow_zero=False):
    """Raise unless value is an int (not a bool) >= 1 (>= 0 with allow_zero)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} integer, got {value!r}")
    return int(value)


def random_source(rng):
    """Where random numbers come from: a Generator made from ``rng`` (a seed or a
    Generator), or with rng None NumPy's global state -- the ``np.random``
    module, which has the same ``standard_normal``/``choice``/``gumbel``
    methods -- so that ``np.random.seed(...)`` works as in the exercise."""
    return np.random if rng is None else np.random.default_rng(rng)


def check_shape(name, a, expected):
    """Raise unless ``a.shape`` matches ``expected`` (None entries match any size)."""
    ok = a.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, a.shape)
    )
    if not ok:
        want = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")


def check_upstream(name, d, shape):
    """An upstream gradient: a floating array of exactly ``shape``."""
    d = check_float_array(name, d)
    check_shape(name, d, shape)
    return d


def time_major(a):
    """(N, T, ...) -> contiguous (T, N, ...); free when the memory already is."""
    return np.ascontiguousarray(a.swapaxes(0, 1))


def check_index_array(name, x, size, ndim=None):
    """Return ``x`` as an integer ndarray with values in [0, size), or raise."""
    x = _checked_array(name, x, np.integer, "an array of integer word indices", ndim)
    if x.size:
        lo, hi = x.min(), x.max()
        if lo < 0 or hi >= size:
            raise ValueError(
                f"{name} holds indices in [{lo}, {hi}], outside the valid range [0, {size})"
            )
    return x


# ----------------------------------------------------------------------------
# Affine layer
# ----------------------------------------------------------------------------

def affine_forward(x, w, b):
    """Fully connected layer ``out = x.reshape(N, D) @ w + b``.

    Inputs:
    - x: (N, d_1, ..., d_k), flattened to (N, D) with D = d_1 * ... * d_k
    - w: (D, M) weights
    - b: (M,) biases

    Returns a tuple of:
    - out: (N, M)
    - cache: (x, w)
    """
    x = check_float_array("x", x)
    w = check_float_array("w", w, ndim=2)
    b = check_float_array("b", b, ndim=1)
    if x.ndim < 1:
        raise ValueError(f"x must have a batch dimension, got shape {x.shape}")
    N = x.shape[0]
    D, M = w.shape
    x2 = x.reshape(N, -1) if N else x.reshape(0, D)
    check_shape("x flattened to (N, D)", x2, (N, D))
    check_shape("b", b, (M,))
    out = x2 @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    """Backward pass of :func:`affine_forward`.

    Inputs:
    - dout: (N, M) upstream gradient
    - cache: (x, w) from the forward pass

    Returns a tuple of:
    - dx: (N, d_1, ..., d_k), the shape of x
    - dw: (D, M)
    - db: (M,)
    """
    x, w = cache
    N = x.shape[0]
    D, M = w.shape
    dout = check_float_array("dout", dout)
    check_shape("dout", dout, (N, M))
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(N, D).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


# ----------------------------------------------------------------------------
# Softmax loss and a scatter-add, shared by the temporal layers
# ----------------------------------------------------------------------------

def softmax_cross_entropy(x, y, denominator, row_weights=None):
    """Summed softmax cross-entropy of rows, divided by ``denominator``.

    x: (M, C) scores of any size (shifted by the row max); y: (M,) ints in
    [0, C); row_weights: optional (M,) factors of each row's term (any sign).
    Returns loss (float) and dx (M, C) in x's dtype. Not validated: for
    callers that have checked their arguments.
    """
    M = x.shape[0]
    if M == 0:
        return 0.0, np.zeros_like(x)
    rows = np.arange(M)
    probs = x - x.max(axis=1, keepdims=True)
    log_p_y = probs[rows, y]                         # numerator of log-softmax
    np.exp(probs, out=probs)
    sums = probs.sum(axis=1, keepdims=True)          # >= 1: the max term is exp(0)
    log_p_y -= np.log(sums[:, 0])
    # d(-log softmax_y)/dx = softmax - onehot(y), times each row's factor
    scale = np.full(M, 1 / denominator) if row_weights is None else row_weights / denominator
    if row_weights is not None:
        log_p_y *= row_weights
    loss = -float(np.sum(log_p_y, dtype=np.float64)) / denominator
    scale = scale.astype(x.dtype)
    probs *= scale[:, None] / sums
    probs[rows, y] -= scale
    return loss, probs


def softmax_loss(x, y):
    """Softmax classifier loss, averaged over N.

    Inputs:
    - x: (N, C) scores
    - y: (N,) integer labels in [0, C)

    Returns a tuple of:
    - loss: float
    - dx: (N, C)
    """
    x = check_float_array("x", x, ndim=2)
    y = check_index_array("y", y, x.shape[1], ndim=1)
    check_shape("y", y, (x.shape[0],))
    return softmax_cross_entropy(x, y, max(x.shape[0], 1))


def scatter_add_rows(index, values, num_rows):
    """out[index[m]] += values[m] for all m: out (num_rows, K).

    index: (M,) ints in [0, num_rows); values: (M, K). Computed as the sparse
    product onehot(index)^T @ values, an order of magnitude faster than
    np.add.at or a sort with np.add.reduceat on (2048, 2048) float32 values.
    """
    M = index.shape[0]
    onehot_t = scipy.sparse.csr_matrix(
        (np.ones(M, dtype=values.dtype), (index, np.arange(M))), shape=(num_rows, M))
    return np.asarray(onehot_t @ values)
