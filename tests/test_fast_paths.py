"""The fused and layout-aware fast paths equal the plain compositions of the
exercise's layers, forward and backward."""
import numpy as np
import pytest

import layers
import rnn_layers as rl
from captioning_rnn import CaptioningRNN
from helpers import check_layer_grads, check_scalar_grad


def composed_model_loss(model, features, captions):
    """loss and grads of CaptioningRNN by the exercise's layer sequence."""
    p = model.params
    cin, cout = captions[:, :-1], captions[:, 1:]
    mask = cout != 0
    fwd, bwd = (rl.lstm_forward, rl.lstm_backward) if model.cell_type == "lstm" else \
        (rl.rnn_forward, rl.rnn_backward)
    h0, c0 = layers.affine_forward(features, p["W_proj"], p["b_proj"])
    x, c1 = rl.word_embedding_forward(cin, p["W_embed"])
    h, c2 = fwd(x, h0, p["Wx"], p["Wh"], p["b"])
    scores, c3 = rl.temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
    loss, dscores = rl.temporal_softmax_loss(scores, cout, mask)
    g = {}
    dh, g["W_vocab"], g["b_vocab"] = rl.temporal_affine_backward(dscores, c3)
    dx, dh0, g["Wx"], g["Wh"], g["b"] = bwd(dh, c2)
    g["W_embed"] = rl.word_embedding_backward(dx, c1)
    _, g["W_proj"], g["b_proj"] = layers.affine_backward(dh0, c0)
    return loss, g


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("V,N,T", [(6, 4, 5), (40, 2, 3), (5, 1, 2)])   # table and plain paths
def test_model_loss_equals_layer_composition(rng, cell, V, N, T):
    w2i = {"<NULL>": 0, "<START>": 1, "<END>": 2, **{f"w{i}": i for i in range(3, V)}}
    model = CaptioningRNN(w2i, input_dim=7, wordvec_dim=5, hidden_dim=6, cell_type=cell,
                          dtype=np.float64, rng=2)
    model.params = {k: rng.standard_normal(v.shape) for k, v in model.params.items()}
    features = rng.standard_normal((N, 7))
    captions = rng.integers(V, size=(N, T + 1))
    captions[0, 2:] = 0                               # padding
    loss, grads = model.loss(features, captions)
    ref_loss, ref = composed_model_loss(model, features, captions)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("V,N,T", [(3, 4, 5), (30, 2, 3)])      # V < N*T: table; else plain
def test_word_projection_equals_embedding_then_affine(rng, V, N, T):
    x = rng.integers(V, size=(N, T))
    W, Wx, b = rng.standard_normal((V, 4)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    a, cache = rl.word_projection_forward(x, W, Wx, b)
    emb, ec = rl.word_embedding_forward(x, W)
    ref, ac = rl.temporal_affine_forward(emb, Wx, b)
    assert a.shape == (T, N, 6)
    np.testing.assert_allclose(a, ref.swapaxes(0, 1), rtol=1e-12)
    da = rng.standard_normal(a.shape)
    dW, dWx, db = rl.word_projection_backward(da, cache)
    demb, rdWx, rdb = rl.temporal_affine_backward(da.swapaxes(0, 1), ac)
    for name, got, want in (("dW", dW, rl.word_embedding_backward(demb, ec)), ("dWx", dWx, rdWx),
                            ("db", db, rdb)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)
    check_layer_grads(lambda W_, Wx_, b_: rl.word_projection_forward(x, W_, Wx_, b_)[0],
                      {"W": W, "Wx": Wx, "b": b}, da, {"dW": dW, "dWx": dWx, "db": db})


@pytest.mark.parametrize("N,T,H,V", [(1, 1, 3, 4), (3, 4, 5, 6), (2, 5, 4, 3)])
def test_vocab_loss_equals_affine_then_softmax(rng, N, T, H, V):
    h, w, b = rng.standard_normal((N, T, H)), rng.standard_normal((H, V)), rng.standard_normal(V)
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) < 0.6
    mask.flat[0] = True
    for layout in (h, np.ascontiguousarray(h.swapaxes(0, 1)).swapaxes(0, 1)):
        loss, dh, dw, db = rl.vocab_loss(layout, w, b, y, mask)
        scores, cache = rl.temporal_affine_forward(h, w, b)
        ref_loss, dscores = rl.temporal_softmax_loss(scores, y, mask)
        rdh, rdw, rdb = rl.temporal_affine_backward(dscores, cache)
        assert loss == pytest.approx(ref_loss, rel=1e-12)
        for name, got, want in (("dh", dh, rdh), ("dw", dw, rdw), ("db", db, rdb)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13, err_msg=name)
    _, dh, dw, db = rl.vocab_loss(h, w, b, y, mask)
    check_scalar_grad("dh", lambda h_: rl.vocab_loss(h_, w, b, y, mask)[0], h, dh)
    check_scalar_grad("dw", lambda w_: rl.vocab_loss(h, w_, b, y, mask)[0], w, dw)
    check_scalar_grad("db", lambda b_: rl.vocab_loss(h, w, b_, y, mask)[0], b, db)


