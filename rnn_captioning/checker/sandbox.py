"""The untrusted side of the checker: the only code that reads, compiles and
runs a learner's files.

It runs in a child process that walls.py starts with this module's source
(and wire.py's and confine.py's) on its command line, so it needs none of the
library's files on disk. The child puts up its walls (confine.py) before it
reads a learner's byte, then answers the checker's requests one at a time:
``survey`` (what each file defines, parsed here and not in the checker),
``load`` (run a file the way the exercise's package imports it), ``get``,
``set`` and ``call`` (on the learner's functions and objects), ``signature``,
``tensor`` and ``grad`` (the PyTorch edition's autograd).

Everything it answers is plain data (wire.py): numbers, strings, arrays of
numbers, and handles for the objects that stay here (a cache, a model). The
checker decides nothing from this process's word: it compares the raw outputs
with its own reference. Code here may be changed by the learner's code at run
time; that can only spoil the learner's own outputs.
"""
import ast
import importlib.util
import inspect
import sys
import traceback
import types
from pathlib import Path

SOURCE_NAME = "<checker-sandbox>"      # frames of this code, left out of learners' tracebacks

LAYER_FUNCTIONS = (
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "word_embedding_forward", "word_embedding_backward", "temporal_affine_forward",
    "temporal_affine_backward", "temporal_softmax_loss")
RULES = ("sgd", "sgd_momentum", "rmsprop", "adam")
MODEL_METHODS = ("loss", "sample")
# the PyTorch edition (2025-): forward functions only
TORCH_LAYER_FUNCTIONS = ("rnn_step_forward", "rnn_forward", "word_embedding_forward",
                         "lstm_step_forward", "lstm_forward")
KINDS = ("layers", "model", "optim", "base_layers", "torch_layers", "torch_model")
# kind -> the module name the exercise's package gives such a file
MODULE_OF_KIND = {"layers": "rnn_layers", "optim": "optim", "base_layers": "layers",
                  "torch_layers": "rnn_layers_pytorch"}
MAX_TEXT = 2000


# -- what a file defines (parsed here, under the walls) ----------------------------------

def survey(path):
    """{'kind', 'defines', 'error', 'imports'} of one file, read without running it."""
    path = Path(path)
    source = path.read_text(encoding="utf-8-sig", errors="replace")   # Windows editors add a BOM
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        return {"kind": _kind_from_name(path), "defines": [], "imports": [],
                "error": f"SyntaxError: {e.msg} ({path.name}, line {e.lineno})"}
    imports = sorted({node.module for node in ast.walk(tree)
                      if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module}
                     | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for a in node.names})
    functions = _exercise_functions(tree)
    # the edition is what the functions do: a NumPy file with an editor's
    # stray `import torch` is still NumPy code
    torch = _uses(functions.values(), _aliases_of(tree, "torch")) or \
        not _uses(functions.values(), _aliases_of(tree, "numpy")) and any(
            name == "torch" or name.startswith("torch.") for name in imports)
    exercise = [n for n in functions if n in (TORCH_LAYER_FUNCTIONS if torch
                                              else LAYER_FUNCTIONS + RULES)
                or n.startswith("CaptioningRNN.")]
    defines = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    kind = _kind(path, exercise, defines)
    if torch and kind in ("layers", "model"):
        kind = f"torch_{kind}"
    return {"kind": kind, "defines": exercise, "imports": imports, "error": None,
            "stubs": [n for n in exercise if _is_stub(functions[n])],
            "calls": {n: sorted(_names(f) & set(LAYER_FUNCTIONS)) for n, f in functions.items()
                      if n.startswith("CaptioningRNN.")}}


def _exercise_functions(tree):
    """{'rnn_forward': node, 'CaptioningRNN.loss': node, ...}: the file's
    top-level functions and the model's methods the exercise names."""
    found = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
             and node.name in LAYER_FUNCTIONS + RULES}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "CaptioningRNN":
            found.update({f"CaptioningRNN.{n.name}": n for n in node.body
                          if isinstance(n, ast.FunctionDef) and n.name in MODEL_METHODS})
    return found


