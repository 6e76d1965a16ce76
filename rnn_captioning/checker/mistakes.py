"""Known learners' mistakes, as deliberately wrong variants of the exercise.

The functions below are the exercise's, written the plain way (one timestep
at a time, as a learner writes them) with a ``bugs`` argument: a set of
mistake ids from :data:`CATALOGUE` to make on purpose. With no bugs they equal
the library (tested). The checker (checks.py) runs a learner's
failing function and these variants on the same inputs and names the variant
that the learner's outputs match. A bug in a step function reaches every
function built on it, as it does in a learner's code.

Caches are plain tuples of what each backward needs.
"""
from collections import namedtuple
from functools import partial
from types import SimpleNamespace

import numpy as np

__all__ = ["CATALOGUE", "ACCEPTED", "Mistake", "variant_namespace"]

Mistake = namedtuple("Mistake", "id functions description equation")

CATALOGUE = [
    Mistake("loss_over_words", ("temporal_softmax_loss", "CaptioningRNN.loss"),
            "the loss is divided by the number of unmasked words instead of by N",
            "loss = -sum_{n,t} mask[n,t] * log p[n,t,y[n,t]] / N"),
    Mistake("loss_over_NT", ("temporal_softmax_loss", "CaptioningRNN.loss"),
            "the loss is divided by N*T instead of by N",
            "loss = -sum_{n,t} mask[n,t] * log p[n,t,y[n,t]] / N"),
    Mistake("mask_ignored", ("temporal_softmax_loss", "CaptioningRNN.loss"),
            "the mask is ignored: <NULL> padding targets count in the loss",
            "loss = -sum_{n,t} mask[n,t] * log p[n,t,y[n,t]] / N"),
    Mistake("softmax_no_max", ("temporal_softmax_loss",),
            "the softmax does not subtract the row max, so large scores overflow to NaN",
            "p = exp(x - max(x)) / sum(exp(x - max(x)))"),
    Mistake("gate_order_ifgo", ("lstm_step_forward", "lstm_step_backward", "lstm_forward",
                                "lstm_backward", "CaptioningRNN.loss", "CaptioningRNN.sample"),
            "the LSTM gates are sliced in the order i, f, g, o; the exercise's order is i, f, o, g",
            "a = x Wx + h Wh + b;  i, f, o, g = a[:, :H], a[:, H:2H], a[:, 2H:3H], a[:, 3H:]"),
    Mistake("sigmoid_on_g", ("lstm_step_forward", "lstm_step_backward", "lstm_forward",
                             "lstm_backward"),
            "the block input g uses a sigmoid instead of tanh",
            "g = tanh(a_g)"),
    Mistake("tanh_on_o", ("lstm_step_forward", "lstm_step_backward", "lstm_forward",
                          "lstm_backward"),
            "the output gate o uses tanh instead of a sigmoid",
            "o = sigmoid(a_o)"),
    Mistake("h_without_tanh", ("lstm_step_forward", "lstm_step_backward", "lstm_forward",
                               "lstm_backward"),
            "the hidden state is o * c instead of o * tanh(c)",
            "h_t = o * tanh(c_t)"),
    Mistake("rnn_no_carry", ("rnn_backward",),
            "the gradient carried from step t+1 (dprev_h) is not added to dh[:, t]",
            "dh_t(total) = dh[:, t] + dprev_h from step t+1"),
    Mistake("lstm_no_carry", ("lstm_backward",),
            "the gradient carried from step t+1 (dprev_h) is not added to dh[:, t]",
            "dh_t(total) = dh[:, t] + dprev_h from step t+1"),
    Mistake("dprev_c_without_f", ("lstm_step_backward", "lstm_backward"),
            "dprev_c misses the forget gate: it should be dc * f",
            "c_t = f * c_{t-1} + i * g  =>  dc_{t-1} = dc_t * f"),
    Mistake("dWh_last_step_only", ("rnn_backward", "lstm_backward"),
            "dWh is taken from the last step (t = 0 of the backward loop) only instead of "
            "summed over all timesteps",
            "dWh = sum_t h_{t-1}^T da_t"),
    Mistake("tanh_grad_not_squared", ("rnn_step_backward", "rnn_backward"),
            "the tanh derivative is 1 - h instead of 1 - h**2",
            "d tanh(a)/da = 1 - tanh(a)**2"),
    Mistake("embedding_drops_repeats", ("word_embedding_backward",),
            "dW[x] += dout keeps one update per repeated word (use np.add.at)",
            "dW[v] = sum of dout[n, t] over every (n, t) with x[n, t] = v"),
    Mistake("h0_in_states", ("rnn_forward", "lstm_forward"),
            "the returned states start with h0 and lose the last step: h[:, t] should be the "
            "state after reading x[:, t]",
            "h[:, t] = step(x[:, t], h[:, t-1]), h[:, -1] = h0 not returned"),
    Mistake("targets_from_captions_in", ("CaptioningRNN.loss",),
            "the targets are captions_in instead of captions_out (the next word)",
            "captions_in = captions[:, :-1];  captions_out = captions[:, 1:]"),
    Mistake("sample_feeds_start", ("CaptioningRNN.sample",),
            "sampling feeds <START> at every step instead of the word just chosen",
            "x_{t+1} = embedding of argmax(scores_t)"),
    Mistake("adam_no_bias_correction", ("adam",),
            "Adam without the bias correction of m and v",
            "m_hat = m / (1 - beta1**t);  v_hat = v / (1 - beta2**t)"),
    Mistake("rmsprop_no_square", ("rmsprop",),
            "RMSProp averages dw instead of dw**2",
            "cache = decay * cache + (1 - decay) * dw**2"),
    # seen in real learners' files
    Mistake("sample_starts_with_start", ("CaptioningRNN.sample",),
            "the returned caption starts with <START>, so every word is one place late",
            "captions[:, t] = the word chosen at step t (the first chosen word is captions[:, 0])"),
    Mistake("sample_starts_with_null", ("CaptioningRNN.sample",),
            "the returned caption starts with <NULL> (the slot of <START>), so every word is "
            "one place late",
            "captions[:, t] = the word chosen at step t (the first chosen word is captions[:, 0])"),
    Mistake("sample_hc_swapped", ("CaptioningRNN.sample",),
            "sampling takes the LSTM's (next_h, next_c) the wrong way round: scores and the next "
            "step use the cell state as the hidden state",
            "next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)"),
    Mistake("sample_c_reset", ("CaptioningRNN.sample",),
            "sampling resets the LSTM cell state to zero at every step instead of carrying it",
            "c_t = f * c_{t-1} + i * g, with c_{t-1} from the previous step"),
    Mistake("c0_is_h0", ("lstm_forward", "CaptioningRNN.loss", "CaptioningRNN.sample"),
            "the LSTM cell state starts at h0 (the projected features) instead of zero",
            "c_0 = 0"),
    Mistake("sample_h_not_updated", ("CaptioningRNN.sample",),
            "sampling never updates the hidden state: every step starts again from h0",
            "h_t = step(x_t, h_{t-1}), with h_{t-1} from the previous step"),
    Mistake("adam_t_from_1", ("adam",),
            "Adam's step counter starts at 1 and is incremented before use, so the first "
            "update uses t = 2",
            "t = t + 1 before the update, from t = 0: the first update uses t = 1"),
    Mistake("g_grad_on_activated", ("lstm_step_backward", "lstm_backward"),
            "the derivative of g is 1 - tanh(g)**2 of the already activated g; g is tanh(a_g) "
            "already, so it is 1 - g**2",
            "d tanh(a_g)/da_g = 1 - g**2"),
    Mistake("dh0_not_set", ("rnn_backward", "lstm_backward"),
            "dh0 is never set: it stays zero instead of the gradient carried out of step 0",
            "dh0 = dprev_h of the backward step at t = 0"),
    Mistake("proj_grads_from_h0", ("CaptioningRNN.loss",),
            "dW_proj and db_proj are computed from h0 instead of from dh0",
            "dW_proj = features^T dh0;  db_proj = sum_n dh0[n]"),
    Mistake("backward_steps_independent", ("rnn_backward", "lstm_backward"),
            "each step's backward is taken apart: nothing is carried from step t+1 and the "
            "weight gradients are those of one step instead of summed over all",
            "dh_t(total) = dh[:, t] + dprev_h from step t+1;  dW = sum_t dW_t"),
]

