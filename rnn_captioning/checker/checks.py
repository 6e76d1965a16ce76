"""The checks of a learner's exercise functions against the library.

For each exercise function a :class:`Spec` says how to call it on generated
inputs (float64; several shapes, N=1, T=1 and H != D among them) and names
its outputs. :func:`check_function` runs the learner's namespace (their
modules) and the library's on the same inputs and checks: the signature,
values against the library, every gradient against the library's and against
centred differences of the learner's own forward, float32 in -> float32 out,
and that no input is modified in place. When values differ, the outputs are
compared with each wrong variant of the mistakes catalogue (mistakes.py) that
concerns the function; the closest one within tolerance names the mistake.
"""
import copy
import inspect
import traceback
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import optim
import rnn_layers
from captioning_rnn import CaptioningRNN
from rnn_captioning.checker.mistakes import CATALOGUE, variant_namespace

_CHECKER_DIR = Path(__file__).resolve().parent   # frames here are ours, not the learner's

__all__ = ["SPECS", "check_function", "reference_namespace", "lookup"]

TOLERANCE = 1e-7          # learner against library, both float64
NUMERIC_TOLERANCE = 1e-5  # analytic against centred differences (step 1e-5)
MATCH_TOLERANCE = 1e-6    # learner against a catalogue variant
SHAPES = (dict(N=3, T=4, D=5, H=6), dict(N=1, T=1, D=3, H=2), dict(N=2, T=3, D=4, H=4))
MODEL_SHAPES = (dict(N=3, T=5, D=4, H=6, cell="rnn"), dict(N=1, T=2, D=3, H=2, cell="lstm"),
                dict(N=2, T=4, D=4, H=5, cell="lstm"), dict(N=2, T=3, D=3, H=4, cell="rnn"))
WORDS = {"<NULL>": 0, "<START>": 1, "<END>": 2, "<UNK>": 3, "a": 4, "cat": 5, "dog": 6}

# params: the exercise's positional parameters; make(rng, **shape) -> inputs;
# run(ns, inputs) -> outputs by name; grads: gradient output -> differentiated
# input (None: no gradients); f(ns, inputs) -> the scalar those gradients are of
Spec = namedtuple("Spec", "name params shapes make run grads f")


class NotImplementedYet(Exception):
    """The exercise's stub: raises NotImplementedError or returns None."""


def lookup(ns, name):
    """ns.name, or ns.Class.method for 'Class.method'; None when absent."""
    obj = ns
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def reference_namespace():
    """The library, shaped like a learner's modules."""
    names = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
             "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
             "word_embedding_forward", "word_embedding_backward", "temporal_affine_forward",
             "temporal_affine_backward", "temporal_softmax_loss"]
    ns = {n: getattr(rnn_layers, n) for n in names}
    ns.update({n: getattr(optim, n) for n in optim.UPDATE_RULES})
    return SimpleNamespace(CaptioningRNN=CaptioningRNN, **ns)


def _named(values, names):
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
        return getattr(ns, fwd_name)(*(inputs[p] for p in fwd_params))

    def run_forward(ns, inputs):
        out = _named(forward(ns, inputs), [*fwd_outputs, "cache"])
        del out["cache"]
        return out

    def run_backward(ns, inputs):
        cache = forward(ns, inputs)[-1]
        return _named(getattr(ns, bwd_name)(*(inputs[u] for u in upstream), cache), list(grads))

    def f(ns, inputs):
        outs = run_forward(ns, inputs)
        return sum(float(np.sum(outs[o] * inputs[u])) for o, u in zip(fwd_outputs, upstream))

    return [Spec(fwd_name, fwd_params, SHAPES, make, run_forward, None, None),
            Spec(bwd_name, (*upstream, "cache"), SHAPES, make, run_backward, grads, f)]


def _recurrent_inputs(k, step):
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


def _embedding_inputs(rng, N, T, D, H):
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
    return _named(ns.temporal_softmax_loss(inputs["x"], inputs["y"], inputs["mask"]),
                  ["loss", "dx"])


_STEP, _SEQ = ("x", "prev_h", "Wx", "Wh", "b"), ("x", "h0", "Wx", "Wh", "b")
_RECURRENT_GRADS = {"dx": "x", "dh0": "h0", "dWx": "Wx", "dWh": "Wh", "db": "b"}

