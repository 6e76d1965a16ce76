"""The checks of a learner's PyTorch-edition functions (``rnn_layers_pytorch.py``,
``classifiers/rnn_pytorch.py``) against the library.

The edition's learners write forward functions on tensors; autograd does the
backward. Each function runs on the NumPy cases of :mod:`checks` turned into
tensors, and is checked for: the signature; values against the library on
float64 tensors; every autograd gradient (of a random projection of the
outputs) against the library's analytic backward; an autograd graph that
reaches every input (a ``.numpy()``, ``.item()``, ``.detach()`` or
``torch.tensor(x)`` inside cuts it); the float32 case giving float32 results
of the same values (dtype-agnostic code, as the 2026 notebook asks). Forward
mistakes of the catalogue are named as for NumPy code; what is particular to
tensor code (a fixed dtype, a cut graph, an in-place change autograd needs)
is named from how the code behaves.
"""
import copy
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from rnn_captioning.checker import cases, checks
from rnn_captioning.checker.cases import NotImplementedYet, at, case_label, named
from rnn_captioning.checker.checks import reference_namespace
from rnn_captioning.checker.explain import explain
from rnn_captioning.checker.diagnosis import diagnose, worst
from rnn_captioning.checker.remote import NewTensor, RemoteTensor, TorchDtype

__all__ = ["TORCH_SPECS", "check_torch_function"]

FLOAT32_TOLERANCE = 1e-4    # float32 tensors against the float64 library

# run(ns, tensors) -> output tensors by name; ref(ns, inputs) -> the same outputs
# from a NumPy namespace (the library's or a catalogue variant's); grads: output
# or input path -> the library's gradient of it; upstream: output -> projection
TorchSpec = namedtuple("TorchSpec", "name params shapes make run ref ref_grads upstream")

TENSOR_MISTAKES = {
    "fixed_dtype": ("a tensor made inside the function has a fixed dtype (torch.zeros(...) "
                    "without dtype=, .double(), .float(), torch.tensor(...) of Python floats), "
                    "so another dtype breaks or changes",
                    "every tensor created inside takes its dtype (and device) from the inputs: "
                    "torch.zeros(shape, dtype=x.dtype, device=x.device)"),
    "graph_cut": ("the autograd graph is cut: .numpy(), .item(), .detach(), torch.tensor(x) "
                  "or torch.from_numpy(...) inside makes a copy autograd cannot see through",
                  "outputs computed with torch operations from the inputs"),
    "in_place": ("an in-place operation (+=, x[...] = ..., .add_()) changes a tensor that "
                 "autograd needs for the backward",
                 "out-of-place operations, or torch.stack of the per-step results"),
}


def _diag(key, outputs=()):
    description, equation = TENSOR_MISTAKES[key]
    return {"id": f"torch_{key}", "description": description, "equation": equation,
            "error": None, "outputs": list(outputs)}


# -- layer functions -------------------------------------------------------------------------