# Forms that differ from the library's in rounding only, both published: a
# learner's code in one of them passes, with a note saying which it is.
ACCEPTED = [
    Mistake("adam_paper_step", ("adam",),
            "Adam in the paper's efficient form (Kingma & Ba, section 2): the bias corrections "
            "are folded into the step size, so epsilon is added to sqrt(v) uncorrected",
            "alpha_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t);  w -= alpha_t * m / "
            "(sqrt(v) + eps)"),
]


def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))       # cannot overflow


# -- vanilla RNN ---------------------------------------------------------------------

def rnn_step_forward(x, prev_h, Wx, Wh, b, bugs=()):
    """x: (N, D), prev_h: (N, H), Wx: (D, H), Wh: (H, H), b: (H,) -> next_h (N, H)."""
    a = x @ Wx + prev_h @ Wh + b           # named: learners name it, explain.py looks for it
    next_h = np.tanh(a)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache, bugs=()):
    x, prev_h, Wx, Wh, next_h = cache
    tanh_grad = 1 - next_h if "tanh_grad_not_squared" in bugs else 1 - next_h ** 2
    da = dnext_h * tanh_grad                                     # (N, H)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _run_steps(step, x, state, bugs):
    """Apply ``step(x_t, *state) -> (*state, cache)`` over T; h: (N, T, H)."""
    hs, caches = [], []
    for t in range(x.shape[1]):
        *state, cache = step(x[:, t], *state, bugs=bugs)
        hs.append(state[0])
        caches.append(cache)
    return np.stack(hs, axis=1), caches


