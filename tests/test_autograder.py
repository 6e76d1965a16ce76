"""The Gradescope autograder: the zip has what Gradescope asks for, and its
run_autograder grades a correct, a wrong and a hostile submission in a local
copy of Gradescope's folders (/autograder/submission, /autograder/results)."""
import json
import os
import stat
import subprocess
import sys
import zipfile

import pytest

from student_code import LAYERS, MODEL, OPTIM
from rnn_captioning.checker.autograder import build, submitted_files
from rnn_captioning.checker.session import REQUIRED

WRONG = LAYERS.replace("def rnn_forward(", "def _rnn_forward_right(") + '''

def rnn_forward(x, h0, Wx, Wh, b):
    h, cache = _rnn_forward_right(x, h0, Wx, Wh, b)
    return h * 1.01, cache
'''
HOSTILE = WRONG + '''
import os, json
for _p in (os.getppid(),):
    try:
        os.kill(_p, 9)
    except OSError:
        pass
try:
    open(os.environ.get("HOME", ".") + "/../../results/results.json", "w").write(
        json.dumps({"score": 99.0, "tests": []}))
except OSError:
    pass
'''


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    root = tmp_path_factory.mktemp("gradescope") / "autograder"
    zip_path = build(root.parent / "autograder.zip", "numpy")
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        z.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "library/rnn_layers.py", "library/setup.py",
            "library/rnn_captioning/checker/sandbox.py"} <= names
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert "numpy==" in (root / "source" / "setup.sh").read_text()
    return root


def grade(root, layers):
    """run_autograder on a submission of the learner's three files."""
    for folder in ("submission", "results"):
        sub = root / folder
        if sub.exists():
            subprocess.run(["rm", "-rf", str(sub)], check=True)
        sub.mkdir()
    package = root / "submission" / "cs231n"
    (package / "classifiers").mkdir(parents=True)
    (package / "rnn_layers.py").write_text(layers)
    (package / "classifiers" / "rnn.py").write_text(MODEL)
    (package / "optim.py").write_text(OPTIM)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = root / "results" / "results.json"
    assert results.stat().st_size < 1 << 20
    data = json.loads(results.read_text())
    return data["score"], {t["name"]: t for t in data["tests"]}


def test_a_correct_submission_scores_every_required_function(autograder):
    score, tests = grade(autograder, LAYERS)
    assert sorted(tests) == sorted(REQUIRED["numpy"])
    assert score == len(REQUIRED["numpy"]), tests


def test_a_wrong_and_a_hostile_submission_score_no_more_than_their_honest_grade(autograder):
    wrong, tests = grade(autograder, WRONG)
    assert tests["rnn_forward"]["status"] == "failed"
    assert wrong < len(REQUIRED["numpy"])
    hostile, tests = grade(autograder, HOSTILE)
    assert hostile <= wrong and tests["rnn_forward"]["status"] == "failed"


def test_an_empty_submission_still_gets_a_results_file(autograder, tmp_path):
    (tmp_path / "submission").mkdir()
    env = dict(os.environ, AUTOGRADER_ROOT=str(tmp_path), PYTHON=sys.executable)
    subprocess.run(["bash", str(autograder / "source" / "run_autograder")], env=env,
                   check=True, capture_output=True, timeout=120)
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 0 and "no .py files" in data["tests"][0]["output"]


def test_submitted_files_skip_hidden_and_cache_folders(tmp_path):
    for name in ("rnn_layers.py", ".git/x.py", "__MACOSX/rnn_layers.py", "cs231n/optim.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in submitted_files(tmp_path)] == \
        ["cs231n/optim.py", "rnn_layers.py"]
