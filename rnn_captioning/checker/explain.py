"""Explaining a failure, catalogue or not: the failing case, expected against
got, and the learner's line where it goes wrong.

- :func:`failing_case` picks the case to show: the smallest that fails, with
  N >= 2 and T >= 2 where one of those fails (so that rows and time steps can
  say where the difference lives).
- :func:`compare` says how one output differs: its shape, the first differing
  entry with both values, and where the difference lives (which time steps,
  rows, gate blocks, only masked positions, a constant factor, a transpose, a
  shift by one step); captions are decoded into words.
- :func:`locate.locate` points at the learner's line where that case first
  goes wrong: a hint, given only when the evidence is clear.

Everything here works on data: the learner's outputs and the values the
tracer sent back. Nothing the learner wrote is parsed or run here.
"""
import numpy as np

from rnn_captioning.checker.cases import SPECS, WORDS, case_label
from rnn_captioning.checker.diagnosis import relative_error
from rnn_captioning.checker.locate import locate, magnitude

__all__ = ["failing_case", "compare", "call_text", "explain", "explanation_lines"]

_WORD = {i: w for w, i in WORDS.items()}
_GATES = "ifog"


# -- which case ------------------------------------------------------------------------

def failing_case(shapes, learner_outs, refs, tolerance):
    """Index of the case to show, or None when every case agrees."""
    failing = [i for i, (outs, ref) in enumerate(zip(learner_outs, refs))
               if any(relative_error(outs.get(k), v) >= tolerance for k, v in ref.items())]
    if not failing:
        return None
    informative = [i for i in failing if shapes[i].get("N", 2) >= 2 and shapes[i].get("T", 2) >= 2]
    return min(informative or failing,
               key=lambda i: np.prod([v for v in shapes[i].values() if isinstance(v, int)]))


# -- expected against got ----------------------------------------------------------------

def _axes(shape, case):
    """'(N, T, H)' for a shape, naming each size by the case's letters when
    only one letter has it."""
    letters = {}
    sizes = {k: v for k, v in case.items() if isinstance(v, int)}
    if "H" in sizes:
        sizes["4H"] = 4 * sizes["H"]        # the LSTM's gates
    for k, v in sizes.items():
        letters.setdefault(v, []).append(k)
    names = [letters[n][0] if len(letters.get(n, [])) == 1 else str(n) for n in shape]
    if all(n.isdigit() for n in names):
        return str(tuple(shape))
    return f"{tuple(shape)} ({', '.join(names)})"


def _index(ix):
    return "[" + ", ".join(str(int(i)) for i in ix) + "]"


def _factor_name(r, case, inputs):
    """What a constant factor r equals: 'N', '1/T', ... or ''."""
    N, T = case.get("N"), case.get("T")
    named = {}
    if N and T:
        named.update({N: "N", T: "T", N * T: "N*T", 1 / N: "1/N", 1 / T: "1/T",
                      1 / (N * T): "1/(N*T)"})
    mask = inputs.get("mask")
    if mask is None and "captions" in inputs:
        mask = inputs["captions"][:, 1:] != WORDS["<NULL>"]
    if mask is not None and N:
        words = int(np.sum(mask))
        named.update({words / N: "the number of unmasked words / N",
                      N / words: "N / the number of unmasked words"})
    named[-1.0] = "-1: the sign is flipped"
    return next((name for value, name in named.items() if np.isclose(r, value, rtol=1e-6)), "")


def _runs(flags):
    """'only at t=0', 'from t=1 on', 'at every step', 'at t=1, 3' for a
    boolean per time step."""
    T, where = len(flags), [int(t) for t in np.flatnonzero(flags)]
    if len(where) == T:
        return "at every time step"
    if where == [0]:
        return "only at t=0"
    if where == [T - 1]:
        return f"only at the last step t={T - 1}"
    if where and where == list(range(where[0], T)):
        return f"from t={where[0]} on"
    return "at t=" + ", ".join(map(str, where))


