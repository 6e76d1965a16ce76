"""Where a learner's function first goes wrong: the line, as a hint.

:func:`locate` runs the learner's function on a failing case with a line
tracer in the learner's process (sandbox.LineTracer), which sends back the
values each line computed, and matches them with the values of a plain
reference computation traced here (mistakes.variant_namespace with no
mistake). The line reported is the first whose value matches nothing in the
reference and flows into no value that does, while what the line reads is
right; a value written into place (h[:, t] = ...) is judged where it was
written, and a helper of the learner's own (a sigmoid) where it is called.
It is said only when the trace is complete and the evidence that clear.

Everything here works on data the tracer sent back: nothing the learner
wrote is parsed or run in the checker.
"""
import copy
import re
import sys
from pathlib import Path

import numpy as np

from rnn_captioning.checker import mistakes
from rnn_captioning.checker.remote import Remote
from rnn_captioning.checker.sandbox import LAYER_FUNCTIONS

__all__ = ["locate", "first_wrong_line", "judged_events", "reference_pool", "magnitude"]

MATCH = 1e-7                    # relative: a traced value equals a reference value
MAX_EVENTS = 6000               # sandbox.LineTracer sends no more


def magnitude(*arrays):
    """The largest finite magnitude among the arrays (at least 1e-12)."""
    finite = [np.abs(a[np.isfinite(a)]).max(initial=0) for a in arrays]
    return float(max(finite + [1e-12]))


def _close(stack, v):
    """Per row of ``stack`` (M, *v.shape): whether it equals v, NaN included."""
    scale = magnitude(v)
    near = np.abs(stack - v) <= MATCH * scale + MATCH * np.abs(v)
    near |= np.isnan(stack) & np.isnan(v)
    return near.reshape(len(stack), -1).all(axis=1)


class _Pool:
    """The values a reference computation made, to look traced values up in:
    by shape (and transposed), by size (a reshaped copy), and as words. Each
    kind is stacked into one array, so that a lookup is one NumPy operation."""

    def __init__(self, hidden=()):
        self.lists = {"shape": {}, "size": {}}
        self.stacks = {"shape": {}, "size": {}}
        self.hidden = [np.asarray(v, dtype=np.float64) for v in hidden]

    def _stack(self, kind, key):
        """The arrays of a shape (or of a size, flattened), as one array."""
        stacks = self.stacks[kind]
        if key not in stacks:
            found = self.lists[kind].get(key, [])
            stacks[key] = np.stack(found) if found else None
        return stacks[key]

    def hidden_as_cell(self, name, v):
        """Whether a cell state (a name with a c in it) holds the initial
        hidden state's values: right values in a wrong role."""
        return "c" in _bare(name).lower() and any(
            h.shape == v.shape and np.array_equal(h, v) for h in self.hidden)

    def has_words_shaped(self, shape):
        """Whether the reference makes whole numbers (words) of this shape."""
        stack = self._stack("shape", shape)
        if stack is None:
            return False
        rows = stack.reshape(len(stack), -1)
        return bool(np.any(np.all(rows == np.round(rows), axis=1) & np.any(rows != 0, axis=1)))

    def partly(self, v):
        """Whether some but not all of v's four gate blocks (last axis) equal
        those of an array of the reference (a concatenation of gate
        gradients with one gate wrong)."""
        stack = self._stack("shape", v.shape)
        if stack is None or not v.ndim or v.shape[-1] % 4 or v.shape[-1] < 4:
            return False
        H = v.shape[-1] // 4
        same = np.stack([_close(stack[..., k * H:(k + 1) * H], v[..., k * H:(k + 1) * H])
                         for k in range(4)], axis=1)
        return bool(np.any(same.any(axis=1) & ~same.all(axis=1)))

    def add(self, v, depth=0):
        if isinstance(v, dict) and depth < 3:
            for x in v.values():
                self.add(x, depth + 1)
        elif isinstance(v, (list, tuple)) and depth < 3:
            for x in v:
                self.add(x, depth + 1)
            arrays = [x for x in v if isinstance(x, np.ndarray)]
            if len(arrays) > 1 and len({a.shape for a in arrays}) == 1:
                for axis in range(arrays[0].ndim + 1):      # per-step values, stacked
                    self.add(np.stack(arrays, axis=axis), 3)
        elif isinstance(v, (np.ndarray, np.generic, float, int)) and not isinstance(v, bool):
            a = np.asarray(v)
            if a.dtype.kind in "biuf" and a.size <= 100000:
                a = a.astype(np.float64)
                self.lists["shape"].setdefault(a.shape, []).append(a)
                self.lists["size"].setdefault(a.size, []).append(a.ravel())
                if a.ndim == 2:
                    self.lists["shape"].setdefault(a.T.shape, []).append(a.T)
                self.stacks = {"shape": {}, "size": {}}

    def has(self, v, block=None):
        """Whether the pool holds v; with ``block`` (slices), also whether it
        holds an array of v's shape equal to v in that block (a value written
        into place: the right values in the right place)."""
        same = self._stack("shape", v.shape)
        if block is not None and same is not None and \
                _close(same[(slice(None),) + block], v[block]).any():
            return True
        if v.ndim == 0 and float(v) == round(float(v)):
            return True             # a size, a count, a loop's t
        if v.size > 1 and np.all(v == v.flat[0]) or v.size == 0:
            # an allocation: right when the reference has arrays of its shape,
            # and (but for zeros, which any buffer starts as) that constant
            return same is not None and (v.flat[0] == 0 or bool(
                np.any(np.all(same.reshape(len(same), -1) == v.flat[0], axis=1))))
        if same is not None and _close(same, v).any():
            return True
        flat = self._stack("size", v.size)
        return flat is not None and bool(_close(flat, v.ravel()).any())


