"""The checks of a learner's exercise functions against the library.

For each exercise function a :class:`Spec` says how to call it on generated
inputs (float64; several shapes, N=1, T=1 and H != D among them) and names
its outputs. :func:`check_function` runs the learner's namespace (their
module) and the library's on the same inputs and checks the signature, values
against the library, and every gradient against centred differences of the
learner's own forward. What the exercise does not ask for is a note that never
fails a function: float64 results for float32 inputs, an input changed in
place, Adam in the paper's form. When values differ, :mod:`diagnosis` names
the catalogue mistakes that reproduce the outputs.
"""
import copy
import inspect
import traceback
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from rnn_captioning.checker.diagnosis import accepted_form, diagnose, relative_error, worst
from rnn_captioning.checker.loading import LAYER_FUNCTIONS, RULES
from rnn_captioning.checker.reference import EXERCISE_MODULES, LIBRARY_ROOT, library

_PACKAGE_DIR = Path(__file__).resolve().parents[1]   # frames here are ours, not the learner's

__all__ = ["SPECS", "check_function", "reference_namespace", "lookup", "NotImplementedYet"]

TOLERANCE = 1e-7          # learner against library, both float64
NUMERIC_TOLERANCE = 1e-5  # analytic against centred differences (step 1e-5)
MATCH_TOLERANCE = 1e-6    # learner against a catalogue variant
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


class CaseError(Exception):
    """The learner's code raised on one case; says which."""


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
    lib = library()
    ns = {n: getattr(lib.rnn_layers, n) for n in LAYER_FUNCTIONS}
    ns.update({n: getattr(lib.optim, n) for n in RULES})
    return SimpleNamespace(CaptioningRNN=lib.captioning_rnn.CaptioningRNN, **ns)


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
    if not out["grads"] and not out["loss"]:
        raise NotImplementedYet("returns the template's loss 0.0 and no gradients "
                                "(not implemented yet?)")
    return {"loss": out["loss"], **{f"d{k}": out["grads"].get(k) for k in inputs["params"]}}


def _sample_inputs(rng, N, T, D, H, cell):
    """Random weights whose greedy captions vary over images and steps (a
    recurrence strong enough not to settle on one word); the special words
    are never the best choice, but <END> sometimes is."""
    inputs = _model_inputs(rng, N, T, D, H, cell)
    p = inputs["params"]
    p["Wh"] = rng.standard_normal(p["Wh"].shape) * 3.0 / np.sqrt(H)
    p["b_vocab"][[WORDS["<NULL>"], WORDS["<START>"]]] = -50.0
    p["b_vocab"][WORDS["<END>"]] -= 1.5
    inputs["max_length"] = T
    return inputs


def _model_sample(ns, inputs):
    return _masked_captions(_model(ns, inputs).sample(inputs["features"],
                                                      max_length=inputs["max_length"]))


def _masked_captions(captions):
    """{'captions': (N, L)} with <NULL> after each <END> (a learner may stop
    there or go on); the template's all-<NULL> answer is not implemented yet."""
    captions = np.array(captions)
    if captions.size and np.all(captions == WORDS["<NULL>"]):
        raise NotImplementedYet("returns only <NULL> (not implemented yet?)")
    ended = np.cumsum(captions == WORDS["<END>"], axis=1) - (captions == WORDS["<END>"])
    return {"captions": np.where(ended > 0, WORDS["<NULL>"], captions)}


def _param_grads():
    names = ("W_proj", "b_proj", "W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab")
    return {f"d{k}": ("params", k) for k in names}


