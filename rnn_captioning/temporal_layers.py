"""Temporal layers: word embedding, temporal affine and the masked temporal
softmax loss of the exercise, and the fused versions the model uses.

Letters: N batch, T time, D input size, G projection size, V vocabulary size.

Memory layout. The recurrent layers store sequences time-major, (T, N, K),
and hand out (N, T, K) views of that memory; ``word_embedding_forward`` does
the same. Every (N, T, K) function here accepts either layout, batch-major or
time-major, without copying, and returns its result in the layout of its
input, so a whole model runs without a transpose copy.

Every function computes in the floating dtype of its inputs and validates its
arguments at the boundary. ``rnn_layers`` re-exports the public names.
"""
import logging

import numpy as np

from layers import (check_float_array, check_index_array, check_shape, check_upstream,
                    scatter_add_rows, softmax_cross_entropy, time_major)

__all__ = [
    "word_embedding_forward", "word_embedding_backward",
    "word_projection_forward", "word_projection_backward",
    "temporal_affine_forward", "temporal_affine_backward",
    "temporal_softmax_loss", "vocab_loss",
]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------
# Memory layout
# ----------------------------------------------------------------------------

def _rows(a):
    """An (N, T, K) array as 2-D rows, without copying when possible.

    Returns (rows, time_first): rows is (N*T, K) in batch-major order, or
    (T*N, K) in time-major order when the memory is not batch-major (the
    library's arrays are time-major); any other strides cost one copy.
    """
    time_first = not a.flags.c_contiguous
    return _in_order(a, time_first), time_first


def _in_order(a, time_first):
    """(N, T, K) as 2-D rows in the given order; free when the layout matches."""
    a = time_major(a) if time_first else np.ascontiguousarray(a)
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])   # no -1: empty arrays too


def _unrows(rows, N, T, time_first):
    """Inverse of :func:`_rows`: 2-D rows -> an (N, T, K) view."""
    K = rows.shape[1]                               # explicit: -1 fails for empty arrays
    return rows.reshape(T, N, K).swapaxes(0, 1) if time_first else rows.reshape(N, T, K)


def _row_order(a, time_first):
    """An (N, T) array flattened in the order of :func:`_rows`."""
    return (a.T if time_first else a).reshape(-1)


# ----------------------------------------------------------------------------
# Word embedding and the fused word projection
# ----------------------------------------------------------------------------

def word_embedding_forward(x, W):
    """Look up the vectors of words.

    Inputs:
    - x: integer word indices, each in [0, V), of any shape: (N, T) in the
      exercise, (N,) for one word per caption while sampling (the exercise's
      ``W[x]`` takes any index array, so this does too)
    - W: (V, D) word vectors

    Returns a tuple of:
    - out: x.shape + (D,); for (N, T) a view of time-major memory (see the
      module docstring)
    - cache: (x, W)
    """
    W = check_float_array("W", W, ndim=2)
    x = check_index_array("x", x, W.shape[0])
    if x.ndim != 2:
        return W[x], (x, W)
    return W[x.T].swapaxes(0, 1), (x, W)


def word_embedding_backward(dout, cache):
    """Backward pass of :func:`word_embedding_forward`.

    Inputs:
    - dout: x.shape + (D,) upstream gradients, (N, T, D) in the exercise
    - cache: (x, W) from the forward pass

    Returns:
    - dW: (V, D); the rows of words seen several times accumulate every use
    """
    x, W = cache
    V, D = W.shape
    dout = check_upstream("dout", dout, x.shape + (D,))
    if x.ndim == 2:
        rows, time_first = _rows(dout)
        index = _row_order(x, time_first)
    else:
        rows, index = dout.reshape(x.size, D), x.reshape(-1)
    return scatter_add_rows(index, rows, V).astype(np.result_type(W, dout), copy=False)


def word_projection_forward(x, W, Wx, b):
    """Embedding and input projection in one: the time-major equivalent of
    ``temporal_affine_forward(word_embedding_forward(x, W)[0], Wx, b)``.

    When the vocabulary is smaller than the number of words (V < N*T), it
    looks rows up in the table W @ Wx + b (V, G) instead, which takes fewer
    operations forward and backward; otherwise it embeds, then projects.

    Inputs:
    - x: (N, T) integer word indices in [0, V)
    - W: (V, D) word vectors; Wx: (D, G); b: (G,)

    Returns a tuple of:
    - a: (T, N, G), time-major and freshly allocated, ready for
      :func:`rnn_recurrence_forward` / :func:`lstm_recurrence_forward`
    - cache: (x.T, W, Wx, embedded words or None when the table was used)
    """
    W = check_float_array("W", W, ndim=2)
    Wx = check_float_array("Wx", Wx, ndim=2)
    b = check_float_array("b", b, ndim=1)
    V, D = W.shape
    check_shape("Wx", Wx, (D, None))
    check_shape("b", b, (Wx.shape[1],))
    idx = check_index_array("x", x, V, ndim=2).T                 # (T, N)
    if V < idx.size:
        table = W @ Wx
        table += b
        return table[idx], (idx, W, Wx, None)
    emb = W[idx]                                                 # (T, N, D)
    a = emb.reshape(idx.size, D) @ Wx
    a += b
    return a.reshape(idx.shape + (Wx.shape[1],)), (idx, W, Wx, emb)


