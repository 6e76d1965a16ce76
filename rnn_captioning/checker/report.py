"""Check a learner's own exercise code against the library, and say what is wrong.

    python check_implementation.py path/to/rnn_layers.py
    python check_implementation.py cs231n/rnn_layers.py cs231n/classifiers/rnn.py \
        cs231n/optim.py --json

Give any of your files: the layers (``rnn_step_forward`` ... ``lstm_backward``,
``word_embedding_*``, ``temporal_*``), the model file with ``CaptioningRNN``
(its ``from ..rnn_layers import *`` finds your layers file, or the library's
when you do not give yours) and ``optim.py``. Every exercise function your
files define is checked on several shapes (N=1, T=1 and H != D among them):
signature, values against the library, gradients against the library and
against centred differences. Each failure gets a diagnosis: the known
mistakes whose wrong variants reproduce your outputs, with the equation each
breaks. Functions your files do not define are not counted; stubs are
reported as not implemented yet.

Your code runs in walled child processes with a time limit (see walls.py):
syntax errors, import errors, hangs and crashes are reported, never fatal,
and each file is read on its own. The exit status is 0 when every function
found passes; ``--grade numpy`` grades a submission instead. In a notebook:
``from rnn_captioning.checker.report import check; check("rnn_layers.py")``
(the cell shows the report).
"""
import argparse
import html
import json
import re
import sys
from pathlib import Path

from rnn_captioning.checker import session
from rnn_captioning.checker.explain import explanation_lines
from rnn_captioning.checker.session import TorchMissing
from rnn_captioning.checker.sandbox import LAYER_FUNCTIONS, RULES

__all__ = ["check", "Report", "run_checks", "format_report", "passed", "main"]

DEFAULT_TIMEOUT = 30.0
FAILING = ("fail", "crashed", "missing")


def run_checks(paths, *, timeout=DEFAULT_TIMEOUT, only=None, grading=None):
    """Check every exercise function the files in ``paths`` define (or those
    named in ``only``); a list of result dicts (see checks.check_function),
    one per function, and one per file that could not be read or run
    (status 'crashed', name the file's name).

    - grading: None (a learner's own check: functions the files do not
      define are 'absent', not counted), or an edition ('numpy', 'torch'):
      exactly the functions its learners write are scored, a missing one as
      'missing', and of the library's modules only the one the exercise
      gives ready-made (layers.py) stands in for a file not given
    """
    from rnn_captioning.checker import checks
    known = [s.name for s in checks.SPECS]
    unknown = set(only or ()) - set(known)
    if unknown:
        raise ValueError(f"unknown exercise functions {sorted(unknown)}; known: {known}")
    if grading is not None and grading not in session.REQUIRED:
        raise ValueError(f"grading must be one of {sorted(session.REQUIRED)}, got {grading!r}")
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"no such file: {p}")
    return session.run(paths, timeout=timeout, only=only, grading=grading)


def passed(results):
    """Nothing failed or crashed, and at least one function was checked
    (a model with one cell not written yet passes what it has)."""
    return any(r["status"] in ("pass", "partial") for r in results) and \
        not any(r["status"] in FAILING for r in results)


_LABELS = {"pass": "PASS", "fail": "FAIL", "crashed": "CRASHED", "todo": "TODO",
           "missing": "MISSING", "partial": "PARTIAL"}


def format_report(results):
    """One line per function found, what was absent, then a diagnosis for
    each failure and the notes."""
    lines = []
    for r in results:
        if r["status"] == "absent":
            continue
        worst = max(r["errors"].values(), default=0.0)
        detail = r["message"] if r["status"] != "pass" else f"max relative error {worst:.1e}"
        lines.append(f"{r['name']:26s} {_LABELS[r['status']]:8s} {detail}")
    absent = _absent_groups([r["name"] for r in results if r["status"] == "absent"])
    if absent:
        lines += ["", f"not in your files (not counted): {absent}"]
    failures = [r for r in results if r["status"] == "fail" or r.get("blame")]
    if failures:
        lines += ["", "Diagnosis:"]
    for r in failures:
        lines += _diagnosis_lines(r)
    lines += _note_lines(results)
    lines.append("")
    lines.append(_verdict(results))
    return "\n".join(lines)


def _note_lines(results):
    """The notes, float64 results gathered on one line: many learners'
    functions have them, and they are fine."""
    wide = [r["name"] for r in results if any(n.startswith(_WIDE) for n in r["notes"])]
    lines = [f"- {r['name']}: {note}" for r in results for note in r["notes"]
             if not note.startswith(_WIDE)]
    if wide:
        lines.append(f"- float32 inputs give float64 results in {', '.join(wide)}: fine for "
                     f"the exercise (np.zeros(shape, dtype=x.dtype) would keep float32)")
    return ["", "Notes (they do not change the result):"] + lines if lines else []


_WIDE = "float32 inputs give float64"


def _absent_groups(names):
    """'the layer functions, CaptioningRNN, sgd_momentum': a whole group by
    its name, in the order of the names."""
    groups = {"the layer functions": LAYER_FUNCTIONS,
              "CaptioningRNN": ("CaptioningRNN.loss", "CaptioningRNN.sample"),
              "the update rules": RULES}
    whole = {n: label for label, members in groups.items() if set(members) <= set(names)
             for n in members}
    return ", ".join(dict.fromkeys(whole.get(n, n) for n in names))