def _sequence_states(h, h0, bugs):
    if "h0_in_states" in bugs:
        return np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    return h


def rnn_forward(x, h0, Wx, Wh, b, bugs=()):
    """x: (N, T, D), h0: (N, H) -> h: (N, T, H)."""
    h, caches = _run_steps(lambda xt, h, bugs: rnn_step_forward(xt, h, Wx, Wh, b, bugs),
                           x, [h0], bugs)
    return _sequence_states(h, h0, bugs), caches


def _backward_steps(dh, caches, step_backward, carry_name, bugs, cell_state=False):
    """Backward through time; the step returns (dx, dprev_h, [dprev_c,] dWx, dWh, db)."""
    N, T, H = dh.shape
    dprev_h = np.zeros_like(dh[:, 0])
    dprev_c = np.zeros_like(dprev_h)
    dx, dWx, dWh, db = None, 0, 0, 0
    independent = "backward_steps_independent" in bugs
    for t in reversed(range(T)):
        upstream = dh[:, t] if carry_name in bugs or independent else dh[:, t] + dprev_h
        if cell_state:
            dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = step_backward(
                upstream, dprev_c, caches[t], bugs=bugs)
        else:
            dx_t, dprev_h, dWx_t, dWh_t, db_t = step_backward(upstream, caches[t], bugs=bugs)
        dx = np.zeros((N, T, dx_t.shape[1]), dh.dtype) if dx is None else dx
        dx[:, t] = dx_t
        if independent:                               # what the loop left: step 0's
            dWx, dWh, db = dWx_t, dWh_t, db_t
            continue
        dWx, db = dWx + dWx_t, db + db_t
        dWh = dWh_t if "dWh_last_step_only" in bugs and t == 0 else dWh + dWh_t
    dh0 = np.zeros_like(dprev_h) if "dh0_not_set" in bugs else dprev_h
    return dx, dh0, dWx, dWh, db


def rnn_backward(dh, caches, bugs=()):
    return _backward_steps(dh, caches, rnn_step_backward, "rnn_no_carry", bugs)


# -- LSTM ------------------------------------------------------------------------------