def word_projection_backward(da, cache):
    """Backward pass of :func:`word_projection_forward`.

    Inputs:
    - da: (T, N, G) gradients of the projections
    - cache: from word_projection_forward

    Returns a tuple of:
    - dW: (V, D), dWx: (D, G), db: (G,)
    """
    idx, W, Wx, emb = cache
    G = Wx.shape[1]
    da = check_upstream("da", da, idx.shape + (G,))
    da2 = da.reshape(idx.size, G)
    if emb is None:
        dtable = scatter_add_rows(idx.reshape(-1), da2, W.shape[0])   # (V, G)
        return dtable @ Wx.T, W.T @ dtable, dtable.sum(axis=0)
    demb = da2 @ Wx.T
    dW = scatter_add_rows(idx.reshape(-1), demb, W.shape[0])
    return dW, emb.reshape(idx.size, W.shape[1]).T @ da2, da2.sum(axis=0)


# ----------------------------------------------------------------------------
# Temporal affine and softmax loss
# ----------------------------------------------------------------------------

def _check_affine_args(name, x, w, b):
    """x: (N, T, D) named ``name``, w: (D, M), b: (M,)."""
    x = check_float_array(name, x, ndim=3)
    w = check_float_array("w", w, ndim=2)
    b = check_float_array("b", b, ndim=1)
    check_shape("w", w, (x.shape[2], w.shape[1]))
    check_shape("b", b, (w.shape[1],))
    return x, w, b


def temporal_affine_forward(x, w, b):
    """An affine layer applied at every timestep: out[:, t] = x[:, t] @ w + b.

    Inputs:
    - x: (N, T, D), w: (D, M), b: (M,)

    Returns a tuple of:
    - out: (N, T, M), in the memory layout of x
    - cache: (x, w)
    """
    x, w, b = _check_affine_args("x", x, w, b)
    N, T = x.shape[:2]
    rows, time_first = _rows(x)
    out = rows @ w
    out += b
    return _unrows(out, N, T, time_first), (x, w)


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
    dout = check_upstream("dout", dout, (N, T, M))
    drows, time_first = _rows(dout)
    dx = _unrows(drows @ w.T, N, T, time_first)
    return dx, _in_order(x, time_first).T @ drows, drows.sum(axis=0)


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


def _check_targets(y, mask, N, T, V):
    y = check_index_array("y", y, V, ndim=2)
    check_shape("y", y, (N, T))
    return y, _check_mask(mask, (N, T))


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
    y, mask = _check_targets(y, mask, N, T, V)
    rows, time_first = _rows(x)
    keep = np.flatnonzero(_row_order(mask, time_first))  # masked rows add nothing
    loss, dkept = softmax_cross_entropy(rows[keep], _row_order(y, time_first)[keep], max(N, 1))
    drows = np.zeros_like(rows)
    drows[keep] = dkept
    if verbose:
        logger.debug("temporal_softmax_loss: %d of %d targets counted, loss %.6f",
                     keep.size, N * T, loss)
    return loss, _unrows(drows, N, T, time_first)


def vocab_loss(h, w, b, y, mask, *, weights=None, with_grads=True):
    """Scores and masked softmax loss in one, computed only where the mask
    counts: equal to temporal_affine_forward, temporal_softmax_loss and
    temporal_affine_backward in a row, with fewer operations when captions
    are padded.

    Inputs:
    - h: (N, T, H) hidden states (either memory layout)
    - w: (H, V), b: (V,) the vocabulary projection
    - y: (N, T) integer targets; mask: (N, T) booleans

    - weights: optional (N,) factor of each sequence's term in the loss (any
      sign; the self-critical policy gradient); None is 1 for all
    - with_grads: False skips the backward products (dh, dw, db are None)

    Returns a tuple of:
    - loss: float, summed over time, averaged over N
    - dh: (N, T, H) in the memory layout of h; dw: (H, V); db: (V,)
    """
    h, w, b = _check_affine_args("h", h, w, b)
    N, T = h.shape[:2]
    V = w.shape[1]
    y, mask = _check_targets(y, mask, N, T, V)
    rows, time_first = _rows(h)
    keep = np.flatnonzero(_row_order(mask, time_first))
    kept = rows[keep]                                             # (M, H)
    scores = kept @ w
    scores += b
    row_weights = None
    if weights is not None:
        weights = check_float_array("weights", weights, ndim=1)
        check_shape("weights", weights, (N,))
        if not np.all(np.isfinite(weights)):
            raise ValueError("weights must be finite")
        row_weights = _row_order(np.broadcast_to(weights[:, None], (N, T)), time_first)[keep]
    loss, dscores = softmax_cross_entropy(scores, _row_order(y, time_first)[keep], max(N, 1),
                                          row_weights)
    if not with_grads:
        return loss, None, None, None
    drows = np.zeros_like(rows)
    drows[keep] = dscores @ w.T
    return loss, _unrows(drows, N, T, time_first), kept.T @ dscores, dscores.sum(axis=0)