MODEL_SPECS = [
    Spec("CaptioningRNN.loss", ("self", "features", "captions"), MODEL_SHAPES, _model_inputs,
         _model_loss, _param_grads(), lambda ns, inputs: _model_loss(ns, inputs)["loss"]),
    Spec("CaptioningRNN.sample", ("self", "features"), SAMPLE_SHAPES, _sample_inputs,
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


# -- running the cases ------------------------------------------------------------------------

def _at(inputs, path):
    return inputs[path] if isinstance(path, str) else inputs[path[0]][path[1]]


def numeric_gradient(f, ns, inputs, path, h=1e-5):
    """Centred differences of the scalar f(ns, inputs) in the input at path;
    f gets a copy each time, so code that changes its inputs cannot skew them."""
    x = _at(inputs, path)
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        x[ix] = old + h
        plus = f(ns, copy.deepcopy(inputs))
        x[ix] = old - h
        minus = f(ns, copy.deepcopy(inputs))
        x[ix] = old
        grad[ix] = (plus - minus) / (2 * h)
    return grad


def _float32(inputs):
    if isinstance(inputs, dict):
        return {k: _float32(v) for k, v in inputs.items()}
    if isinstance(inputs, np.ndarray) and inputs.dtype == np.float64:
        return inputs.astype(np.float32)
    return inputs


def _changed(inputs, before, prefix=""):
    """Names of the inputs the learner's code changed in place."""
    names = []
    for k, old in before.items():
        new = inputs[k]
        if isinstance(old, dict):
            names += _changed(new, old, prefix=f"{k}.")
        elif isinstance(old, np.ndarray) and not np.array_equal(new, old, equal_nan=True):
            names.append(prefix + k)
    return names


def case_label(shape):
    """'cell_type=lstm, N=1, T=2, D=3, H=2' for a case's shape dict."""
    parts = [f"cell_type={shape['cell']}"] if "cell" in shape else []
    return ", ".join(parts + [f"{k}={v}" for k, v in shape.items() if k != "cell"])


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


# -- one function -----------------------------------------------------------------------------

def check_function(spec, learner, reference=None, seed=0):
    """Check the learner's version of one exercise function.

    - spec: one of SPECS
    - learner, reference: namespaces of functions (and CaptioningRNN)

    Returns a dict: name, status ('pass', 'fail', 'crashed', 'todo': not
    implemented yet, 'absent': not in the namespace), score (share of the
    checks passed), errors (worst relative error per output against the
    library), checks (name -> passed), notes (what the exercise does not ask
    for: never a failure), message, diagnosis (the first of diagnoses: the
    catalogue mistakes the outputs reproduce).
    """
    result = {"name": spec.name, "status": "absent", "score": 0.0, "errors": {},
              "checks": {}, "notes": [], "message": "", "diagnosis": None, "diagnoses": []}
    fn = lookup(learner, spec.name)
    if fn is None:
        result["message"] = "not in the given files"
        return result
    reference = reference or reference_namespace()
    try:
        _run_checks(spec, learner, reference, seed, result, fn)
    except NotImplementedYet as e:
        result.update(status="todo", message=str(e))
        return result
    except CaseError as e:
        result.update(status="crashed", message=str(e))
        return result
    checks = result["checks"]
    result["score"] = round(sum(checks.values()) / len(checks), 3)
    result["status"] = "pass" if all(checks.values()) else "fail"
    result["message"] = _failure_message(result)
    return result


def _run_case(spec, ns, inputs, label):
    """spec.run on one case; stubs say so, anything else the learner's code
    raises is a CaseError naming the case."""
    try:
        return spec.run(ns, inputs)
    except NotImplementedYet:
        raise
    except NotImplementedError as e:
        raise NotImplementedYet(f"raises NotImplementedError{f': {e}' if str(e) else ''} "
                                f"(not implemented yet)") from e
    except Exception as e:      # the learner's code may raise anything: report it
        raise CaseError(f"{_crash_message(e)} [case: {label}]") from e


def _run_checks(spec, learner, reference, seed, result, fn):
    checks, errors, numeric, notes = result["checks"], result["errors"], {}, result["notes"]
    checks["signature"] = _signature_ok(fn, spec)
    cases, learner_outs, changed, todo = [], [], set(), []
    for i, shape in enumerate(spec.shapes):
        inputs, label = spec.make(np.random.default_rng(seed + i), **shape), case_label(shape)
        before = copy.deepcopy(inputs)
        try:
            outs = _run_case(spec, learner, inputs, label)
        except (NotImplementedYet, CaseError) as e:
            cell = shape.get("cell")
            if cell is None or (isinstance(e, CaseError) and not _cell_is_stub(learner, cell)):
                raise
            todo.append((cell, str(e)))      # one cell done, the other not yet
            continue
        changed.update(_changed(inputs, before))
        cases.append(before)
        learner_outs.append(outs)
        worst(errors, outs, spec.run(reference, copy.deepcopy(before)))
        for name, path in (spec.grads or {}).items():
            # centred differences of the learner's own forward: is the
            # backward the derivative of the forward the learner wrote?
            num = numeric_gradient(spec.f, learner, copy.deepcopy(before), path)
            numeric[name] = max(numeric.get(name, 0.0), relative_error(outs[name], num))
    if not cases:
        raise NotImplementedYet(todo[0][1])
    for cell in sorted({c for c, _ in todo}):
        notes.append(f"the {cell.upper()} case is not implemented yet: only the other cell "
                     f"was checked")
    checks["values"] = all(e < TOLERANCE for e in errors.values())
    if not checks["values"]:
        form, form_errors = accepted_form(spec, cases, learner_outs, TOLERANCE)
        if form is not None:
            checks["values"] = True
            errors.update(form_errors)
            notes.append(f"{form.description}: accepted, both are the published algorithm")
    if numeric:
        checks["gradients vs centred differences"] = all(
            e < NUMERIC_TOLERANCE for e in numeric.values())
        result["numeric_errors"] = numeric
    if changed:
        notes.append(f"warning: changes its input{'s' if len(changed) > 1 else ''} "
                     f"{', '.join(sorted(changed))} in place (the caller's array is modified)")
    notes.extend(_dtype_note(spec, learner, cases[0], shape_label=case_label(spec.shapes[0])))
    if not checks["values"]:
        result["diagnoses"] = diagnose(spec, cases, learner_outs, errors)
        result["diagnosis"] = result["diagnoses"][0] if result["diagnoses"] else None


def _cell_is_stub(ns, cell):
    """Whether the learner's step or sequence function of ``cell``, as the
    model file sees it, is still the template's stub."""
    rng, k = np.random.default_rng(0), 4 if cell == "lstm" else 1
    N, T, D, H = 2, 2, 3, 2
    Wx, Wh, b = rng.standard_normal((D, k * H)), rng.standard_normal((H, k * H)), np.zeros(k * H)
    h = rng.standard_normal((N, H))
    calls = {f"{cell}_forward": (rng.standard_normal((N, T, D)), h, Wx, Wh, b),
             f"{cell}_step_forward": (rng.standard_normal((N, D)), h) + ((h,) if k == 4 else ())
             + (Wx, Wh, b)}
    for name, args in calls.items():
        fn = getattr(ns, name, None)
        if fn is None:
            continue
        try:
            out = fn(*args)
        except NotImplementedError:
            return True
        except Exception:
            continue
        if out is None or (isinstance(out, tuple) and all(v is None for v in out)):
            return True
    return False


def _dtype_note(spec, learner, inputs, shape_label):
    """A note when float32 inputs give float64 results: the exercise does not
    ask for float32 to be kept, so this never fails a function."""
    try:
        outs32 = _run_case(spec, learner, _float32(inputs), shape_label)
    except (NotImplementedYet, CaseError) as e:
        return [f"with float32 inputs it raises {e}"]
    wide = sorted(k for k, v in outs32.items()
                  if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.dtype != np.float32)
    if not wide:
        return []
    return [f"float32 inputs give float64 {', '.join(wide)} (fine for the exercise; "
            f"np.zeros(shape, dtype=x.dtype) keeps float32)"]


def _is_library(filename):
    path = Path(filename).resolve()
    return (path.parent == LIBRARY_ROOT and path.stem in EXERCISE_MODULES) \
        or _PACKAGE_DIR in path.parents or "numpy" in path.parts or "scipy" in path.parts


def _crash_message(e):
    """The exception and the learner's line that raised it (the deepest frame
    outside the library, the checker and NumPy), and where it finally raised
    when that is elsewhere: a provided function called with a wrong input."""
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if not _is_library(f.filename)]
    if not mine:
        return f"{type(e).__name__}: {e}"
    f = mine[-1]
    where = f" at {Path(f.filename).name}:{f.lineno} ({f.line})"
    if frames[-1] is not f:
        where += f", inside {Path(frames[-1].filename).name}'s {frames[-1].name}"
    return f"{type(e).__name__}: {e}{where}"


def _failure_message(result):
    failed = [name for name, ok in result["checks"].items() if not ok]
    if not failed:
        return ""
    return "failed: " + ", ".join(failed)
