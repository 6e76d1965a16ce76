"""CaptioningRNN: loss values and gradients, decoding (greedy, temperature,
beam search proven against exhaustive search), files, bad input."""
import itertools

import numpy as np
import pytest

import rnn_layers as rl
from captioning_rnn import CaptioningRNN
from helpers import check_scalar_grad

TINY_VOCAB = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "b": 4}


def small_model(cell, V=7, D=5, W=4, H=6, dtype=np.float64, seed=0, scale=1.0):
    w2i = {"<NULL>": 0, "<START>": 1, "<END>": 2}
    w2i.update({f"w{i}": i for i in range(3, V)})
    m = CaptioningRNN(w2i, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell,
                      dtype=dtype, rng=seed)
    rng = np.random.default_rng(seed + 100)
    # larger, non-zero weights than the initialisation: decoding is then decisive
    m.params = {k: (scale * rng.standard_normal(v.shape)).astype(dtype)
                for k, v in m.params.items()}
    return m


def exercise_model(cell):
    m = CaptioningRNN({"<NULL>": 0, "cat": 2, "dog": 3}, input_dim=20, wordvec_dim=30,
                      hidden_dim=40, cell_type=cell, dtype=np.float64)
    for k, v in m.params.items():
        m.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)
    return m


@pytest.mark.parametrize("cell,lo,hi,expected", [("rnn", -1.5, 0.3, 9.83235591003),
                                                 ("lstm", -0.5, 1.7, 9.82445935443)])
def test_loss_exercise_values(cell, lo, hi, expected):
    N, D, T, V = 10, 20, 13, 3
    model = exercise_model(cell)
    features = np.linspace(lo, hi, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % V).reshape(N, T)
    loss, _ = model.loss(features, captions)
    assert loss == pytest.approx(expected, abs=1e-10)


def reference_loss(model, features, captions):
    """The loss from the public layer functions composed by hand."""
    p = model.params
    h0 = features @ p["W_proj"] + p["b_proj"]
    x, _ = rl.word_embedding_forward(captions[:, :-1], p["W_embed"])
    fwd = rl.lstm_forward if model.cell_type == "lstm" else rl.rnn_forward
    h, _ = fwd(x, h0, p["Wx"], p["Wh"], p["b"])
    scores = h @ p["W_vocab"] + p["b_vocab"]
    return rl.temporal_softmax_loss(scores, captions[:, 1:], captions[:, 1:] != 0)[0]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("N,T", [(1, 2), (3, 5)])
def test_model_loss_gradcheck(rng, cell, N, T):
    model = small_model(cell, scale=0.5)
    features = rng.standard_normal((N, model.input_dim))
    captions = rng.integers(model.vocab_size, size=(N, T))
    captions[:, -1] = 0                             # some masked targets
    captions[0, 1] = 3                              # at least one counted target
    loss, grads = model.loss(features, captions)
    assert loss == pytest.approx(reference_loss(model, features, captions), rel=1e-12)
    assert list(grads) == list(model.params)
    for name, param in model.params.items():
        def f(_, name=name):
            return model.loss(features, captions)[0]
        check_scalar_grad(name, f, param, grads[name], atol=1e-9)


def reference_dropout_loss(model, features, captions, seed):
    """The loss with dropout composed by hand: the masks drawn as the model
    draws them (features first, then the hidden states, rows longest first)."""
    p, keep = model.params, 1 - model.dropout
    lengths = [1 + max(np.flatnonzero(row), default=-1) for row in captions[:, 1:] != 0]
    order = np.argsort(-np.array(lengths), kind="stable")
    features, captions = features[order], captions[order]
    draw = np.random.default_rng(seed)
    features = features * (draw.random(features.shape) < keep) / keep
    h0 = features @ p["W_proj"] + p["b_proj"]
    x, _ = rl.word_embedding_forward(captions[:, :-1], p["W_embed"])
    fwd = rl.lstm_forward if model.cell_type == "lstm" else rl.rnn_forward
    h, _ = fwd(x, h0, p["Wx"], p["Wh"], p["b"])
    h = h * (draw.random(h.shape) < keep) / keep
    scores = h @ p["W_vocab"] + p["b_vocab"]
    return rl.temporal_softmax_loss(scores, captions[:, 1:], captions[:, 1:] != 0)[0]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("N,T,H", [(1, 2, 6), (4, 5, 3), (3, 2, 8)])
