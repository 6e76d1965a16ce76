"""Recurrent layers for captioning: vanilla RNN and LSTM (and, re-exported
from rnn_captioning/temporal_layers.py, word embedding, temporal affine and the masked
temporal softmax loss, so that the exercise's imports work unchanged).

Letters: N batch, T time, D input size, H hidden size, V vocabulary size.
LSTM weights are (D, 4H) / (H, 4H) with the gates in the order i, f, o, g.

Each cell is defined once (:func:`rnn_cell`, :func:`lstm_cell` and their
backward counterparts). The exercise's step functions, the sequence functions
and the model's sampling all call these cores. A sequence is split in two:
the input projection of all timesteps (one matrix product) and the
*recurrence* (:func:`rnn_recurrence_forward`, :func:`lstm_recurrence_forward`),
which loops over time; backward mirrors it, with dx, dWx, dWh and db each one
matrix product after the loop.

Packed sequences. Given ``lengths`` (rows sorted longest first, as cuDNN's
packed sequences are), the recurrences run at step t only the rows still
going (lengths > t), forward and backward, and skip the products of rows
whose sequence has ended: the results equal the full computation on every
step a row is active. Hidden states past a row's length are returned as 0 and
their upstream gradients are ignored (they belong to no sequence).

Memory layout. Recurrent state is stored time-major, (T, N, H), so that each
step works on a contiguous (N, H) block; the (N, T, H) arrays the functions
return are views of that memory (see rnn_captioning/temporal_layers.py, whose functions
accept either layout without copying).

Every function computes in the floating dtype of its inputs (float32 in,
float32 out) and validates its arguments at the boundary.
"""
import numpy as np

from layers import check_float_array, check_shape, check_upstream, time_major
# The exercise's temporal layers live in rnn_captioning/temporal_layers.py and are
# re-exported here, so that `rnn_layers.temporal_softmax_loss` works as before.
from rnn_captioning.temporal_layers import (  # noqa: F401  (re-exports)
    temporal_affine_backward, temporal_affine_forward, temporal_softmax_loss, vocab_loss,
    word_embedding_backward, word_embedding_forward, word_projection_backward,
    word_projection_forward,
)

__all__ = [
    "sigmoid",
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "rnn_recurrence_forward", "rnn_recurrence_backward",
    "lstm_recurrence_forward", "lstm_recurrence_backward", "active_rows", "sequence_lengths",
    "word_embedding_forward", "word_embedding_backward",
    "word_projection_forward", "word_projection_backward",
    "temporal_affine_forward", "temporal_affine_backward",
    "temporal_softmax_loss", "vocab_loss",
]


def sigmoid(x, out=None):
    """Logistic function, elementwise, for any shape; keeps x's dtype.

    Uses sigma(x) = (1 + tanh(x / 2)) / 2: no exp of a large number, so it
    cannot overflow, and no boolean-mask indexing, so it is a few fast passes.
    """
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


# ----------------------------------------------------------------------------
# Argument checks and the pieces shared by steps and sequences
# ----------------------------------------------------------------------------

def _check_recurrent_args(x, h, Wx, Wh, b, gates, x_ndim):
    """Validate (x, h, Wx, Wh, b) of an RNN (gates=1) or LSTM (gates=4) call.

    x: (N, D) for a step or (N, T, D) for a sequence; h: (N, H);
    Wx: (D, gates*H); Wh: (H, gates*H); b: (gates*H,).
    """
    h_name = "prev_h" if x_ndim == 2 else "h0"
    x = check_float_array("x", x, ndim=x_ndim)
    Wx = check_float_array("Wx", Wx, ndim=2)
    b = check_float_array("b", b, ndim=1)
    h, Wh = _check_state_args(h_name, h, Wh, gates, x.shape[0])
    G = Wh.shape[1]
    check_shape("Wx", Wx, (x.shape[-1], G))
    check_shape("b", b, (G,))
    return x, h, Wx, Wh, b


def _check_state_args(h_name, h, Wh, gates, N):
    """h: (N, H) and Wh: (H, gates*H)."""
    Wh = check_float_array("Wh", Wh, ndim=2)
    h = check_float_array(h_name, h, ndim=2)
    H = Wh.shape[0]
    check_shape("Wh", Wh, (H, gates * H))
    check_shape(h_name, h, (N, H))
    return h, Wh


