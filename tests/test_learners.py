"""The checker on learners' files: each folder of tests/learners/ is one
learner (their files as they would give them, and expected.json saying what
the checker must answer). To add a learner, drop in a folder.

expected.json:
- "files": the files to give, relative to the folder (default: every .py)
- "exit": the exit status of ``check_implementation.py FILES --json``
- "functions": every function the checker must report (absent ones are not
  listed), each with its "status" and, where the checker must say it, the
  "mistake" id it names, a substring of its "message" or of one of its "notes",
  and for a failure the "explanation" it must give: its failing "case", lines
  that must appear in its expected-against-got "differences", and the "line"
  it points at ('rnn.py:58', or null where the evidence is not clear enough)
- "files_crashed": names of files reported as unreadable
"""
import json
from pathlib import Path

import pytest

from rnn_captioning.checker import report

LEARNERS = Path(__file__).resolve().parent / "learners"
CASES = sorted(p.name for p in LEARNERS.iterdir() if (p / "expected.json").is_file())


def run_learner(folder, capsys):
    expected = json.loads((folder / "expected.json").read_text())
    files = [folder / f for f in expected.get("files", [])] or sorted(folder.rglob("*.py"))
    status = report.main([str(f) for f in files] + ["--json"])
    return expected, status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("case", CASES)
def test_learner(case, capsys):
    expected, status, entries = run_learner(LEARNERS / case, capsys)
    reported = {e["name"]: e for e in entries if e["status"] != "absent"}
    crashed_files = sorted(n for n in reported if n.endswith(".py"))
    assert crashed_files == sorted(expected.get("files_crashed", [])), reported
    functions = {n: e for n, e in reported.items() if not n.endswith(".py")}
    assert sorted(functions) == sorted(expected["functions"]), \
        "reported functions differ from what the learner's files define"
    for name, want in expected["functions"].items():
        got = functions[name]
        assert got["status"] == want["status"], (name, got)
        if "mistake" in want:
            assert want["mistake"] in got["mistakes"], (name, got)
        if "message" in want:
            assert want["message"] in got["message"], (name, got)
        if "note" in want:
            assert any(want["note"] in note for note in got["notes"]), (name, got)
        if want.get("mistake") != "torch_fixed_dtype":     # a wrong value is not a dtype's
            assert "torch_fixed_dtype" not in got["mistakes"], (name, got)
        if "explanation" in want:
            check_explanation(name, want["explanation"], got["explanation"])
        if want["status"] == "pass":
            assert not got["mistakes"], (name, got)
    assert status == expected["exit"], entries


def check_explanation(name, want, got):
    """The failing case, the expected-against-got lines and the line given."""
    assert got is not None, f"{name}: no explanation"
    assert got["case"] == want["case"], (name, got)
    shown = [" ".join(d.split()) for d in got["differences"]]
    for line in want["differences"]:
        assert line in shown, (name, line, shown)
    where = got["line"].split(" ")[0].rstrip(":") if got["line"] else None
    assert where == want["line"], (name, got["line"])