def test_dropout_loss_values_and_gradcheck(rng, cell, N, T, H):
    """Opt-in dropout on the image features and the hidden states: the loss
    equals the hand-composed one with the same masks, and its gradients
    (the same masks at every evaluation) pass the numeric check."""
    model = small_model(cell, H=H, scale=0.5)
    model.dropout = 0.4
    features = rng.standard_normal((N, model.input_dim))
    captions = rng.integers(3, model.vocab_size, size=(N, T))
    captions[-1, -1] = 0                            # a masked target, rows of two lengths

    def loss(_=None):
        model.dropout_rng = np.random.default_rng(7)      # the same masks each call
        return model.loss(features, captions)

    value, grads = loss()
    assert value == pytest.approx(reference_dropout_loss(model, features, captions, 7),
                                  rel=1e-12)
    for name, param in model.params.items():
        check_scalar_grad(name, lambda _: loss()[0], param, grads[name], atol=1e-9)


def test_dropout_is_off_by_default_and_only_in_training(rng):
    """dropout=0 is the exercise's loss exactly and draws nothing; with
    dropout, forward_loss and sampling stay deterministic and mask-free."""
    model = small_model("lstm", scale=0.5)
    features = rng.standard_normal((3, model.input_dim))
    captions = rng.integers(3, model.vocab_size, size=(3, 4))
    assert model.dropout == 0
    state = np.random.get_state()[1].copy()
    assert model.loss(features, captions)[0] == reference_loss(model, features, captions)
    assert np.array_equal(np.random.get_state()[1], state)
    plain_val, plain_sample = model.forward_loss(features, captions), model.sample(features)
    model.dropout, model.dropout_rng = 0.5, np.random.default_rng(0)
    assert model.forward_loss(features, captions) == plain_val
    assert np.array_equal(model.sample(features), plain_sample)
    losses = {model.loss(features, captions)[0] for _ in range(3)}
    assert len(losses) == 3 and plain_val not in losses            # masks drawn per call


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.5", None])
def test_dropout_refuses_bad_rates(bad):
    with pytest.raises(ValueError, match=f"dropout must be a number in \\[0, 1\\), got {bad!r}"):
        CaptioningRNN({"<NULL>": 0}, dropout=bad)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_init_shapes_dtypes_and_seed(cell):
    w2i = {"<NULL>": 0, "<START>": 1, "<END>": 2, "x": 3}
    m = CaptioningRNN(w2i, input_dim=8, wordvec_dim=5, hidden_dim=6, cell_type=cell)
    k = 4 if cell == "lstm" else 1
    shapes = {"W_proj": (8, 6), "b_proj": (6,), "W_embed": (4, 5), "Wx": (5, 6 * k),
              "Wh": (6, 6 * k), "b": (6 * k,), "W_vocab": (6, 4), "b_vocab": (4,)}
    assert {n: p.shape for n, p in m.params.items()} == shapes
    assert all(p.dtype == np.float32 for p in m.params.values())
    assert all(not m.params[b].any() for b in ("b_proj", "b", "b_vocab"))
    assert np.abs(m.params["W_embed"]).max() < 0.1      # embeddings / 100
    seeded = CaptioningRNN(w2i, input_dim=8, wordvec_dim=5, hidden_dim=6, cell_type=cell, rng=1)
    again = CaptioningRNN(w2i, input_dim=8, wordvec_dim=5, hidden_dim=6, cell_type=cell,
                          rng=np.random.default_rng(1))
    assert all(np.array_equal(seeded.params[n], again.params[n]) for n in m.params)
    assert not np.array_equal(m.params["Wx"], seeded.params["Wx"])
    assert m.idx_to_word[3] == "x" and m.cell_type == cell and m.dtype == np.float32


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_global_seed_gives_the_exercise_weights(cell):
    """Without rng, np.random.seed decides the weights, drawn exactly as the
    exercise's __init__ draws them (written out here independently)."""
    w2i = {"<NULL>": 0, "<START>": 1, "<END>": 2, "x": 3, "y": 4}
    V, D, W, H, k = 5, 7, 3, 4, (4 if cell == "lstm" else 1)
    np.random.seed(231)
    model = CaptioningRNN(w2i, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell)
    np.random.seed(231)
    expected = {"W_embed": np.random.randn(V, W) / 100,
                "W_proj": np.random.randn(D, H) / np.sqrt(D),
                "Wx": np.random.randn(W, k * H) / np.sqrt(W),
                "Wh": np.random.randn(H, k * H) / np.sqrt(H),
                "W_vocab": np.random.randn(H, V) / np.sqrt(H)}
    for name, value in expected.items():
        np.testing.assert_array_equal(model.params[name], value.astype(np.float32),
                                      err_msg=name)
    np.random.seed(232)
    other = CaptioningRNN(w2i, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell)
    assert not np.array_equal(model.params["Wx"], other.params["Wx"])


