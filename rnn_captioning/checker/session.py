"""One check of a learner's files, on the trusted side of the boundary.

The learner's files are parsed in a child (sandbox.survey), then each file
runs in children of its own (walls.Sandbox), two at a time: a layers or
optim file alone (with the library's stand-ins in a learner's own check,
with only the given layers.py when grading), a model file on the files that loaded. The
checks themselves (checks.py, torch_checks.py) run here, in the checker: they
call the learner's functions through remote.Remote and compare the raw
outputs with the library, computed here. A child that times out, dies or
breaks the protocol is ended with everything it started; its function is
reported, and the rest go on in a new child.
"""
import importlib.util
import re
import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnn_captioning.checker import checks
from rnn_captioning.checker.cases import new_result
from rnn_captioning.checker.remote import connect
from rnn_captioning.checker.sandbox import (KINDS, LAYER_FUNCTIONS, MODEL_METHODS, RULES,
                                            TORCH_LAYER_FUNCTIONS)
from rnn_captioning.checker.walls import ChildGone, Sandbox, subreaper

__all__ = ["LearnerFile", "check_files", "is_torch", "REQUIRED", "MAX_FILE_BYTES"]

# path, kind ('layers', 'model', 'optim', 'base_layers', 'torch_*' or None), the
# exercise functions it defines ('rnn_forward', 'CaptioningRNN.loss'), the error
# that stops it from being read (or None), its absolute imports, the functions
# still the template's stub, and the layer functions each model method names
LearnerFile = namedtuple("LearnerFile", "path kind defines error imports stubs calls",
                         defaults=((), {}))

# what each edition's learners write: a grader scores exactly these
REQUIRED = {
    "numpy": ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
              "word_embedding_forward", "word_embedding_backward", "lstm_step_forward",
              "lstm_step_backward", "lstm_forward", "lstm_backward",
              "CaptioningRNN.loss", "CaptioningRNN.sample"),
    "torch": TORCH_LAYER_FUNCTIONS + ("CaptioningRNN.loss", "CaptioningRNN.sample"),
}
MAX_FILE_BYTES = 64 << 20       # a larger file is not copied, let alone parsed
WORKERS = 2                     # children at a time: learners' machines have two cores or more
_KNOWN = set(LAYER_FUNCTIONS + RULES) | {f"CaptioningRNN.{m}" for m in MODEL_METHODS}
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,200}$")


class TorchMissing(RuntimeError):
    """A PyTorch-edition file was given and PyTorch is not installed."""


def is_torch(learner_file):
    """Whether a surveyed file is of the PyTorch edition."""
    return (learner_file.kind or "").startswith("torch_")


# -- survey -----------------------------------------------------------------------------

def survey_files(paths, timeout, grading):
    """A LearnerFile per path, each parsed in a child under the walls."""
    out, pending = {}, [Path(p) for p in paths]
    for p in list(pending):
        if p.stat().st_size > MAX_FILE_BYTES:
            out[p] = LearnerFile(p, None, (), f"the file is larger than "
                                              f"{MAX_FILE_BYTES >> 20} MB", ())
            pending.remove(p)
    while pending:
        box = Sandbox(pending, grading=grading, cpu_seconds=timeout * len(pending) + 10)
        conn = connect(box)
        try:
            for p, copy in zip(list(pending), box.paths):
                box.deadline = time.monotonic() + timeout
                try:
                    out[p] = _learner_file(p, conn.ask("survey", paths=[str(copy)])[0])
                except ChildGone as e:
                    out[p] = LearnerFile(p, None, (), f"reading it {_gone(e, timeout)}", ())
                    pending.remove(p)
                    break
                except Exception as e:      # MemoryError, RecursionError of a huge file
                    out[p] = LearnerFile(p, None, (), f"{_name(e)}: {e}", ())
                pending.remove(p)
        finally:
            box.stop()
    return [out[Path(p)] for p in paths]


