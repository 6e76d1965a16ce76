"""Naming what is wrong: the catalogue mistakes a learner's outputs reproduce.

A function's outputs are compared, one by one, with those of each wrong
variant of the catalogue (:mod:`mistakes`) on the same cases. A variant that
reproduces every output names the mistake for the whole function; otherwise
each output that differs from the library is named by the variant that
reproduces that output alone (a learner who ignores the mask only in ``dx``
still hears about the mask, for ``dx``). Two mistakes made together are
found as a pair of variants. A mistake is named only when its variant
reproduces the learner's output and the library's differs from it, so a
right output is never blamed.
"""
import copy
from itertools import combinations

import numpy as np

from rnn_captioning.checker.mistakes import ACCEPTED, CATALOGUE, variant_namespace

__all__ = ["diagnose", "accepted_form", "relative_error", "worst", "MATCH_TOLERANCE"]

MATCH_TOLERANCE = 1e-6    # learner against a catalogue variant, both float64


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


def worst(errors, outs, refs):
    """errors[k] = the largest relative error of outs[k] against refs[k] so far."""
    for k, ref in refs.items():
        errors[k] = max(errors.get(k, 0.0), relative_error(outs.get(k), ref))


def _variant_errors(spec, bugs, cases, learner_outs):
    """Per-output worst error of the learner against the variant making
    ``bugs``, or None when the variant does not apply to these inputs."""
    variant, errors = variant_namespace(bugs), {}
    try:
        with np.errstate(all="ignore"):
            for inputs, outs in zip(cases, learner_outs):
                worst(errors, outs, spec.run(variant, copy.deepcopy(inputs)))
    except Exception:
        return None
    return errors


def accepted_form(spec, cases, learner_outs, tolerance):
    """(form, per-output errors against it) for the accepted form (e.g. Adam
    in the paper's form) the learner's outputs equal, or (None, None)."""
    for form in ACCEPTED:
        if spec.name in form.functions:
            errors = _variant_errors(spec, {form.id}, cases, learner_outs)
            if errors is not None and max(errors.values(), default=np.inf) < tolerance:
                return form, errors
    return None, None


def _entry(mistakes, error, outputs):
    return {"id": "+".join(m.id for m in mistakes),
            "description": "; and ".join(m.description for m in mistakes),
            "equation": "; ".join(m.equation for m in mistakes),
            "error": error, "outputs": outputs}


def diagnose(spec, cases, learner_outs, errors):
    """The mistakes that explain the learner's outputs: a list of dicts (id,
    description, equation, error, outputs), the whole-function match first.

    - errors: the learner's per-output worst error against the library
    """
    wrong = sorted(k for k, e in errors.items() if e >= MATCH_TOLERANCE)
    relevant = [m for m in CATALOGUE if spec.name in m.functions]
    accepted = [m for m in ACCEPTED if spec.name in m.functions]
    single = {m.id: _variant_errors(spec, {m.id}, cases, learner_outs) for m in relevant}
    whole = _whole_match(spec, relevant, accepted, single, cases, learner_outs)
    if whole is not None:
        return [whole]
    found = []
    for k in wrong:
        best = min(((e[k], m) for m in relevant if (e := single[m.id]) is not None and k in e),
                   key=lambda pair: pair[0], default=(np.inf, None))
        if best[0] < MATCH_TOLERANCE:
            known = next((f for f in found if f["id"] == best[1].id), None)
            if known:
                known["outputs"].append(k)
            else:
                found.append(_entry([best[1]], best[0], [k]))
    return found


def _whole_match(spec, relevant, accepted, single, cases, learner_outs):
    """A single mistake, or a pair (an accepted form counts as one half),
    whose variant reproduces every output."""
    def score(errors):
        return np.inf if errors is None else max(errors.values(), default=np.inf)

    best = min(((score(single[m.id]), [m]) for m in relevant), key=lambda p: p[0],
               default=(np.inf, None))
    if best[0] >= MATCH_TOLERANCE:
        for pair in combinations(relevant + accepted, 2):
            if all(m in accepted for m in pair):
                continue
            error = score(_variant_errors(spec, {m.id for m in pair}, cases, learner_outs))
            if error < best[0]:
                best = (error, [m for m in pair if m not in accepted])
    if best[0] >= MATCH_TOLERANCE:
        return None
    outputs = list(learner_outs[0]) if learner_outs else []
    return _entry(best[1], best[0], outputs)