def _input_projection(x, Wx, b):
    """a[t] = x[:, t] @ Wx + b for all t in one product: x (N, T, D) -> (T, N, G)."""
    N, T, D = x.shape
    a = time_major(x).reshape(T * N, D) @ Wx
    a += b
    return a.reshape(T, N, Wx.shape[1])


def _step_grads(da, x, prev_h, Wx, Wh):
    """Gradients of a = x @ Wx + prev_h @ Wh + b for one step.

    da: (N, G); x: (N, D); prev_h: (N, H).
    Returns dx (N, D), dprev_h (N, H), dWx (D, G), dWh (H, G), db (G,).
    """
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _projection_grads(da, x, Wx):
    """Gradients of the input projection of a sequence, one product each.

    da: (T, N, G); x: (N, T, D). Returns dx (N, T, D), dWx (D, G), db (G,).
    """
    T, N, G = da.shape
    D = x.shape[2]
    da2 = da.reshape(T * N, G)
    dx = (da2 @ Wx.T).reshape(T, N, D).swapaxes(0, 1)
    return dx, time_major(x).reshape(T * N, D).T @ da2, da2.sum(axis=0)


def _sequence_forward(x, h0, Wx, Wh, b, gates, recurrence_forward):
    """Input projection of all timesteps in one product, then the time loop.
    Returns h (N, T, H) and the cache (x, Wx, recurrence cache)."""
    x, h0, Wx, Wh, b = _check_recurrent_args(x, h0, Wx, Wh, b, gates, 3)
    h, cache = recurrence_forward(_input_projection(x, Wx, b), h0, Wh)
    return h, (x, Wx, cache)


def _sequence_backward(dh, cache, recurrence_backward):
    """Backward of :func:`_sequence_forward`: dx, dh0, dWx, dWh, db."""
    x, Wx, rec_cache = cache
    da, dh0, dWh = recurrence_backward(dh, rec_cache)
    dx, dWx, db = _projection_grads(da, x, Wx)
    return dx, dh0, dWx, dWh, db


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
    dnext_h = check_upstream("dnext_h", dnext_h, next_h.shape)
    return _step_grads(rnn_cell_backward(dnext_h, next_h), x, prev_h, Wx, Wh)


def rnn_recurrence_forward(a, h0, Wh, lengths=None):
    """The time loop of a tanh RNN given all input projections.

    Inputs:
    - a: (T, N, H) time-major, a[t] = x[:, t] @ Wx + b
    - h0: (N, H) initial hidden state
    - Wh: (H, H)
    - lengths: optional (N,) steps each row runs, longest first (packed
      sequences; see the module's docstring)

    Returns a tuple of:
    - h: (N, T, H) hidden states of every timestep (a view of time-major memory)
    - cache: (Wh, hs, steps) with hs (T+1, N, H) = [h0, h_1, ..., h_T] and
      steps the rows active at each step
    """
    T, N, H = _check_projection(a, h0, Wh, 1)
    steps = active_rows(lengths, N, T)
    hs = _zeros_past_lengths((T + 1, N, H), np.result_type(a, h0, Wh), steps)
    hs[0] = h0
    for t, n in enumerate(steps):
        rnn_cell(a[t, :n], hs[t, :n], Wh, out=hs[t + 1, :n])
    return hs[1:].swapaxes(0, 1), (Wh, hs, steps)


def rnn_recurrence_backward(dh, cache):
    """Backward pass of :func:`rnn_recurrence_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of the hidden states only; the
      gradient from h_t into h_{t+1} is carried here
    - cache: from rnn_recurrence_forward

    Returns a tuple of:
    - da: (T, N, H) gradients of the input projections
    - dh0: (N, H)
    - dWh: (H, H)
    """
    Wh, hs, steps = cache
    T1, N, H = hs.shape
    T = T1 - 1
    dh = check_upstream("dh", dh, (N, T, H))
    dh_t = dh.swapaxes(0, 1)                        # (T, N, H) view
    da = _zeros_past_lengths((T, N, H), np.result_type(hs, dh), steps)
    # rows that have ended get no gradient from later steps: theirs stays 0
    dprev_h = np.zeros((N, H), dtype=da.dtype)
    for t in reversed(range(T)):
        n = steps[t]
        dprev_h[:n] += dh_t[t, :n]
        rnn_cell_backward(dprev_h[:n], hs[t + 1, :n], out=da[t, :n])
        np.matmul(da[t, :n], Wh.T, out=dprev_h[:n])
    return da, dprev_h, _recurrent_weight_grad(hs, da, steps)


