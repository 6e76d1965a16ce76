"""The checker's results as Gradescope's autograder ``results.json``.

One test per exercise function found, worth one point, scored by the share
of its checks passed (a crash or a timeout scores 0, with its message); a
file that could not run is a test of its own. The file is written atomically
and always: when the checker itself could not run, it holds one test that
says why, so the autograder never finds it missing.
"""
import json

from rnn_captioning.checker.explain import explanation_lines
from rnn_captioning.files.checkpoints import atomic_write

MAX_OUTPUT = 4000               # characters of one test's output: results.json stays small

__all__ = ["gradescope_results", "write_results"]


def _test(r):
    lines = [r["message"] or "all checks pass"]
    lines += [f"looks like: {d['description']} (the equation it breaks: {d['equation']})"
              for d in r["diagnoses"]]
    lines += [line.strip() for line in explanation_lines(r.get("explanation"))]
    lines += r["notes"]
    score = {"pass": 1.0, "fail": r["score"], "partial": r["score"]}.get(r["status"], 0.0)
    return {"name": str(r["name"])[:200], "score": round(score, 3), "max_score": 1.0,
            "status": "passed" if r["status"] == "pass" else "failed",
            "output": _cut("\n".join(lines)), "visibility": "visible"}


def _cut(text):
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + " [cut]"


def gradescope_results(results, error=None):
    """The results.json dict: 'tests' (name, score, max_score, status,
    output, visibility) and the total 'score'. Absent functions are left out;
    not-yet-implemented ones score 0."""
    if error is not None or results is None:
        why = f"{type(error).__name__}: {error}" if error is not None else "no results"
        tests = [{"name": "checker", "score": 0.0, "max_score": 1.0, "status": "failed",
                  "output": _cut(f"the checker could not run: {why}"),
                  "visibility": "visible"}]
    else:
        tests = [_test(r) for r in results if r["status"] != "absent"]
    return {"score": round(sum(t["score"] for t in tests), 3), "tests": tests,
            "output": f"{sum(t['status'] == 'passed' for t in tests)} of {len(tests)} "
                      f"functions pass"}


def write_results(path, results, error=None):
    """Write results.json at ``path`` atomically (the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(gradescope_results(results, error), indent=2)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