def _learner_file(path, data):
    """A LearnerFile from the child's survey, every field checked."""
    if not isinstance(data, dict):
        return LearnerFile(path, None, (), "the survey's answer was malformed", ())
    kind = data.get("kind") if data.get("kind") in KINDS else None
    defines = tuple(dict.fromkeys(d for d in data.get("defines") or () if d in _KNOWN))
    imports = tuple(i for i in data.get("imports") or () if isinstance(i, str)
                    and _MODULE_NAME.match(i))[:500]
    error = data.get("error")
    stubs = tuple(n for n in data.get("stubs") or () if n in defines)
    calls = data.get("calls") if isinstance(data.get("calls"), dict) else {}
    calls = {n: tuple(c for c in v if c in LAYER_FUNCTIONS) for n, v in calls.items()
             if n in defines and isinstance(v, list)}
    return LearnerFile(path, kind, defines, None if error is None else str(error)[:500], imports,
                       stubs, calls)


# -- running the checks -----------------------------------------------------------------

def _name(e):
    return getattr(e, "remote_type", type(e).__name__)


def _gone(e, timeout):
    why = str(e)
    return f"timed out after {timeout:g} s (an endless loop?)" if why == "timed out" else why


def load_error(e):
    """An error raised while a file ran, with the file and line in it."""
    frames = getattr(e, "remote_frames", [])
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{_name(e)}: {e}{where}"


def _check_one(name, target, module):
    """The result of one function, by the checks of its file's edition; the
    template's untouched stub is not run."""
    if name in target.stubs:
        return new_result(name, "todo", "the template's stub (not implemented yet)")
    calls = target.calls.get(name)
    if is_torch(target):
        from rnn_captioning.checker import torch_checks
        spec = next(s for s in torch_checks.TORCH_SPECS if s.name == name)
        return torch_checks.check_torch_function(spec, module, calls=calls)
    return checks.check_function(next(s for s in checks.SPECS if s.name == name), module,
                                 calls=calls)


class _Job:
    """Some functions of one file, checked in children of their own."""

    def __init__(self, target, names, others=None):
        self.target, self.names, self.others = target, list(names), others

    def run(self, timeout, grading, slot):
        """(the file's load error or None, {name: result})."""
        results, pending = {}, list(self.names)
        others = self.others() if callable(self.others) else []
        while True:
            box = Sandbox([self.target.path, *(o.path for o in others)], grading=grading,
                          torch=is_torch(self.target), slot=slot,
                          cpu_seconds=timeout * (len(pending) + 1) + 10)
            conn = connect(box)
            try:
                box.deadline = time.monotonic() + timeout
                try:
                    module = conn.ask("load", target=str(box.paths[0]),
                                      others=[str(p) for p in box.paths[1:]])
                except ChildGone as e:
                    return _gone(e, timeout), results
                except Exception as e:
                    return load_error(e), results
                while pending:
                    name = pending.pop(0)
                    box.deadline = time.monotonic() + timeout
                    try:
                        results[name] = _check_one(name, self.target, module)
                    except ChildGone as e:
                        results[name] = new_result(name, "crashed", _gone(e, timeout))
                        break           # the rest in a new child
                    except Exception as e:  # raised outside a case (say, by a class's
                        # attribute lookup): the function crashed, the others go on
                        results[name] = new_result(name, "crashed", checks.crash_message(e))
                if not pending:
                    return None, results
            finally:
                box.stop()


def _groups(names, model):
    """The jobs one file's functions are split into, so that two children
    share the work: a model's loss and sample apart, a long layers file in
    two halves; a file with nothing to check still runs once (to load it)."""
    if model and names:
        return [[n] for n in names]
    return [names[0::2], names[1::2]] if len(names) > 6 else [names]


