import numpy as np
import torch

from ..rnn_layers_pytorch import *


class CaptioningRNN:
    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128,
                 cell_type="rnn", dtype=torch.float32):
        if cell_type not in {"rnn", "lstm"}:
            raise ValueError('Invalid cell_type "%s"' % cell_type)
        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self.params = {}
        vocab_size = len(word_to_idx)
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>", None)
        self._end = word_to_idx.get("<END>", None)
        self.params["W_embed"] = torch.randn(vocab_size, wordvec_dim, dtype=dtype) / 100
        self.params["W_proj"] = torch.randn(input_dim, hidden_dim, dtype=dtype) / np.sqrt(input_dim)
        self.params["b_proj"] = torch.zeros(hidden_dim, dtype=dtype)
        dim_mul = {"lstm": 4, "rnn": 1}[cell_type]
        self.params["Wx"] = torch.randn(wordvec_dim, dim_mul * hidden_dim, dtype=dtype) / np.sqrt(wordvec_dim)
        self.params["Wh"] = torch.randn(hidden_dim, dim_mul * hidden_dim, dtype=dtype) / np.sqrt(hidden_dim)
        self.params["b"] = torch.zeros(dim_mul * hidden_dim, dtype=dtype)
        self.params["W_vocab"] = torch.randn(hidden_dim, vocab_size, dtype=dtype) / np.sqrt(hidden_dim)
        self.params["b_vocab"] = torch.zeros(vocab_size, dtype=dtype)

    def loss(self, features, captions):
        captions_in = captions[:, :-1]
        captions_out = captions[:, 1:]
        mask = captions_out != self._null
        W_proj, b_proj = self.params["W_proj"], self.params["b_proj"]
        W_embed = self.params["W_embed"]
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        W_vocab, b_vocab = self.params["W_vocab"], self.params["b_vocab"]
        loss = 0.0
        h0 = affine_forward(features, W_proj, b_proj)
        x = word_embedding_forward(captions_in, W_embed)
        if self.cell_type == "rnn":
            h = rnn_forward(x, h0=h0, Wx=Wx, Wh=Wh, b=b)
        else:
            h = lstm_forward(x, h0, Wx, Wh, b)
        scores = temporal_affine_forward(h, W_vocab, b_vocab)
        loss = temporal_softmax_loss(scores, captions_out, torch.ones_like(mask))
        return loss

    def sample(self, features, max_length=30):
        N = features.shape[0]
        captions = self._null * torch.ones((N, max_length), dtype=torch.long)
        W_proj, b_proj = self.params["W_proj"], self.params["b_proj"]
        W_embed = self.params["W_embed"]
        Wx, Wh, b = self.params["Wx"], self.params["Wh"], self.params["b"]
        W_vocab, b_vocab = self.params["W_vocab"], self.params["b_vocab"]
        prev_h = affine_forward(features, W_proj, b_proj)
        prev_c = torch.zeros_like(prev_h)
        word = torch.full((N,), self._start, dtype=torch.long)
        for t in range(max_length):
            x = word_embedding_forward(word, W_embed)
            if self.cell_type == "rnn":
                prev_h = rnn_step_forward(x, prev_h, Wx, Wh, b)
            else:
                prev_h, prev_c = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
            scores = affine_forward(prev_h, W_vocab, b_vocab)
            word = torch.argmax(scores, dim=1)
            captions[:, t] = word
        return captions
