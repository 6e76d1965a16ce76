"""Recurrent layers for captioning: vanilla RNN, LSTM, word embedding,
temporal affine and the masked temporal softmax loss.

Letters: N batch, T time, D input size, H hidden size, V vocabulary size.
LSTM weights are (D, 4H) / (H, 4H) with the gates in the order i, f, o, g.

Each cell is defined once (:func:`rnn_cell`, :func:`lstm_cell` and their
backward counterparts). The step functions of the exercise, the sequence
functions and the model's sampling all call these cores. The sequence functions
add what only a sequence allows: the input projection of all timesteps in one
matrix product before the time loop, and dx, dWx, dWh, db each as one matrix
product after it. Internally sequences are stored time-major, (T, N, H), so
that every per-step slice is contiguous; the arrays returned are (N, T, H).

Every function computes in the floating dtype of its inputs (float32 in,
float32 out) and validates its arguments at the boundary.
"""
import logging

import numpy as np

from layers import check_float_array, check_index_array, check_shape

__all__ = [
    "sigmoid",
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "word_embedding_forward", "word_embedding_backward",
    "temporal_affine_forward", "temporal_affine_backward",
    "temporal_softmax_loss",
]

logger = logging.getLogger(__name__)


def sigmoid(x, out=None):
    """Logistic function, elementwise, for any shape; keeps x's dtype.

    Uses sigma(x) = (1 + tanh(x / 2)) / 2: no exp of a large number, so it
    cannot overflow, and no boolean-mask indexing, so it is one fast pass.
    """
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


# ----------------------------------------------------------------------------
# Argument checks shared by the step and sequence functions
# ----------------------------------------------------------------------------

def _check_recurrent_args(x, h, Wx, Wh, b, gates, x_ndim):
    """Validate (x, h, Wx, Wh, b) of an RNN (gates=1) or LSTM (gates=4) call.

    x: (N, D) for a step or (N, T, D) for a sequence; h: (N, H);
    Wx: (D, gates*H); Wh: (H, gates*H); b: (gates*H,).
    """
    x = check_float_array("x", x, ndim=x_ndim)
    Wx = check_float_array("Wx", Wx, ndim=2)
    Wh = check_float_array("Wh", Wh, ndim=2)
    b = check_float_array("b", b, ndim=1)
    h = check_float_array("prev_h" if x_ndim == 2 else "h0", h, ndim=2)
    N, D = x.shape[0], x.shape[-1]
    H = Wh.shape[0]
    G = gates * H
    check_shape("Wh", Wh, (H, G))
    check_shape("Wx", Wx, (D, G))
    check_shape("b", b, (G,))
    check_shape("prev_h" if x_ndim == 2 else "h0", h, (N, H))
    return x, h, Wx, Wh, b


def _check_upstream(name, d, shape):
    d = check_float_array(name, d)
    check_shape(name, d, shape)
    return d


def _weight_grads(da, x, prev_h, Wx):
    """Gradients of a = x @ Wx + prev_h @ Wh + b with respect to x, Wx, Wh, b,
    the shared tail of every backward (step or sequence, RNN or LSTM).

    da: (M, G); x: (M, D); prev_h: (M, H), where M = N for a step and T*N for
    a whole sequence. Returns dx (M, D), dWx (D, G), dWh (H, G), db (G,).
    """
    return da @ Wx.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _time_major(a):
    """(N, T, ...) -> contiguous (T, N, ...) copy; the time loop slices a[t]."""
    return np.ascontiguousarray(a.swapaxes(0, 1))


def _input_projection(x, Wx, b):
    """a[t] = x[:, t] @ Wx + b for all t in one product: x (N, T, D) -> (T, N, G)."""
    N, T, D = x.shape
    a = _time_major(x).reshape(T * N, D) @ Wx
    a += b
    return a.reshape(T, N, -1)


# ----------------------------------------------------------------------------
# Vanilla RNN
# ----------------------------------------------------------------------------