def test_temperature_sampling_follows_the_global_seed():
    model = small_model("rnn", dtype=np.float64)
    feats = np.random.default_rng(0).standard_normal((6, model.input_dim))
    draws = []
    for _ in range(2):
        np.random.seed(7)
        draws.append(model.sample(feats, max_length=5, temperature=2.0))
    np.testing.assert_array_equal(draws[0], draws[1])
    np.random.seed(8)
    assert not np.array_equal(draws[0], model.sample(feats, max_length=5, temperature=2.0))


def test_grads_keep_float32(rng):
    m = small_model("lstm", dtype=np.float32)
    loss, grads = m.loss(rng.standard_normal((2, 5)), rng.integers(7, size=(2, 4)))
    assert isinstance(loss, float)
    assert all(grads[k].dtype == np.float32 for k in grads)


# --- decoding --------------------------------------------------------------

def reference_greedy(model, features, max_length):
    """Greedy decoding with the exercise's public step functions, no early stop."""
    p = model.params
    h = features @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    words = np.full(len(features), model.word_to_idx["<START>"])
    out = []
    for _ in range(max_length):
        x = p["W_embed"][words]
        if model.cell_type == "lstm":
            h, c, _ = rl.lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
        else:
            h, _ = rl.rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
        words = (h @ p["W_vocab"] + p["b_vocab"]).argmax(axis=1)
        out.append(words)
    return np.stack(out, axis=1)


def truncate_after_end(captions, end=2, null=0):
    out = captions.copy()
    for row in out:
        ends = np.flatnonzero(row == end)
        if ends.size:
            row[ends[0] + 1:] = null
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_greedy_sample_matches_step_functions(rng, cell):
    model = small_model(cell, scale=1.5)
    features = rng.standard_normal((40, model.input_dim))
    got = model.sample(features, max_length=8)
    assert got.shape == (40, 8) and got.dtype == np.int32
    np.testing.assert_array_equal(got, truncate_after_end(reference_greedy(model, features, 8)))
    ends = (got == 2).any(axis=1)
    assert ends.any() and (~ends).any(), "test needs rows with and without <END>"


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_temperature_sampling(rng, cell):
    model = small_model(cell, scale=1.5)
    features = rng.standard_normal((10, model.input_dim))
    greedy = model.sample(features, max_length=6)
    np.testing.assert_array_equal(model.sample(features, 6, temperature=1e-6, rng=0), greedy)
    a = model.sample(features, 6, temperature=1.0, rng=5)
    np.testing.assert_array_equal(a, model.sample(features, 6, temperature=1.0, rng=5))
    np.testing.assert_array_equal(a, truncate_after_end(a))

    # first-word frequencies follow softmax(scores / temperature)
    M, temp = 20000, 0.7
    one = np.repeat(features[:1], M, axis=0)
    first = model.sample(one, max_length=1, temperature=temp, rng=np.random.default_rng(9))[:, 0]
    p = model.params
    h0 = features[:1] @ p["W_proj"] + p["b_proj"]
    x = p["W_embed"][[1]]
    if cell == "lstm":
        h1, _, _ = rl.lstm_step_forward(x, h0, np.zeros_like(h0), p["Wx"], p["Wh"], p["b"])
    else:
        h1, _ = rl.rnn_step_forward(x, h0, p["Wx"], p["Wh"], p["b"])
    z = (h1 @ p["W_vocab"] + p["b_vocab"])[0] / temp
    probs = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    freq = np.bincount(first, minlength=len(probs)) / M
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(0.25 / M))