_REFERENCE_FILE = Path(mistakes.__file__).resolve()
_EXERCISE_NAMES = set(LAYER_FUNCTIONS) | {"loss", "sample"}
_BARE_RETURN = re.compile(r"^return\s+[\w\s,()]*$")
# calls of the exercise's functions on a line: what they return is checked on its own
_CALLS_CHECKED = re.compile(r"\b(" + "|".join(LAYER_FUNCTIONS + (
    "affine_forward", "affine_backward")) + r")\s*\(")


def reference_pool(spec, inputs):
    """Every value the plain reference computation of ``spec`` makes on
    ``inputs``: its locals at each line (the inputs it uses among them) and
    its return values."""
    pool, plain = _Pool([inputs["h0"]] if "h0" in inputs else []), mistakes.variant_namespace(())

    def local(frame, event, arg):
        if event in ("line", "return"):
            pool.add(dict(frame.f_locals))
            if event == "return":
                pool.add(arg)
        return local

    def call(frame, event, arg):
        return local if Path(frame.f_code.co_filename).resolve() == _REFERENCE_FILE else None

    previous = sys.gettrace()
    sys.settrace(call)
    try:
        with np.errstate(all="ignore"):
            spec.run(plain, copy.deepcopy(inputs))
    except Exception:
        pass
    finally:
        sys.settrace(previous)
    return pool


def _changed_block(before, after):
    """The block of an array a line changed in place (h[:, t] = ...) as a
    tuple of slices, or None when the line made a new value or changed all
    of it."""
    if before is None or before.shape != after.shape or not after.ndim:
        return None
    changed = after != before
    if not changed.any():
        return None
    box = tuple(slice(ix.min(), ix.max() + 1) for ix in np.nonzero(changed))
    return box if after[box].size < after.size else None


def judged_events(report, pool):
    """The traced values as (file, line, name, call number, found in the
    pool, whole numbers, h0 as a cell state, found at least in part); a
    value written into place is judged by the block written."""
    events, last = [], {}
    for f, n, name, value, call in report.get("events", []):
        if not isinstance(value, np.ndarray) or value.dtype == bool:   # masks say little
            continue
        key, value = (call, name), value.astype(np.float64)
        block = _changed_block(last.get(key), value)
        last[key] = value
        words = bool(np.all(value == np.round(value)))      # ints: equal by chance often
        weak = block is None and value.size > 1 and pool.hidden_as_cell(name, value)
        found = pool.has(value, block)
        if words and not found and value.size > 1 and block is None and \
                not name.startswith("<return") and np.any(value != value.flat[0]) and \
                not pool.has_words_shaped(value.shape):
            found = True        # indices of a kind the reference never makes (an argsort)
        events.append((str(f), int(n), str(name), call, found, words, weak,
                       found or pool.partly(value)))
    return events