def _aliases_of(tree, package):
    """The names the file binds to ``package`` or its parts (torch, nn, F, ...)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name).split(".")[0] for a in node.names
                        if a.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                (node.module or "").split(".")[0] == package:
            aliases |= {a.asname or a.name for a in node.names}
    return aliases


def _names(node):
    """Every name read in a function's body."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _uses(functions, aliases):
    return bool(aliases) and any(_names(f) & aliases for f in functions)


def _is_stub(function):
    """The template's untouched body: only a docstring, `pass`, names set to
    None, `raise NotImplementedError` and a `return` of names (which may
    never have been assigned)."""
    for stmt in function.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue                                    # the docstring
        if isinstance(stmt, ast.Pass) or isinstance(stmt, ast.Raise) and \
                "NotImplementedError" in ast.unparse(stmt):
            continue
        if isinstance(stmt, ast.Assign) and all(
                isinstance(v, ast.Constant) and v.value is None
                for v in ast.walk(stmt.value) if not isinstance(v, (ast.Tuple, ast.Load))):
            continue
        if isinstance(stmt, ast.Return) and (stmt.value is None or all(
                isinstance(v, (ast.Name, ast.Tuple, ast.Load, ast.Constant))
                for v in ast.walk(stmt.value))):
            continue
        return False
    return True


def _kind(path, exercise, defines):
    if any(name.startswith("CaptioningRNN.") for name in exercise):
        return "model"
    if any(name in LAYER_FUNCTIONS for name in exercise):
        return "layers"
    if any(name in RULES for name in exercise):
        return "optim"
    if "affine_forward" in defines:
        return "base_layers"
    return _kind_from_name(path)


def _kind_from_name(path):
    return {"rnn_layers": "layers", "optim": "optim", "layers": "base_layers",
            "rnn": "model", "captioning_rnn": "model", "rnn_layers_pytorch": "torch_layers",
            "rnn_pytorch": "torch_model"}.get(path.stem)


# -- loading a file as the exercise's package imports it ---------------------------------

def _package(name, root):
    """A package module ``name`` (and its parents) whose search path is the
    learner's package folder (root/classifiers for the sub-package), so their
    own helper modules import as in their repository."""
    parts = name.split(".")
    for k in range(1, len(parts) + 1):
        dotted = ".".join(parts[:k])
        if dotted not in sys.modules:
            module = types.ModuleType(dotted)
            folder = root if k == 1 else root / "classifiers"
            module.__path__ = [str(folder)] if folder.is_dir() else []
            sys.modules[dotted] = module


def _package_root(path):
    folder = path.resolve().parent
    return folder.parent if folder.name == "classifiers" else folder


def _python2_shims():
    """``from past.builtins import xrange`` (the 2016-2018 files) without ``future``."""
    if "past" not in sys.modules and importlib.util.find_spec("past") is None:
        past, builtins_ = types.ModuleType("past"), types.ModuleType("past.builtins")
        past.__path__, builtins_.xrange = [], range
        sys.modules.update({"past": past, "past.builtins": builtins_})


def _aliases(surveys):
    """Every package name under which the files may import the exercise's
    modules: the edition's, and any their absolute imports name (a fork's)."""
    packages = {"cs231n"}
    for s in surveys:
        for name in s["imports"]:
            head, _, last = name.rpartition(".")
            if head and last in ("rnn_layers", "layers", "optim", "classifiers",
                                 "rnn_layers_pytorch"):
                packages.add(head.removesuffix(".classifiers"))
    return packages


