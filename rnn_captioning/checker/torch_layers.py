"""The PyTorch edition's layers file (``rnn_layers_pytorch.py``), written by
us: what a learner's PyTorch model imports when they give no layers file.

The edition's learners write forward functions on tensors and let autograd
do the backward; there are no caches. These follow the exercise's equations
and argument names (the starter's, since learners' models call them by
keyword). Tensors: x (N, T, D) or (N, D), h (N, H), Wx (D, H) or (D, 4H).
"""
import torch
import torch.nn.functional as F

__all__ = ["affine_forward", "temporal_affine_forward", "temporal_softmax_loss",
           "rnn_step_forward", "rnn_forward", "word_embedding_forward",
           "lstm_step_forward", "lstm_forward"]


def affine_forward(x, w, b):
    """x: (N, D) or (N, d1, ...), w: (D, M), b: (M,) -> out (N, M)."""
    return x.reshape(x.shape[0], -1) @ w + b


def temporal_affine_forward(x, w, b):
    """x: (N, T, D), w: (D, M), b: (M,) -> out (N, T, M)."""
    return x @ w + b


def temporal_softmax_loss(x, y, mask, verbose=False):
    """x: (N, T, V) scores, y: (N, T) torch.long targets, mask: (N, T) ->
    the masked cross-entropy summed over words and averaged over N."""
    N, T, V = x.shape
    losses = F.cross_entropy(x.reshape(N * T, V), y.reshape(N * T), reduction="none")
    return (losses * mask.reshape(N * T).to(x.dtype)).sum() / N


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """x: (N, D), prev_h: (N, H) -> next_h (N, H)."""
    return torch.tanh(x @ Wx + prev_h @ Wh + b)


def rnn_forward(x, h0, Wx, Wh, b):
    """x: (N, T, D), h0: (N, H) -> h (N, T, H), the states after each step."""
    h, states = h0, []
    for t in range(x.shape[1]):
        h = rnn_step_forward(x[:, t], h, Wx, Wh, b)
        states.append(h)
    return torch.stack(states, dim=1)


def word_embedding_forward(x, W):
    """x: integer indices of any shape, W: (V, D) -> out x.shape + (D,)."""
    return W[x]


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """x: (N, D), prev_h, prev_c: (N, H), Wx: (D, 4H) -> next_h, next_c (N, H);
    gates i, f, o, g in that order."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o = (torch.sigmoid(a[:, k * H:(k + 1) * H]) for k in range(3))
    g = torch.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    return o * torch.tanh(next_c), next_c


def lstm_forward(x, h0, Wx, Wh, b):
    """x: (N, T, D), h0: (N, H) -> h (N, T, H); the cell starts at zero."""
    h, c, states = h0, torch.zeros_like(h0), []
    for t in range(x.shape[1]):
        h, c = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        states.append(h)
    return torch.stack(states, dim=1)
