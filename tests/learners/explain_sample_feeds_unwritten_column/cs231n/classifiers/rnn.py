import numpy as np

from cs231n.layers import *
from cs231n.rnn_layers import *


class CaptioningRNN:
    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128,
                 cell_type="rnn", dtype=np.float32):
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self.params = {}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)

    def loss(self, features, captions):
        captions_in = captions[:, :-1]
        captions_out = captions[:, 1:]
        mask = captions_out != self._null
        p = self.params
        grads = {}
        h0, cache_proj = affine_forward(features, p["W_proj"], p["b_proj"])
        x, cache_embed = word_embedding_forward(captions_in, p["W_embed"])
        if self.cell_type == "rnn":
            h, cache_rnn = rnn_forward(x, h0, p["Wx"], p["Wh"], p["b"])
        else:
            h, cache_rnn = lstm_forward(x, h0, p["Wx"], p["Wh"], p["b"])
        scores, cache_scores = temporal_affine_forward(h, p["W_vocab"], p["b_vocab"])
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)
        dh, grads["W_vocab"], grads["b_vocab"] = temporal_affine_backward(dscores, cache_scores)
        if self.cell_type == "rnn":
            dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = rnn_backward(dh, cache_rnn)
        else:
            dx, dh0, grads["Wx"], grads["Wh"], grads["b"] = lstm_backward(dh, cache_rnn)
        grads["W_embed"] = word_embedding_backward(dx, cache_embed)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, cache_proj)
        return loss, grads

    def sample(self, features, max_length=30):
        N = features.shape[0]
        captions = self._null * np.ones((N, max_length), dtype=np.int32)
        p = self.params
        prev_h, _ = affine_forward(features, p["W_proj"], p["b_proj"])
        prev_c = np.zeros_like(prev_h)
        word = self._start * np.ones(N, dtype=np.int32)
        for t in range(max_length):
            embed = p["W_embed"][captions[:, t]]
            if self.cell_type == "rnn":
                prev_h, _ = rnn_step_forward(embed, prev_h, p["Wx"], p["Wh"], p["b"])
            else:
                prev_h, prev_c, _ = lstm_step_forward(embed, prev_h, prev_c, p["Wx"], p["Wh"],
                                                      p["b"])
            scores, _ = affine_forward(prev_h, p["W_vocab"], p["b_vocab"])
            word = np.argmax(scores, axis=1)
            captions[:, t] = word
        return captions
