"""Batched beam search over any step function.

The search is defined so that it provably agrees with the two easy cases:

- ``beam_size=1`` is greedy decoding: at each step the single beam takes its
  argmax word; if that word is <END> (or the last position is reached) the
  caption is complete.
- a beam wide enough to hold every hypothesis is exhaustive search: no
  candidate is ever pruned, every complete caption reaches the pool, and the
  best one by the final score is returned.

At each step the candidates of an image (its live beams times every word) are
ranked by summed log-probability and the best ``beam_size`` are kept. Those
that end in <END>, and all of them at the last position, are complete: they go
to the image's pool of finished captions and stop occupying a beam. The pool's
winner maximises ``log p / length ** length_penalty``, where length counts the
generated words including <END>.
"""
import numpy as np

from layers import check_positive_int

__all__ = ["beam_search", "log_softmax"]


def log_softmax(scores):
    """Row-wise log-softmax of scores (M, V), shifted by the row max."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def _check_search_args(beam_size, max_length, length_penalty):
    check_positive_int("beam_size", beam_size)
    check_positive_int("max_length", max_length)
    if not np.isfinite(length_penalty):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")


def beam_search(step, state, *, start, end, null, beam_size=3, max_length=30,
                length_penalty=0.0):
    """Best caption of each of N images.

    Inputs:
    - step: callable (words (M,), state) -> (scores (M, V), state), where state
      is a tuple of arrays with leading dimension M
    - state: initial state, a tuple of arrays with leading dimension N
    - start, end, null: indices of <START>, <END>, <NULL>
    - beam_size, max_length: positive integers
    - length_penalty: 0 ranks finished captions by summed log-probability;
      alpha > 0 divides it by length ** alpha, favouring longer captions

    Returns a tuple of:
    - captions: (N, max_length) int32, <END> kept, <NULL> after it
    - log_probs: (N,) summed log-probability of each returned caption
    """
    _check_search_args(beam_size, max_length, length_penalty)
    N, B, L = state[0].shape[0], beam_size, max_length
    state = tuple(np.repeat(s, B, axis=0) for s in state)           # (N*B, ...)
    beam_logp = np.full((N, B), -np.inf)
    beam_logp[:, 0] = 0.0           # one live beam at first: no duplicate hypotheses
    tokens = np.full((N, B, L), null, dtype=np.int32)
    best_score = np.full(N, -np.inf)
    best_logp = np.full(N, -np.inf)
    best_tokens = np.full((N, L), null, dtype=np.int32)
    words = np.full(N * B, start)
    rows = np.arange(N)

    for t in range(L):
        scores, state = step(words, state)
        V = scores.shape[1]
        cand = (beam_logp[:, :, None] + log_softmax(scores.astype(np.float64)).reshape(N, B, V))
        top, top_logp = _top_k(cand.reshape(N, B * V), B)            # (N, B) each
        parent, word = np.divmod(top, V)
        alive = np.isfinite(top_logp)
        complete = alive & ((word == end) | (t == L - 1))
        tokens = np.take_along_axis(tokens, parent[:, :, None], axis=1)
        tokens[:, :, t] = word

        # the pool keeps each image's best complete caption so far
        final = np.where(complete, top_logp / float(t + 1) ** length_penalty, -np.inf)
        pick = final.argmax(axis=1)
        better = final[rows, pick] > best_score
        best_score[better] = final[rows, pick][better]
        best_logp[better] = top_logp[rows, pick][better]
        best_tokens[better] = tokens[rows, pick][better]

        beam_logp = np.where(alive & ~complete, top_logp, -np.inf)
        if not np.isfinite(beam_logp).any():
            break
        words = word.reshape(N * B)
        flat_parent = (parent + rows[:, None] * B).reshape(N * B)
        state = tuple(s[flat_parent] for s in state)
    return best_tokens, best_logp


def _top_k(values, k):
    """Indices and values of the k largest entries of each row, best first.

    values: (N, C) -> (N, k) indices, (N, k) values.
    """
    k = min(k, values.shape[1])
    idx = np.argpartition(-values, k - 1, axis=1)[:, :k]
    val = np.take_along_axis(values, idx, axis=1)
    order = np.argsort(-val, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(val, order, axis=1)