def test_sample_needs_start_and_end():
    m = CaptioningRNN({"<NULL>": 0, "a": 1}, input_dim=3, wordvec_dim=2, hidden_dim=2)
    with pytest.raises(ValueError, match="<START>"):
        m.sample(np.zeros((1, 3)))


def caption_log_prob(model, feature, caption):
    """log p(caption | image) by the public step functions, float64."""
    p = model.params
    h = feature[None] @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    word, total = 1, 0.0
    for w in caption:
        x = p["W_embed"][[word]]
        if model.cell_type == "lstm":
            h, c, _ = rl.lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
        else:
            h, _ = rl.rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
        z = (h @ p["W_vocab"] + p["b_vocab"])[0]
        total += z[w] - z.max() - np.log(np.exp(z - z.max()).sum())
        word = w
    return total


def exhaustive_best(model, feature, max_length, length_penalty):
    """Best caption over every caption the model can emit: any words, ending
    at <END> or at max_length."""
    V, END = model.vocab_size, 2
    best = (-np.inf, None, None)
    for length in range(1, max_length + 1):
        for words in itertools.product(range(V), repeat=length):
            if END in words[:-1] or (length < max_length and words[-1] != END):
                continue
            lp = caption_log_prob(model, feature, words)
            score = lp / length ** length_penalty
            if score > best[0]:
                best = (score, words, lp)
    return best


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("length_penalty", [0.0, 0.8])
def test_beam_search_equals_exhaustive_search(rng, cell, length_penalty):
    model = small_model(cell, V=5, scale=1.2, seed=3)
    L, V = 3, 5
    features = rng.standard_normal((6, model.input_dim))
    caps, logps = model.beam_search(features, beam_size=V ** L, max_length=L,
                                    length_penalty=length_penalty)
    for i in range(len(features)):
        _, words, lp = exhaustive_best(model, features[i], L, length_penalty)
        expected = np.zeros(L, dtype=np.int32)
        expected[:len(words)] = words
        np.testing.assert_array_equal(caps[i], expected, err_msg=f"image {i}")
        assert logps[i] == pytest.approx(lp, abs=1e-9)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_beam_size_one_is_greedy(rng, cell):
    for seed in range(3):
        model = small_model(cell, V=9, scale=1.5, seed=seed)
        features = rng.standard_normal((30, model.input_dim))
        caps, logps = model.beam_search(features, beam_size=1, max_length=7)
        np.testing.assert_array_equal(caps, model.sample(features, max_length=7))
        for i in range(3):
            words = caps[i][: (np.flatnonzero(caps[i] == 2)[:1] + 1).tolist()[0]
                            if (caps[i] == 2).any() else 7]
            assert logps[i] == pytest.approx(caption_log_prob(model, features[i], words),
                                             abs=1e-9)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_wider_beam_never_scores_below_its_own_pool(rng, cell):
    """Each returned log-probability is that of the returned caption, and a beam
    of 3 finds captions at least as likely as greedy ones on average."""
    model = small_model(cell, V=12, scale=1.5, seed=4)
    features = rng.standard_normal((25, model.input_dim))
    caps, logps = model.beam_search(features, beam_size=3, max_length=6)
    _, greedy_logps = model.beam_search(features, beam_size=1, max_length=6)
    for i in range(5):
        row = caps[i]
        n = int(np.flatnonzero(row == 2)[0]) + 1 if (row == 2).any() else 6
        assert logps[i] == pytest.approx(caption_log_prob(model, features[i], row[:n]), abs=1e-9)
    assert logps.mean() >= greedy_logps.mean()


def test_beam_search_bad_arguments():
    model = small_model("rnn")
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(np.zeros((1, 5)), beam_size=0)
    with pytest.raises(ValueError, match="max_length"):
        model.beam_search(np.zeros((1, 5)), max_length=0)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(np.zeros((1, 5)), temperature=-1)


# --- output bias ---------------------------------------------------------------

