"""CaptioningRNN: image features in, captions out.

The image feature vector sets the initial hidden state through an affine
projection; words are embedded, run through a vanilla RNN or an LSTM, and a
temporal affine layer turns hidden states into vocabulary scores. Letters:
N images, D feature size, W word-vector size, H hidden size, V vocabulary
size, T caption length.
"""
import numbers

import numpy as np

from layers import (affine_backward, affine_forward, check_float_array, check_index_array,
                    check_positive_int, random_source)
from rnn_layers import (
    lstm_cell, lstm_recurrence_backward, lstm_recurrence_forward, rnn_cell,
    rnn_recurrence_backward, rnn_recurrence_forward, sequence_lengths,
)
from rnn_captioning.decoding import beam_search as _beam_search
from rnn_captioning.decoding import log_softmax
from rnn_captioning.files.checkpoints import load_npz, save_npz
from rnn_captioning.temporal_layers import (vocab_loss, word_projection_backward,
                                            word_projection_forward)

__all__ = ["CaptioningRNN"]

MODEL_KIND = "rnn-captioning-model"
FORMAT_VERSION = 1
# cell type -> (gates k, recurrence forward, recurrence backward)
_CELLS = {"rnn": (1, rnn_recurrence_forward, rnn_recurrence_backward),
          "lstm": (4, lstm_recurrence_forward, lstm_recurrence_backward)}


def param_shapes(cell_type, V, D, W, H):
    """name -> shape of every parameter, in the order of ``model.params``."""
    k = _CELLS[cell_type][0]
    return {"W_proj": (D, H), "b_proj": (H,), "W_embed": (V, W), "Wx": (W, k * H),
            "Wh": (H, k * H), "b": (k * H,), "W_vocab": (H, V), "b_vocab": (V,)}