def rnn_cell(a, prev_h, Wh, out=None):
    """The RNN cell given its input projection: tanh(a + prev_h @ Wh).

    a: (N, H), already x @ Wx + b; prev_h: (N, H); Wh: (H, H).
    Returns next_h: (N, H), written to ``out`` when given.
    """
    next_h = np.matmul(prev_h, Wh, out=out)
    next_h += a
    return np.tanh(next_h, out=next_h)


def rnn_cell_backward(dnext_h, next_h, out=None):
    """Gradient of the cell's pre-activation: da = dnext_h * tanh'(.), (N, H)."""
    # tanh' from the forward output: 1 - next_h ** 2
    da = np.multiply(next_h, next_h, out=out)
    np.subtract(1, da, out=da)
    da *= dnext_h
    return da


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One timestep of a tanh RNN: next_h = tanh(x @ Wx + prev_h @ Wh + b).

    Inputs:
    - x: (N, D) input at this timestep
    - prev_h: (N, H) previous hidden state
    - Wx: (D, H) input-to-hidden weights
    - Wh: (H, H) hidden-to-hidden weights
    - b: (H,) biases

    Returns a tuple of:
    - next_h: (N, H)
    - cache: (x, prev_h, Wx, Wh, next_h)
    """
    x, prev_h, Wx, Wh, b = _check_recurrent_args(x, prev_h, Wx, Wh, b, 1, 2)
    next_h = rnn_cell(x @ Wx + b, prev_h, Wh)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """Backward pass of :func:`rnn_step_forward`.

    Inputs:
    - dnext_h: (N, H) gradient of the loss with respect to next_h
    - cache: from rnn_step_forward

    Returns a tuple of:
    - dx: (N, D), dprev_h: (N, H), dWx: (D, H), dWh: (H, H), db: (H,)
    """
    x, prev_h, Wx, Wh, next_h = cache
    dnext_h = _check_upstream("dnext_h", dnext_h, next_h.shape)
    da = rnn_cell_backward(dnext_h, next_h)
    dx, dWx, dWh, db = _weight_grads(da, x, prev_h, Wx)
    return dx, da @ Wh.T, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """Run a tanh RNN over a whole sequence.

    Inputs:
    - x: (N, T, D) input sequence
    - h0: (N, H) initial hidden state
    - Wx: (D, H), Wh: (H, H), b: (H,)

    Returns a tuple of:
    - h: (N, T, H) hidden states of every timestep (h0 not included)
    - cache: (x, Wx, Wh, hs) with hs (T+1, N, H) = [h0, h_1, ..., h_T]
    """
    x, h0, Wx, Wh, b = _check_recurrent_args(x, h0, Wx, Wh, b, 1, 3)
    N, T, D = x.shape
    H = h0.shape[1]
    a = _input_projection(x, Wx, b)                 # (T, N, H)
    hs = np.empty((T + 1, N, H), dtype=a.dtype)
    hs[0] = h0
    for t in range(T):
        rnn_cell(a[t], hs[t], Wh, out=hs[t + 1])
    return hs[1:].swapaxes(0, 1), (x, Wx, Wh, hs)


def rnn_backward(dh, cache):
    """Backward pass of :func:`rnn_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of the hidden states only; the gradient
      flowing from h_t into h_{t+1} is carried by this function
    - cache: from rnn_forward

    Returns a tuple of:
    - dx: (N, T, D), dh0: (N, H), dWx: (D, H), dWh: (H, H), db: (H,)
    """
    x, Wx, Wh, hs = cache
    T1, N, H = hs.shape
    T, D = T1 - 1, x.shape[2]
    dh = _check_upstream("dh", dh, (N, T, H))
    dh_t = dh.swapaxes(0, 1)                        # (T, N, H) view
    da = np.empty((T, N, H), dtype=np.result_type(hs, dh))
    dprev_h = np.zeros((N, H), dtype=da.dtype)
    for t in reversed(range(T)):
        dprev_h += dh_t[t]
        rnn_cell_backward(dprev_h, hs[t + 1], out=da[t])
        dprev_h = da[t] @ Wh.T
    return _sequence_grads(da, x, hs, Wx, dprev_h)


def _sequence_grads(da, x, hs, Wx, dh0):
    """dx, dh0, dWx, dWh, db from the pre-activation gradients of all steps.

    da: (T, N, G); x: (N, T, D); hs: (T+1, N, H), whose first T entries are
    the previous hidden state of every step. One matrix product each.
    """
    T, N, G = da.shape
    D, H = x.shape[2], hs.shape[2]
    dx, dWx, dWh, db = _weight_grads(
        da.reshape(T * N, G), _time_major(x).reshape(T * N, D),
        hs[:-1].reshape(T * N, H), Wx,
    )
    return dx.reshape(T, N, D).swapaxes(0, 1), dh0, dWx, dWh, db


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------

def lstm_cell(a, prev_h, prev_c, Wh, next_h=None, next_c=None, tanh_c=None):
    """The LSTM cell given its input projection a = x @ Wx + b, (N, 4H).

    ``a`` is overwritten with the activated gates [i, f, o, g] (sigmoid on
    i, f, o and tanh on g), which backward needs. prev_h, prev_c: (N, H);
    Wh: (H, 4H). Optional ``out`` buffers next_h, next_c, tanh_c: (N, H).

    Returns next_h, next_c, tanh_c, each (N, H).
    """
    H = prev_h.shape[1]
    a += prev_h @ Wh
    sigmoid(a[:, :3 * H], out=a[:, :3 * H])
    np.tanh(a[:, 3 * H:], out=a[:, 3 * H:])
    i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
    next_c = np.multiply(f, prev_c, out=next_c)
    next_c += i * g
    tanh_c = np.tanh(next_c, out=tanh_c)
    next_h = np.multiply(o, tanh_c, out=next_h)
    return next_h, next_c, tanh_c


def lstm_cell_backward(dnext_h, dnext_c, prev_c, gates, tanh_c, out=None):
    """Gradient of the LSTM pre-activation a, (N, 4H), and of prev_c, (N, H).

    gates: (N, 4H) activated [i, f, o, g] from :func:`lstm_cell`;
    dnext_h, dnext_c, prev_c, tanh_c: (N, H).
    """
    H = prev_c.shape[1]
    i, f, o, g = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    da = np.empty_like(gates) if out is None else out
    # total gradient reaching c_t: directly and through h_t = o * tanh(c_t)
    dc = dnext_h * o
    dc *= 1 - tanh_c * tanh_c
    dc += dnext_c
    # sigmoid'(z) = s (1 - s) and tanh'(z) = 1 - t^2, from the gate outputs
    np.multiply(dc * g, i * (1 - i), out=da[:, :H])
    np.multiply(dc * prev_c, f * (1 - f), out=da[:, H:2 * H])
    np.multiply(dnext_h * tanh_c, o * (1 - o), out=da[:, 2 * H:3 * H])
    np.multiply(dc * i, 1 - g * g, out=da[:, 3 * H:])
    dprev_c = np.multiply(dc, f, out=dc)
    return da, dprev_c


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One timestep of an LSTM.

    Inputs:
    - x: (N, D) input at this timestep
    - prev_h, prev_c: (N, H) previous hidden and cell states
    - Wx: (D, 4H), Wh: (H, 4H), b: (4H,), gates in the order i, f, o, g

    Returns a tuple of:
    - next_h, next_c: (N, H)
    - cache: (x, prev_h, prev_c, Wx, Wh, gates, tanh_c)
    """
    x, prev_h, Wx, Wh, b = _check_recurrent_args(x, prev_h, Wx, Wh, b, 4, 2)
    prev_c = check_float_array("prev_c", prev_c, ndim=2)
    check_shape("prev_c", prev_c, prev_h.shape)
    gates = x @ Wx + b
    next_h, next_c, tanh_c = lstm_cell(gates, prev_h, prev_c, Wh)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, gates, tanh_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of :func:`lstm_step_forward`.

    Inputs:
    - dnext_h, dnext_c: (N, H) upstream gradients
    - cache: from lstm_step_forward

    Returns a tuple of:
    - dx: (N, D), dprev_h: (N, H), dprev_c: (N, H), dWx: (D, 4H),
      dWh: (H, 4H), db: (4H,)
    """
    x, prev_h, prev_c, Wx, Wh, gates, tanh_c = cache
    dnext_h = _check_upstream("dnext_h", dnext_h, prev_h.shape)
    dnext_c = _check_upstream("dnext_c", dnext_c, prev_h.shape)
    da, dprev_c = lstm_cell_backward(dnext_h, dnext_c, prev_c, gates, tanh_c)
    dx, dWx, dWh, db = _weight_grads(da, x, prev_h, Wx)
    return dx, da @ Wh.T, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """Run an LSTM over a whole sequence; the cell state starts at zero.

    Inputs:
    - x: (N, T, D) input sequence
    - h0: (N, H) initial hidden state
    - Wx: (D, 4H), Wh: (H, 4H), b: (4H,)

    Returns a tuple of:
    - h: (N, T, H) hidden states of every timestep (h0 not included)
    - cache: (x, Wx, Wh, hs, cs, gates, tanh_cs) with hs, cs (T+1, N, H),
      gates (T, N, 4H) and tanh_cs (T, N, H), all time-major
    """
    x, h0, Wx, Wh, b = _check_recurrent_args(x, h0, Wx, Wh, b, 4, 3)
    N, T, D = x.shape
    H = h0.shape[1]
    gates = _input_projection(x, Wx, b)             # (T, N, 4H)
    hs = np.empty((T + 1, N, H), dtype=gates.dtype)
    cs = np.empty_like(hs)
    tanh_cs = np.empty((T, N, H), dtype=gates.dtype)
    hs[0] = h0
    cs[0] = 0
    for t in range(T):
        lstm_cell(gates[t], hs[t], cs[t], Wh, hs[t + 1], cs[t + 1], tanh_cs[t])
    return hs[1:].swapaxes(0, 1), (x, Wx, Wh, hs, cs, gates, tanh_cs)


def lstm_backward(dh, cache):
    """Backward pass of :func:`lstm_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of the hidden states only
    - cache: from lstm_forward

    Returns a tuple of:
    - dx: (N, T, D), dh0: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,)
    """
    x, Wx, Wh, hs, cs, gates, tanh_cs = cache
    T1, N, H = hs.shape
    T = T1 - 1
    dh = _check_upstream("dh", dh, (N, T, H))
    dh_t = dh.swapaxes(0, 1)                        # (T, N, H) view
    da = np.empty(gates.shape, dtype=np.result_type(gates, dh))
    dprev_h = np.zeros((N, H), dtype=da.dtype)
    dprev_c = np.zeros((N, H), dtype=da.dtype)
    for t in reversed(range(T)):
        dprev_h += dh_t[t]
        _, dprev_c = lstm_cell_backward(
            dprev_h, dprev_c, cs[t], gates[t], tanh_cs[t], out=da[t]
        )
        dprev_h = da[t] @ Wh.T
    return _sequence_grads(da, x, hs, Wx, dprev_h)


# ----------------------------------------------------------------------------
# Word embedding, temporal affine, temporal softmax loss
# ----------------------------------------------------------------------------

def word_embedding_forward(x, W):
    """Look up the vectors of words.

    Inputs:
    - x: (N, T) integer word indices, each in [0, V)
    - W: (V, D) word vectors

    Returns a tuple of:
    - out: (N, T, D)
    - cache: (x, W)
    """
    W = check_float_array("W", W, ndim=2)
    x = check_index_array("x", x, W.shape[0], ndim=2)
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    """Backward pass of :func:`word_embedding_forward`.

    Inputs:
    - dout: (N, T, D) upstream gradients
    - cache: (x, W) from the forward pass

    Returns:
    - dW: (V, D); the rows of words seen several times accumulate every use
    """
    x, W = cache
    V, D = W.shape
    dout = _check_upstream("dout", dout, x.shape + (D,))
    dW = np.zeros(W.shape, dtype=np.result_type(W, dout))
    np.add.at(dW, x.ravel(), dout.reshape(-1, D))
    return dW


def temporal_affine_forward(x, w, b):
    """An affine layer applied at every timestep: out[:, t] = x[:, t] @ w + b.

    Inputs:
    - x: (N, T, D), w: (D, M), b: (M,)

    Returns a tuple of:
    - out: (N, T, M)
    - cache: (x, w)
    """
    x = check_float_array("x", x, ndim=3)
    w = check_float_array("w", w, ndim=2)
    b = check_float_array("b", b, ndim=1)
    N, T, D = x.shape
    M = w.shape[1]
    check_shape("w", w, (D, M))
    check_shape("b", b, (M,))
    out = x.reshape(N * T, D) @ w
    out += b
    return out.reshape(N, T, M), (x, w)


def temporal_affine_backward(dout, cache):
    """Backward pass of :func:`temporal_affine_forward`.

    Inputs:
    - dout: (N, T, M) upstream gradients
    - cache: (x, w) from the forward pass

    Returns a tuple of:
    - dx: (N, T, D), dw: (D, M), db: (M,)
    """
    x, w = cache
    N, T, D = x.shape
    M = w.shape[1]
    dout = _check_upstream("dout", dout, (N, T, M))
    dout2 = dout.reshape(N * T, M)
    dx = (dout2 @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ dout2
    return dx, dw, dout2.sum(axis=0)


def _check_mask(mask, shape):
    """mask: (N, T) of bools, or of numbers that are all 0 or 1 -> bool array."""
    mask = np.asarray(mask)
    check_shape("mask", mask, shape)
    if mask.dtype != np.bool_:
        if not (np.issubdtype(mask.dtype, np.number) and np.isin(mask, (0, 1)).all()):
            raise TypeError(
                f"mask must be boolean (or hold only 0 and 1), got dtype {mask.dtype}"
            )
        mask = mask.astype(bool)
    return mask


def temporal_softmax_loss(x, y, mask, verbose=False):
    """Softmax cross-entropy at every timestep, masked, summed over time and
    averaged over the batch (divided by N, not by the number of unmasked words).

    Inputs:
    - x: (N, T, V) scores (logits); any size, the softmax is shifted by its max
    - y: (N, T) integer targets in [0, V)
    - mask: (N, T) booleans, True where the target counts
    - verbose: accepted for compatibility with the exercise; logs at DEBUG level

    Returns a tuple of:
    - loss: float
    - dx: (N, T, V) gradient of the loss with respect to x, in x's dtype
    """
    x = check_float_array("x", x, ndim=3)
    N, T, V = x.shape
    y = check_index_array("y", y, V, ndim=2)
    check_shape("y", y, (N, T))
    mask = _check_mask(mask, (N, T))

    rows = np.arange(N * T)
    y_flat = y.reshape(N * T)
    probs = x.reshape(N * T, V) - x.reshape(N * T, V).max(axis=1, keepdims=True)
    shifted_y = probs[rows, y_flat]                 # log-softmax numerator, (N*T,)
    np.exp(probs, out=probs)
    sums = probs.sum(axis=1)                        # >= 1: the max term is exp(0)
    log_p_y = shifted_y - np.log(sums)
    loss = -float(np.sum(log_p_y[mask.reshape(-1)], dtype=np.float64)) / max(N, 1)

    # d(-log softmax_y)/dx = softmax - onehot(y), kept where mask is True, / N
    probs /= sums[:, None]
    probs[rows, y_flat] -= 1
    probs *= (mask.reshape(N * T, 1) / max(N, 1)).astype(x.dtype)
    if verbose:
        logger.debug("temporal_softmax_loss: dx shape %s, loss %.6f", (N, T, V), loss)
    return loss, probs.reshape(N, T, V)