def _all_rows(steps, N):
    """Does every row run every step (nothing packed away)?"""
    return all(n == N for n in steps)


def _zeros_past_lengths(shape, dtype, steps):
    """A buffer (T or T+1, N, G) that the time loop fills on active rows; the
    rest must read 0 (only packed sequences have a rest)."""
    return (np.empty if _all_rows(steps, shape[1]) else np.zeros)(shape, dtype=dtype)


def _check_projection(a, h0, Wh, gates):
    a = check_float_array("a", a, ndim=3)
    h0, Wh = _check_state_args("h0", h0, Wh, gates, a.shape[1])
    check_shape("a", a, (None, h0.shape[0], Wh.shape[1]))
    return a.shape[0], h0.shape[0], h0.shape[1]


def _recurrent_weight_grad(hs, da, steps):
    """dWh = sum_t h_{t-1}^T da_t as one product: hs (T+1, N, H), da (T, N, G).
    With packed steps, only the rows active at each step are stacked."""
    T, N, G = da.shape
    if _all_rows(steps, N):
        return hs[:-1].reshape(T * N, hs.shape[2]).T @ da.reshape(T * N, G)
    prev_h = np.concatenate([hs[t, :n] for t, n in enumerate(steps)])           # (sum n, H)
    return prev_h.T @ np.concatenate([da[t, :n] for t, n in enumerate(steps)])


def active_rows(lengths, N, T):
    """Rows active at each step: a list of T counts, n_t = #{rows with length > t}.

    - lengths: None (every row runs all T steps) or (N,) integers in [0, T],
      sorted from longest to shortest
    """
    if lengths is None:
        return [N] * T
    lengths = np.asarray(lengths)
    if lengths.shape != (N,) or lengths.dtype.kind not in "iu":
        raise ValueError(f"lengths must be ({N},) integers, got {lengths.dtype} "
                         f"{lengths.shape}")
    if N and (lengths.min() < 0 or lengths.max() > T):
        raise ValueError(f"lengths must lie in [0, {T}], got values from {lengths.min()} "
                         f"to {lengths.max()}")
    if np.any(np.diff(lengths) > 0):
        raise ValueError("lengths must be sorted from longest to shortest (sort the batch "
                         "by length first)")
    return [int(n) for n in np.count_nonzero(lengths[None, :] > np.arange(T)[:, None], axis=1)]


def sequence_lengths(mask):
    """Steps each row must run to reach its last counted target.

    mask: (N, T) booleans. Returns (N,) ints: 1 + the index of the row's last
    True, 0 for a row with none.
    """
    last = mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), last, 0)


def rnn_forward(x, h0, Wx, Wh, b):
    """Run a tanh RNN over a whole sequence.

    Inputs:
    - x: (N, T, D) input sequence
    - h0: (N, H) initial hidden state
    - Wx: (D, H), Wh: (H, H), b: (H,)

    Returns a tuple of:
    - h: (N, T, H) hidden states of every timestep (h0 not included)
    - cache: (x, Wx, recurrence cache)
    """
    return _sequence_forward(x, h0, Wx, Wh, b, 1, rnn_recurrence_forward)


