"""affine layer and the numeric-gradient tools themselves."""
import numpy as np
import pytest

import gradient_check as gc
from helpers import check_layer_grads
from layers import affine_backward, affine_forward


@pytest.mark.parametrize("xshape,M", [((1, 3), 2), ((2, 4, 5), 3), ((3, 2, 2, 2), 6)])
def test_affine_forward_and_gradcheck(rng, xshape, M):
    N, D = xshape[0], int(np.prod(xshape[1:]))
    inputs = dict(x=rng.standard_normal(xshape), w=rng.standard_normal((D, M)),
                  b=rng.standard_normal(M))
    out, cache = affine_forward(**inputs)
    expected = np.array([[sum(inputs["x"][n].ravel()[d] * inputs["w"][d, m] for d in range(D))
                          + inputs["b"][m] for m in range(M)] for n in range(N)])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    dout = rng.standard_normal((N, M))
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == xshape
    check_layer_grads(lambda *a: affine_forward(*a)[0], inputs, dout,
                      dict(dx=dx, dw=dw, db=db))


def test_affine_exercise_values():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    np.testing.assert_allclose(out, [[1.49834967, 1.70660132, 1.91485297],
                                     [3.25553199, 3.5141327, 3.77273342]], rtol=1e-7)


def test_affine_bad_input():
    with pytest.raises(ValueError, match=r"x flattened to \(N, D\) must have shape \(2, 6\)"):
        affine_forward(np.zeros((2, 5)), np.zeros((6, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="b must have shape"):
        affine_forward(np.zeros((2, 6)), np.zeros((6, 3)), np.zeros(4))
    with pytest.raises(TypeError, match="w must be a floating"):
        affine_forward(np.zeros((2, 6)), np.zeros((6, 3), dtype=int), np.zeros(3))


def test_numerical_gradient_of_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    grad = gc.eval_numerical_gradient(lambda z: float(np.sum(z ** 3)), x, verbose=False)
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, before)        # every probe restored


def test_numerical_gradient_array_is_vjp():
    x = np.array([0.3, -1.2, 2.0])
    A = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 4.0]])
    df = np.array([0.7, -0.4])
    grad = gc.eval_numerical_gradient_array(lambda z: A @ z, x, df)
    np.testing.assert_allclose(grad, A.T @ df, rtol=1e-8)


def test_numerical_gradient_array_copes_with_views():
    # f returns x itself: the function must copy before the next probe
    x = np.array([1.0, 2.0])
    grad = gc.eval_numerical_gradient_array(lambda z: z, x, np.array([1.0, 1.0]))
    np.testing.assert_allclose(grad, [1.0, 1.0], rtol=1e-8)


def test_probe_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def f(z):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gc.eval_numerical_gradient(f, x, verbose=False)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_grad_check_sparse_reports_errors(rng, capsys):
    x = rng.standard_normal((3, 4))
    good = gc.grad_check_sparse(lambda z: float(np.sum(z ** 2)), x, 2 * x, num_checks=5, rng=rng)
    assert len(good) == 5 and max(good) < 1e-8
    bad = gc.grad_check_sparse(lambda z: float(np.sum(z ** 2)), x, 3 * x, num_checks=3, rng=rng)
    assert min(bad) > 0.1
    assert "relative error" in capsys.readouterr().out


def test_rel_error():
    assert gc.rel_error(np.ones(3), np.ones(3)) == 0.0
    assert gc.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="equal shapes"):
        gc.rel_error(np.ones(2), np.ones(3))