LAYER_SPECS = [
    *_pair("rnn_step_forward", _STEP, ["next_h"], "rnn_step_backward", ["dnext_h"],
           {"dx": "x", "dprev_h": "prev_h", "dWx": "Wx", "dWh": "Wh", "db": "b"},
           _recurrent_inputs(1, step=True)),
    *_pair("rnn_forward", _SEQ, ["h"], "rnn_backward", ["dh"], _RECURRENT_GRADS,
           _recurrent_inputs(1, step=False)),
    *_pair("word_embedding_forward", ("x", "W"), ["out"], "word_embedding_backward", ["dout"],
           {"dW": "W"}, _embedding_inputs),
    *_pair("temporal_affine_forward", ("x", "w", "b"), ["out"], "temporal_affine_backward",
           ["dout"], {"dx": "x", "dw": "w", "db": "b"}, _affine_inputs),
    Spec("temporal_softmax_loss", ("x", "y", "mask"), SHAPES, _softmax_inputs, _softmax_run,
         {"dx": "x"}, lambda ns, inputs: _softmax_run(ns, inputs)["loss"]),
    *_pair("lstm_step_forward", ("x", "prev_h", "prev_c", "Wx", "Wh", "b"),
           ["next_h", "next_c"], "lstm_step_backward", ["dnext_h", "dnext_c"],
           {"dx": "x", "dprev_h": "prev_h", "dprev_c": "prev_c", "dWx": "Wx", "dWh": "Wh",
            "db": "b"}, _recurrent_inputs(4, step=True)),
    *_pair("lstm_forward", _SEQ, ["h"], "lstm_backward", ["dh"], _RECURRENT_GRADS,
           _recurrent_inputs(4, step=False)),
]


# -- the model ------------------------------------------------------------------------------

def _model_inputs(rng, N, T, D, H, cell):
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


def _model(ns, inputs):
    p, dtype = inputs["params"], inputs["features"].dtype
    model = ns.CaptioningRNN(dict(WORDS), input_dim=p["W_proj"].shape[0],
                             wordvec_dim=p["W_embed"].shape[1], hidden_dim=p["Wh"].shape[0],
                             cell_type=inputs["cell"], dtype=dtype)
    model.params = {k: v.copy() for k, v in p.items()}
    return model


def _model_loss(ns, inputs):
    out = _named(_model(ns, inputs).loss(inputs["features"], inputs["captions"]),
                 ["loss", "grads"])
    return {"loss": out["loss"], **{f"d{k}": out["grads"].get(k) for k in inputs["params"]}}


def _model_sample(ns, inputs):
    captions = np.array(_model(ns, inputs).sample(inputs["features"], max_length=6))
    ended = np.cumsum(captions == WORDS["<END>"], axis=1) - (captions == WORDS["<END>"])
    return {"captions": np.where(ended > 0, WORDS["<NULL>"], captions)}   # <NULL> after <END>


def _param_grads():
    names = ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")
    return {f"d{k}": ("params", k) for k in names}


MODEL_SPECS = [
    Spec("CaptioningRNN.loss", ("self", "features", "captions"), MODEL_SHAPES, _model_inputs,
         _model_loss, _param_grads(), lambda ns, inputs: _model_loss(ns, inputs)["loss"]),
    Spec("CaptioningRNN.sample", ("self", "features"), MODEL_SHAPES, _model_inputs,
         _model_sample, None, None),
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
            out[f"w after step {step}"] = np.array(w)       # a copy: w may change in place
        out.update({f"config[{k!r}]": config.get(k) for k in optim._STATE[rule] if k != "t"})
        return out
    return run


RULE_SPECS = [Spec(rule, ("w", "dw", "config"), SHAPES, _rule_inputs, _rule_run(rule), None,
                   None) for rule in optim.UPDATE_RULES]

SPECS = LAYER_SPECS + MODEL_SPECS + RULE_SPECS


# -- comparing --------------------------------------------------------------------------------

def relative_error(a, b):
    """max |a - b| / max(|a|, |b|) over all entries, scale-aware; NaN and inf
    must sit at the same places; a shape or type mismatch is inf."""
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return np.inf
    if a.shape != b.shape:
        return np.inf
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isnan(a), np.isnan(b)) or \
            not np.array_equal(a[~finite & ~np.isnan(a)], b[~finite & ~np.isnan(b)]):
        return np.inf
    if not finite.any():
        return 0.0
    scale = max(np.abs(a[finite]).max(), np.abs(b[finite]).max(), 1e-12)
    return float(np.abs(a[finite] - b[finite]).max() / scale)


def _worst(errors, outs, refs):
    for k, ref in refs.items():
        errors[k] = max(errors.get(k, 0.0), relative_error(outs.get(k), ref))


def _unchanged(a, b):
    if isinstance(a, dict):
        return all(_unchanged(a[k], b[k]) for k in a)
    return np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def _at(inputs, path):
    return inputs[path] if isinstance(path, str) else inputs[path[0]][path[1]]


def numeric_gradient(f, ns, inputs, path, h=1e-5):
    """Centred differences of the scalar f(ns, inputs) in the input at path."""
    x = _at(inputs, path)
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        plus = f(ns, inputs)
        x[ix] = old - h
        minus = f(ns, inputs)
        x[ix] = old
        grad[ix] = (plus - minus) / (2 * h)
    return grad