def _layer(name, params, outputs, backward, upstream, make):
    def run(ns, t):
        return named(getattr(ns, name)(*(t[p] for p in params)), outputs)

    def ref(ns, inputs):
        out = getattr(ns, name)(*(inputs[p] for p in params))
        return dict(zip(outputs, out[:-1]))

    def ref_grads(inputs):
        lib = reference_namespace()
        cache = getattr(lib, name)(*(inputs[p] for p in params))[-1]
        grads = getattr(lib, backward)(*(inputs[upstream[o]] for o in outputs), cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return dict(zip([p for p in params if inputs[p].dtype.kind == "f"], grads))

    return TorchSpec(name, params, cases.SHAPES, make, run, ref, ref_grads, upstream)


_STEP, _SEQ = ("x", "prev_h", "Wx", "Wh", "b"), ("x", "h0", "Wx", "Wh", "b")
LAYER_SPECS = [
    _layer("rnn_step_forward", _STEP, ["next_h"], "rnn_step_backward", {"next_h": "dnext_h"},
           cases.recurrent_inputs(1, step=True)),
    _layer("rnn_forward", _SEQ, ["h"], "rnn_backward", {"h": "dh"},
           cases.recurrent_inputs(1, step=False)),
    _layer("word_embedding_forward", ("x", "W"), ["out"], "word_embedding_backward",
           {"out": "dout"}, cases.embedding_inputs),
    _layer("lstm_step_forward", ("x", "prev_h", "prev_c", "Wx", "Wh", "b"), ["next_h", "next_c"],
           "lstm_step_backward", {"next_h": "dnext_h", "next_c": "dnext_c"},
           cases.recurrent_inputs(4, step=True)),
    _layer("lstm_forward", _SEQ, ["h"], "lstm_backward", {"h": "dh"},
           cases.recurrent_inputs(4, step=False)),
]


# -- the model ------------------------------------------------------------------------------

def _torch_model(ns, t):
    p = t["params"]
    model = ns.CaptioningRNN(dict(cases.WORDS), input_dim=p["W_proj"].shape[0],
                             wordvec_dim=p["W_embed"].shape[1], hidden_dim=p["Wh"].shape[0],
                             cell_type=t["cell"], dtype=TorchDtype(t["features"].dtype))
    model.params = dict(p)
    return model


def _loss_run(ns, t):
    loss = _torch_model(ns, t).loss(t["features"], t["captions"])
    if isinstance(loss, tuple):
        loss = loss[0]
    if loss is None or (not isinstance(loss, RemoteTensor) and loss == 0):   # the template's 0.0
        raise NotImplementedYet("returns the template's loss 0.0 (not implemented yet?)")
    return {"loss": loss}


def _loss_ref(ns, inputs):
    return {"loss": cases.model_loss(ns, inputs)["loss"]}


def _loss_grads(inputs):
    out = cases.model_loss(reference_namespace(), inputs)
    return {("params", k): out[f"d{k}"] for k in inputs["params"]}


def _sample_run(ns, t):
    captions = _torch_model(ns, t).sample(t["features"], max_length=t["max_length"])
    if captions is None:
        raise NotImplementedYet("returns None (not implemented yet?)")
    return {"captions": captions}


def _sample_ref(ns, inputs):
    return cases.model_sample(ns, inputs)


MODEL_SPECS = [
    TorchSpec("CaptioningRNN.loss", ("self", "features", "captions"), cases.MODEL_SHAPES,
              cases.model_inputs, _loss_run, _loss_ref, _loss_grads, {"loss": None}),
    TorchSpec("CaptioningRNN.sample", ("self", "features"), cases.SAMPLE_SHAPES,
              cases.sample_inputs, _sample_run, _sample_ref, None, {}),
]
TORCH_SPECS = LAYER_SPECS + MODEL_SPECS


# -- tensors ------------------------------------------------------------------------------

def _tensors(inputs, dtype, grad):
    """NumPy inputs as tensors for the learner's process to make: floats in
    ``dtype`` ('float64', 'float32'; requiring grad when ``grad``), integers
    as torch.long, the rest as it is."""
    if isinstance(inputs, dict):
        return {k: _tensors(v, dtype, grad) for k, v in inputs.items()}
    if isinstance(inputs, np.ndarray):
        if inputs.dtype.kind == "f":
            return NewTensor(inputs, dtype, requires_grad=grad)
        return NewTensor(inputs, "int64")
    return inputs


def _numpy(outs, length=None):
    """Learner outputs as NumPy (captions: the words before <END>, padded to
    ``length``, as for NumPy code)."""
    got = {}
    for k, v in outs.items():
        got[k] = v.values if isinstance(v, RemoteTensor) else np.asarray(v)
    if "captions" in got:
        got = cases.masked_captions(got["captions"], length)
    return got


# -- one function ------------------------------------------------------------------------

def check_torch_function(spec, learner, seed=0, calls=None):
    """Check the learner's PyTorch version of one function; a result dict as
    :func:`checks.check_function` returns (``calls`` as there)."""
    return checks.checked(spec, learner, lambda result, fn: _run_torch_checks(
        spec, learner, seed, result, fn, calls))


def _run_torch_checks(spec, learner, seed, result, fn, calls=None):
    c, errors, found = result["checks"], result["errors"], result["diagnoses"]
    c["signature"] = checks.signature_ok(fn, spec)
    ran, outs, refs, shapes, graph, grad_errors, dtypes = [], [], [], [], [], {}, []
    ref_ns = reference_namespace()

    def one_case(i, shape):
        nonlocal dtypes, graph
        inputs, label = spec.make(np.random.default_rng(seed + i), **shape), case_label(shape)
        raw = checks.run_case(spec, learner, _tensors(inputs, "float64", False), label)
        dtypes += _dtype_problems(raw, "float64")
        got = _numpy(raw, inputs.get("max_length"))
        ran.append(inputs)
        outs.append(got)
        shapes.append(shape)
        refs.append(spec.ref(ref_ns, copy.deepcopy(inputs)))
        worst(errors, got, refs[-1])
        if spec.ref_grads is not None:
            graph += _autograd(spec, learner, inputs, label, grad_errors)
        dtypes += _float32_case(spec, learner, inputs, label, got) if i < 2 else []

    result["cells_left"], template = checks.cell_cases(spec, learner, calls,
                                                       _torch_cell_is_stub, one_case)
    checks.template_answers(result, spec, template)
    c["values (float64)"] = all(e < checks.TOLERANCE for e in errors.values())
    if spec.ref_grads is not None:
        c["autograd gradients"] = not graph and all(
            e < checks.NUMERIC_TOLERANCE for e in grad_errors.values())
        result["gradient_errors"] = grad_errors
        c["autograd graph intact"] = not any(kind == "graph_cut" for kind, _ in graph)
    if spec.name == "CaptioningRNN.sample":
        c["returns torch.long"] = all(kind != "long" for kind, _ in dtypes)
    c["keeps the dtype (float32, float64)"] = all(kind != "fixed_dtype" for kind, _ in dtypes)
    if not c["values (float64)"]:
        found += diagnose(SimpleNamespace(name=spec.name, run=spec.ref), ran, outs, errors)
        result["explanation"] = explain(
            SimpleNamespace(name=spec.name, params=spec.params, run=spec.ref), shapes, ran, outs,
            refs, learner, checks.TOLERANCE,
            learner_run=lambda ns, inputs: spec.run(ns, _tensors(inputs, "float64", False)))
    for kind in ("graph_cut", "in_place", "fixed_dtype"):
        where = [w for k, w in graph + dtypes if k == kind]
        if where:
            found.append(_diag(kind, sorted(set(sum(where, [])))))


def _autograd(spec, learner, inputs, label, grad_errors):
    """Autograd's gradients of a random projection of the outputs against the
    library's analytic backward; a list of (problem kind, [where]) found."""
    conn = learner._child
    t = conn.ask("tensor", value=_tensors(inputs, "float64", True))
    try:
        outs = spec.run(learner, t)
    except RuntimeError as e:
        if "requires grad" in str(e) or "numpy" in str(e).lower():
            return [("graph_cut", [f"outputs ({label})"])]
        if "in-place" in str(e) or "inplace" in str(e):
            return [("in_place", [f"outputs ({label})"])]
        raise checks.case_error(e, label) from e
    except Exception as e:
        raise checks.case_error(e, label) from e
    cut = [k for k, v in outs.items() if not isinstance(v, RemoteTensor) or not v.grad_fn]
    if cut:
        return [("graph_cut", cut)]
    ref = spec.ref_grads(copy.deepcopy(inputs))
    paths = list(ref)
    try:
        # sum(output * upstream) differentiated by autograd, in the learner's process
        grads = conn.grad([outs[k] for k in outs],
                          [inputs[spec.upstream[k]] if spec.upstream[k] else None for k in outs],
                          [at(t, p) for p in paths])
    except RuntimeError as e:
        if "inplace" in str(e) or "in-place" in str(e):
            return [("in_place", [f"the backward ({label})"])]
        raise checks.case_error(e, label) from e
    missing = [_name(p) for p, g in zip(paths, grads) if g is None]
    if missing:
        return [("graph_cut", missing)]
    worst(grad_errors, {_name(p): g for p, g in zip(paths, grads)},
          {_name(p): v for p, v in ref.items()})
    return []


def _name(path):
    return f"d{path if isinstance(path, str) else path[1]}"


def _float32_case(spec, learner, inputs, label, float64_outs):
    """The function on float32 tensors: float32 results of the values it
    gives on float64 tensors (``float64_outs``; right or wrong, that is
    another check's business)."""
    try:
        outs = spec.run(learner, _tensors(inputs, "float32", False))
    except RuntimeError as e:
        text = str(e)
        if any(w in text for w in ("dtype", "scalar type", "Double", "Float")):
            return [("fixed_dtype", [f"float32 inputs raise {type(e).__name__}: {text}"])]
        raise checks.case_error(e, f"float32, {label}") from e
    except Exception as e:
        raise checks.case_error(e, f"float32, {label}") from e
    problems = _dtype_problems(outs, "float32")
    if not problems and spec.name != "CaptioningRNN.sample":
        errs = {}
        worst(errs, _numpy(outs), float64_outs)
        bad = [k for k, e in errs.items() if e >= FLOAT32_TOLERANCE]
        if bad:
            problems.append(("fixed_dtype", [f"float32 values of {', '.join(bad)} are off"]))
    return problems


def _dtype_problems(outs, dtype):
    """Outputs not in the inputs' dtype ('float64', 'float32'; captions: not
    torch.long)."""
    problems = []
    for k, v in outs.items():
        if k == "captions":
            if not isinstance(v, RemoteTensor) or v.dtype != "torch.int64":
                shown = v.dtype if isinstance(v, RemoteTensor) else type(v).__name__
                problems.append(("long", [f"captions are {shown}"]))
        elif isinstance(v, RemoteTensor) and v.dtype != f"torch.{dtype}":
            problems.append(("fixed_dtype", [f"torch.{dtype} inputs give {v.dtype} {k}"]))
    return problems


def _torch_cell_is_stub(ns, cell):
    """Whether the learner's ``{cell}_forward`` as the model sees it is a stub."""
    fn = getattr(ns, f"{cell}_forward", None)
    if fn is None:
        return False
    k, (N, T, D, H) = 4 if cell == "lstm" else 1, (2, 2, 3, 2)
    args = tuple(NewTensor(np.zeros(shape), "float64")
                 for shape in ((N, T, D), (N, H), (D, k * H), (H, k * H), (k * H,)))
    try:
        return fn(*args) is None
    except NotImplementedError:
        return True
    except Exception:
        return False
