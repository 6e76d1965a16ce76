"""Reading a learner's files: what each defines, and loading them as the
exercise's package layout expects, whatever the package is called.

A learner gives files from their own layout: ``cs231n/rnn_layers.py``,
``cs231n/classifiers/rnn.py``, ``cs231n/optim.py``, a fork's package name, or
flat files in one folder. Each file is read on its own (:func:`survey`): a
syntax error in one says nothing about the others. To run one, the imports it
makes of the exercise's other modules (``from ..rnn_layers import *``,
``from cs231n.layers import *``, ``from rnn_layers import *``,
``from icv83551.rnn_layers import ...``) resolve to the learner's file of that
name when it was given and loads, and to the library's otherwise.
"""
import ast
import importlib.util
import sys
import types
from collections import namedtuple
from pathlib import Path

from rnn_captioning.checker.reference import library

__all__ = ["LearnerFile", "survey", "load_namespace", "LAYER_FUNCTIONS", "RULES",
           "TORCH_LAYER_FUNCTIONS", "is_torch"]

LAYER_FUNCTIONS = (
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "word_embedding_forward", "word_embedding_backward", "temporal_affine_forward",
    "temporal_affine_backward", "temporal_softmax_loss")
RULES = ("sgd", "sgd_momentum", "rmsprop", "adam")
MODEL_METHODS = ("loss", "sample")
# the PyTorch edition (2025-): forward functions only; its given functions
# (affine_forward, temporal_affine_forward, temporal_softmax_loss) and any
# backward a learner adds are not the exercise's to check
TORCH_LAYER_FUNCTIONS = ("rnn_step_forward", "rnn_forward", "word_embedding_forward",
                         "lstm_step_forward", "lstm_forward")

# kind -> the module name the exercise's package gives such a file
_MODULE_OF_KIND = {"layers": "rnn_layers", "optim": "optim", "base_layers": "layers",
                   "torch_layers": "rnn_layers_pytorch"}

# path, kind ('layers', 'model', 'optim', 'base_layers' or None), the exercise
# functions it defines (e.g. 'rnn_forward', 'CaptioningRNN.loss'), the error
# that stops it from being read (or None), and its absolute imports
LearnerFile = namedtuple("LearnerFile", "path kind defines error imports")