def _float32(inputs):
    if isinstance(inputs, dict):
        return {k: _float32(v) for k, v in inputs.items()}
    if isinstance(inputs, np.ndarray) and inputs.dtype == np.float64:
        return inputs.astype(np.float32)
    return inputs


# -- one function -----------------------------------------------------------------------------

def _signature_ok(fn, spec):
    """Takes the exercise's positional arguments (other names are fine)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if spec.params[0] == "self":
        params = params[1:] if params and params[0].name == "self" else params
        wanted = len(spec.params) - 1
    else:
        wanted = len(spec.params)
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) <= wanted <= len(positional)


def check_function(spec, learner, reference=None, seed=0):
    """Check the learner's version of one exercise function.

    - spec: one of SPECS
    - learner, reference: namespaces of functions (and CaptioningRNN)

    Returns a dict: name, status ('pass', 'fail', 'missing', 'crashed'),
    score (share of the checks passed), errors (worst relative error per
    output against the library), checks (name -> passed), message, diagnosis.
    """
    result = {"name": spec.name, "status": "missing", "score": 0.0, "errors": {},
              "checks": {}, "message": "", "diagnosis": None}
    fn = lookup(learner, spec.name)
    if fn is None:
        result["message"] = "not found in the given files"
        return result
    reference = reference or reference_namespace()
    try:
        _run_checks(spec, learner, reference, seed, result, fn)
    except NotImplementedYet as e:
        result.update(status="missing", message=str(e))
        return result
    except Exception as e:      # the learner's code may raise anything: report it
        result.update(status="crashed", message=_crash_message(e))
        return result
    checks = result["checks"]
    result["score"] = round(sum(checks.values()) / len(checks), 3)
    result["status"] = "pass" if all(checks.values()) else "fail"
    result["message"] = _failure_message(result)
    return result


def _run_checks(spec, learner, reference, seed, result, fn):
    checks, errors, numeric = result["checks"], result["errors"], {}
    checks["signature"] = _signature_ok(fn, spec)
    cases = [spec.make(np.random.default_rng(seed + i), **shape)
             for i, shape in enumerate(spec.shapes)]
    learner_outs, unchanged = [], True
    for inputs in cases:
        before = copy.deepcopy(inputs)
        outs = spec.run(learner, inputs)
        unchanged = unchanged and _unchanged(inputs, before)
        learner_outs.append(outs)
        _worst(errors, outs, spec.run(reference, copy.deepcopy(before)))
        for name, path in (spec.grads or {}).items():
            # centred differences of the learner's own forward: is the
            # backward the derivative of the forward the learner wrote?
            num = numeric_gradient(spec.f, learner, copy.deepcopy(before), path)
            numeric[name] = max(numeric.get(name, 0.0), relative_error(outs[name], num))
    checks["values"] = all(e < TOLERANCE for e in errors.values())
    if numeric:
        checks["gradients vs centred differences"] = all(
            e < NUMERIC_TOLERANCE for e in numeric.values())
        result["numeric_errors"] = numeric
    checks["inputs unchanged"] = unchanged
    outs32 = spec.run(learner, _float32(cases[0]))
    checks["float32 in, float32 out"] = all(
        v.dtype == np.float32 for v in outs32.values()
        if isinstance(v, np.ndarray) and v.dtype.kind == "f")
    if not checks["values"]:
        result["diagnosis"] = diagnose(spec, cases, learner_outs)


def diagnose(spec, cases, learner_outs):
    """The catalogue mistake whose variant reproduces the learner's outputs on
    every case (closest first), as a dict id/description/equation/error, or None."""
    best = None
    for mistake in CATALOGUE:
        if spec.name not in mistake.functions:
            continue
        variant, errors = variant_namespace({mistake.id}), {}
        try:
            for inputs, outs in zip(cases, learner_outs):
                _worst(errors, outs, spec.run(variant, copy.deepcopy(inputs)))
        except Exception:       # a variant may not apply to these inputs
            continue
        error = max(errors.values(), default=np.inf)
        if error < MATCH_TOLERANCE and (best is None or error < best["error"]):
            best = {"id": mistake.id, "description": mistake.description,
                    "equation": mistake.equation, "error": error}
    return best


def _crash_message(e):
    """The exception and the learner's line that raised it (the deepest frame
    outside this checker and NumPy)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if Path(f.filename).resolve().parent != _CHECKER_DIR
              and "numpy" not in f.filename]
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno} " \
            f"({frames[-1].line})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def _failure_message(result):
    failed = [name for name, ok in result["checks"].items() if not ok]
    if not failed:
        return ""
    return "failed: " + ", ".join(failed)
