"""Update rules against values computed by hand, state kept in config."""
import numpy as np
import pytest

import optim

W = np.array([[1.0, -2.0], [0.5, 0.0]])
DW = np.array([[0.1, 0.2], [-0.3, 0.0]])


def test_sgd():
    w, config = optim.sgd(W, DW, {"learning_rate": 0.5})
    np.testing.assert_allclose(w, W - 0.5 * DW)
    assert optim.sgd(W, DW)[1] == {"learning_rate": 1e-2}


def test_sgd_momentum_two_steps():
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w1, config = optim.sgd_momentum(W, DW, config)
    v1 = -0.1 * DW
    np.testing.assert_allclose(w1, W + v1)
    w2, config = optim.sgd_momentum(w1, DW, config)
    v2 = 0.9 * v1 - 0.1 * DW
    np.testing.assert_allclose(w2, w1 + v2)
    np.testing.assert_allclose(config["velocity"], v2)


def test_rmsprop_two_steps():
    config = {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8}
    w1, config = optim.rmsprop(W, DW, config)
    c1 = 0.1 * DW ** 2
    np.testing.assert_allclose(w1, W - 0.01 * DW / (np.sqrt(c1) + 1e-8))
    w2, config = optim.rmsprop(w1, DW, config)
    c2 = 0.9 * c1 + 0.1 * DW ** 2
    np.testing.assert_allclose(w2, w1 - 0.01 * DW / (np.sqrt(c2) + 1e-8))
    np.testing.assert_allclose(config["cache"], c2)


def test_adam_two_steps():
    config = {"learning_rate": 0.1}
    w1, config = optim.adam(W, DW, config)
    m1, v1 = 0.1 * DW, 0.001 * DW ** 2
    expected1 = W - 0.1 * (m1 / 0.1) / (np.sqrt(v1 / 0.001) + 1e-8)
    np.testing.assert_allclose(w1, expected1)
    w2, config = optim.adam(w1, 2 * DW, config)
    m2 = 0.9 * m1 + 0.1 * 2 * DW
    v2 = 0.999 * v1 + 0.001 * (2 * DW) ** 2
    expected2 = w1 - 0.1 * (m2 / (1 - 0.9 ** 2)) / (np.sqrt(v2 / (1 - 0.999 ** 2)) + 1e-8)
    np.testing.assert_allclose(w2, expected2)
    assert config["t"] == 2


def test_adam_exercise_values():
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    next_w, _ = optim.adam(w, dw, {"learning_rate": 1e-2, "m": m, "v": v, "t": 5})
    np.testing.assert_allclose(next_w[0], [-0.40094747, -0.34836187, -0.29577703,
                                           -0.24319299, -0.19060977], rtol=1e-6)


@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
def test_rules_keep_dtype_and_reject_bad_config(rule):
    w32, dw32 = W.astype(np.float32), DW.astype(np.float32)
    assert optim.UPDATE_RULES[rule](w32, dw32)[0].dtype == np.float32
    with pytest.raises(ValueError, match="unknown config keys"):
        optim.UPDATE_RULES[rule](W, DW, {"learning_rat": 0.1})
    with pytest.raises(ValueError, match="shape"):
        optim.UPDATE_RULES[rule](W, DW[:1])
