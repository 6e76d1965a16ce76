"""The checks of a learner's exercise functions against the library.

:func:`check_function` runs a function's cases (:mod:`cases`) on the
learner's namespace and on the library's, and checks the signature, values
against the library, and every gradient against centred differences of the
learner's own forward. What the exercise does not ask for is a note that never
fails a function: float64 results for float32 inputs, an input changed in
place, Adam in the paper's form. When values differ, :mod:`diagnosis` names
the catalogue mistakes that reproduce the outputs.
"""
import copy
import inspect
import traceback
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from rnn_captioning.checker.cases import (SPECS, NotImplementedYet, at,  # noqa: F401
                                          case_label, lookup, new_result)
from rnn_captioning.checker.diagnosis import accepted_form, diagnose, relative_error, worst
from rnn_captioning.checker.explain import explain
from rnn_captioning.checker.sandbox import LAYER_FUNCTIONS, RULES
from rnn_captioning.checker.reference import EXERCISE_MODULES, LIBRARY_ROOT, library
from rnn_captioning.checker.remote import Remote

_PACKAGE_DIR = Path(__file__).resolve().parents[1]   # frames here are ours, not the learner's

__all__ = ["SPECS", "check_function", "reference_namespace", "lookup", "NotImplementedYet"]

TOLERANCE = 1e-7          # learner against library, both float64
NUMERIC_TOLERANCE = 1e-5  # analytic against centred differences (step 1e-5)


class CaseError(Exception):
    """The learner's code raised on one case; says which."""


def reference_namespace():
    """The library, shaped like a learner's modules."""
    lib = library()
    ns = {n: getattr(lib.rnn_layers, n) for n in LAYER_FUNCTIONS}
    ns.update({n: getattr(lib.optim, n) for n in RULES})
    return SimpleNamespace(CaptioningRNN=lib.captioning_rnn.CaptioningRNN, **ns)


# -- running the cases ------------------------------------------------------------------------

def numeric_gradient(f, ns, inputs, path, h=1e-5):
    """Centred differences of the scalar f(ns, inputs) in the input at path;
    f gets a copy each time, so code that changes its inputs cannot skew them."""
    x = at(inputs, path)
    if isinstance(ns, Remote) and hasattr(f, "in_child"):
        return _numeric_in_child(f, ns, inputs, path, h, x)
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


def _numeric_in_child(f, ns, inputs, path, h, x):
    """numeric_gradient with every perturbed call of the learner's code made
    in one request (f.in_child); f and the differences are taken here, from
    the raw values."""
    values = f.in_child(ns, inputs, path, h)
    if len(values) != 2 * x.size:
        raise TypeError(f"{len(values)} values came back for {2 * x.size} perturbed calls")
    values = np.array(values, dtype=np.float64).reshape(x.size, 2)
    return ((values[:, 0] - values[:, 1]) / (2 * h)).reshape(x.shape).astype(x.dtype)


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



def signature_ok(fn, spec):
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

def check_function(spec, learner, reference=None, seed=0, calls=None):
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
    def run(result, fn):
        _run_checks(spec, learner, reference or reference_namespace(), seed, result, fn)
    return checked(spec, learner, run)


def checked(spec, learner, run):
    """The result of ``run(result, fn)`` on the learner's function of
    ``spec``, scored: the frame both editions' checks share."""
    result = new_result(spec.name)
    fn = lookup(learner, spec.name)
    if fn is None:
        result["message"] = "not in the given files"
        return result
    try:
        run(result, fn)
    except NotImplementedYet as e:
        result.update(status="todo", message=str(e))
        return result
    except CaseError as e:
        result.update(status="crashed", message=str(e))
        return result
    checks, left = result["checks"], result.get("cells_left", [])
    done = 1 - len(left) / len({s.get("cell") for s in spec.shapes}) if left else 1
    result["score"] = round(done * sum(checks.values()) / len(checks), 3)
    result["status"] = "fail" if not all(checks.values()) else "partial" if left else "pass"
    result["message"] = _failure_message(result)
    if left:
        result["message"] = "; ".join(filter(None, [
            result["message"], f"the {' and '.join(c.upper() for c in left)} case is not "
                               f"implemented yet"]))
    result["diagnosis"] = result["diagnoses"][0] if result["diagnoses"] else None
    return result


def cell_left(learner, cell, calls, is_stub):
    """Whether a model method's ``cell`` case is not written yet: the
    learner's layer functions of that cell are stubs (``is_stub``), or the
    method names layer functions of the other cell only."""
    named = [n for n in calls or () if n.startswith(("rnn_", "lstm_"))]
    return is_stub(learner, cell) or bool(named) and not any(
        n.startswith(f"{cell}_") for n in named)


