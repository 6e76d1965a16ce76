"""Numeric gradients by centred differences, for tests and notebooks.

Each probe changes one entry of ``x`` in place, evaluates ``f``, and restores
the entry before the next probe (also when ``f`` raises), so ``x`` leaves these
functions exactly as it came in. Use float64 arrays: with float32 the rounding
error of f swamps a step of 1e-5.

These are notebook tools: like the exercise's, ``verbose`` prints each probe
(it is the whole point of the flag), and nothing prints by default in the
array versions.
"""
import numpy as np

__all__ = [
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
]


def rel_error(x, y):
    """Largest relative error max |x - y| / max(1e-8, |x| + |y|), a float."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs equal shapes, got {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _centred_difference(f, x, ix, h):
    """(f(x + h e_ix) - f(x - h e_ix)) / 2h for one index; x is restored."""
    old = x[ix]
    try:
        x[ix] = old + h
        f_plus = f(x)
        x[ix] = old - h
        f_minus = f(x)
    finally:
        x[ix] = old
    return f_plus, f_minus


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numeric gradient of a scalar function.

    Inputs:
    - f: callable taking x and returning a float
    - x: ndarray of any shape, probed in place and restored
    - verbose: print each entry's numeric gradient
    - h: half the step of the centred difference

    Returns grad, an array of x's shape.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        f_plus, f_minus = _centred_difference(f, x, ix, h)
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numeric gradient of sum(f(x) * df): the vector-Jacobian product that a
    layer's backward pass computes for upstream gradient ``df``.

    Inputs:
    - f: callable taking x and returning an array of df's shape
    - x: ndarray of any shape, probed in place and restored
    - df: upstream gradient, the shape of f(x)

    Returns grad, an array of x's shape.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        # f may return a view of x or a reused buffer: copy before the next call
        f_plus, f_minus = _centred_difference(lambda z: np.array(f(z), copy=True), x, ix, h)
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, rng=None):
    """Compare the analytic gradient with the numeric one at random entries.

    Inputs:
    - f: callable taking x and returning a float
    - x: ndarray, probed in place and restored
    - analytic_grad: array of x's shape
    - num_checks: how many random entries to probe
    - rng: np.random.Generator choosing the entries (a fresh one if None)

    Prints one line per probe, as the exercise does, and returns the list of
    relative errors.
    """
    rng = np.random.default_rng() if rng is None else rng
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in x.shape)
        f_plus, f_minus = _centred_difference(f, x, ix, h)
        numeric = (f_plus - f_minus) / (2 * h)
        analytic = analytic_grad[ix]
        err = abs(numeric - analytic) / max(1e-12, abs(numeric) + abs(analytic))
        errors.append(err)
        print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {err:e}")
    return errors
