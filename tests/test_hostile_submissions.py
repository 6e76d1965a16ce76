"""The checker as a grader, against submissions written to cheat or to harm.

Every submission is the same wrong learner (``rnn_forward`` off by 1%, so
its honest grade is 1.5 of 2: ``rnn_step_forward`` right, ``rnn_forward``
scoring only its signature) with one attack added, run as course staff run
it: ``check_implementation.py --grade numpy --gradescope results.json`` in a
process of its own. Each must end with the honest grade or less, a valid
results.json under 1 MB that stays as written, no process of the learner's
left, and nothing outside the learner's scratch folder changed.
"""
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from student_code import LAYERS
from rnn_captioning.checker.walls import UID_BASE, machine_walls

ROOT = Path(__file__).resolve().parent.parent
WRONG = LAYERS + '''
_right_rnn_forward = rnn_forward


def rnn_forward(x, h0, Wx, Wh, b):
    h, cache = _right_rnn_forward(x, h0, Wx, Wh, b)
    return h * 1.01, cache
'''
HONEST = 1.5
ONLY = ["rnn_step_forward", "rnn_forward"]

# each attack: code appended to the wrong learner's rnn_layers.py; LIBRARY,
# RESULTS, OUTSIDE and HOME name the checker's files, its results.json, a
# folder of the course staff's and their home
ATTACKS = {
    "checker functions replaced in sys.modules": """
import sys
for _n, _m in list(sys.modules.items()):
    if _n.startswith("rnn_captioning"):
        for _f in ("relative_error", "worst", "passed", "diagnose"):
            if hasattr(_m, _f):
                setattr(_m, _f, lambda *a, **k: 0.0)
""",
    "builtins and numpy replaced": """
import builtins, numpy
builtins.all = lambda it: True
builtins.max = lambda *a, **k: 0.0
numpy.isfinite = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.abs = lambda x, *a, **k: x * 0
""",
    "the library's source executed over its own": """
exec(open(LIBRARY + "/rnn_layers.py").read())
""",
    "the library's function handed back": """
import sys
sys.path.insert(0, LIBRARY)
import importlib
rnn_forward = importlib.import_module("rnn_layers").rnn_forward
""",
    "a result that runs code when unpickled": """
import os
class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + OUTSIDE + "/pwned",))
def rnn_forward(x, h0, Wx, Wh, b):
    return _Evil(), _Evil()
""",
    "the checker killed": """
import os, signal
for _p in (os.getppid(), -os.getpgid(os.getppid())):
    try:
        os.kill(_p, signal.SIGKILL)
    except OSError:
        pass
""",
    "a grandchild rewrites results.json later": """
import os, time, json
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(0.5)
        try:
            open(RESULTS, "w").write(json.dumps({"score": 2.0, "tests": []}))
        finally:
            os._exit(0)
    os._exit(0)
""",
    "the library and the staff's files changed": """
import os, shutil
for _path in (LIBRARY + "/rnn_layers.py", HOME + "/.bashrc", OUTSIDE + "/keep.txt"):
    try:
        open(_path, "a").write("# was here")
    except OSError:
        pass
for _path in (OUTSIDE, HOME, "."):
    shutil.rmtree(_path, ignore_errors=True)
""",
    "fifty processes left running": """
import os, time
for _ in range(50):
    try:
        if os.fork() == 0:
            os.setsid()
            time.sleep(600)
            os._exit(0)
    except OSError:
        break
""",
    "a fork bomb": """
import os
_kids = 0
while _kids < 100000:
    try:
        os.fork()
    except OSError:
        break
    _kids += 1
""",
    "100 MB printed through fd 1": """
import os
_block = b"ALL CHECKS PASS\\n" * 65536
for _ in range(100):
    try:
        os.write(1, _block)
        os.write(2, _block)
    except OSError:
        break
""",
    "an exception with a 100 MB message": """
def rnn_forward(x, h0, Wx, Wh, b):
    raise ValueError("x" * 100_000_000)
""",
    "the line tracer fed a forged trace": """
import sys
_traced_rnn_forward = rnn_forward


def rnn_forward(x, h0, Wx, Wh, b):
    tracer = getattr(sys.gettrace(), "__self__", None)
    if tracer is not None:              # the checker's explanation is tracing
        tracer.events.extend([["f", 1, "h", __import__("numpy").zeros(2), 1]] * 300_000)
        tracer.lines = {("f", 1): ("h = 1", ["h"] * 100_000)}
    return _traced_rnn_forward(x, h0, Wx, Wh, b)
""",
    "a 200,000-term expression": "\n_x = " + "+".join(["1"] * 200_000) + "\n",
    "an endless loop at import": """
while True:
    pass
""",
    "memory eaten": """
_hog = []
while True:
    _hog.append(bytearray(1 << 26))
""",
}


