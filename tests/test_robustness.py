"""Robustness: property-based checks of the layers, empty batches, bad input
everywhere, untrusted files, and saves killed with SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captioning_rnn import CaptioningRNN
from coco_utils import decode_captions, sample_coco_minibatch
import rnn_layers as rl
from solver import CHECKPOINT_KIND, CaptioningSolver
from toy_data import make_toy_data
from rnn_captioning.files.checkpoints import load_npz

FAST = settings(max_examples=30, deadline=None)
dims = st.integers(min_value=1, max_value=5)


# --- properties over shapes, masks and index ranges ---------------------------

@FAST
@given(N=dims, T=dims, D=dims, H=dims, lstm=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_sequence_equals_steps_for_any_shape(N, T, D, H, lstm, seed):
    rng = np.random.default_rng(seed)
    k = 4 if lstm else 1
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, k * H)), rng.standard_normal((H, k * H)), rng.standard_normal(k * H)
    h, _ = (rl.lstm_forward if lstm else rl.rnn_forward)(x, h0, Wx, Wh, b)
    prev, c = h0, np.zeros_like(h0)
    for t in range(T):
        if lstm:
            prev, c, _ = rl.lstm_step_forward(x[:, t], prev, c, Wx, Wh, b)
        else:
            prev, _ = rl.rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-12, atol=1e-14)


@FAST
@given(N=dims, T=dims, V=st.integers(1, 6), seed=st.integers(0, 2 ** 16),
       p=st.floats(0.0, 1.0), scale=st.sampled_from([1.0, 1e3, 1e6]))
def test_softmax_loss_properties(N, T, V, seed, p, scale):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) < p
    loss, dx = rl.temporal_softmax_loss(x, y, mask)
    assert np.isfinite(loss) and loss >= 0 and np.isfinite(dx).all()
    assert not dx[~mask].any()                       # masked targets: no gradient
    np.testing.assert_allclose(dx[mask].sum(axis=-1), 0, atol=1e-12)   # softmax - onehot
    expected = 0.0
    for n, t in zip(*np.nonzero(mask)):
        z = x[n, t] - x[n, t].max()
        expected -= z[y[n, t]] - np.log(np.exp(z).sum())
    assert loss == pytest.approx(expected / N, rel=1e-10, abs=1e-12)


@FAST
@given(N=dims, T=dims, V=st.integers(1, 6), lo=st.integers(-3, 0), hi=st.integers(0, 9),
       seed=st.integers(0, 2 ** 16))
def test_embedding_index_range(N, T, V, lo, hi, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi + 1, size=(N, T))
    W = rng.standard_normal((V, 2))
    if x.min() < 0 or x.max() >= V:
        with pytest.raises(ValueError, match="outside the valid range"):
            rl.word_embedding_forward(x, W)
    else:
        np.testing.assert_array_equal(rl.word_embedding_forward(x, W)[0], W[x])


@FAST
@given(dtype=st.sampled_from(["bool", "int8", "int64", "float32", "float64"]),
       seed=st.integers(0, 2 ** 16), fill=st.sampled_from([0, 1, 2, 0.5]))
def test_masks_of_any_dtype(dtype, seed, fill):
    rng = np.random.default_rng(seed)
    mask = (rng.random((2, 3)) < 0.5).astype(dtype)
    if dtype != "bool":
        mask[0, 0] = fill
    x, y = rng.standard_normal((2, 3, 4)), rng.integers(4, size=(2, 3))
    if np.isin(mask, (0, 1)).all():                  # (int dtypes truncate 0.5 to 0)
        loss, _ = rl.temporal_softmax_loss(x, y, mask)
        assert loss == pytest.approx(rl.temporal_softmax_loss(x, y, mask.astype(bool))[0])
    else:
        with pytest.raises(TypeError, match="mask must be boolean"):
            rl.temporal_softmax_loss(x, y, mask)


# --- empty batches and short captions -----------------------------------------

def test_layers_accept_an_empty_batch():
    """N = 0 is a documented result for the layers: empty outputs, zero loss."""
    for fwd, bwd, k in ((rl.rnn_forward, rl.rnn_backward, 1), (rl.lstm_forward, rl.lstm_backward, 4)):
        h, cache = fwd(np.zeros((0, 3, 2)), np.zeros((0, 4)), np.ones((2, 4 * k)),
                       np.ones((4, 4 * k)), np.ones(4 * k))
        assert h.shape == (0, 3, 4)
        dx, dh0, dWx, dWh, db = bwd(np.zeros((0, 3, 4)), cache)
        assert dx.shape == (0, 3, 2) and not dWx.any() and not db.any()
    loss, dx = rl.temporal_softmax_loss(np.zeros((0, 3, 5)), np.zeros((0, 3), int),
                                        np.zeros((0, 3), bool))
    assert loss == 0.0 and dx.shape == (0, 3, 5)
    assert rl.word_embedding_forward(np.zeros((0, 3), int), np.ones((4, 2)))[0].shape == (0, 3, 2)


def test_model_with_empty_batch_and_short_captions(rng):
    w2i = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3}
    model = CaptioningRNN(w2i, input_dim=3, wordvec_dim=2, hidden_dim=4, cell_type="lstm")
    with pytest.raises(ValueError, match="empty batch"):
        model.loss(np.zeros((0, 3)), np.zeros((0, 4), int))
    assert model.sample(np.zeros((0, 3)), max_length=5).shape == (0, 5)
    caps, logp = model.beam_search(np.zeros((0, 3)), max_length=5)
    assert caps.shape == (0, 5) and logp.shape == (0,)
    loss, grads = model.loss(rng.standard_normal((2, 3)), np.array([[1, 3], [1, 2]]))
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    with pytest.raises(ValueError, match="T >= 2"):
        model.loss(rng.standard_normal((2, 3)), np.array([[1], [1]]))
    with pytest.raises(ValueError, match="outside the valid range"):
        model.loss(rng.standard_normal((2, 3)), np.array([[1, -1], [1, 2]]))
    with pytest.raises(TypeError, match="integer word indices"):
        model.loss(rng.standard_normal((2, 3)), np.array([[1.0, 2.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        model.sample(np.array([[0.0, np.inf, 1.0]]))


def test_data_helpers_bad_input(rng):
    with pytest.raises(ValueError, match=r"word indices \[7\]"):
        decode_captions(np.array([[1, 7]]), ["<NULL>", "<START>", "<END>"])
    with pytest.raises(ValueError, match="word indices"):
        decode_captions(np.array([[1, 5]]), {0: "<NULL>", 1: "<START>"})
    data = make_toy_data(rng, num_train=10)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        sample_coco_minibatch(data, batch_size=0)
    with pytest.raises(ValueError, match="lacks the keys"):
        sample_coco_minibatch({"train_captions": data["train_captions"]})


# --- untrusted files ------------------------------------------------------------

def _small_model(hidden=4):
    return CaptioningRNN({"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3}, input_dim=3,
                         wordvec_dim=2, hidden_dim=hidden)


def test_model_file_with_foreign_shapes_or_corrupt_metadata(tmp_path):
    path = tmp_path / "model.npz"
    _small_model().save(path)
    arrays = dict(np.load(path, allow_pickle=False))
    meta = json.loads(str(arrays["__meta__"]))
    arrays["Wh"] = np.zeros((9, 9), np.float32)
    np.savez(tmp_path / "shapes.npz", **arrays)
    with pytest.raises(ValueError, match=r"shapes.npz: Wh has shape \(9, 9\)"):
        CaptioningRNN.load(tmp_path / "shapes.npz")
    arrays["__meta__"] = np.array("{not json")
    np.savez(tmp_path / "meta.npz", **arrays)
    with pytest.raises(ValueError, match="meta.npz has corrupt metadata"):
        CaptioningRNN.load(tmp_path / "meta.npz")
    meta["model"]["cell_type"] = "gru"
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "cell.npz", **arrays)
    with pytest.raises(ValueError, match="cell.npz: invalid model metadata"):
        CaptioningRNN.load(tmp_path / "cell.npz")


def test_checkpoint_files_that_cannot_be_trusted(tmp_path, rng):
    data = make_toy_data(rng, num_train=20)
    model = CaptioningRNN(data["word_to_idx"], input_dim=24, wordvec_dim=4, hidden_dim=5)
    solver = CaptioningSolver(model, data, num_epochs=1, batch_size=10, verbose=False,
                              val_every=0, checkpoint_dir=tmp_path)
    solver.train()
    good = tmp_path / "checkpoint.npz"
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cut.npz"):
        solver.load_checkpoint(tmp_path / "cut.npz")
    arrays = dict(np.load(good, allow_pickle=False))
    arrays["optim/Wx/m"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ValueError, match="evil.npz holds a pickled object; refused"):
        solver.load_checkpoint(tmp_path / "evil.npz")
    del arrays["optim/Wx/m"], arrays["loss_history"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError, match="partial.npz is an incomplete or damaged checkpoint"):
        solver.load_checkpoint(tmp_path / "partial.npz")


def test_failing_checkpoint_write_keeps_the_previous_one(tmp_path, rng, monkeypatch):
    data = make_toy_data(rng, num_train=20)
    model = CaptioningRNN(data["word_to_idx"], input_dim=24, wordvec_dim=4, hidden_dim=5)
    solver = CaptioningSolver(model, data, num_epochs=1, batch_size=10, verbose=False,
                              val_every=0, checkpoint_dir=tmp_path)
    solver.train()
    before = (tmp_path / "checkpoint.npz").read_bytes()

    def disk_full(f, **arrays):
        f.write(b"x" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    solver.num_epochs = 2
    with pytest.raises(OSError, match="No space left"):
        solver.train()
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


# --- SIGKILL in the middle of a save -------------------------------------------

CHILD = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from captioning_rnn import CaptioningRNN
from solver import CaptioningSolver
path, kind = sys.argv[1], sys.argv[2]
w2i = {{"<NULL>": 0, "<START>": 1, "<END>": 2, **{{f"w{{i}}": i for i in range(3, 200)}}}}
model = CaptioningRNN(w2i, input_dim=512, wordvec_dim=128, hidden_dim=512, cell_type="lstm")
if kind == "checkpoint":
    rng = np.random.default_rng(0)
    caps = rng.integers(3, 200, size=(20, 5))
    data = {{"train_captions": caps, "train_image_idxs": np.arange(20),
             "train_features": rng.standard_normal((20, 512)).astype(np.float32),
             "train_urls": np.array(["u"] * 20), "word_to_idx": w2i}}
    solver = CaptioningSolver(model, data, verbose=False, val_every=0)
i = 0
while True:
    model.params["b"][:] = i
    if kind == "checkpoint":
        solver.iteration = i
        solver.save_checkpoint(path)
    else:
        model.save(path)
    if i == 0:
        print("saved", flush=True)
    i += 1
"""


@pytest.mark.parametrize("kind", ["model", "checkpoint"])
def test_sigkill_during_saves_leaves_a_loadable_file(tmp_path, kind):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD.format(root=root)))
    path = tmp_path / f"{kind}.npz"
    rng = np.random.default_rng(7)
    last = -1
    for attempt in range(12):
        child = subprocess.Popen([sys.executable, str(script), str(path), kind],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "saved"
        time.sleep(float(rng.uniform(0.0, 0.25)))     # somewhere inside a later save
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        if kind == "model":
            loaded = CaptioningRNN.load(path)
            value = int(loaded.params["b"][0])
        else:
            arrays, meta = load_npz(path, CHECKPOINT_KIND)
            value = meta["iteration"]
            assert int(arrays["b"][0]) == value          # arrays and metadata agree
        assert value >= 0
        last = max(last, value)
    assert last > 0