def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b, bugs=()):
    """x: (N, D), prev_h, prev_c: (N, H), Wx: (D, 4H), Wh: (H, 4H), b: (4H,)."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    order = "ifgo" if "gate_order_ifgo" in bugs else "ifog"
    blocks = {name: a[:, k * H:(k + 1) * H] for k, name in enumerate(order)}
    i, f = sigmoid(blocks["i"]), sigmoid(blocks["f"])
    o = np.tanh(blocks["o"]) if "tanh_on_o" in bugs else sigmoid(blocks["o"])
    g = sigmoid(blocks["g"]) if "sigmoid_on_g" in bugs else np.tanh(blocks["g"])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * (next_c if "h_without_tanh" in bugs else tanh_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c, order)


def lstm_step_backward(dnext_h, dnext_c, cache, bugs=()):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c, order = cache
    plain_h = "h_without_tanh" in bugs
    next_c = f * prev_c + i * g
    do = dnext_h * (next_c if plain_h else tanh_c)
    dc = dnext_c + dnext_h * o * (1 if plain_h else 1 - tanh_c ** 2)
    da = {"i": dc * g * i * (1 - i), "f": dc * prev_c * f * (1 - f),
          "o": do * (1 - o ** 2) if "tanh_on_o" in bugs else do * o * (1 - o),
          "g": dc * i * _g_grad(g, bugs)}
    da = np.concatenate([da[name] for name in order], axis=1)     # (N, 4H)
    dprev_c = dc if "dprev_c_without_f" in bugs else dc * f
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _g_grad(g, bugs):
    """dg/da_g from the activated g."""
    if "sigmoid_on_g" in bugs:
        return g * (1 - g)
    return 1 - np.tanh(g) ** 2 if "g_grad_on_activated" in bugs else 1 - g ** 2


def _c0(h0, bugs):
    return h0.copy() if "c0_is_h0" in bugs else np.zeros_like(h0)


def lstm_forward(x, h0, Wx, Wh, b, bugs=()):
    """x: (N, T, D), h0: (N, H) -> h: (N, T, H); the cell starts at zero."""
    def step(xt, h, c, bugs):
        return lstm_step_forward(xt, h, c, Wx, Wh, b, bugs)
    h, caches = _run_steps(step, x, [h0, _c0(h0, bugs)], bugs)
    return _sequence_states(h, h0, bugs), caches


def lstm_backward(dh, caches, bugs=()):
    return _backward_steps(dh, caches, lstm_step_backward, "lstm_no_carry", bugs,
                           cell_state=True)


# -- words, scores, loss ------------------------------------------------------------------

def word_embedding_forward(x, W, bugs=()):
    """x: (N, T) ints, W: (V, D) -> out: (N, T, D)."""
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache, bugs=()):
    x, shape = cache
    dW = np.zeros(shape, dout.dtype)
    if "embedding_drops_repeats" in bugs:
        dW[x] += dout               # buffered: a repeated word keeps one update
    else:
        np.add.at(dW, x, dout)
    return dW


def temporal_affine_forward(x, w, b, bugs=()):
    """x: (N, T, D), w: (D, M), b: (M,) -> out: (N, T, M)."""
    return x @ w + b, (x, w)


def temporal_affine_backward(dout, cache, bugs=()):
    x, w = cache
    N, T, D = x.shape
    M = w.shape[1]
    dx = dout @ w.T
    dw = x.reshape(N * T, D).T @ dout.reshape(N * T, M)
    return dx, dw, dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask, verbose=False, bugs=()):
    """x: (N, T, V) scores, y: (N, T) targets, mask: (N, T) -> loss, dx (N, T, V)."""
    N, T, V = x.shape
    shifted = x if "softmax_no_max" in bugs else x - x.max(axis=2, keepdims=True)
    counted = np.ones(mask.shape) if "mask_ignored" in bugs else mask.astype(x.dtype)
    if "loss_over_words" in bugs:
        denominator = max(mask.sum(), 1)
    elif "loss_over_NT" in bugs:
        denominator = N * T
    else:
        denominator = N
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(shifted)
        p = e / e.sum(axis=2, keepdims=True)
        rows, cols = np.indices((N, T))
        loss = -(counted * np.log(p[rows, cols, y])).sum() / denominator
    dx = p.copy()
    dx[rows, cols, y] -= 1
    return float(loss), (dx * (counted / denominator)[:, :, None]).astype(x.dtype)


# -- the model -----------------------------------------------------------------------

class CaptioningRNN:
    """The exercise's model, plain; parameters are set by the caller."""

    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128,
                 cell_type="rnn", dtype=np.float32, bugs=()):
        self.cell_type, self.dtype, self.bugs = cell_type, dtype, frozenset(bugs)
        self.word_to_idx = word_to_idx
        self._null, self._start = word_to_idx["<NULL>"], word_to_idx.get("<START>")
        self._end = word_to_idx.get("<END>")
        self.params = {}

    def _cells(self):
        if self.cell_type == "rnn":
            return rnn_forward, rnn_backward
        return lstm_forward, lstm_backward

    def loss(self, features, captions):
        p, bugs = self.params, self.bugs
        captions_in = captions[:, :-1]
        captions_out = captions_in if "targets_from_captions_in" in bugs else captions[:, 1:]
        mask = captions_out != self._null
        forward, backward = self._cells()
        h0 = features @ p["W_proj"] + p["b_proj"]
        x, embed_cache = word_embedding_forward(captions_in, p["W_embed"])
        h, cell_cache = forward(x, h0, p["Wx"], p["Wh"], p["b"], bugs)
        scores, affine_cache = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask, bugs=bugs)
        grads = {}
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, affine_cache)
        dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = backward(dh, cell_cache, bugs)
        grads["W_embed"] = word_embedding_backward(dx, embed_cache, bugs)
        if "proj_grads_from_h0" in bugs:
            dh0 = h0
        grads["W_proj"], grads["b_proj"] = features.T @ dh0, dh0.sum(axis=0)
        return loss, grads

    def sample(self, features, max_length=30):
        p, bugs = self.params, self.bugs
        N = features.shape[0]
        h0 = features @ p["W_proj"] + p["b_proj"]
        h, c = h0, _c0(h0, bugs)
        words = np.full(N, self._start)
        chosen = []
        for t in range(max_length):
            x = p["W_embed"][np.full(N, self._start) if "sample_feeds_start" in bugs else words]
            next_h, next_c = self._sample_step(x, h, c)
            scores = next_h @ p["W_vocab"] + p["b_vocab"]
            words = scores.argmax(axis=1)
            chosen.append(words)
            if "sample_h_not_updated" not in bugs:
                h, c = next_h, next_c
        return self._returned(np.stack(chosen, axis=1))

    def _sample_step(self, x, h, c):
        """One step of sampling: (next_h, next_c) as the learner's code keeps them."""
        p, bugs = self.params, self.bugs
        if self.cell_type == "rnn":
            return rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"], bugs)[0], c
        next_h, next_c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"], bugs)
        if "sample_hc_swapped" in self.bugs:
            next_h, next_c = next_c, next_h
        if "sample_c_reset" in self.bugs:
            next_c = np.zeros_like(next_c)
        return next_h, next_c

    def _returned(self, chosen):
        """The (N, max_length) captions returned, from the words chosen at each step."""
        first = {"sample_starts_with_start": self._start, "sample_starts_with_null": self._null}
        for bug, word in first.items():
            if bug in self.bugs:
                return np.concatenate([np.full((len(chosen), 1), word), chosen[:, :-1]], axis=1)
        return chosen