def _diagnosis_lines(r):
    if r.get("blame"):
        layers = ", ".join(r["blame"])
        return [f"- {r['name']}: fails because {layers} "
                f"fail{'s' if len(r['blame']) == 1 else ''}: on the library's layers it "
                f"passes, so fix {'that' if len(r['blame']) == 1 else 'those'} first"]
    worst = ", ".join(f"{k} {v:.1e}" for k, v in r["errors"].items() if v >= 1e-7)
    lines = [f"- {r['name']}: relative errors {worst or 'small'}"]
    for d in r["diagnoses"]:
        if d["id"].startswith("torch_"):         # seen in how the code behaved
            lines.append(f"    looks like: {d['description']}")
            lines.append(f"    seen: {d['outputs'][0]}")
            lines.append(f"    what works: {d['equation']}")
            continue
        shown = "" if set(d["outputs"]) >= set(r["errors"]) else f" (in {', '.join(d['outputs'])})"
        lines.append(f"    looks like{shown}: {d['description']}")
        lines.append(f"    the equation it breaks: {d['equation']}")
    if not r["diagnoses"] and r["checks"].get("values") is False and \
            r["checks"].get("gradients vs centred differences"):
        lines.append("    the gradients match centred differences of your own forward: "
                     "the forward it relies on is what differs from the exercise")
    if r["checks"].get("values") and r["checks"].get("gradients vs centred differences") is False:
        lines.append("    its values are the exercise's, but centred differences of your own "
                     "forward disagree with them: the forward it pairs with is what differs")
    return lines + explanation_lines(r.get("explanation"))


def _verdict(results):
    todo = sum(r["status"] == "todo" for r in results)
    partial = sum(r["status"] == "partial" for r in results)
    rest = ", ".join(filter(None, [f"{todo} not implemented yet" if todo else "",
                                   f"{partial} only in part" if partial else ""]))
    rest = f" ({rest})" if rest else ""
    if passed(results):
        return f"ALL CHECKS PASS{rest}"
    if not any(r["status"] in FAILING for r in results):
        return f"NOTHING TO CHECK YET{rest}"
    return f"SOME CHECKS FAIL{rest}"


class Report:
    """What :func:`check` returns: the results (a list of dicts, see
    run_checks), shown as the plain-text report by print() and repr() and as
    a coloured one in Jupyter; true when everything checked passes."""

    _COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "CRASHED": "#cf222e",
                "MISSING": "#cf222e", "TODO": "#9a6700", "PARTIAL": "#9a6700"}

    def __init__(self, results):
        self.results = results
        self.text = format_report(results)

    @property
    def passed(self):
        return passed(self.results)

    def __bool__(self):
        return self.passed

    def __str__(self):
        return self.text

    __repr__ = __str__

    def _repr_html_(self):
        body = html.escape(self.text)
        for label, colour in self._COLOURS.items():
            body = re.sub(rf"(?m)^(\S+\s+){label}\b",
                          rf'\1<b style="color:{colour}">{label}</b>', body)
        verdict = "ALL CHECKS PASS" if self.passed else None
        if verdict is None:
            body = body.replace("SOME CHECKS FAIL", '<b style="color:#cf222e">SOME CHECKS FAIL</b>')
        else:
            body = body.replace(verdict, f'<b style="color:#1a7f37">{verdict}</b>')
        return f'<pre style="line-height:1.3">{body}</pre>'


def check(*paths, timeout=DEFAULT_TIMEOUT, only=None):
    """For a notebook cell: the :class:`Report` of the learner's files, which
    the cell shows (``print(check(...))`` in a script); ``bool(report)`` (or
    ``report.passed``) says whether everything checked passes."""
    return Report(run_checks(paths, timeout=timeout, only=only))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="your exercise files")
    ap.add_argument("--json", action="store_true",
                    help="print a JSON report (name, status, score, message per function)")
    ap.add_argument("--gradescope", type=Path, default=None, metavar="RESULTS_JSON",
                    help="also write Gradescope's autograder results.json here")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds each function may take (default: %(default)s)")
    ap.add_argument("--grade", choices=sorted(session.REQUIRED), default=None,
                    help="grade a submission of this edition: exactly the functions its "
                         "learners write are scored (a missing one scores 0), and only the "
                         "exercise's given layers.py stands in for a file not submitted")
    ap.add_argument("--only", nargs="+", default=None, metavar="FUNCTION",
                    help="check only these functions (e.g. lstm_backward CaptioningRNN.loss)")
    args = ap.parse_args(argv)
    from rnn_captioning.checker.gradescope import write_results
    results, error = None, None
    try:
        results = run_checks(args.files, timeout=args.timeout, only=args.only,
                             grading=args.grade)
    except (FileNotFoundError, ValueError, TorchMissing) as e:
        error = e
    except BaseException as e:               # Ctrl-C, a bug of ours: still write the file
        error = e
        raise
    finally:
        if args.gradescope is not None:
            write_results(args.gradescope, results, error)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([_json_entry(r) for r in results], indent=2))
    else:
        print(format_report(results))
    return 0 if passed(results) else 1


def _json_entry(r):
    message = r["message"]
    for d in r["diagnoses"]:
        message += f"; looks like: {d['description']}"
    return {"name": r["name"], "status": r["status"], "score": r["score"],
            "message": message, "mistake": (r["diagnosis"] or {}).get("id"),
            "mistakes": [d["id"] for d in r["diagnoses"]], "notes": r["notes"],
            "explanation": r.get("explanation"),
            "errors": {k: (v if v != float("inf") else None) for k, v in r["errors"].items()}}


if __name__ == "__main__":
    sys.exit(main())