def _where(name, expected, got, differs, case, inputs):
    """Where a same-shaped difference lives, in words (a list of phrases)."""
    found = []
    scale = magnitude(expected)
    nonzero = np.abs(expected) > 1e-9 * scale
    if not np.any(got):
        found.append("got is all zeros")
    elif nonzero.any() and np.all(np.isfinite(got)):
        ratio = got[nonzero] / expected[nonzero]
        r = float(np.median(ratio))
        if np.allclose(ratio, r, rtol=1e-6) and np.allclose(got[~nonzero], 0, atol=1e-9 * scale) \
                and not np.isclose(r, 1.0):
            what = _factor_name(r, case, inputs)
            found.append(f"got = expected x {r:.6g}" + (f" ({what})" if what else ""))
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and \
            np.allclose(got, expected.T, rtol=1e-6, atol=1e-9 * scale):
        found.append("got is the transpose of expected")
    N, T, H = case.get("N"), case.get("T"), case.get("H")
    timed = expected.ndim >= 2 and T and expected.shape[:2] == (N, T) and name != "captions"
    if timed and T > 1:
        if np.allclose(got[:, 1:], expected[:, :-1], rtol=1e-6, atol=1e-9 * scale):
            found.append("one step late: got[:, t] is expected[:, t-1]")
        elif np.allclose(got[:, :-1], expected[:, 1:], rtol=1e-6, atol=1e-9 * scale):
            found.append("one step early: got[:, t] is expected[:, t+1]")
        found.append(_runs(differs.any(axis=tuple(a for a in range(differs.ndim) if a != 1))))
    if N and N > 1 and expected.ndim >= 1 and expected.shape[0] == N and (timed or name != "loss"):
        rows = differs.reshape(N, -1).any(axis=1)
        if not rows.all():
            found.append("only in rows n=" + ", ".join(map(str, np.flatnonzero(rows))))
    if H and expected.shape and expected.shape[-1] == 4 * H and H > 0:
        blocks = [differs[..., k * H:(k + 1) * H].any() for k in range(4)]
        if any(blocks) and not all(blocks):
            gates = [g for g, b in zip(_GATES, blocks) if b]
            found.append(f"only in the {', '.join(gates)} block{'s' * (len(gates) > 1)} of the "
                         f"4H gate columns (order i, f, o, g)")
    mask = inputs.get("mask")
    if mask is not None and expected.shape[:2] == mask.shape:
        flat = differs.reshape(*mask.shape, -1).any(axis=2)
        if flat.any() and not flat[mask].any():
            found.append("only at masked-out positions (mask False)")
    return found


def _words(row):
    words = []
    for i in row:
        words.append(_WORD.get(int(i), f"<{int(i)}>"))
        if int(i) == WORDS["<END>"]:
            break
    while words and words[-1] == "<NULL>":
        words.pop()
    return " ".join(words) or "(nothing)"


def _compare_captions(expected, got, case):
    if got.shape != expected.shape:
        lines = [f"captions: expected shape {_axes(expected.shape, case)}, got {got.shape}"]
    else:
        lines = []
    rows = min(len(got), len(expected)) if got.ndim == 2 else 0
    bad = [n for n in range(rows) if _words(got[n]) != _words(expected[n])]
    if not bad:
        return lines
    n = bad[0]
    lines += [f"image {n} (of {len(expected)}; {len(bad)} differ{'s' * (len(bad) == 1)}):",
              f"    expected: {_words(expected[n])}",
              f"    got:      {_words(got[n])}"]
    e, g = list(expected[n]), list(got[n])
    if len(g) > 1 and g[1:len(e)] == e[:len(g) - 1][:len(g) - 1] and g[:1] != e[:1]:
        lines.append(f"    got's words come one place late (its first is {_words(g[:1])})")
    elif g[:len(e) - 1] == e[1:len(g) + 1]:
        lines.append("    got's words come one place early")
    else:
        k = next((k for k, (a, b) in enumerate(zip(e, g)) if a != b), min(len(e), len(g)))
        lines.append(f"    the first different word is word {k} (t={k})")
    return lines