def template_answers(result, spec, template):
    """A model's written cell that gave the template's answer (see
    cell_cases) fails its values, with a note saying where."""
    for label, why in template:
        result["notes"].append(f"on {label} it {why.removesuffix(' (not implemented yet?)')},"
                               f" though that cell's code is written")
        result["errors"]["captions" if spec.name.endswith("sample") else "loss"] = np.inf


def cell_cases(spec, learner, calls, is_stub, run):
    """Run each case of ``spec`` with ``run(i, shape)``; a model's case of a
    cell not written yet (see cell_left) is left out. Returns the cells left
    out, and the labels of the cases of a written cell that gave the
    template's answer (a wrong result, not a stub). Raises NotImplementedYet
    when no case ran."""
    left, template, ran = [], [], 0
    for i, shape in enumerate(spec.shapes):
        try:
            run(i, shape)
            ran += 1
        except (NotImplementedYet, CaseError) as e:
            cell = shape.get("cell")
            if cell is None:
                raise
            if cell_left(learner, cell, calls, is_stub):
                left.append((cell, str(e)))
            elif isinstance(e, CaseError):
                raise
            else:
                template.append((case_label(shape), str(e)))
    if not ran:
        raise NotImplementedYet((left or template)[0][1])
    return sorted({c for c, _ in left}), template


def run_case(spec, ns, inputs, label):
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
        raise case_error(e, label) from e


def _run_checks(spec, learner, reference, seed, result, fn, calls=None):
    checks, errors, numeric, notes = result["checks"], result["errors"], {}, result["notes"]
    checks["signature"] = signature_ok(fn, spec)
    cases, learner_outs, refs, shapes, changed = [], [], [], [], set()

    def one_case(i, shape):
        inputs, label = spec.make(np.random.default_rng(seed + i), **shape), case_label(shape)
        before = copy.deepcopy(inputs)
        outs = run_case(spec, learner, inputs, label)
        changed.update(_changed(inputs, before))
        cases.append(before)
        learner_outs.append(outs)
        shapes.append(shape)
        refs.append(spec.run(reference, copy.deepcopy(before)))
        worst(errors, outs, refs[-1])
        for name, path in (spec.grads or {}).items():
            # centred differences of the learner's own forward: is the
            # backward the derivative of the forward the learner wrote?
            try:
                num = numeric_gradient(spec.f, learner, copy.deepcopy(before), path)
            except Exception as e:      # the learner's forward may raise on another input
                raise case_error(e, label) from e
            numeric[name] = max(numeric.get(name, 0.0), relative_error(outs[name], num))

    result["cells_left"], template = cell_cases(spec, learner, calls, _cell_is_stub, one_case)
    template_answers(result, spec, template)
    checks["values"] = all(e < TOLERANCE for e in errors.values())
    if not checks["values"] and not template:
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
        result["explanation"] = explain(spec, shapes, cases, learner_outs, refs, learner,
                                        TOLERANCE)


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
        outs32 = run_case(spec, learner, _float32(inputs), shape_label)
    except (NotImplementedYet, CaseError) as e:
        return [f"with float32 inputs it raises {e}"]
    wide = sorted(k for k, v in outs32.items()
                  if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.dtype != np.float32)
    if not wide:
        return []
    return [f"float32 inputs give float64 {', '.join(wide)} (fine for the exercise; "
            f"np.zeros(shape, dtype=x.dtype) keeps float32)"]


def case_error(e, label):
    """A CaseError for the exception ``e`` the learner's code raised on the
    case ``label``: the learner's line, and the case."""
    return CaseError(f"{crash_message(e)} [case: {label}]")


def _is_library(filename):
    path = Path(filename).resolve()
    return (path.parent == LIBRARY_ROOT and path.stem in EXERCISE_MODULES) \
        or _PACKAGE_DIR in path.parents or "numpy" in path.parts or "scipy" in path.parts


def crash_message(e):
    """The exception and the learner's line that raised it (the deepest frame
    outside the library, the checker and NumPy), and where it finally raised
    when that is elsewhere: a provided function called with a wrong input."""
    frames = getattr(e, "remote_frames", None) or traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if not _is_library(f.filename)]
    kind = getattr(e, "remote_type", type(e).__name__)
    if not mine:
        return f"{kind}: {e}"
    f = mine[-1]
    where = f" at {Path(f.filename).name}:{f.lineno} ({f.line})"
    if frames[-1] is not f:
        where += f", inside {Path(frames[-1].filename).name}'s {frames[-1].name}"
    if len(mine) > 1:           # from the function checked down to the line
        where += "; call chain: " + " -> ".join(
            f"{g.name} ({Path(g.filename).name}:{g.lineno})" for g in mine)
    return f"{kind}: {e}{where}"


def _failure_message(result):
    failed = [name for name, ok in result["checks"].items() if not ok]
    if not failed:
        return ""
    return "failed: " + ", ".join(failed)