def _exec(path, name, package):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load(target, others, stand_ins):
    """Run the file ``target`` and return its module; a model file first runs
    the ``others`` (paths that loaded on their own) it may import. An import
    of an exercise module the files do not give resolves to ``stand_ins``
    (the library's, in a learner's own check; only the given layers.py when grading)."""
    _python2_shims()
    target = Path(target)
    files = {Path(p): survey(p) for p in [*others, target]}
    packages, root = _aliases(files.values()), _package_root(target)
    sys.path.append(str(root))          # flat layouts' other modules
    order = {"base_layers": 0, "layers": 1, "torch_layers": 1, "optim": 2}
    kind = files[target]["kind"]
    needed = [p for p, s in files.items() if s["kind"] in MODULE_OF_KIND and p != target]
    if kind not in ("model", "torch_model"):
        # a layers or optim file is checked on its own, with the stand-ins beside it
        needed = [p for p in needed if files[p]["kind"] == "base_layers"]
    modules, learner_stems = dict(stand_ins), set()
    for path in sorted(needed, key=lambda p: order[files[p]["kind"]]) + [target]:
        _register(modules, packages, root)
        stem = MODULE_OF_KIND.get(files[path]["kind"])
        if path == target and kind in ("model", "torch_model"):
            return _exec(path, f"cs231n.classifiers.{path.stem}", "cs231n.classifiers")
        module = _exec(path, f"cs231n.{stem or path.stem}", "cs231n")
        if path == target:
            return module
        # a second layers file (temporal_layers.py) does not take rnn_layers.py's name
        if stem is not None and (stem not in learner_stems or path.stem == stem):
            modules[stem] = _over(stand_ins.get(stem), module)
            learner_stems.add(stem)


def _over(library_module, learner_module):
    """The learner's module as the model file imports it: their functions,
    and the stand-in's for those their file does not define."""
    merged = types.ModuleType(learner_module.__name__)
    if library_module is not None:
        merged.__dict__.update({k: v for k, v in vars(library_module).items()
                                if not k.startswith("_")})
    merged.__dict__.update({k: v for k, v in vars(learner_module).items()
                            if not k.startswith("__")})
    merged.__file__ = learner_module.__file__
    return merged


def _register(modules, packages, root):
    """Point every alias of the exercise's modules at the current choice."""
    for package in packages:
        _package(f"{package}.classifiers", root)
        for stem, module in modules.items():
            sys.modules[f"{package}.{stem}"] = module
            setattr(sys.modules[package], stem, module)
    for stem, module in modules.items():
        sys.modules[stem] = module


def given_stand_ins(library_root):
    """When grading, only the module the exercise gives learners ready-made
    (``layers.py``: affine_forward and the like) stands in; it is loaded from
    its file alone, so nothing else of the library enters the process."""
    spec = importlib.util.spec_from_file_location("layers", Path(library_root) / "layers.py")
    layers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layers)
    return {"layers": layers}


def library_stand_ins(library_root, torch):
    """The library's modules as a learner's files import them (learner mode
    only; imported before the walls go up)."""
    sys.path.insert(0, str(library_root))
    from rnn_captioning.checker.reference import library
    lib = library()
    module = types.ModuleType("rnn_layers")   # the 2021-2024 files define affine_* there too
    public = {n: getattr(lib.layers, n) for n in ("affine_forward", "affine_backward")}
    public.update({n: getattr(lib.rnn_layers, n) for n in LAYER_FUNCTIONS})
    module.__dict__.update(public, np=sys.modules["numpy"])
    module.__all__ = sorted(public)
    stand_ins = {"layers": lib.layers, "rnn_layers": module, "optim": lib.optim}
    if torch:
        from rnn_captioning.checker import torch_layers
        stand_ins["rnn_layers_pytorch"] = torch_layers
    sys.path.remove(str(library_root))
    return stand_ins


# -- values across the boundary ------------------------------------------------------------

class _Kept:
    """A value to answer with a handle, whatever it is."""

    def __init__(self, obj):
        self.obj = obj