# -- update rules ----------------------------------------------------------------------

def sgd(w, dw, config=None, bugs=()):
    config = {"learning_rate": 1e-2, **(config or {})}
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None, bugs=()):
    config = {"learning_rate": 1e-2, "momentum": 0.9, **(config or {})}
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) \
        - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w, dw, config=None, bugs=()):
    config = {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8, **(config or {})}
    decay = config["decay_rate"]
    square = dw if "rmsprop_no_square" in bugs else dw ** 2
    config["cache"] = decay * config.get("cache", np.zeros_like(w)) + (1 - decay) * square
    with np.errstate(invalid="ignore"):       # the wrong cache may go negative
        step = config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"])
    return w - step, config


def adam(w, dw, config=None, bugs=()):
    config = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
              **(config or {})}
    b1, b2 = config["beta1"], config["beta2"]
    t = config.get("t", 1 if "adam_t_from_1" in bugs else 0) + 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw ** 2
    config.update(m=m, v=v, t=t)
    lr, eps = config["learning_rate"], config["epsilon"]
    if "adam_paper_step" in bugs:                 # the paper's form, accepted
        return w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps), config
    if "adam_no_bias_correction" not in bugs:
        m, v = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return w - lr * m / (np.sqrt(v) + eps), config


_FUNCTIONS = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
              "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
              "word_embedding_forward", "word_embedding_backward", "temporal_affine_forward",
              "temporal_affine_backward", "temporal_softmax_loss",
              "sgd", "sgd_momentum", "rmsprop", "adam"]


def variant_namespace(bugs=()):
    """The exercise's functions and CaptioningRNN class making ``bugs``, as a
    namespace shaped like a learner's modules."""
    bugs = frozenset(bugs)
    ns = {name: partial(globals()[name], bugs=bugs) for name in _FUNCTIONS}
    class Variant(CaptioningRNN):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, bugs=bugs, **kwargs)

    return SimpleNamespace(CaptioningRNN=Variant, **ns)