class CaptioningRNN:
    """A recurrent captioning model; parameters in ``self.params``.

    Parameters (k = 1 for 'rnn', 4 for 'lstm'):
    W_proj (D, H), b_proj (H,), W_embed (V, W), Wx (W, kH), Wh (H, kH), b (kH,),
    W_vocab (H, V), b_vocab (V,).
    """

    # Run each caption of a training batch only up to its last counted target
    # (packed sequences): equal results, less work on padded captions. False
    # runs every row for all T steps (kept for comparisons).
    pack_sequences = True

    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128, hidden_dim=128,
                 cell_type="rnn", dtype=np.float32, *, rng=None, dropout=0.0,
                 dropout_rng=None):
        """Inputs:
        - word_to_idx: dict word -> index in [0, V), holding '<NULL>' (and
          '<START>', '<END>' for sampling); V = len(word_to_idx)
        - input_dim: D; wordvec_dim: W; hidden_dim: H
        - cell_type: 'rnn' or 'lstm'
        - dtype: float32 for training, float64 for gradient checks
        - rng: np.random.Generator or int seed for the initial weights
          (None: NumPy's global random state, as in the exercise, so that
          np.random.seed(...) decides them)
        - dropout: probability p in [0, 1) of dropping each image feature
          and each hidden state fed to the vocabulary layer in :meth:`loss`
          (inverted dropout, as neuraltalk applies 0.5 to its encoder and
          decoder). 0, the default, is the exercise's model exactly;
          forward_loss, sample and beam_search never drop anything.
        - dropout_rng: np.random.Generator or int seed for the dropout masks
          (None: NumPy's global random state); ``self.dropout_rng`` can be
          replaced, e.g. to draw the same masks in a gradient check
        """
        if cell_type not in _CELLS:
            raise ValueError(f"cell_type must be 'rnn' or 'lstm', got {cell_type!r}")
        if not isinstance(word_to_idx, dict) or "<NULL>" not in word_to_idx:
            raise ValueError("word_to_idx must be a dict holding the token '<NULL>'")
        for name, size in (("input_dim", input_dim), ("wordvec_dim", wordvec_dim),
                           ("hidden_dim", hidden_dim)):
            check_positive_int(name, size)
        self.dtype = np.dtype(dtype)
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(f"dtype must be a floating type, got {self.dtype}")
        self.cell_type = cell_type
        self.word_to_idx = dict(word_to_idx)
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx.get("<START>")
        self._end = word_to_idx.get("<END>")
        self.params = self._init_params(len(word_to_idx), int(input_dim), int(wordvec_dim),
                                        int(hidden_dim), random_source(rng))
        if isinstance(dropout, bool) or not (isinstance(dropout, numbers.Real)
                                             and 0 <= dropout < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.dropout_rng = random_source(dropout_rng)

    def _init_params(self, V, D, W, H, rng):
        """Random / sqrt(fan-in) weights, embeddings / 100, zero biases.

        Drawn in the exercise's order (W_embed, W_proj, Wx, Wh, W_vocab) and
        divided as it divides, so that from NumPy's global state a seed gives
        the exercise's weights exactly.
        """
        shapes = param_shapes(self.cell_type, V, D, W, H)
        params = {}
        for name in ("W_embed", "W_proj", "Wx", "Wh", "W_vocab"):
            divisor = 100 if name == "W_embed" else np.sqrt(shapes[name][0])
            params[name] = rng.standard_normal(shapes[name]) / divisor
        return {name: params[name].astype(self.dtype) if name in params
                else np.zeros(shape, dtype=self.dtype) for name, shape in shapes.items()}

    # -- sizes -------------------------------------------------------------------

    @property
    def input_dim(self):
        return self.params["W_proj"].shape[0]

    @property
    def wordvec_dim(self):
        return self.params["W_embed"].shape[1]

    @property
    def hidden_dim(self):
        return self.params["Wh"].shape[0]

    @property
    def vocab_size(self):
        return self.params["W_embed"].shape[0]

    # -- input checks ----------------------------------------------------------

    def _check_features(self, features):
        """features: (N, D) finite floats -> the model's dtype."""
        features = check_float_array("features", features, ndim=2)
        if features.shape[1] != self.input_dim:
            raise ValueError(f"features must have shape (N, {self.input_dim}), "
                             f"got {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError("features hold NaN or inf values")
        return features.astype(self.dtype, copy=False)

    def _check_captions(self, captions, N):
        captions = check_index_array("captions", captions, self.vocab_size, ndim=2)
        if captions.shape[0] != N or captions.shape[1] < 2:
            raise ValueError(f"captions must have shape ({N}, T) with T >= 2 (a first input "
                             f"word and a target), got {captions.shape}")
        return captions

    # -- training loss -----------------------------------------------------------

    def loss(self, features, captions, weights=None):
        """Training loss and gradients for a minibatch.

        Inputs:
        - features: (N, D) image features
        - captions: (N, T) integer captions; word t is the input to predict
          word t+1, and <NULL> targets are masked out
        - weights: optional (N,) floats of any sign: the loss becomes
          sum_n weights[n] * (-log p(caption n)) / N, the self-critical
          policy gradient's (see rnn_captioning/self_critical/training.py); None is today's loss

        With ``self.dropout`` > 0 the features and the hidden states are
        dropped out with fresh masks at each call (see __init__).

        Returns a tuple of:
        - loss: float, summed over time, averaged over N
        - grads: dict with the keys of self.params, same shapes and dtypes
        """
        loss, dh, caches = self._forward(features, captions, with_grads=True, weights=weights)
        proj_cache, words_cache, cell_cache, (dW_vocab, db_vocab) = caches
        recurrence_backward = _CELLS[self.cell_type][2]
        grads = {"W_vocab": dW_vocab, "b_vocab": db_vocab}
        da, dh0, grads["Wh"] = recurrence_backward(dh, cell_cache)
        grads["W_embed"], grads["Wx"], grads["b"] = word_projection_backward(da, words_cache)
        _, grads["W_proj"], grads["b_proj"] = affine_backward(dh0, proj_cache)
        return loss, {name: grads[name] for name in self.params}

    def forward_loss(self, features, captions):
        """The loss of :meth:`loss` without its gradients (validation): the
        same float, at about a third of the cost. Same inputs as loss."""
        return self._forward(features, captions, with_grads=False)[0]

    def _forward(self, features, captions, with_grads, weights=None):
        """Loss, dh (N, T-1, H) and the caches backward needs.

        Equal to affine -> word embedding -> rnn/lstm -> temporal affine ->
        temporal softmax loss (tested), fused where it saves work: words are
        looked up in W_embed @ Wx + b, scores are computed only for the
        targets the mask counts, and with ``pack_sequences`` the recurrence
        runs each caption only up to its last counted target (rows sorted
        longest first; the loss and gradients are sums over rows, so the order
        does not reach the caller).
        """
        features = self._check_features(features)
        if features.shape[0] == 0:
            raise ValueError("features is an empty batch (N = 0): there is no loss to compute")
        captions = self._check_captions(captions, features.shape[0])
        mask = captions[:, 1:] != self._null
        if weights is not None:
            weights = check_float_array("weights", weights, ndim=1)
            if weights.shape != (features.shape[0],):
                raise ValueError(f"weights must have shape ({features.shape[0]},), one per "
                                 f"caption, got {weights.shape}")
        lengths = None
        if self.pack_sequences:
            lengths = sequence_lengths(mask)
            order = np.argsort(-lengths, kind="stable")
            features, captions, mask, lengths = (features[order], captions[order],
                                                 mask[order], lengths[order])
            weights = None if weights is None else weights[order]
        p = self.params
        recurrence_forward = _CELLS[self.cell_type][1]
        dropping = with_grads and self.dropout > 0
        if dropping:
            features = features * self._dropout_mask(features.shape)
        h0, proj_cache = affine_forward(features, p["W_proj"], p["b_proj"])      # (N, H)
        a, words_cache = word_projection_forward(captions[:, :-1], p["W_embed"], p["Wx"],
                                                 p["b"])
        h, cell_cache = recurrence_forward(a, h0, p["Wh"], lengths)              # (N, T-1, H)
        h_mask = None
        if dropping:        # empty_like keeps h's memory layout, which vocab_loss reads
            h_mask = self._dropout_mask(h.shape)
            h = np.multiply(h, h_mask, out=np.empty_like(h))
        loss, dh, dW_vocab, db_vocab = vocab_loss(h, p["W_vocab"], p["b_vocab"],
                                                  captions[:, 1:], mask, weights=weights,
                                                  with_grads=with_grads)
        if h_mask is not None:
            dh *= h_mask                          # the recurrence produced h, not h * mask
        return loss, dh, (proj_cache, words_cache, cell_cache, (dW_vocab, db_vocab))

    def _dropout_mask(self, shape):
        """Inverted dropout: 0 with probability p, else 1 / (1 - p), in the
        model's dtype, so that the expected input of the next layer is the
        one sampling sees."""
        keep = 1.0 - self.dropout
        return ((self.dropout_rng.random(shape) < keep) / keep).astype(self.dtype)

    # -- decoding: one step definition for greedy, sampling and beam search -----

    def _start_decoding(self, features):
        """Initial state and the word -> cell-input table, (V, kH).

        The table W_embed @ Wx + b replaces an embedding lookup and a product
        at every step by one row lookup.
        """
        if self._start is None or self._end is None:
            raise ValueError("sampling needs '<START>' and '<END>' in word_to_idx")
        p = self.params
        features = self._check_features(features)
        h0 = affine_forward(features, p["W_proj"], p["b_proj"])[0]
        state = (h0,) if self.cell_type == "rnn" else (h0, np.zeros_like(h0))
        return state, self._word_table()

    def _word_table(self):
        """W_embed @ Wx + b, (V, kH), kept between calls while the three
        weights hold the same values: comparing them costs a small share of
        the product, and sampling many batches from one model (validation,
        evaluation) then computes the table once."""
        p = self.params
        weights = (p["W_embed"], p["Wx"], p["b"])
        cached = getattr(self, "_table_cache", None)
        if cached is not None and all(w.dtype == c.dtype and np.array_equal(w, c)
                                      for w, c in zip(weights, cached[0])):
            return cached[1]
        table = p["W_embed"] @ p["Wx"] + p["b"]
        self._table_cache = (tuple(w.copy() for w in weights), table)
        return table

    def _decode_step(self, words, state, table):
        """words: (M,) ints; state: (h,) or (h, c), each (M, H).

        Returns scores (M, V) and the next state.
        """
        p = self.params
        a = table[words]                                 # (M, kH), a fresh copy
        if self.cell_type == "rnn":
            state = (rnn_cell(a, state[0], p["Wh"]),)
        else:
            state = lstm_cell(a, state[0], state[1], p["Wh"])[:2]
        return state[0] @ p["W_vocab"] + p["b_vocab"], state

    def sample(self, features, max_length=30, *, temperature=0.0, rng=None):
        """Caption each image, one word at a time from <START>.

        Inputs:
        - features: (N, D)
        - max_length: number of words generated at most
        - temperature: 0 for greedy decoding (argmax); > 0 to draw each word
          from softmax(scores / temperature)
        - rng: np.random.Generator or seed used when temperature > 0 (None:
          NumPy's global random state)

        Returns captions: (N, max_length) int32. Column 0 is the first generated
        word; a row's <END> is kept and everything after it is <NULL>. An empty
        batch (N = 0) gives an empty (0, max_length) array.
        """
        check_positive_int("max_length", max_length)
        if not (np.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        rng = random_source(rng) if temperature > 0 else None
        state, table = self._start_decoding(features)
        N = state[0].shape[0]
        captions = np.full((N, max_length), self._null, dtype=np.int32)
        active = np.arange(N)                    # rows still generating
        words = np.full(N, self._start)
        for t in range(max_length):
            scores, state = self._decode_step(words, state, table)
            words = _choose_words(scores, temperature, rng)
            captions[active, t] = words
            going = words != self._end
            if not going.all():                  # drop finished rows: less work per step
                active, words = active[going], words[going]
                state = tuple(s[going] for s in state)
                if active.size == 0:
                    break
        return captions

    def beam_search(self, features, beam_size=3, max_length=30, length_penalty=0.0):
        """Best caption of each image by beam search (see rnn_captioning/decoding.py).

        Inputs:
        - features: (N, D)
        - beam_size: hypotheses kept per image; 1 gives the greedy caption
        - max_length: words generated at most
        - length_penalty: alpha in log p / length ** alpha (0: plain log p)

        Returns a tuple of:
        - captions: (N, max_length) int32, <END> kept, <NULL> after it
        - log_probs: (N,) float64, summed log-probability of each caption
        """
        state, table = self._start_decoding(features)
        return _beam_search(
            lambda words, s: self._decode_step(words, s, table), state,
            start=self._start, end=self._end, null=self._null, beam_size=beam_size,
            max_length=max_length, length_penalty=length_penalty)

    # -- output bias at the words' log frequencies -----------------------------

    def init_output_bias(self, captions):
        """Set b_vocab to the log frequency of each word among the targets.

        A known trick (from neuraltalk): the untrained model then predicts the
        unigram distribution, which removes the loss spike of the first
        iterations. Counts are add-one smoothed so unseen words stay finite.

        - captions: (N, T) training captions; targets are captions[:, 1:]
          without <NULL>
        """
        captions = check_index_array("captions", captions, self.vocab_size, ndim=2)
        targets = captions[:, 1:]
        counts = np.bincount(targets[targets != self._null], minlength=self.vocab_size) + 1.0
        self.params["b_vocab"] = np.log(counts / counts.sum()).astype(self.dtype)

    # -- parameters and files ---------------------------------------------------

    def set_params(self, params, source="params"):
        """Replace the parameters by ``params`` (name -> array) after checking
        that the names and shapes are this model's; arrays are cast to dtype."""
        missing = set(self.params) - set(params)
        extra = set(params) - set(self.params)
        if missing or extra:
            raise ValueError(f"{source} does not fit this model: missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        for name, value in params.items():
            if not np.issubdtype(np.asarray(value).dtype, np.floating):
                raise TypeError(f"{source}: {name} has dtype {np.asarray(value).dtype}, "
                                f"expected floating point")
            if value.shape != self.params[name].shape:
                raise ValueError(f"{source}: {name} has shape {value.shape}, the model "
                                 f"expects {self.params[name].shape}")
        self.params = {name: np.array(params[name], dtype=self.dtype) for name in self.params}

    def config(self):
        """JSON-able description: everything needed to rebuild the model
        (dropout is a setting of training, not of the model: not kept)."""
        return {"word_to_idx": self.word_to_idx, "input_dim": self.input_dim,
                "wordvec_dim": self.wordvec_dim, "hidden_dim": self.hidden_dim,
                "cell_type": self.cell_type, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config, *, rng=None):
        cfg = dict(config)
        return cls(cfg.pop("word_to_idx"), dtype=np.dtype(cfg.pop("dtype")), rng=rng, **cfg)

    def save(self, path):
        """Write the model to one .npz file (arrays + JSON metadata), atomically."""
        meta = {"kind": MODEL_KIND, "format_version": FORMAT_VERSION, "model": self.config()}
        save_npz(path, self.params, meta)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; ValueError names a bad file."""
        arrays, meta = load_npz(path, MODEL_KIND)
        return cls.from_saved(arrays, meta, path)

    @classmethod
    def from_saved(cls, arrays, meta, path):
        """Rebuild a model from the arrays and metadata of a model or checkpoint
        file. Everything is checked against everything else before anything is
        built, so a file cannot make the loader allocate more than it holds."""
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported format version {meta.get('format_version')!r}")
        config = check_saved_config(meta.get("model"), path)
        check_saved_params(arrays, _config_shapes(config), config["dtype"], path)
        # rng=0: loading never consumes the caller's global random state
        model = cls.from_config(config, rng=0)
        model.set_params({k: arrays[k] for k in model.params}, source=str(path))
        return model


_CONFIG_TYPES = {"word_to_idx": dict, "input_dim": int, "wordvec_dim": int, "hidden_dim": int,
                 "cell_type": str, "dtype": str}
_FLOAT_DTYPES = ("float16", "float32", "float64")


def check_saved_config(config, path):
    """The model description of a file, checked: the keys of ``config()``, sizes
    that are positive ints, a known cell and float dtype, and a vocabulary whose
    indices are exactly 0 .. V-1. Returns it; raises ValueError naming path."""
    def bad(what):
        return ValueError(f"{path}: invalid model metadata: {what}")

    if not isinstance(config, dict) or set(config) != set(_CONFIG_TYPES):
        keys = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise bad(f"expected the keys {sorted(_CONFIG_TYPES)}, got {keys}")
    for key, kind in _CONFIG_TYPES.items():
        if not isinstance(config[key], kind) or isinstance(config[key], bool):
            raise bad(f"{key} must be a {kind.__name__}, got {config[key]!r:.80}")
    for key in ("input_dim", "wordvec_dim", "hidden_dim"):
        if config[key] < 1:
            raise bad(f"{key} must be positive, got {config[key]}")
    if config["cell_type"] not in _CELLS or config["dtype"] not in _FLOAT_DTYPES:
        raise bad(f"unknown cell_type {config['cell_type']!r:.40} or dtype "
                  f"{config['dtype']!r:.40}")
    words = config["word_to_idx"]
    indices = list(words.values())
    if not all(type(i) is int for i in indices) or sorted(indices) != list(range(len(words))):
        raise bad(f"word_to_idx must map its {len(words)} words to the indices 0 .. "
                  f"{len(words) - 1}, each once")
    if "<NULL>" not in words:
        raise bad("word_to_idx lacks '<NULL>'")
    return config


def _config_shapes(config):
    return param_shapes(config["cell_type"], len(config["word_to_idx"]), config["input_dim"],
                        config["wordvec_dim"], config["hidden_dim"])


def check_saved_params(arrays, shapes, dtype, path, prefix=""):
    """Every parameter present, of a real floating dtype and the expected
    shape; ValueError naming the file and the array otherwise."""
    for name, shape in shapes.items():
        a = arrays.get(prefix + name)
        if a is None:
            raise ValueError(f"{path} lacks the array {prefix + name!r}")
        if a.dtype.kind != "f":
            raise ValueError(f"{path}: {prefix + name} has dtype {a.dtype}, expected {dtype}")
        if a.shape != shape:
            raise ValueError(f"{path}: {prefix + name} has shape {a.shape}, the model "
                             f"described in the file needs {shape}")


def _choose_words(scores, temperature, rng):
    """Argmax of scores (M, V), or a draw from softmax(scores / temperature)."""
    if temperature == 0:
        return scores.argmax(axis=1)
    # Gumbel-max trick: argmax(log p + Gumbel noise) is a draw from p
    log_p = log_softmax(scores.astype(np.float64) / temperature)
    return (log_p + rng.gumbel(size=log_p.shape)).argmax(axis=1)