def first_wrong_line(report, pool):
    """(file, line, text, name) of the first traced value that matches
    nothing in the pool and flows into nothing that does, while the values
    its line reads are right; None when the evidence is not that clear."""
    if not isinstance(report, dict) or not report.get("complete") or \
            len(report.get("events", ())) > MAX_EVENTS or len(report.get("lines", ())) > MAX_EVENTS:
        return None         # more than an honest tracer sends: not worth our time
    lines = {(str(f), int(n)): (str(t), [str(r) for r in reads][:100])
             for f, n, t, reads in report.get("lines", [])}
    events = judged_events(report, pool)
    if not events or all(e[4] for e in events if e[2].startswith("<return")):
        return None
    right, readers = [e[4] for e in events], _reader_lists(events, lines)
    for k in reversed(range(len(events))):
        # right if a right value (not words) reads it, or a value right in
        # part reads it while it is not itself right in part (what it passes
        # on is the right part)
        if not right[k]:
            right[k] = any((right[j] or events[j][7] and not events[k][7]) and not events[j][5]
                           for j in readers[k])
    # a helper of the learner's own (a sigmoid) is a tool: a wrong value
    # from it is blamed on the line that called it for that value
    names = {int(c): str(f) for c, f in report.get("functions", []) if isinstance(c, int)}
    helped = {c for c, f in names.items() if f not in _EXERCISE_NAMES}
    for k, (f, n, name, call, *_) in enumerate(events):
        if right[k] or call in helped or name.startswith("<argument"):
            continue        # a wrong argument: the caller's line is not known here
        if any(e[:2] == (f, n) and e[3] != call and e[4] for e in events):
            # this line computes right values in the function's other calls:
            # what this call was given is wrong, at the caller's line
            caller = next((e for e in events[k:] if e[3] < call), None)
            if caller is None:
                return None
            return caller[0], caller[1], lines.get(caller[:2], ("", []))[0], "<arguments>"
        text, reads = lines.get((f, n), ("", []))
        inputs = [j for j in range(k) if events[j][3] == call and _bare(events[j][2]) in reads]
        if not all(right[j] and not events[j][6] for j in _latest(events, inputs)) \
                or _CALLS_CHECKED.search(text) \
                or name.startswith("<return") and _BARE_RETURN.match(text):
            # it reads h0's values as a cell state (right values, wrong role),
            # a checked function's wrong value from right inputs (one was
            # right by chance), or right values returned wrong (something
            # never written): the evidence is not clear
            return None
        return f, n, text, name
    return None


def _latest(events, indices):
    """Of the events ``indices``, the last one of each name."""
    latest = {}
    for j in indices:
        latest[_bare(events[j][2])] = j
    return latest.values()


def _bare(name):
    """A local's name, of an argument's event too."""
    return name.removeprefix("<argument ").removesuffix(">") if name.startswith("<arg") else name


def _reader_lists(events, lines):
    """For each event, the later events of its call whose lines read its
    name before the name is set again (one pass: who set each name last)."""
    returns = {}
    for f, n, name, call, *_ in events:
        returns[call] = returns.get(call, 0) + name.startswith("<return")
    readers, last = [[] for _ in events], {}
    for j, (f, n, name, call, *_) in enumerate(events):
        # of several returned values, which name went where is unknown
        if not (name.startswith("<return") and returns[call] > 1):
            for read in lines.get((f, n), ("", []))[1]:
                k = last.get((call, read))
                if k is not None:
                    readers[k].append(j)
        last[(call, _bare(name))] = j
    return readers


def locate(spec, learner, inputs, learner_run=None):
    """The learner's line where the case ``inputs`` first goes wrong, as
    'file:line: text', or None (see first_wrong_line).

    - learner_run(ns, inputs): how the learner's code runs the case (the
      PyTorch edition's makes tensors); spec.run by default
    """
    if not isinstance(learner, Remote):
        return None
    conn = learner._child
    conn.ask("trace", on=True)
    try:
        with np.errstate(all="ignore"):
            (learner_run or spec.run)(learner, copy.deepcopy(inputs))
    except Exception:
        pass                # a crash is reported as one elsewhere
    finally:
        report = conn.ask("trace", on=False)
    found = first_wrong_line(report, reference_pool(spec, inputs))
    if found is None:
        return None
    f, n, text, name = found
    if name == "<arguments>":
        why = "what this line passes on is wrong, while the function it calls computes right " \
              "values in its other calls"
    else:
        what = "its return value" if name.startswith("<return") else f"`{name}`"
        why = f"{what} is the first value no step of the reference computation gives, " \
              f"made from values that are right"
    return f"{Path(f).name}:{n}: {text}    ({why})"
