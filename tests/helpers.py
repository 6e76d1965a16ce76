"""Shared test tools: one numeric-gradient checker whose failure message shows
the analytic and numeric gradients side by side."""
import numpy as np

from gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def assert_grad_matches(name, analytic, numeric, tol=1e-6, atol=0.0):
    """rel_error below tol; with atol > 0, entries whose absolute difference is
    below atol are let off (tiny entries of a whole-model gradient carry the
    loss's rounding error divided by the step, ~1e-11, as relative noise)."""
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    close = np.abs(analytic - numeric) <= atol
    err = rel_error(np.where(close, numeric, analytic), numeric)
    assert err < tol, (
        f"{name}: relative error {err:.3e} >= {tol:.0e}\n"
        f"analytic:\n{np.asarray(analytic)}\nnumeric:\n{np.asarray(numeric)}"
    )


def check_layer_grads(forward, inputs, dout, analytic, tol=1e-6):
    """Check every analytic gradient of ``forward(*inputs) -> out``.

    - forward: callable returning the output array (not the cache)
    - inputs: dict name -> float64 array, in forward's argument order
    - dout: upstream gradient, the shape of the output
    - analytic: dict 'd' + name -> analytic gradient, for the names to check
    """
    names = list(inputs)
    for dname, grad in analytic.items():
        name = dname[1:]

        # A closure over the argument it varies: eval_numerical_gradient_array
        # perturbs `z` in place, every other input stays as given.
        def f(z, name=name):
            args = [z if n == name else inputs[n] for n in names]
            return forward(*args)

        numeric = eval_numerical_gradient_array(f, inputs[name], dout)
        assert_grad_matches(dname, grad, numeric, tol)


def check_scalar_grad(name, f, x, analytic, tol=1e-6, atol=0.0):
    numeric = eval_numerical_gradient(f, x, verbose=False)
    assert_grad_matches(name, analytic, numeric, tol, atol)
