"""How long the learners' checker takes: one correct learner's three files,
and a class of such learners graded with the class command.

    python benchmarks/bench_checker.py                  # one learner, 3 runs
    python benchmarks/bench_checker.py --class-size 50  # and a class of 50, graded

One learner is the command learners use (``check_implementation.py``), in a
process of its own, timed from start to exit; the class is
``rnn_captioning.checker.classroom`` on copies of the same learner
(``--grade numpy``, ``--jobs`` at a time). Time it alone: two BLAS-heavy jobs
at once on two cores are several times slower.
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnn_captioning.checker.classroom import grade_class

ROOT = Path(__file__).resolve().parents[1]
LEARNER = ROOT / "tests" / "learners" / "correct_2017_course_adam" / "cs231n"
FILES = [LEARNER / "rnn_layers.py", LEARNER / "classifiers" / "rnn.py", LEARNER / "optim.py"]


def one_run(extra=()):
    """Seconds of one check of the correct learner's files, and its exit status."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "check_implementation.py"),
                           *map(str, FILES), *extra], capture_output=True)
    return time.perf_counter() - start, proc.returncode


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of one learner (default: 3)")
    ap.add_argument("--class-size", type=int, default=0,
                    help="also grade a class of this many learners (default: 0)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="learners of the class graded at a time (default: %(default)s)")
    args = ap.parse_args(argv)
    times = []
    for _ in range(args.runs):
        seconds, status = one_run()
        if status != 0:
            raise SystemExit(f"the correct learner did not pass (exit {status})")
        times.append(seconds)
    print(f"one learner, three files: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs)")
    if args.class_size:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(args.class_size):
                shutil.copytree(LEARNER, Path(tmp) / "class" / f"learner{k:03d}" / "cs231n")
            start = time.perf_counter()
            summary = grade_class(Path(tmp) / "class", Path(tmp) / "grades", jobs=args.jobs)
            total = time.perf_counter() - start
        full = sum(s["score"] == len(s["functions"]) for s in summary["students"].values())
        print(f"a class of {args.class_size}, graded {args.jobs} at a time: {total:.1f} s "
              f"({total / args.class_size:.2f} s a learner; {full} with full marks)")


if __name__ == "__main__":
    main()