def survey(path):
    """What one file is and defines, read without running it."""
    path = Path(path)
    source = path.read_text(encoding="utf-8-sig", errors="replace")   # Windows editors add a BOM
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        error = f"SyntaxError: {e.msg} ({path.name}, line {e.lineno})"
        return LearnerFile(path, _kind_from_name(path), (), error, ())
    imports = sorted({node.module for node in ast.walk(tree)
                      if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module}
                     | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for a in node.names})
    torch = any(name == "torch" or name.startswith("torch.") for name in imports)
    defines = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    exercise = [n for n in defines if n in (TORCH_LAYER_FUNCTIONS if torch
                                            else LAYER_FUNCTIONS + RULES)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "CaptioningRNN":
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            exercise += [f"CaptioningRNN.{m}" for m in MODEL_METHODS if m in methods]
    kind = _kind(path, exercise, defines)
    if torch and kind in ("layers", "model"):
        kind = f"torch_{kind}"
    return LearnerFile(path, kind, tuple(exercise), None, tuple(imports))


def is_torch(learner_file):
    """Whether a surveyed file is of the PyTorch edition."""
    return (learner_file.kind or "").startswith("torch_")


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


# -- loading ------------------------------------------------------------------------------

def _package(name, root):
    """A package module ``name`` (and its parents) in sys.modules, whose
    search path is the learner's package folder ``root`` (root/classifiers
    for the sub-package), so that their other modules (layer_utils.py, ...)
    import as in their repository; the exercise's own are registered apart."""
    parts = name.split(".")
    for k in range(1, len(parts) + 1):
        dotted = ".".join(parts[:k])
        if dotted not in sys.modules:
            module = types.ModuleType(dotted)
            folder = root if k == 1 else root / "classifiers"
            module.__path__ = [str(folder)] if folder.is_dir() else []
            sys.modules[dotted] = module


def _package_root(path):
    """The learner's package folder: the one above classifiers/, or the
    folder of the file at ``path``."""
    folder = path.resolve().parent
    return folder.parent if folder.name == "classifiers" else folder


def _library_rnn_layers():
    """The library's layers as the editions' ``rnn_layers`` offer them: the
    2021-2024 files define ``affine_forward``/``_backward`` there too."""
    lib = library()
    module = types.ModuleType("rnn_layers")
    public = {n: getattr(lib.layers, n) for n in ("affine_forward", "affine_backward")}
    public.update({n: getattr(lib.rnn_layers, n) for n in LAYER_FUNCTIONS})
    module.__dict__.update(public, np=__import__("numpy"))
    module.__all__ = sorted(public)
    return module


def _python2_shims():
    """``from past.builtins import xrange`` (the 2016-2018 files) without the
    ``future`` package installed."""
    if importlib.util.find_spec("past") is None:
        past, builtins_ = types.ModuleType("past"), types.ModuleType("past.builtins")
        past.__path__, builtins_.xrange = [], range
        sys.modules.update({"past": past, "past.builtins": builtins_})


def _aliases(files):
    """Every module name under which the learner's files may import one of
    the exercise's modules: the edition's package, flat names, and any
    package the files name in their absolute imports (a fork's)."""
    packages = {"cs231n"}
    for f in files:
        for name in f.imports:
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


def load_namespace(target, files):
    """Run the learner's file ``target`` (a LearnerFile) and return its module.

    ``files`` are all the given files that read without error: the ones
    ``target`` imports are run first (layers before the model). Call this in
    a child process: it changes ``sys.modules``.
    """
    _python2_shims()
    lib = library()
    stand_ins = {"layers": lib.layers, "rnn_layers": _library_rnn_layers(), "optim": lib.optim}
    if is_torch(target):
        from rnn_captioning.checker import torch_layers
        stand_ins["rnn_layers_pytorch"] = torch_layers
    packages = _aliases(files + [target])
    root = _package_root(target.path)
    sys.path.append(str(root))          # flat layouts' other modules, after the library's
    order = {"base_layers": 0, "layers": 1, "torch_layers": 1, "optim": 2, "model": 3,
             "torch_model": 3, None: 4}
    needed = [f for f in files if f.kind in _MODULE_OF_KIND and f.path != target.path]
    if target.kind not in ("model", "torch_model"):
        # a layers or optim file is checked on its own, with the library beside it
        needed = [f for f in needed if f.kind == "base_layers"]
    modules, learner_stems = dict(stand_ins), set()
    for f in sorted(needed + [target], key=lambda f: order[f.kind]):
        _register(modules, packages, root)
        stem = _MODULE_OF_KIND.get(f.kind)
        if f.kind in ("model", "torch_model"):
            module = _exec(f.path, f"cs231n.classifiers.{f.path.stem}", "cs231n.classifiers")
        else:
            module = _exec(f.path, f"cs231n.{stem or f.path.stem}", "cs231n")
        if f.path == target.path:
            return module
        # a second layers file (say temporal_layers.py) does not take the name
        # of the one called rnn_layers.py
        if stem is not None and (stem not in learner_stems or f.path.stem == stem):
            modules[stem] = _over(stand_ins[stem], module)
            learner_stems.add(stem)
    raise AssertionError("unreachable: the target is always loaded")


def _over(library_module, learner_module):
    """The learner's module as the model file imports it: their functions,
    and the library's for those their file does not define (a half-done
    layers file should not crash a model that is not at fault)."""
    merged = types.ModuleType(learner_module.__name__)
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
        sys.modules[stem] = module                     # the flat layout's imports