def rnn_backward(dh, cache):
    """Backward pass of :func:`rnn_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of the hidden states only; the gradient
      flowing from h_t into h_{t+1} is carried by this function
    - cache: from rnn_forward

    Returns a tuple of:
    - dx: (N, T, D), dh0: (N, H), dWx: (D, H), dWh: (H, H), db: (H,)
    """
    return _sequence_backward(dh, cache, rnn_recurrence_backward)


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
    dnext_h = check_upstream("dnext_h", dnext_h, prev_h.shape)
    dnext_c = check_upstream("dnext_c", dnext_c, prev_h.shape)
    da, dprev_c = lstm_cell_backward(dnext_h, dnext_c, prev_c, gates, tanh_c)
    dx, dprev_h, dWx, dWh, db = _step_grads(da, x, prev_h, Wx, Wh)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_recurrence_forward(a, h0, Wh, lengths=None):
    """The time loop of an LSTM given all input projections; c starts at 0.

    Inputs:
    - a: (T, N, 4H) time-major, a[t] = x[:, t] @ Wx + b; overwritten with
      the activated gates, which the cache keeps
    - h0: (N, H) initial hidden state
    - Wh: (H, 4H)
    - lengths: optional (N,) steps each row runs, longest first (packed
      sequences; see the module's docstring)

    Returns a tuple of:
    - h: (N, T, H) hidden states of every timestep (a view of time-major memory)
    - cache: (Wh, hs, cs, gates, tanh_cs, steps): hs and cs (T+1, N, H) with
      the initial states first, gates (T, N, 4H), tanh_cs (T, N, H), steps the
      rows active at each step
    """
    T, N, H = _check_projection(a, h0, Wh, 4)
    steps = active_rows(lengths, N, T)
    hs = _zeros_past_lengths((T + 1, N, H), np.result_type(a, h0, Wh), steps)
    cs = _zeros_past_lengths((T + 1, N, H), hs.dtype, steps)
    tanh_cs = _zeros_past_lengths((T, N, H), hs.dtype, steps)
    hs[0] = h0
    cs[0] = 0
    for t, n in enumerate(steps):
        lstm_cell(a[t, :n], hs[t, :n], cs[t, :n], Wh, hs[t + 1, :n], cs[t + 1, :n],
                  tanh_cs[t, :n])
    return hs[1:].swapaxes(0, 1), (Wh, hs, cs, a, tanh_cs, steps)


def lstm_recurrence_backward(dh, cache):
    """Backward pass of :func:`lstm_recurrence_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of the hidden states only
    - cache: from lstm_recurrence_forward

    Returns a tuple of:
    - da: (T, N, 4H) gradients of the input projections
    - dh0: (N, H)
    - dWh: (H, 4H)
    """
    Wh, hs, cs, gates, tanh_cs, steps = cache
    T1, N, H = hs.shape
    T = T1 - 1
    dh = check_upstream("dh", dh, (N, T, H))
    dh_t = dh.swapaxes(0, 1)                        # (T, N, H) view
    da = _zeros_past_lengths(gates.shape, np.result_type(gates, dh), steps)
    # rows that have ended get no gradient from later steps: theirs stays 0
    dprev_h = np.zeros((N, H), dtype=da.dtype)
    dprev_c = np.zeros((N, H), dtype=da.dtype)
    for t in reversed(range(T)):
        n = steps[t]
        dprev_h[:n] += dh_t[t, :n]
        _, dprev_c[:n] = lstm_cell_backward(dprev_h[:n], dprev_c[:n], cs[t, :n], gates[t, :n],
                                            tanh_cs[t, :n], out=da[t, :n])
        np.matmul(da[t, :n], Wh.T, out=dprev_h[:n])
    return da, dprev_h, _recurrent_weight_grad(hs, da, steps)


def lstm_forward(x, h0, Wx, Wh, b):
    """Run an LSTM over a whole sequence; the cell state starts at zero.

    Inputs:
    - x: (N, T, D) input sequence
    - h0: (N, H) initial hidden state
    - Wx: (D, 4H), Wh: (H, 4H), b: (4H,)

    Returns a tuple of:
    - h: (N, T, H) hidden states of every timestep (h0 not included)
    - cache: (x, Wx, recurrence cache)
    """
    return _sequence_forward(x, h0, Wx, Wh, b, 4, lstm_recurrence_forward)


def lstm_backward(dh, cache):
    """Backward pass of :func:`lstm_forward`.

    Inputs:
    - dh: (N, T, H) upstream gradients of the hidden states only
    - cache: from lstm_forward

    Returns a tuple of:
    - dx: (N, T, D), dh0: (N, H), dWx: (D, 4H), dWh: (H, 4H), db: (4H,)
    """
    return _sequence_backward(dh, cache, lstm_recurrence_backward)


