"""The cases each exercise function is checked on, and how it is called.

For each exercise function a :class:`Spec` says how to make its inputs
(float64; several shapes, N=1, T=1 and H != D among them), how to call it on a
namespace shaped like a learner's modules (theirs, the library's or a
catalogue variant's) and what its outputs are called. The PyTorch edition's
checks (:mod:`torch_checks`) run the same cases as tensors.
"""
from collections import namedtuple

import numpy as np

from rnn_captioning.checker.remote import Remote
from rnn_captioning.checker.sandbox import RULES

__all__ = ["SPECS", "Spec", "SHAPES", "MODEL_SHAPES", "SAMPLE_SHAPES", "WORDS",
           "NotImplementedYet", "lookup", "case_label", "at", "named", "new_result"]

SHAPES = (dict(N=3, T=4, D=5, H=6), dict(N=1, T=1, D=3, H=2), dict(N=2, T=3, D=4, H=4))
MODEL_SHAPES = (dict(N=3, T=5, D=4, H=6, cell="rnn"), dict(N=1, T=3, D=3, H=2, cell="lstm"),
                dict(N=2, T=4, D=4, H=5, cell="lstm"), dict(N=2, T=3, D=3, H=4, cell="rnn"))
# sampling: enough images, words and steps that every wrong decoding shows
SAMPLE_SHAPES = (dict(N=6, T=8, D=5, H=7, cell="rnn"), dict(N=6, T=8, D=5, H=7, cell="lstm"),
                 dict(N=1, T=5, D=3, H=4, cell="lstm"), dict(N=4, T=6, D=4, H=9, cell="rnn"))
WORDS = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, "a": 4, "cat": 5, "dog": 6,
         "red": 7, "big": 8, "on": 9, "the": 10, "mat": 11}

# params: the exercise's positional parameters; make(rng, **shape) -> inputs;
# run(ns, inputs) -> outputs by name; grads: gradient output -> differentiated
# input (None: no gradients); f(ns, inputs) -> the scalar those gradients are of
Spec = namedtuple("Spec", "name params shapes make run grads f")


class NotImplementedYet(Exception):
    """The exercise's stub: raises NotImplementedError, returns None, or the
    template's placeholder values."""



def lookup(ns, name):
    """ns.name, or ns.Class.method for 'Class.method'; None when absent."""
    obj = ns
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj



def named(values, names):
    """A function's returned values by name; stubs and wrong arities refused."""
    values = values if isinstance(values, tuple) else (values,)
    if all(v is None for v in values):
        raise NotImplementedYet("returns None (not implemented yet?)")
    if len(values) != len(names):
        raise TypeError(f"returns {len(values)} values; the exercise's returns "
                        f"{len(names)} ({', '.join(names)})")
    return dict(zip(names, values))


# -- layer functions: forward/backward pairs -----------------------------------------------

def _pair(fwd_name, fwd_params, fwd_outputs, bwd_name, upstream, grads, make):
    """Specs of a forward and its backward; the backward runs on the cache of
    the same namespace's forward, and its gradients are of sum(out * upstream)."""
    def forward(ns, inputs):
        fn, args = getattr(ns, fwd_name), [inputs[p] for p in fwd_params]
        # a learner's cache stays in their process: only its handle comes here
        return fn.call_keeping_last(*args) if isinstance(fn, Remote) else fn(*args)

    def run_forward(ns, inputs):
        out = named(forward(ns, inputs), [*fwd_outputs, "cache"])
        del out["cache"]
        return out

    def run_backward(ns, inputs):
        cache = forward(ns, inputs)[-1]
        return named(getattr(ns, bwd_name)(*(inputs[u] for u in upstream), cache), list(grads))

    def reduce(values, inputs):
        return sum(float(np.sum(v * inputs[u])) for v, u in zip(values, upstream))

    def f(ns, inputs):
        outs = run_forward(ns, inputs)
        return reduce([outs[o] for o in fwd_outputs], inputs)

    f.in_child = _perturbed_call(fwd_name, fwd_params, reduce)

    return [Spec(fwd_name, fwd_params, SHAPES, make, run_forward, None, None),
            Spec(bwd_name, (*upstream, "cache"), SHAPES, make, run_backward, grads, f)]


