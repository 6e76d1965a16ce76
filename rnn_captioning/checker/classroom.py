"""Grade a whole class on one machine.

    python -m rnn_captioning.checker.classroom submissions/ --out grades/ --edition numpy

``submissions/`` holds one folder per student (their files in any layout).
Each is graded as Gradescope would (report.py with ``--grade``, in a checker
process of its own, its learner code walled as walls.py says), ``--jobs`` at a
time. Written, each atomically: ``grades/<student>/results.json`` (Gradescope's
format), ``summary.json`` and ``summary.csv`` (each student's score and the
status of each function; per function, the share of students passing; the
named mistakes, most common first) and ``summary.png`` (the same, as bars).
"""
import argparse
import csv
import io
import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rnn_captioning.checker.autograder import submitted_files
from rnn_captioning.checker.gradescope import write_results
from rnn_captioning.checker.session import REQUIRED
from rnn_captioning.evaluation.plots import save_figure
from rnn_captioning.files.checkpoints import atomic_write

__all__ = ["grade_class", "summarise", "main"]

MAX_REPORT = 4 << 20             # bytes of one student's --json report read


def grade_student(folder, out, edition, timeout):
    """Grade one student's folder; (results.json dict, named mistakes)."""
    results = out / folder.name / "results.json"
    files = submitted_files(folder)
    if not files:
        write_results(results, None, FileNotFoundError("no .py files in the submission"))
        return json.loads(results.read_text()), []
    proc = subprocess.run(
        [sys.executable, "-m", "rnn_captioning.checker.report", *map(str, files), "--grade",
         edition, "--gradescope", str(results), "--json", "--timeout", str(timeout)],
        capture_output=True, stdin=subprocess.DEVNULL)
    if not results.is_file():          # the checker itself died: the student still gets a file
        write_results(results, None, RuntimeError(f"the checker ended with status "
                                                  f"{proc.returncode} and no results"))
    try:
        entries = json.loads(proc.stdout[:MAX_REPORT])
        mistakes = [m for e in entries for m in e["mistakes"]]
    except (ValueError, TypeError, KeyError):
        mistakes = []
    return json.loads(results.read_text()), mistakes


def grade_class(submissions, out, *, edition="numpy", jobs=1, timeout=30.0):
    """Grade every student folder in ``submissions``; the summary dict
    (also written to ``out``, see the module's docstring)."""
    out = Path(out)
    students = sorted(p for p in Path(submissions).iterdir() if p.is_dir()
                      and not p.name.startswith("."))
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        graded = list(pool.map(lambda s: grade_student(s, out, edition, timeout), students))
    summary = summarise({s.name: g for s, g in zip(students, graded)}, REQUIRED[edition])
    write_summary(summary, out)
    return summary


def summarise(graded, functions):
    """{'students': {name: {'score', 'functions': {function: status}}},
    'passing': {function: share of students passing}, 'mistakes': [[id, count]]}."""
    students, mistakes = {}, Counter()
    for name, (results, named) in graded.items():
        status = {t["name"]: t["status"] for t in results.get("tests", [])}
        students[name] = {"score": results.get("score", 0.0),
                          "functions": {f: status.get(f, "failed") for f in functions}}
        mistakes.update(set(named))
    passing = {f: sum(s["functions"][f] == "passed" for s in students.values())
               / max(len(students), 1) for f in functions}
    return {"students": students, "passing": passing, "mistakes": mistakes.most_common()}


def write_summary(summary, out):
    text = json.dumps(summary, indent=2)
    atomic_write(out / "summary.json", lambda f: f.write(text.encode("utf-8")))
    functions = list(summary["passing"])
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["student", "score", *functions])
    for name, s in summary["students"].items():
        writer.writerow([name, s["score"], *(s["functions"][f] for f in functions)])
    atomic_write(out / "summary.csv", lambda f: f.write(table.getvalue().encode("utf-8")))
    save_figure(plot_summary(summary), out / "summary.png")


def plot_summary(summary):
    """Bars: the share of students passing each function, and the named
    mistakes by how many students make them."""
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_pass, ax_mistakes = fig.subplots(1, 2)
    names = list(summary["passing"])
    ax_pass.barh(names, [100 * summary["passing"][n] for n in names])
    ax_pass.set(xlim=(0, 100), xlabel="students passing (%)",
                title=f"{len(summary['students'])} students")
    ax_pass.invert_yaxis()
    top = summary["mistakes"][:12]
    if not top:
        ax_mistakes.axis("off")
        ax_mistakes.text(0.5, 0.5, "no mistake of the catalogue named", ha="center")
        return fig
    ax_mistakes.barh([m for m, _ in top], [c for _, c in top])
    ax_mistakes.set(xlabel="students making it", title="named mistakes, most common first")
    ax_mistakes.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_mistakes.invert_yaxis()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("submissions", type=Path, help="a folder with one folder per student")
    ap.add_argument("--out", type=Path, required=True, help="where the grades go")
    ap.add_argument("--edition", choices=sorted(REQUIRED), default="numpy",
                    help="the exercise's edition (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="students graded at a time; each check already uses two processes "
                         "(default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds each function may take (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.submissions.is_dir():
        ap.error(f"no such folder: {args.submissions}")
    summary = grade_class(args.submissions, args.out, edition=args.edition, jobs=args.jobs,
                          timeout=args.timeout)
    for function, share in summary["passing"].items():
        print(f"{function:26s} {100 * share:5.1f}% pass")
    print(f"wrote {args.out}/summary.json, summary.csv, summary.png and a results.json "
          f"per student")
    return 0


if __name__ == "__main__":
    sys.exit(main())