def check_files(files, names, timeout, grading):
    """Results by name of ``names`` (defined by the LearnerFiles ``files``),
    and the load errors by file."""
    runnable = [f for f in files if f.error is None and f.kind is not None]
    owner = {n: f for f in runnable for n in f.defines}
    models = [f for f in runnable if f.kind in ("model", "torch_model")]
    plain = [f for f in runnable if f not in models]
    loaded = {f.path: threading.Event() for f in plain}
    errors = {}

    def loaded_files():
        for event in loaded.values():
            event.wait()
        return [f for f in plain if f.path not in errors]

    jobs = [_Job(f, group, loaded_files if f in models else None) for f in plain + models
            for group in _groups([n for n in names if owner.get(n) is f], f in models)]
    results, slots, lock = {}, list(range(WORKERS)), threading.Lock()

    def work(job):
        with lock:
            slot = slots.pop()
        error, got = "the checker could not run it", {}
        try:
            error, got = job.run(timeout, grading, slot)
        finally:
            with lock:
                slots.append(slot)
                if error is not None:
                    errors.setdefault(job.target.path, error)
                results.update(got)
            if job.target.path in loaded:       # after the error is known: models wait on it
                loaded[job.target.path].set()

    with subreaper(), ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(work, j) for j in jobs]:
            future.result()
    return results, errors


def blame_layers(checked, files, timeout):
    """A model that fails beside failing layer functions of the learner's is
    checked again on the library's layers; when it passes there, its result
    says that it fails because those layers fail (fix them first)."""
    bad_layers = [n for n in LAYER_FUNCTIONS + TORCH_LAYER_FUNCTIONS
                  if checked.get(n, {}).get("status") in ("fail", "crashed")]
    layer_files = [f for f in files if f.kind in ("layers", "torch_layers")]
    models = [f for f in files if f.kind in ("model", "torch_model") and f.error is None]
    if not (bad_layers and layer_files and models):
        return
    with subreaper():
        for name in MODEL_NAMES:
            result = checked.get(name)
            owner = next((f for f in models if name in f.defines), None)
            if result is None or result["status"] not in ("fail", "crashed") or owner is None:
                continue
            error, alone = _Job(owner, [name]).run(timeout, False, 0)
            if error is None and alone.get(name, {}).get("status") == "pass":
                layers = list(dict.fromkeys(bad_layers))
                result["blame"] = layers
                result["message"] += f" (because {', '.join(layers)} " \
                                     f"fail{'s' if len(layers) == 1 else ''})"


MODEL_NAMES = ("CaptioningRNN.loss", "CaptioningRNN.sample")


def run(paths, *, timeout, only, grading):
    """The list of result dicts of report.run_checks."""
    known = [s.name for s in checks.SPECS]
    files = survey_files(paths, timeout, grading is not None)
    torch_files = [f for f in files if is_torch(f)]
    if (torch_files or grading == "torch") and importlib.util.find_spec("torch") is None:
        raise TorchMissing("these are PyTorch-edition files and PyTorch is not installed: "
                           "pip install -e \".[torch]\" (torch==2.13.0, the CPU build)")
    if grading is not None:
        known = list(REQUIRED[grading])
    elif files and len(torch_files) == len(files):      # the PyTorch edition has no more
        known = [n for n in known if n in TORCH_LAYER_FUNCTIONS or n.startswith("Captioning")]
    names = [n for n in known if only is None or n in only]
    checks.reference_namespace()        # the library's modules, imported once before the threads
    checked, load_errors = check_files(files, names, timeout, grading is not None)
    if grading is None:
        blame_layers(checked, files, timeout)
    results = []
    for f in files:
        error = f.error or load_errors.get(f.path)
        if error is not None:
            results.append(new_result(f.path.name, "crashed", f"could not run {f.path}: {error}"))
    for name in names:
        if name in checked:
            results.append(checked[name])
        elif grading is not None:
            results.append(new_result(name, "missing", "not in the submitted files (scores 0)"))
        else:
            results.append(new_result(name, "absent", "not in the given files"))
    return results