# A spec's scalar f (of which its gradients are) may carry ``f.in_child(ns,
# inputs, path, h)``: f at the input at ``path`` moved by +h and then -h at each
# entry in turn (2 * size scalars), where the learner's process makes all the
# calls in one request and returns their raw values (checks.numeric_gradient)

def _perturbed_call(name, params, reduce):
    """in_child for an f that is reduce(the values but the last that the
    function ``name`` returns on the inputs ``params``, inputs)."""
    def in_child(ns, inputs, path, h):
        values = getattr(ns, name).perturbed([inputs[p] for p in params], params.index(path), h)
        return [reduce(v, inputs) for v in values]
    return in_child


def recurrent_inputs(k, step):
    """Inputs of the RNN (k=1) or LSTM (k=4) step or sequence functions."""
    def make(rng, N, T, D, H):
        inputs = {"Wx": rng.standard_normal((D, k * H)) * 0.5,
                  "Wh": rng.standard_normal((H, k * H)) * 0.5,
                  "b": rng.standard_normal(k * H) * 0.3}
        if step:
            inputs.update(x=rng.standard_normal((N, D)), prev_h=rng.standard_normal((N, H)),
                          dnext_h=rng.standard_normal((N, H)))
            if k == 4:
                inputs.update(prev_c=rng.standard_normal((N, H)),
                              dnext_c=rng.standard_normal((N, H)))
        else:
            inputs.update(x=rng.standard_normal((N, T, D)), h0=rng.standard_normal((N, H)),
                          dh=rng.standard_normal((N, T, H)))
        return inputs
    return make


def embedding_inputs(rng, N, T, D, H):
    V = 3                                           # few words, so words repeat
    return {"x": rng.integers(V, size=(N, T)), "W": rng.standard_normal((V, D)),
            "dout": rng.standard_normal((N, T, D))}


def _affine_inputs(rng, N, T, D, H):
    return {"x": rng.standard_normal((N, T, D)), "w": rng.standard_normal((D, H)),
            "b": rng.standard_normal(H), "dout": rng.standard_normal((N, T, H))}


def _softmax_inputs(rng, N, T, D, H):
    V = H + 1
    mask = rng.random((N, T)) > 0.3
    mask[0, 0] = True                               # at least one target counts
    x = rng.standard_normal((N, T, V))
    if N == 2:      # scores where exp overflows unless the row max is subtracted
        x += 800.0
    return {"x": x, "y": rng.integers(V, size=(N, T)), "mask": mask}


def _softmax_run(ns, inputs):
    return named(ns.temporal_softmax_loss(inputs["x"], inputs["y"], inputs["mask"]),
                  ["loss", "dx"])


def _softmax_loss(ns, inputs):
    return _softmax_run(ns, inputs)["loss"]


_softmax_loss.in_child = _perturbed_call("temporal_softmax_loss", ("x", "y", "mask"),
                                         lambda values, inputs: values[0])
_STEP, _SEQ = ("x", "prev_h", "Wx", "Wh", "b"), ("x", "h0", "Wx", "Wh", "b")
_RECURRENT_GRADS = {"dx": "x", "dh0": "h0", "dWx": "Wx", "dWh": "Wh", "db": "b"}