def run_grader(tmp_path, source, extra_files=()):
    """The grader on a submission whose rnn_layers.py is ``source``; what it
    printed, its exit status and its results.json (as text)."""
    sub, home, outside = tmp_path / "submission", tmp_path / "home", tmp_path / "outside"
    for folder in (sub, home, outside):
        folder.mkdir()
    (home / ".bashrc").write_text("# the staff's own\n")
    (outside / "keep.txt").write_text("keep\n")
    results = tmp_path / "results" / "results.json"
    names = {"LIBRARY": str(ROOT), "RESULTS": str(results), "OUTSIDE": str(outside),
             "HOME": str(home)}
    prelude = "".join(f"{k} = {v!r}\n" for k, v in names.items())
    (sub / "rnn_layers.py").write_text(prelude + source)
    files = [sub / "rnn_layers.py", *extra_files]
    env = dict(os.environ, HOME=str(home))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "check_implementation.py"), *map(str, files),
         "--grade", "numpy", "--only", *ONLY, "--gradescope", str(results), "--json",
         "--timeout", "10"], cwd=tmp_path, env=env, capture_output=True, timeout=300)
    return proc, results, home, outside


def _library_digest():
    paths = sorted(ROOT.glob("*.py")) + sorted((ROOT / "rnn_captioning").rglob("*.py"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def _learner_processes():
    """Processes running as one of the checker's learner users."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid >= UID_BASE:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _score(results):
    data = json.loads(results.read_text())
    return data["score"], {t["name"]: t for t in data["tests"]}


def test_the_wrong_learner_scores_its_honest_grade(tmp_path):
    proc, results, _, _ = run_grader(tmp_path, WRONG)
    assert proc.returncode == 1, proc.stderr
    score, tests = _score(results)
    assert score == HONEST, tests
    assert tests["rnn_forward"]["status"] == "failed"


@pytest.mark.skipif(not machine_walls()["landlock"], reason="the kernel has no Landlock")
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_gains_nothing_and_harms_nothing(tmp_path, attack):
    library = _library_digest()
    start = time.monotonic()
    proc, results, home, outside = run_grader(tmp_path, WRONG + ATTACKS[attack])
    took = time.monotonic() - start
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr[-2000:])
    assert len(proc.stdout) < 1 << 20
    json.loads(proc.stdout)                                 # --json output intact
    assert results.stat().st_size < 1 << 20
    score, tests = _score(results)
    assert score <= HONEST, tests
    assert tests["rnn_forward"]["status"] == "failed", tests["rnn_forward"]
    assert took < 120
    time.sleep(1.0)                                          # a late writer would be done
    assert _score(results)[0] == score, "results.json changed after the checker ended"
    assert _library_digest() == library
    assert (home / ".bashrc").read_text() == "# the staff's own\n"
    assert (outside / "keep.txt").read_text() == "keep\n"
    assert not (outside / "pwned").exists()
    if machine_walls()["root"]:
        assert _learner_processes() == []


@pytest.mark.parametrize("source, why", [("", "an empty file"),
                                         (LAYERS.split("def rnn_forward")[0], "cut short")])
def test_missing_functions_score_zero_when_grading(tmp_path, source, why):
    proc, results, _, _ = run_grader(tmp_path, source)
    score, tests = _score(results)
    assert proc.returncode == 1, why
    assert tests["rnn_forward"]["score"] == 0 and tests["rnn_forward"]["status"] == "failed"
    assert score <= 1.0, why


def test_a_huge_source_file_is_parsed_within_the_childs_limits(tmp_path):
    filler = "_v = [" + ", ".join(["1.5"] * 200) + "]\n"
    start = time.monotonic()
    proc, results, _, _ = run_grader(tmp_path, WRONG + filler * 30_000)   # 30 MB of code
    score, tests = _score(results)
    assert score <= HONEST and proc.returncode == 1
    assert results.stat().st_size < 1 << 20
    assert time.monotonic() - start < 120


def test_a_class_that_raises_on_lookup_crashes_only_its_functions(tmp_path):
    """An exception raised where no case runs (a metaclass's attribute
    lookup) is the function's crash; the other functions are still graded."""
    from student_code import MODEL
    model = MODEL.replace("class CaptioningRNN:", (
        "class _Meta(type):\n    def __getattribute__(cls, name):\n"
        "        if name in ('loss', 'sample'):\n            raise ValueError('no peeking')\n"
        "        return type.__getattribute__(cls, name)\n\n\n"
        "class CaptioningRNN(object, metaclass=_Meta):"))
    assert model != MODEL
    sub = tmp_path / "cs231n"
    (sub / "classifiers").mkdir(parents=True)
    (sub / "rnn_layers.py").write_text(LAYERS)
    (sub / "classifiers" / "rnn.py").write_text(model)
    from rnn_captioning.checker import report
    results = {r["name"]: r for r in report.run_checks(
        [sub / "rnn_layers.py", sub / "classifiers" / "rnn.py"], grading="numpy",
        only=["rnn_step_forward", "CaptioningRNN.loss"])}
    assert results["CaptioningRNN.loss"]["status"] == "crashed"
    assert "no peeking" in results["CaptioningRNN.loss"]["message"]
    assert results["rnn_step_forward"]["status"] == "pass"