class Server:
    """Answers the checker's requests on (read_fd, write_fd)."""

    def __init__(self, wire, stand_ins, limit):
        import numpy as np
        self.np, self.wire, self.stand_ins, self.limit = np, wire, stand_ins, limit
        self.handles, self.next_handle = {}, 1

    def keep(self, obj):
        n = self.next_handle
        self.handles[n], self.next_handle = obj, n + 1
        return n

    def encode(self, v, arrays, depth=0):
        np, torch = self.np, sys.modules.get("torch")
        if v is None or isinstance(v, (bool, int, float)) and type(v) in (bool, int, float):
            return v
        if type(v) is str:
            return v[:MAX_TEXT]
        if depth < 16:
            if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
                arrays.append(np.asarray(v))
                return {"@a": len(arrays) - 1}
            if isinstance(v, np.generic) and v.dtype.kind in "biufc":
                arrays.append(np.asarray(v))
                return {"@s": len(arrays) - 1}
            if torch is not None and type(v) is torch.Tensor:
                return self._tensor(v, arrays)
            if type(v) is tuple:
                return {"@t": [self.encode(x, arrays, depth + 1) for x in v]}
            if type(v) is list:
                return [self.encode(x, arrays, depth + 1) for x in v]
            if type(v) is dict and all(type(k) is str for k in v):
                return {"@d": [[k[:MAX_TEXT], self.encode(x, arrays, depth + 1)]
                               for k, x in v.items()]}
        if type(v) is _Kept:
            v = v.obj
        return {"@h": self.keep(v), "callable": callable(v), "type": type(v).__name__[:80]}

    def _tensor(self, t, arrays):
        values = t.detach().cpu()
        try:
            values = values.numpy()
        except (TypeError, RuntimeError):       # bfloat16 and the like: their values in float64
            values = values.double().numpy()
        arrays.append(values)
        return {"@T": len(arrays) - 1, "dtype": str(t.dtype), "grad_fn": t.grad_fn is not None,
                "requires_grad": bool(t.requires_grad), "@h": self.keep(t)}

    def decode(self, v, arrays):
        if isinstance(v, list):
            return [self.decode(x, arrays) for x in v]
        if not isinstance(v, dict):
            return v
        if "@a" in v:
            return arrays[v["@a"]].copy()
        if "@s" in v:
            return arrays[v["@s"]][()]
        if "@t" in v:
            return tuple(self.decode(x, arrays) for x in v["@t"])
        if "@d" in v:
            return {k: self.decode(x, arrays) for k, x in v["@d"]}
        if "@dtype" in v:
            return self.np.dtype(v["@dtype"])
        if "@tdtype" in v:
            import torch
            return getattr(torch, v["@tdtype"])
        if "@new_T" in v:
            import torch
            return torch.tensor(arrays[v["@new_T"]], dtype=getattr(torch, v["dtype"]),
                                requires_grad=v["requires_grad"])
        return self.handles[v["@h"]]

    # -- requests ---------------------------------------------------------------------

    def op_survey(self, paths):
        return [survey(p) for p in paths]

    def op_load(self, target, others):
        return load(target, others, self.stand_ins)

    def op_get(self, obj, name):
        return getattr(obj, name)

    def op_set(self, obj, name, value):
        setattr(obj, name, value)

    def op_call(self, fn, args, kwargs, keep_last=False):
        """The call's value, and the array arguments it changed in place
        (the checker warns about those). ``keep_last``: the last of the
        returned values (a cache) stays here, named by a handle."""
        np = self.np
        before = [a.copy() if type(a) is np.ndarray else None for a in args]
        value = fn(*args, **kwargs)
        if keep_last and type(value) is tuple and value and value[-1] is not None:
            value = (*value[:-1], _Kept(value[-1]))
        changed = [[i, a] for i, (a, b) in enumerate(zip(args, before))
                   if b is not None and not (a.shape == b.shape
                                             and np.array_equal(a, b, equal_nan=True))]
        return {"value": value, "changed": changed}

    def _perturbed(self, x, call):
        """call(ix, step) for step +h and -h at each entry ix of x, in turn;
        the values but the last (a cache, a gradient) of each."""
        out = []
        for ix in self.np.ndindex(*x.shape):
            for sign in (1, -1):
                value = call(ix, sign)
                out.append(tuple(value[:-1]) if type(value) is tuple else value)
        return out

    def op_perturbed(self, fn, args, index, h):
        """fn with args[index] moved by +h, then -h, at each entry in turn;
        every call gets fresh copies (code that changes its inputs cannot
        skew the next call)."""
        def call(ix, sign):
            moved = [a.copy() if type(a) is self.np.ndarray else a for a in args]
            moved[index][ix] += sign * h
            return fn(*moved)
        return self._perturbed(args[index], call)

    def op_perturbed_model(self, cls, args, kwargs, params, key, call_args, h):
        """A model made anew for each entry of params[key] moved by +h, then
        -h: ``cls(*args, **kwargs)``, its params set, then its loss."""
        def call(ix, sign):
            model = cls(*args, **kwargs)
            model.params = {k: v.copy() for k, v in params.items()}
            model.params[key][ix] += sign * h
            return model.loss(*(a.copy() for a in call_args))
        return self._perturbed(params[key], call)

    def op_signature(self, fn):
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        return [[p.name[:100], int(p.kind), p.default is not p.empty] for p in params]

    def op_tensor(self, value):
        return value

    def op_grad(self, outputs, weights, inputs):
        """Autograd's gradients of sum(output * weight) (weight None: the
        output itself) with respect to ``inputs``; None where the graph does
        not reach an input."""
        import torch
        total = sum((o * torch.as_tensor(w, dtype=o.dtype)).sum() if w is not None else o.sum()
                    for o, w in zip(outputs, weights))
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
        return [None if g is None else g.detach().numpy() for g in grads]

    def op_trace(self, on):
        """Start (on=True) or stop tracing the lines of the learner's files
        run by the requests in between; stopping returns what was seen (see
        LineTracer.events)."""
        if on:
            import os
            self.tracer = LineTracer(self.np, os.getcwd())
            sys.settrace(self.tracer.call)
            return None
        sys.settrace(None)
        tracer, self.tracer = getattr(self, "tracer", None), None
        return None if tracer is None else tracer.report()

    def op_reset(self):
        self.handles.clear()

    def answer(self, message, arrays):
        op = getattr(self, f"op_{message['op']}")
        args = {k: self.decode(v, arrays) for k, v in message.get("args", {}).items()}
        return op(**args)

    def serve(self, read_fd, write_fd):
        while True:
            try:
                message, arrays = self.wire.read_frame(read_fd, self.limit)
            except EOFError:
                return
            try:
                value, out = self.answer(message, arrays), []
                reply = {"value": self.encode(value, out)}
            except BaseException as e:          # the learner's code may raise anything
                out, reply = [], {"error": error_data(e)}
            try:
                self.wire.write_frame(write_fd, reply, out)
            except (ValueError, TypeError) as e:   # an output that cannot be written
                self.wire.write_frame(write_fd, {"error": error_data(e)})