LAYER_SPECS = [
    *_pair("rnn_step_forward", _STEP, ["next_h"], "rnn_step_backward", ["dnext_h"],
           {"dx": "x", "dprev_h": "prev_h", "dWx": "Wx", "dWh": "Wh", "db": "b"},
           recurrent_inputs(1, step=True)),
    *_pair("rnn_forward", _SEQ, ["h"], "rnn_backward", ["dh"], _RECURRENT_GRADS,
           recurrent_inputs(1, step=False)),
    *_pair("word_embedding_forward", ("x", "W"), ["out"], "word_embedding_backward", ["dout"],
           {"dW": "W"}, embedding_inputs),
    *_pair("temporal_affine_forward", ("x", "w", "b"), ["out"], "temporal_affine_backward",
           ["dout"], {"dx": "x", "dw": "w", "db": "b"}, _affine_inputs),
    Spec("temporal_softmax_loss", ("x", "y", "mask"), SHAPES, _softmax_inputs, _softmax_run,
         {"dx": "x"}, _softmax_loss),
    *_pair("lstm_step_forward", ("x", "prev_h", "prev_c", "Wx", "Wh", "b"),
           ["next_h", "next_c"], "lstm_step_backward", ["dnext_h", "dnext_c"],
           {"dx": "x", "dprev_h": "prev_h", "dprev_c": "prev_c", "dWx": "Wx", "dWh": "Wh",
            "db": "b"}, recurrent_inputs(4, step=True)),
    *_pair("lstm_forward", _SEQ, ["h"], "lstm_backward", ["dh"], _RECURRENT_GRADS,
           recurrent_inputs(4, step=False)),
]


# -- the model ------------------------------------------------------------------------------

def model_inputs(rng, N, T, D, H, cell):
    V, W, k = len(WORDS), 3, 4 if cell == "lstm" else 1
    params = {"W_proj": rng.standard_normal((D, H)), "b_proj": rng.standard_normal(H) * 0.1,
              "W_embed": rng.standard_normal((V, W)), "Wx": rng.standard_normal((W, k * H)),
              "Wh": rng.standard_normal((H, k * H)) * 0.5, "b": rng.standard_normal(k * H) * 0.1,
              "W_vocab": rng.standard_normal((H, V)), "b_vocab": rng.standard_normal(V) * 0.1}
    captions = rng.integers(4, V, size=(N, T))
    captions[:, 0] = WORDS["<START>"]
    captions[0, -1] = WORDS["<NULL>"]               # padding: the mask must drop it
    return {"features": rng.standard_normal((N, D)), "captions": captions, "cell": cell,
            "params": params}


def _model_arguments(inputs):
    p = inputs["params"]
    return [dict(WORDS)], dict(input_dim=p["W_proj"].shape[0], wordvec_dim=p["W_embed"].shape[1],
                               hidden_dim=p["Wh"].shape[0], cell_type=inputs["cell"],
                               dtype=inputs["features"].dtype)


def _model(ns, inputs):
    args, kwargs = _model_arguments(inputs)
    model = ns.CaptioningRNN(*args, **kwargs)
    model.params = {k: v.copy() for k, v in inputs["params"].items()}
    return model


def model_loss(ns, inputs):
    out = named(_model(ns, inputs).loss(inputs["features"], inputs["captions"]),
                 ["loss", "grads"])
    if not out["grads"] and not out["loss"]:
        raise NotImplementedYet("returns the template's loss 0.0 and no gradients "
                                "(not implemented yet?)")
    return {"loss": out["loss"], **{f"d{k}": out["grads"].get(k) for k in inputs["params"]}}


def _model_loss(ns, inputs):
    return model_loss(ns, inputs)["loss"]


def _model_loss_in_child(ns, inputs, path, h):
    args, kwargs = _model_arguments(inputs)
    values = ns.CaptioningRNN.perturbed_model(args, kwargs, inputs["params"], path[1],
                                              [inputs["features"], inputs["captions"]], h)
    return [v[0] for v in values]


_model_loss.in_child = _model_loss_in_child


def sample_inputs(rng, N, T, D, H, cell):
    """Random weights whose greedy captions vary over images and steps (a
    recurrence strong enough not to settle on one word); the special words
    are never the best choice, but <END> sometimes is."""
    inputs = model_inputs(rng, N, T, D, H, cell)
    p = inputs["params"]
    p["Wh"] = rng.standard_normal(p["Wh"].shape) * 3.0 / np.sqrt(H)
    p["b_vocab"][[WORDS["<NULL>"], WORDS["<START>"]]] = -50.0
    p["b_vocab"][WORDS["<END>"]] -= 1.5
    inputs["max_length"] = T
    return inputs


