"""The library's own exercise modules, whatever is on ``sys.path``.

A learner runs the checker from their own folder: a notebook kernel or
``python -m`` puts that folder first on ``sys.path``, so ``import rnn_layers``
there gives the learner's file, not the library's. The checker's reference
must be the library's, so it imports the exercise's modules from the
library's own folder, and puts back whatever the learner's session had under
those names (their notebook keeps its own ``rnn_layers``).
"""
import importlib
import sys
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

__all__ = ["library", "LIBRARY_ROOT", "EXERCISE_MODULES"]

# the exercise's modules sit beside the package, in a checkout and in site-packages
LIBRARY_ROOT = Path(__file__).resolve().parents[2]
EXERCISE_MODULES = ("layers", "rnn_layers", "captioning_rnn", "optim")


def _is_library(module):
    path = getattr(module, "__file__", None)
    return path is not None and Path(path).resolve().parent == LIBRARY_ROOT


@lru_cache(maxsize=None)
def library():
    """A namespace of the library's ``layers``, ``rnn_layers``,
    ``captioning_rnn`` and ``optim`` modules."""
    saved = {n: sys.modules[n] for n in EXERCISE_MODULES if n in sys.modules}
    if all(_is_library(m) for m in saved.values()) and len(saved) == len(EXERCISE_MODULES):
        return SimpleNamespace(**saved)
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(LIBRARY_ROOT))
    try:
        # each module binds what it imports from the others now, so the
        # learner's modules can take their names back afterwards
        modules = {n: importlib.import_module(n) for n in EXERCISE_MODULES}
    finally:
        sys.path.remove(str(LIBRARY_ROOT))
        for name in EXERCISE_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
    for name, module in modules.items():
        if not _is_library(module):
            raise ImportError(f"the library's {name}.py was not found in {LIBRARY_ROOT}")
    return SimpleNamespace(**modules)