@pytest.mark.parametrize("lstm", [False, True])
@pytest.mark.parametrize("N,T,H", [(1, 1, 2), (2, 4, 3), (3, 2, 5)])
def test_recurrence_backward_gradcheck(rng, lstm, N, T, H):
    """The time loops alone, given input projections a (T, N, kH)."""
    k = 4 if lstm else 1
    fwd, bwd = (rl.lstm_recurrence_forward, rl.lstm_recurrence_backward) if lstm else \
        (rl.rnn_recurrence_forward, rl.rnn_recurrence_backward)
    inputs = {"a": rng.standard_normal((T, N, k * H)), "h0": rng.standard_normal((N, H)),
              "Wh": rng.standard_normal((H, k * H)) / np.sqrt(H)}
    dh = rng.standard_normal((N, T, H))
    _, cache = fwd(inputs["a"].copy(), inputs["h0"], inputs["Wh"])   # a is overwritten (lstm)
    da, dh0, dWh = bwd(dh, cache)
    check_layer_grads(lambda a, h0, Wh: fwd(a.copy(), h0, Wh)[0], inputs, dh,
                      {"da": da, "dh0": dh0, "dWh": dWh})


def test_layouts_give_equal_results(rng):
    """Batch-major, time-major and arbitrary strides give the same answers."""
    x = rng.standard_normal((3, 4, 5))
    layouts = [x, np.ascontiguousarray(x.swapaxes(0, 1)).swapaxes(0, 1),
               np.asfortranarray(x)]
    w, b = rng.standard_normal((5, 6)), rng.standard_normal(6)
    dout = rng.standard_normal((3, 4, 6))
    y = rng.integers(5, size=(3, 4))
    mask = rng.random((3, 4)) < 0.7
    ref_out, ref_cache = rl.temporal_affine_forward(x, w, b)
    ref_grads = rl.temporal_affine_backward(dout, ref_cache)
    ref_loss = rl.temporal_softmax_loss(x, y, mask)
    for a in layouts:
        for d in (dout, np.ascontiguousarray(dout.swapaxes(0, 1)).swapaxes(0, 1)):
            out, cache = rl.temporal_affine_forward(a, w, b)
            np.testing.assert_allclose(out, ref_out, rtol=1e-12)
            for got, want in zip(rl.temporal_affine_backward(d, cache), ref_grads):
                np.testing.assert_allclose(got, want, rtol=1e-12)
        loss, dx = rl.temporal_softmax_loss(a, y, mask)
        assert loss == pytest.approx(ref_loss[0], rel=1e-13)
        np.testing.assert_allclose(dx, ref_loss[1], rtol=1e-12)


@pytest.mark.parametrize("M,C", [(1, 1), (1, 3), (5, 4)])
def test_softmax_loss(rng, M, C):
    x, y = rng.standard_normal((M, C)), rng.integers(C, size=M)
    loss, dx = layers.softmax_loss(x, y)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(M), y])), rel=1e-12)
    check_scalar_grad("dx", lambda x_: layers.softmax_loss(x_, y)[0], x, dx)
    with pytest.raises(ValueError, match="y must have shape"):
        layers.softmax_loss(x, np.zeros(M + 1, int))


def test_scatter_add_rows_matches_add_at(rng):
    index = rng.integers(7, size=50)
    values = rng.standard_normal((50, 3)).astype(np.float32)
    expected = np.zeros((9, 3), np.float32)
    np.add.at(expected, index, values)
    got = layers.scatter_add_rows(index, values, 9)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.dtype == np.float32
    assert layers.scatter_add_rows(index[:0], values[:0], 4).shape == (4, 3)


@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("lstm", 4)])
def test_recurrence_bad_input(cell, gates):
    fwd = rl.lstm_recurrence_forward if cell == "lstm" else rl.rnn_recurrence_forward
    with pytest.raises(ValueError, match=r"a must have shape \(\?, 2, %d\)" % (3 * gates)):
        fwd(np.zeros((4, 2, 3 * gates + 1)), np.zeros((2, 3)), np.zeros((3, 3 * gates)))
    with pytest.raises(ValueError, match="h0 must have shape"):
        fwd(np.zeros((4, 2, 3 * gates)), np.zeros((3, 3)), np.zeros((3, 3 * gates)))