class LineTracer:
    """What each line of the learner's files (those under ``root``) computed:
    the locals a line created or changed (arrays, numbers), in the order the
    lines ran, and each function's return value. The checker matches them
    with a reference computation to point at the first line that goes wrong."""

    MAX_EVENTS, MAX_BYTES, MAX_SIZE = 6000, 16 << 20, 20000

    def __init__(self, np, root):
        self.np, self.root = np, str(root)
        self.events, self.lines, self.bytes, self.full = [], {}, 0, False
        self.frames = {}            # id(frame) -> [last line, {name: snapshot}, call number]
        self.calls, self.names = 0, {}

    def call(self, frame, event, arg):
        if self.full or not frame.f_code.co_filename.startswith(self.root):
            return None
        self.calls += 1
        self.names[self.calls] = frame.f_code.co_name[:100]
        arguments = self._values(frame.f_locals)
        for name, value in arguments.items():       # what it was given
            self._record(frame, frame.f_lineno, f"<argument {name}>", value, self.calls)
        self.frames[id(frame)] = [frame.f_lineno, arguments, self.calls]
        return self.local

    def local(self, frame, event, arg):
        state = self.frames.get(id(frame))
        if state is None or event not in ("line", "return"):
            return self.local
        line, before, number = state
        now = self._values(frame.f_locals)
        for name, value in now.items():
            old = before.get(name)
            if old is None or old.shape != value.shape or not self.np.array_equal(
                    old, value, equal_nan=True):
                self._record(frame, line, name, value, number)
        if event == "return":
            ret = self._value(arg)
            items = [ret] if ret is not None else [self._value(v) for v in arg] \
                if type(arg) is tuple else []
            for k, v in enumerate(items):
                if v is not None:
                    self._record(frame, frame.f_lineno, f"<return {k}>", v, number)
            del self.frames[id(frame)]
        else:
            state[:2] = [frame.f_lineno, now]
        return self.local

    def _value(self, v):
        np = self.np
        if type(v) in (int, float) or isinstance(v, np.generic) and v.dtype.kind in "biuf":
            return np.asarray(v, dtype=np.float64)
        if type(v) is np.ndarray and v.dtype.kind in "biuf" and v.size <= self.MAX_SIZE:
            return v.copy()
        torch = sys.modules.get("torch")
        if torch is not None and type(v) is torch.Tensor and v.numel() <= self.MAX_SIZE:
            return v.detach().cpu().double().numpy().copy()
        return None

    def _values(self, names):
        out = {}
        for name, v in names.items():
            value = self._value(v)
            if value is not None:
                out[name] = value
        return out

    def _record(self, frame, line, name, value, number):
        if self.full:
            return
        self.bytes += value.nbytes
        if len(self.events) >= self.MAX_EVENTS or self.bytes > self.MAX_BYTES:
            self.full = True
            return
        where = (frame.f_code.co_filename, line)
        if where not in self.lines:
            self.lines[where] = _line_reads(*where)
        self.events.append([where[0][-300:], line, name[:100], value, number])

    def report(self):
        """{'events': [[file, line, name, value, call number]], 'lines':
        [[file, line, text, names read]], 'complete': whether every event
        was kept, 'functions': [[call number, function name]]}."""
        lines = [[f[-300:], n, text, reads] for (f, n), (text, reads) in self.lines.items()]
        return {"events": self.events, "lines": lines, "complete": not self.full,
                "functions": [[k, v] for k, v in self.names.items()]}