def model_sample(ns, inputs):
    return masked_captions(_model(ns, inputs).sample(inputs["features"],
                                                      max_length=inputs["max_length"]),
                           inputs["max_length"])


def masked_captions(captions, length=None):
    """{'captions': (N, length)}: each caption's words up to its first <END>,
    then <NULL>s. The exercise lets a learner stop writing at <END> (or write
    <END> itself or not, or stop the loop once every caption has ended), so
    only the words before it count; a shorter array is padded with <NULL>.
    The template's all-<NULL> answer is not implemented yet."""
    captions = np.array(captions)
    if captions.size and np.all(captions == WORDS["<NULL>"]):
        raise NotImplementedYet("returns only <NULL> (not implemented yet?)")
    if captions.ndim != 2:
        return {"captions": captions}
    ended = np.cumsum(captions == WORDS["<END>"], axis=1) > 0
    words = np.where(ended, WORDS["<NULL>"], captions)
    finished = ended[:, -1] | (captions[:, -1] == WORDS["<NULL>"]) if captions.shape[1] else []
    if length is not None and words.shape[1] < length and np.all(finished):
        words = np.pad(words, ((0, 0), (0, length - words.shape[1])))   # <NULL> is 0
    return {"captions": words}


def _param_grads():
    names = ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")
    return {f"d{k}": ("params", k) for k in names}


MODEL_SPECS = [
    Spec("CaptioningRNN.loss", ("self", "features", "captions"), MODEL_SHAPES, model_inputs,
         model_loss, _param_grads(), _model_loss),
    Spec("CaptioningRNN.sample", ("self", "features"), SAMPLE_SHAPES, sample_inputs,
         model_sample, None, None),
]


# -- update rules -------------------------------------------------------------------------

def _rule_inputs(rng, N, T, D, H):
    return {"w": rng.standard_normal((D, H)), "dws": rng.standard_normal((3, D, H))}


def _rule_run(rule):
    def run(ns, inputs):
        # a copy of w: the exercise's own sgd updates w in place, which is fine
        w, config, out = inputs["w"].copy(), {"learning_rate": 1e-2}, {}
        for step, dw in enumerate(inputs["dws"], 1):
            w, config = getattr(ns, rule)(w, dw, config)
            if w is None:
                raise NotImplementedYet("returns None for the next w (not implemented yet?)")
            out[f"w after step {step}"] = np.array(w)       # a copy: w may change in place
        out.update({f"config[{k!r}]": config.get(k) for k in _STATE[rule]})
        return out
    return run


# the state each rule keeps in config, as the exercise names it (t is not compared:
# a learner may count from 0 or 1, which the updates themselves show)
_STATE = {"sgd": (), "sgd_momentum": ("velocity",), "rmsprop": ("cache",), "adam": ("m", "v")}
RULE_SPECS = [Spec(rule, ("w", "dw", "config"), SHAPES, _rule_inputs, _rule_run(rule), None,
                   None) for rule in RULES]

SPECS = LAYER_SPECS + MODEL_SPECS + RULE_SPECS


def case_label(shape):
    """'cell_type=lstm, N=1, T=2, D=3, H=2' for a case's shape dict."""
    parts = [f"cell_type={shape['cell']}"] if "cell" in shape else []
    return ", ".join(parts + [f"{k}={v}" for k, v in shape.items() if k != "cell"])


def at(inputs, path):
    """The input at ``path``: a name, or (dict name, key) for the model's params."""
    return inputs[path] if isinstance(path, str) else inputs[path[0]][path[1]]


def new_result(name, status="absent", message=""):
    """A function's result dict, before any check (see checks.check_function)."""
    return {"name": name, "status": status, "score": 0.0, "errors": {}, "checks": {},
            "notes": [], "message": message, "diagnosis": None, "diagnoses": [],
            "explanation": None}
