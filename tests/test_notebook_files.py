"""The committed notebooks: executed, clean, and free of machine details.
(nbmake executes them again in the same test run: see pyproject.toml.)"""
import ast
import json
import re
import socket
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(/home/|/root/|/work/|/tmp/|/Users/|[A-Z]:\\\\)")
MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)


def _definitions(source):
    """Functions and classes a cell defines (text inside strings, such as a
    learner's file written out for the checker, is not a definition)."""
    tree = ast.parse(MAGIC.sub("", source))
    return [n.name for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def test_three_notebooks():
    assert {p.name for p in NOTEBOOKS} == {"RNN_Captioning.ipynb", "LSTM_Captioning.ipynb",
                                           "Evaluation_and_Decoding.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_with_outputs_and_nothing_private(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code), "not executed top to bottom"
    counts = [c["execution_count"] for c in code]
    assert counts == sorted(counts), "cells were run out of order"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], "warnings in the outputs"
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "plots missing"
    text = "\n".join(_texts(outputs))
    assert not ABSOLUTE_PATH.search(text), ABSOLUTE_PATH.search(text)
    assert not re.search(rf"\b{re.escape(socket.gethostname())}\b", text), "machine name"
    defined = [d for c in code for d in _definitions("".join(c["source"]))]
    assert defined == [], f"notebooks define no library code: {defined}"


def _texts(outputs):
    """The human-readable parts of outputs (streams, text/plain, html)."""
    for o in outputs:
        if "text" in o:
            yield "".join(o["text"])
        for mime in ("text/plain", "text/html"):
            if mime in o.get("data", {}):
                yield "".join(o["data"][mime])