def _line_reads(filename, lineno):
    """A line's text and the names its statement reads."""
    import linecache
    text = linecache.getline(filename, lineno).strip()
    try:
        tree = ast.parse(text + " pass" if text.endswith(":") else text)
        reads = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                        and isinstance(n.ctx, ast.Load)}
                       | {n.target.id for n in ast.walk(tree) if isinstance(n, ast.AugAssign)
                          and isinstance(n.target, ast.Name)})
    except SyntaxError:         # a part of a statement over several lines
        import re
        reads = sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)))
    return text[:300], reads[:100]


def error_data(e):
    """An exception as data: its type, message and the frames outside this file."""
    try:
        text = str(e)[:MAX_TEXT]
    except Exception:
        text = "(its message could not be shown)"
    frames = [[f.filename[:300], f.lineno or 0, (f.name or "")[:100], (f.line or "")[:300]]
              for f in traceback.extract_tb(e.__traceback__) if f.filename != SOURCE_NAME]
    if isinstance(e, SyntaxError):
        frames.append([str(e.filename or "")[:300], e.lineno or 0, "<module>",
                       (e.text or "").strip()[:300]])
        text = str(e.msg)[:MAX_TEXT]
    bases = [c.__name__ for c in type(e).__mro__][:12]
    return {"type": type(e).__name__[:80], "bases": bases, "message": text,
            "frames": frames[-30:]}


def main(config):
    """The child's life: imports and walls first (trusted), then requests."""
    import os
    confine, wire = sys.modules["checker_confine"], sys.modules["checker_wire"]
    import numpy  # noqa: F401  (before the walls: the interpreter's files may be out of reach after)
    confine.preload(config)
    if config["grading"]:
        stand_ins = given_stand_ins(config["library_root"])
    else:
        stand_ins = library_stand_ins(config["library_root"], config.get("torch", False))
    confine.put_up_walls(config)
    sys.stdout = open(os.devnull, "w")      # print() goes nowhere; fd 1 is a bounded log
    sys.stdin = None
    Server(wire, stand_ins, config["frame_limit"]).serve(config["read_fd"], config["write_fd"])
