"""Packed sequences: running each row only up to its length gives exactly
the results of the full computation, forward and backward."""
import numpy as np
import pytest

import rnn_layers as rl
from captioning_rnn import CaptioningRNN
from helpers import check_layer_grads

CELLS = {"rnn": (1, rl.rnn_recurrence_forward, rl.rnn_recurrence_backward),
         "lstm": (4, rl.lstm_recurrence_forward, rl.lstm_recurrence_backward)}
SHAPES = [(1, 1, 3, [1]), (1, 4, 2, [2]), (4, 5, 3, [5, 3, 3, 0]), (3, 2, 6, [2, 2, 2]),
          (5, 6, 4, [6, 4, 2, 1, 1])]


def problem(rng, k, N, T, H):
    return {"a": rng.standard_normal((T, N, k * H)), "h0": rng.standard_normal((N, H)),
            "Wh": rng.standard_normal((H, k * H)) / np.sqrt(H)}


def past_lengths(lengths, T):
    """(N, T) booleans: True where a row has ended."""
    return np.arange(T)[None, :] >= np.asarray(lengths)[:, None]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("N,T,H,lengths", SHAPES)
def test_packed_recurrence_equals_the_full_one(rng, cell, N, T, H, lengths):
    k, fwd, bwd = CELLS[cell]
    p = problem(rng, k, N, T, H)
    ended = past_lengths(lengths, T)
    dh = rng.standard_normal((N, T, H))
    dh[ended] = 0                          # a loss never looks past a row's length
    h_full, cache_full = fwd(p["a"].copy(), p["h0"], p["Wh"])
    h_packed, cache_packed = fwd(p["a"].copy(), p["h0"], p["Wh"], np.array(lengths))
    np.testing.assert_allclose(h_packed[~ended], h_full[~ended], rtol=1e-12, atol=1e-14)
    assert not h_packed[ended].any()
    noisy = dh.copy()
    noisy[ended] = rng.standard_normal(noisy[ended].shape)    # ignored past the lengths
    full, packed = bwd(dh, cache_full), bwd(noisy, cache_packed)
    for name, got, want in zip(("da", "dh0", "dWh"), packed, full):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("N,T,H,lengths", SHAPES)
def test_packed_recurrence_gradcheck(rng, cell, N, T, H, lengths):
    k, fwd, bwd = CELLS[cell]
    p = problem(rng, k, N, T, H)
    lengths = np.array(lengths)
    dh = rng.standard_normal((N, T, H))
    _, cache = fwd(p["a"].copy(), p["h0"], p["Wh"], lengths)
    da, dh0, dWh = bwd(dh, cache)
    dh[past_lengths(lengths, T)] = 0       # the forward's output there is a constant 0
    check_layer_grads(lambda a, h0, Wh: fwd(a.copy(), h0, Wh, lengths)[0], p, dh,
                      {"da": da, "dh0": dh0, "dWh": dWh})


def model_and_batch(rng, cell, dtype, N=7, T=9, D=5, W=4, H=6):
    words = ["<NULL>", "<START>", "<END>"] + [f"w{i}" for i in range(8)]
    model = CaptioningRNN({w: i for i, w in enumerate(words)}, input_dim=D, wordvec_dim=W,
                          hidden_dim=H, cell_type=cell, dtype=dtype, rng=1)
    captions = rng.integers(3, len(words), size=(N, T))
    captions[:, 0] = 1
    for n, L in enumerate(rng.integers(1, T, size=N)):          # unsorted lengths
        captions[n, L] = 2
        captions[n, L + 1:] = 0
    captions[0, 3] = 0                                           # a <NULL> hole mid-caption
    features = rng.standard_normal((N, D)).astype(dtype)
    return model, features, captions


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("dtype,tol,atol", [(np.float64, 1e-12, 1e-14), (np.float32, 1e-5, 1e-5)])
def test_model_loss_packed_equals_unpacked(rng, cell, dtype, tol, atol):
    """Exact in float64 (to 1e-12); float32 gradients within rounding of
    their scale (products over fewer rows round differently)."""
    model, features, captions = model_and_batch(rng, cell, dtype)
    loss, grads = model.loss(features, captions)
    model.pack_sequences = False
    full_loss, full_grads = model.loss(features, captions)
    assert loss == pytest.approx(full_loss, rel=tol)
    for name in grads:
        assert grads[name].dtype == dtype
        scale = np.abs(full_grads[name]).max()
        np.testing.assert_allclose(grads[name], full_grads[name], rtol=tol,
                                   atol=atol * scale, err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_forward_loss_is_the_loss_without_gradients(rng, cell):
    model, features, captions = model_and_batch(rng, cell, np.float64)
    assert model.forward_loss(features, captions) == model.loss(features, captions)[0]
    with pytest.raises(ValueError, match="empty batch"):
        model.forward_loss(features[:0], captions[:0])


def test_sequence_lengths_reach_the_last_counted_target():
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    np.testing.assert_array_equal(rl.sequence_lengths(mask), [2, 3, 0, 4])


@pytest.mark.parametrize("lengths,match", [
    ([1, 2], "sorted from longest"),
    ([3, 0], r"in \[0, 2\]"),
    ([1], r"must be \(2,\) integers"),
    ([1.0, 0.0], "integers"),
])
def test_bad_lengths_refused(rng, lengths, match):
    p = problem(rng, 1, 2, 2, 3)
    with pytest.raises(ValueError, match=match):
        rl.rnn_recurrence_forward(p["a"], p["h0"], p["Wh"], np.array(lengths))
