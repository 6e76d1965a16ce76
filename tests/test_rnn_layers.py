"""Recurrent layers: values, gradients, sequence = composition of steps,
dtype, and bad input."""
import numpy as np
import pytest

import rnn_layers as rl
from helpers import check_layer_grads, check_scalar_grad

# (N, T, D, H): size-1 batch and time, and H != D in both directions
SHAPES = [(1, 1, 3, 2), (2, 3, 4, 5), (3, 4, 5, 3), (1, 5, 2, 4), (4, 1, 3, 3)]


def lin(lo, hi, *shape):
    return np.linspace(lo, hi, num=int(np.prod(shape))).reshape(*shape)


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --- independent references: plain loops, written from the equations -----

def ref_rnn(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h, out = h0, []
    for t in range(T):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        out.append(h)
    return np.stack(out, axis=1)


def ref_lstm(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h, c, out = h0, np.zeros_like(h0), []
    for t in range(T):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, o = (np_sigmoid(a[:, k * H:(k + 1) * H]) for k in range(3))
        g = np.tanh(a[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def ref_softmax_loss(x, y, mask):
    N, T, V = x.shape
    loss = 0.0
    for n in range(N):
        for t in range(T):
            if mask[n, t]:
                z = x[n, t].astype(np.float64)
                loss -= z[y[n, t]] - np.log(np.sum(np.exp(z)))
    return loss / N


def recurrent_params(rng, N, T, D, H, gates, dtype=np.float64):
    G = gates * H
    return dict(
        x=rng.standard_normal((N, T, D)).astype(dtype),
        h0=rng.standard_normal((N, H)).astype(dtype),
        Wx=(rng.standard_normal((D, G)) / np.sqrt(D)).astype(dtype),
        Wh=(rng.standard_normal((H, G)) / np.sqrt(H)).astype(dtype),
        b=rng.standard_normal(G).astype(dtype),
    )


# --- the exercise's published values ----------------------------------------

def test_rnn_step_forward_exercise_values():
    N, D, H = 3, 10, 4
    next_h, _ = rl.rnn_step_forward(
        lin(-0.4, 0.7, N, D), lin(-0.2, 0.5, N, H), lin(-0.1, 0.9, D, H),
        lin(-0.3, 0.7, H, H), lin(-0.2, 0.4, H))
    expected = np.array([
        [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
        [0.66854692, 0.79562378, 0.87755553, 0.92795967],
        [0.97934501, 0.99144213, 0.99646691, 0.99854353]])
    np.testing.assert_allclose(next_h, expected, rtol=1e-7, atol=1e-8)


def test_rnn_forward_exercise_values():
    N, T, D, H = 2, 3, 4, 5
    h, _ = rl.rnn_forward(lin(-0.1, 0.3, N, T, D), lin(-0.3, 0.1, N, H),
                          lin(-0.2, 0.4, D, H), lin(-0.4, 0.1, H, H), lin(-0.7, 0.1, H))
    expected = np.array([
        [[-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
         [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
         [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525]],
        [[-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
         [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
         [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043]]])
    np.testing.assert_allclose(h, expected, rtol=1e-7, atol=1e-8)


def test_lstm_step_forward_exercise_values():
    N, D, H = 3, 4, 5
    next_h, next_c, _ = rl.lstm_step_forward(
        lin(-0.4, 1.2, N, D), lin(-0.3, 0.7, N, H), lin(-0.4, 0.9, N, H),
        lin(-2.1, 1.3, D, 4 * H), lin(-0.7, 2.2, H, 4 * H), lin(0.3, 0.7, 4 * H))
    expected_h = np.array([
        [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
        [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
        [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]])
    expected_c = np.array([
        [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
        [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
        [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676]])
    np.testing.assert_allclose(next_h, expected_h, rtol=1e-7, atol=1e-8, err_msg="next_h")
    np.testing.assert_allclose(next_c, expected_c, rtol=1e-7, atol=1e-8, err_msg="next_c")


def test_lstm_forward_exercise_values():
    N, D, H, T = 2, 5, 4, 3
    h, _ = rl.lstm_forward(lin(-0.4, 0.6, N, T, D), lin(-0.4, 0.8, N, H),
                           lin(-0.2, 0.9, D, 4 * H), lin(-0.3, 0.6, H, 4 * H),
                           lin(0.2, 0.7, 4 * H))
    expected = np.array([
        [[0.01764008, 0.01823233, 0.01882671, 0.0194232],
         [0.11287491, 0.12146228, 0.13018446, 0.13902939],
         [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
        [[0.45767879, 0.4761092, 0.4936887, 0.51041945],
         [0.6704845, 0.69350089, 0.71486014, 0.7346449],
         [0.81733511, 0.83677871, 0.85403753, 0.86935314]]])
    np.testing.assert_allclose(h, expected, rtol=1e-7, atol=1e-8)


def test_softmax_loss_sanity_values(rng):
    """Uniform-ish scores give about log(V) per counted word."""
    for N, T, V, p, expected in [(100, 1, 10, 1.0, 2.3), (100, 10, 10, 1.0, 23.0),
                                 (5000, 10, 10, 0.1, 2.3)]:
        x = 0.001 * rng.standard_normal((N, T, V))
        y = rng.integers(V, size=(N, T))
        mask = rng.random((N, T)) <= p
        loss, _ = rl.temporal_softmax_loss(x, y, mask)
        assert abs(loss - expected) < 0.15 * expected / 2.3, (N, T, p, loss)


# --- forward values against independent computations ------------------------

@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_sequence_forward_matches_reference_loop(rng, N, T, D, H, cell):
    p = recurrent_params(rng, N, T, D, H, 4 if cell == "lstm" else 1)
    forward, ref = (rl.lstm_forward, ref_lstm) if cell == "lstm" else (rl.rnn_forward, ref_rnn)
    h, _ = forward(**p)
    assert h.shape == (N, T, H)
    np.testing.assert_allclose(h, ref(**p), rtol=1e-10, atol=1e-12)


def test_sigmoid_extremes_and_values():
    z = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])
    with np.errstate(all="raise"):
        s = rl.sigmoid(z)
    np.testing.assert_allclose(s, [0, 0, np_sigmoid(-1.0), 0.5, np_sigmoid(1.0), 1, 1], atol=1e-15)
    assert rl.sigmoid(z.astype(np.float32)).dtype == np.float32


def test_word_embedding_forward_values():
    x = np.array([[0, 3, 1, 2], [2, 1, 0, 3]])
    W = lin(0, 1, 5, 3)
    out, _ = rl.word_embedding_forward(x, W)
    for n in range(2):
        for t in range(4):
            np.testing.assert_array_equal(out[n, t], W[x[n, t]])
    np.testing.assert_allclose(out[0, 1], [0.64285714, 0.71428571, 0.78571429], rtol=1e-7)


def test_temporal_affine_forward_values(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    out, _ = rl.temporal_affine_forward(x, w, b)
    expected = np.einsum("ntd,dm->ntm", x, w) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_softmax_loss_matches_reference(rng):
    x = rng.standard_normal((3, 4, 7)) * 3
    y = rng.integers(7, size=(3, 4))
    mask = rng.random((3, 4)) < 0.6
    loss, _ = rl.temporal_softmax_loss(x, y, mask)
    assert loss == pytest.approx(ref_softmax_loss(x, y, mask), rel=1e-12)


# --- sequence functions equal the composition of their steps ----------------

@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_rnn_sequence_equals_steps(rng, N, T, D, H):
    p = recurrent_params(rng, N, T, D, H, 1)
    dh = rng.standard_normal((N, T, H))
    h, cache = rl.rnn_forward(**p)
    grads = rl.rnn_backward(dh, cache)

    prev, caches = p["h0"], []
    for t in range(T):
        prev, c = rl.rnn_step_forward(p["x"][:, t], prev, p["Wx"], p["Wh"], p["b"])
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-12, err_msg=f"h[:, {t}]")
        caches.append(c)
    dx = np.zeros_like(p["x"])
    dW = [np.zeros_like(p[k]) for k in ("Wx", "Wh", "b")]
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev, *dws = rl.rnn_step_backward(dh[:, t] + dprev, caches[t])
        dW = [a + g for a, g in zip(dW, dws)]
    for name, a, b in zip(("dx", "dh0", "dWx", "dWh", "db"), grads, [dx, dprev, *dW]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_lstm_sequence_equals_steps(rng, N, T, D, H):
    p = recurrent_params(rng, N, T, D, H, 4)
    dh = rng.standard_normal((N, T, H))
    h, cache = rl.lstm_forward(**p)
    grads = rl.lstm_backward(dh, cache)

    prev_h, prev_c, caches = p["h0"], np.zeros((N, H)), []
    for t in range(T):
        prev_h, prev_c, c = rl.lstm_step_forward(p["x"][:, t], prev_h, prev_c,
                                                 p["Wx"], p["Wh"], p["b"])
        np.testing.assert_allclose(h[:, t], prev_h, rtol=1e-12, err_msg=f"h[:, {t}]")
        caches.append(c)
    dx = np.zeros_like(p["x"])
    dW = [np.zeros_like(p[k]) for k in ("Wx", "Wh", "b")]
    dh_prev, dc_prev = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_prev, dc_prev, *dws = rl.lstm_step_backward(dh[:, t] + dh_prev, dc_prev,
                                                                 caches[t])
        dW = [a + g for a, g in zip(dW, dws)]
    for name, a, b in zip(("dx", "dh0", "dWx", "dWh", "db"), grads, [dx, dh_prev, *dW]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)


# --- numeric gradient checks (float64, centred differences) -----------------

@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_rnn_step_backward_gradcheck(rng, N, T, D, H):
    p = recurrent_params(rng, N, 1, D, H, 1)
    inputs = dict(x=p["x"][:, 0].copy(), prev_h=p["h0"], Wx=p["Wx"], Wh=p["Wh"], b=p["b"])
    dnext_h = rng.standard_normal((N, H))
    _, cache = rl.rnn_step_forward(**inputs)
    grads = rl.rnn_step_backward(dnext_h, cache)
    check_layer_grads(lambda *a: rl.rnn_step_forward(*a)[0], inputs, dnext_h,
                      dict(zip(("dx", "dprev_h", "dWx", "dWh", "db"), grads)))


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_rnn_backward_gradcheck(rng, N, T, D, H):
    inputs = recurrent_params(rng, N, T, D, H, 1)
    dh = rng.standard_normal((N, T, H))
    _, cache = rl.rnn_forward(**inputs)
    grads = rl.rnn_backward(dh, cache)
    check_layer_grads(lambda *a: rl.rnn_forward(*a)[0], inputs, dh,
                      dict(zip(("dx", "dh0", "dWx", "dWh", "db"), grads)))


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_lstm_step_backward_gradcheck(rng, N, T, D, H):
    p = recurrent_params(rng, N, 1, D, H, 4)
    inputs = dict(x=p["x"][:, 0].copy(), prev_h=p["h0"], prev_c=rng.standard_normal((N, H)),
                  Wx=p["Wx"], Wh=p["Wh"], b=p["b"])
    dnext_h, dnext_c = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    _, _, cache = rl.lstm_step_forward(**inputs)
    grads = rl.lstm_step_backward(dnext_h, dnext_c, cache)
    analytic = dict(zip(("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), grads))

    def both_outputs(*a):
        # sum(next_h * dnext_h + next_c * dnext_c) as one vector-Jacobian product
        next_h, next_c, _ = rl.lstm_step_forward(*a)
        return np.concatenate([next_h, next_c], axis=1)

    check_layer_grads(both_outputs, inputs, np.concatenate([dnext_h, dnext_c], axis=1), analytic)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_lstm_backward_gradcheck(rng, N, T, D, H):
    inputs = recurrent_params(rng, N, T, D, H, 4)
    dh = rng.standard_normal((N, T, H))
    _, cache = rl.lstm_forward(**inputs)
    grads = rl.lstm_backward(dh, cache)
    check_layer_grads(lambda *a: rl.lstm_forward(*a)[0], inputs, dh,
                      dict(zip(("dx", "dh0", "dWx", "dWh", "db"), grads)))


@pytest.mark.parametrize("N,T,V,D", [(1, 1, 3, 2), (2, 3, 5, 4), (3, 4, 4, 6)])
def test_word_embedding_backward_gradcheck(rng, N, T, V, D):
    x = rng.integers(V, size=(N, T))
    W = rng.standard_normal((V, D))
    dout = rng.standard_normal((N, T, D))
    _, cache = rl.word_embedding_forward(x, W)
    dW = rl.word_embedding_backward(dout, cache)
    check_layer_grads(lambda W_: rl.word_embedding_forward(x, W_)[0], {"W": W}, dout, {"dW": dW})


@pytest.mark.parametrize("shape", [(), (1,), (4,), (2, 2, 3)])
def test_word_embedding_takes_any_index_array_as_the_exercise_does(rng, shape):
    """W[x] of the exercise: one word per caption while sampling is a (N,)
    array; out is x.shape + (D,), and dW accumulates every use."""
    V, D = 3, 4
    x = rng.integers(V, size=shape)
    W = rng.standard_normal((V, D))
    out, cache = rl.word_embedding_forward(x, W)
    np.testing.assert_array_equal(out, W[x])
    dout = rng.standard_normal(x.shape + (D,))
    dW = rl.word_embedding_backward(dout, cache)
    expected = np.zeros((V, D))
    for ix in np.ndindex(*x.shape):
        expected[x[ix]] += dout[ix]
    np.testing.assert_allclose(dW, expected, rtol=1e-12, atol=1e-12, err_msg="dW")
    check_layer_grads(lambda W_: rl.word_embedding_forward(x, W_)[0], {"W": W}, dout, {"dW": dW})


def test_word_embedding_backward_accumulates_repeats():
    x = np.array([[1, 1, 1], [0, 1, 2]])
    W = np.zeros((4, 2))
    dout = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    _, cache = rl.word_embedding_forward(x, W)
    dW = rl.word_embedding_backward(dout, cache)
    expected = np.zeros((4, 2))
    for n in range(2):
        for t in range(3):
            expected[x[n, t]] += dout[n, t]
    np.testing.assert_array_equal(dW, expected)
    assert np.all(dW[3] == 0)                       # unseen word: no gradient


@pytest.mark.parametrize("N,T,D,M", [(1, 1, 3, 2), (2, 3, 4, 5), (3, 2, 5, 3)])
def test_temporal_affine_backward_gradcheck(rng, N, T, D, M):
    inputs = dict(x=rng.standard_normal((N, T, D)), w=rng.standard_normal((D, M)),
                  b=rng.standard_normal(M))
    dout = rng.standard_normal((N, T, M))
    _, cache = rl.temporal_affine_forward(**inputs)
    grads = rl.temporal_affine_backward(dout, cache)
    check_layer_grads(lambda *a: rl.temporal_affine_forward(*a)[0], inputs, dout,
                      dict(zip(("dx", "dw", "db"), grads)))


@pytest.mark.parametrize("N,T,V", [(1, 1, 2), (2, 3, 5), (4, 2, 7)])
def test_softmax_loss_gradcheck(rng, N, T, V):
    x = rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) < 0.7
    mask.flat[0] = True
    _, dx = rl.temporal_softmax_loss(x, y, mask)
    check_scalar_grad("dx", lambda x_: rl.temporal_softmax_loss(x_, y, mask)[0], x, dx)


def test_softmax_loss_masked_rows_and_fully_masked_batch(rng):
    x = rng.standard_normal((3, 4, 5))
    y = rng.integers(5, size=(3, 4))
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False                                 # one caption entirely masked
    loss, dx = rl.temporal_softmax_loss(x, y, mask)
    assert loss == pytest.approx(ref_softmax_loss(x, y, mask), rel=1e-12)
    assert np.all(dx[1] == 0)
    loss0, dx0 = rl.temporal_softmax_loss(x, y, np.zeros((3, 4), dtype=bool))
    assert loss0 == 0.0 and np.all(dx0 == 0)


def test_softmax_loss_huge_logits_finite_and_exact():
    V = 4
    x = np.array([[[1e4, -1e4, 0.0, 1e4 - 2.0], [-1e4, -1e4, -1e4, -1e4 + 1.0]]])
    y = np.array([[3, 0]])
    mask = np.array([[True, True]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow is benign
        loss, dx = rl.temporal_softmax_loss(x, y, mask)
    # closed forms: row 0 is a two-way softmax between entries 0 and 3 (gap 2);
    # row 1 puts e / (3 + e) on its last entry
    log1 = np.log1p(np.exp(-2.0))
    l0 = 2.0 + log1
    l1 = np.log(3 + np.e)                           # -log(1 / (3 + e))
    assert np.isfinite(loss)
    assert loss == pytest.approx(l0 + l1, rel=1e-12)
    p0 = np.array([1 / (1 + np.exp(-2.0)), 0, 0, np.exp(-2.0) / (1 + np.exp(-2.0))])
    p1 = np.array([1, 1, 1, np.e]) / (3 + np.e)
    np.testing.assert_allclose(dx[0, 0], p0 - np.eye(V)[3], atol=1e-12, err_msg="dx row 0")
    np.testing.assert_allclose(dx[0, 1], p1 - np.eye(V)[0], atol=1e-12, err_msg="dx row 1")


# --- dtype preservation -------------------------------------------------------

@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_float32_stays_float32(rng, cell):
    N, T, D, H, V = 2, 3, 4, 5, 6
    p = recurrent_params(rng, N, T, D, H, 4 if cell == "lstm" else 1, dtype=np.float32)
    fwd, bwd = (rl.lstm_forward, rl.lstm_backward) if cell == "lstm" else (rl.rnn_forward,
                                                                           rl.rnn_backward)
    h, cache = fwd(**p)
    assert h.dtype == np.float32
    for name, g in zip(("dx", "dh0", "dWx", "dWh", "db"),
                       bwd(np.ones((N, T, H), np.float32), cache)):
        assert g.dtype == np.float32, name
    step = (rl.lstm_step_forward(p["x"][:, 0], p["h0"], p["h0"], p["Wx"], p["Wh"], p["b"])
            if cell == "lstm" else rl.rnn_step_forward(p["x"][:, 0], p["h0"], p["Wx"], p["Wh"],
                                                       p["b"]))
    assert all(a.dtype == np.float32 for a in step[:-1])

    W = rng.standard_normal((V, D)).astype(np.float32)
    out, ecache = rl.word_embedding_forward(rng.integers(V, size=(N, T)), W)
    assert out.dtype == np.float32
    assert rl.word_embedding_backward(out, ecache).dtype == np.float32
    w, b = W.T.copy(), np.zeros(V, np.float32)
    scores, acache = rl.temporal_affine_forward(out, w, b)
    assert scores.dtype == np.float32
    loss, dscores = rl.temporal_softmax_loss(scores, rng.integers(V, size=(N, T)),
                                             np.ones((N, T), bool))
    assert dscores.dtype == np.float32 and isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in rl.temporal_affine_backward(dscores, acache))


# --- bad input --------------------------------------------------------------

def _ok_rnn(rng, gates=1):
    return recurrent_params(rng, 2, 3, 4, 5, gates)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("change,exc,match", [
    (dict(x=np.zeros((2, 4))), ValueError, "x must have 3 dimensions"),
    (dict(h0=np.zeros((3, 5))), ValueError, r"h0 must have shape \(2, 5\)"),
    (dict(Wx=np.zeros((5, 5))), ValueError, "Wx must have shape"),
    (dict(b=np.zeros(7)), ValueError, "b must have shape"),
    (dict(x=np.zeros((2, 3, 4), dtype=int)), TypeError, "x must be a floating"),
])
def test_sequence_bad_input(rng, cell, change, exc, match):
    gates = 4 if cell == "lstm" else 1
    p = _ok_rnn(rng, gates)
    if "Wx" in change:
        change = dict(Wx=np.zeros((5, 5 * gates)))
    if "b" in change:
        change = dict(b=np.zeros(5 * gates + 2))
    p.update(change)
    with pytest.raises(exc, match=match):
        (rl.lstm_forward if cell == "lstm" else rl.rnn_forward)(**p)


def test_step_bad_input(rng):
    p = _ok_rnn(rng, 4)
    with pytest.raises(ValueError, match="prev_c must have shape"):
        rl.lstm_step_forward(p["x"][:, 0], p["h0"], np.zeros((2, 4)), p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match="prev_h must have shape"):
        rl.rnn_step_forward(p["x"][:, 0], np.zeros((3, 5)), p["Wx"][:, :5], p["Wh"][:, :5],
                            p["b"][:5])


def test_backward_bad_upstream_shape(rng):
    p = _ok_rnn(rng)
    _, cache = rl.rnn_forward(**p)
    with pytest.raises(ValueError, match=r"dh must have shape \(2, 3, 5\)"):
        rl.rnn_backward(np.zeros((2, 3, 4)), cache)
    _, cache = rl.rnn_step_forward(p["x"][:, 0], p["h0"], p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match="dnext_h must have shape"):
        rl.rnn_step_backward(np.zeros((5,)), cache)


@pytest.mark.parametrize("x,exc,match", [
    (np.array([[0, 5]]), ValueError, r"outside the valid range \[0, 5\)"),
    (np.array([[-1, 2]]), ValueError, "outside the valid range"),
    (np.array([[0.0, 1.0]]), TypeError, "integer word indices"),
    (np.array([[[0, 7]]]), ValueError, "outside the valid range"),
])
def test_word_embedding_bad_indices(x, exc, match):
    with pytest.raises(exc, match=match):
        rl.word_embedding_forward(x, np.zeros((5, 3)))


def test_temporal_affine_bad_input(rng):
    with pytest.raises(ValueError, match=r"w must have shape \(4, 6\), got \(5, 6\)"):
        rl.temporal_affine_forward(np.zeros((2, 3, 4)), np.zeros((5, 6)), np.zeros(6))
    with pytest.raises(ValueError, match="b must have shape"):
        rl.temporal_affine_forward(np.zeros((2, 3, 4)), np.zeros((4, 6)), np.zeros(5))


@pytest.mark.parametrize("y,mask,exc,match", [
    (np.zeros((2, 3), int), np.ones((3, 2), bool), ValueError, r"mask must have shape \(2, 3\)"),
    (np.zeros((2, 3), int), np.full((2, 3), 0.5), TypeError, "mask must be boolean"),
    (np.zeros((2, 2), int), np.ones((2, 3), bool), ValueError, r"y must have shape \(2, 3\)"),
    (np.full((2, 3), 4), np.ones((2, 3), bool), ValueError, "y holds indices"),
    (np.zeros((2, 3)), np.ones((2, 3), bool), TypeError, "y must be an array of integer"),
])
def test_softmax_loss_bad_input(y, mask, exc, match):
    with pytest.raises(exc, match=match):
        rl.temporal_softmax_loss(np.zeros((2, 3, 4)), y, mask)


def test_softmax_loss_accepts_01_mask():
    x = np.zeros((1, 2, 3))
    y = np.zeros((1, 2), int)
    loss_bool, _ = rl.temporal_softmax_loss(x, y, np.array([[True, False]]))
    loss_int, _ = rl.temporal_softmax_loss(x, y, np.array([[1, 0]]))
    assert loss_bool == loss_int == pytest.approx(np.log(3))