def compare(name, expected, got, case, inputs):
    """Lines saying how the output ``name`` differs: expected against got."""
    if got is None:
        return [f"{name}: expected {_summary(expected, case)}, got None"]
    try:
        expected = np.asarray(expected, dtype=np.float64 if name != "captions" else None)
        got = np.asarray(got, dtype=np.float64 if name != "captions" else None)
    except (TypeError, ValueError):
        return [f"{name}: expected {_summary(expected, case)}, got a {type(got).__name__}"]
    if name == "captions":
        return _compare_captions(expected, got, case)
    if got.shape != expected.shape:
        lines = [f"{name}: expected shape {_axes(expected.shape, case)}, "
                 f"got shape {_axes(got.shape, case)}"]
        if got.shape == expected.shape[::-1] and np.allclose(got, expected.T, rtol=1e-6):
            lines.append("    got is the transpose of expected")
        return lines
    scale = magnitude(expected, got)
    differs = ~np.isclose(got, expected, rtol=1e-7, atol=1e-9 * scale, equal_nan=True)
    if not differs.any():
        return []
    ix = tuple(np.argwhere(differs)[0])
    at = _index(ix) if ix else ""
    lines = [f"{name}{at}: expected {expected[ix]:.6g}, got {got[ix]:.6g}"
             + (f"  (shape {_axes(expected.shape, case)})" if expected.ndim else "")]
    lines += [f"    {w}" for w in _where(name, expected, got, differs, case, inputs)]
    return lines


def _summary(value, case):
    shape = np.shape(value)
    return f"an array {_axes(shape, case)}" if shape else repr(value)


# -- the call ----------------------------------------------------------------------------

_SPEC_PARAMS = {s.name: s.params for s in SPECS}


def _shapes(inputs, names):
    return ", ".join(f"{n} {tuple(np.shape(inputs[n]))}" for n in names
                     if isinstance(inputs.get(n), np.ndarray))


def call_text(spec, inputs):
    """The learner's call that ran the case, with the shapes of its inputs."""
    name = spec.name
    if name.startswith("CaptioningRNN."):
        p = inputs["params"]
        make = (f"model = CaptioningRNN(word_to_idx ({len(WORDS)} words), "
                f"input_dim={p['W_proj'].shape[0]}, wordvec_dim={p['W_embed'].shape[1]}, "
                f"hidden_dim={p['Wh'].shape[0]}, cell_type={inputs['cell']!r}); "
                f"model.params = the case's weights; ")
        if name.endswith("loss"):
            return make + f"model.loss(features, captions)  [{_shapes(inputs, ('features', 'captions'))}]"
        return make + (f"model.sample(features, max_length={inputs['max_length']})  "
                       f"[{_shapes(inputs, ('features',))}]")
    if name in ("sgd", "sgd_momentum", "rmsprop", "adam"):
        return (f"w, config = {name}(w, dw, config), three times, config starting as "
                f"{{'learning_rate': 0.01}}  [{_shapes(inputs, ('w',))}]")
    params = list(spec.params)
    if name.endswith("_backward"):
        forward = name.replace("_backward", "_forward")
        fwd = _SPEC_PARAMS[forward]
        used = [p for p in params if p != "cache"] + list(fwd)
        return (f"_, cache = {forward}({', '.join(fwd)}); "
                f"{name}({', '.join(params)})  [{_shapes(inputs, used)}]")
    return f"{name}({', '.join(params)})  [{_shapes(inputs, params)}]"


# -- all of it -----------------------------------------------------------------------------

def explain(spec, shapes, cases, learner_outs, refs, learner, tolerance, learner_run=None):
    """{'case', 'call', 'differences' (lines), 'line' (or None)} for the
    failing function ``spec``, or None when no case differs (learner_run as
    for :func:`locate`)."""
    i = failing_case(shapes, learner_outs, refs, tolerance)
    if i is None:
        return None
    case, inputs = shapes[i], cases[i]
    differences, others = [], []
    for k, ref in refs[i].items():
        if relative_error(learner_outs[i].get(k), ref) < tolerance:
            continue
        if differences:
            others.append(k)
        else:
            differences = compare(k, ref, learner_outs[i].get(k), case, inputs)
    if others:
        differences.append(f"also different: {', '.join(others)}")
    try:
        line = locate(spec, learner, inputs, learner_run)
    except Exception:           # the hint is never worth a failed check
        line = None
    return {"case": case_label(case), "call": call_text(spec, inputs),
            "differences": differences, "line": line}


def explanation_lines(e):
    """The failing case, the call, expected against got, and the line
    (indented lines of a report; none for no explanation)."""
    if not e:
        return []
    lines = [f"    failing case: {e['case']}", f"    the call: {e['call']}",
             "    expected against got:"]
    lines += [f"      {d}" for d in e["differences"]]
    if e.get("line"):
        lines.append(f"    where it goes wrong (a hint): {e['line']}")
    return lines