def test_init_output_bias_log_frequencies(rng):
    model = small_model("rnn", dtype=np.float64)
    captions = np.array([[1, 3, 3, 2, 0], [1, 4, 2, 0, 0]])
    model.init_output_bias(captions)
    counts = np.ones(7)
    counts[3] += 2
    counts[4] += 1
    counts[2] += 2
    np.testing.assert_allclose(model.params["b_vocab"], np.log(counts / counts.sum()))
    assert np.isclose(np.exp(model.params["b_vocab"]).sum(), 1.0)


# --- files ------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_save_load_round_trip(tmp_path, rng, cell):
    model = small_model(cell, dtype=np.float32)
    features = rng.standard_normal((4, 5)).astype(np.float32)
    captions = rng.integers(7, size=(4, 6))
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = CaptioningRNN.load(path)
    assert loaded.config() == model.config()
    assert loaded.idx_to_word == model.idx_to_word
    assert loaded.loss(features, captions)[0] == model.loss(features, captions)[0]
    np.testing.assert_array_equal(loaded.sample(features), model.sample(features))
    assert not list(tmp_path.glob(".*tmp"))         # no temporary file left


def test_load_refuses_bad_files(tmp_path):
    model = small_model("rnn")
    good = tmp_path / "model.npz"
    model.save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.npz.*(truncated|corrupt)"):
        CaptioningRNN.load(truncated)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an .npz archive"):
        CaptioningRNN.load(text)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, W_proj=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        CaptioningRNN.load(pickled)
    plain = tmp_path / "plain.npz"
    np.savez(plain, W_proj=np.zeros(3))
    with pytest.raises(ValueError, match="no metadata"):
        CaptioningRNN.load(plain)
    with pytest.raises(FileNotFoundError):
        CaptioningRNN.load(tmp_path / "missing.npz")


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    model = small_model("rnn")
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="No space"):
        small_model("rnn", seed=9).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


# --- bad input --------------------------------------------------------------------

def test_constructor_errors():
    with pytest.raises(ValueError, match="cell_type must be 'rnn' or 'lstm', got 'gru'"):
        CaptioningRNN({"<NULL>": 0}, cell_type="gru")
    with pytest.raises(ValueError, match="<NULL>"):
        CaptioningRNN({"a": 0})
    with pytest.raises(ValueError, match="hidden_dim must be a positive integer"):
        CaptioningRNN({"<NULL>": 0}, hidden_dim=0)


@pytest.mark.parametrize("features,captions,exc,match", [
    (np.zeros((2, 4)), np.ones((2, 3), int), ValueError, r"features must have shape \(N, 5\)"),
    (np.full((2, 5), np.nan), np.ones((2, 3), int), ValueError, "NaN or inf"),
    (np.zeros((2, 5)), np.ones((2, 3)), TypeError, "integer word indices"),
    (np.zeros((2, 5)), np.ones((2, 1), int), ValueError, "T >= 2"),
    (np.zeros((2, 5)), np.ones((3, 3), int), ValueError, r"captions must have shape \(2, T\)"),
    (np.zeros((2, 5)), np.full((2, 3), 7), ValueError, "outside the valid range"),
    (np.zeros((2, 5), int), np.ones((2, 3), int), TypeError, "features must be a floating"),
])
def test_loss_bad_input(features, captions, exc, match):
    with pytest.raises(exc, match=match):
        small_model("rnn").loss(features, captions)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_cached_word_table_follows_weight_changes(rng, cell):
    """Sampling keeps W_embed @ Wx + b between calls; any change to those
    weights, in place or by assignment, is seen by the next call."""
    model = small_model(cell, scale=1.5)
    features = rng.standard_normal((30, model.input_dim))
    first = model.sample(features, max_length=8)
    np.testing.assert_array_equal(model.sample(features, max_length=8), first)
    for name in ("W_embed", "Wx", "b"):
        model.params[name] *= -1.0                           # in place
        np.testing.assert_array_equal(model.sample(features, max_length=8),
                                      truncate_after_end(reference_greedy(model, features, 8)))
        model.params[name] = -model.params[name]            # by assignment
    np.testing.assert_array_equal(model.sample(features, max_length=8), first)
    model.params["Wx"][0, 0] += 3.0                          # one entry
    np.testing.assert_array_equal(model.sample(features, max_length=8),
                                  truncate_after_end(reference_greedy(model, features, 8)))
