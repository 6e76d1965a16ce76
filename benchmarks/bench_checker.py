"""How long the learners' checker takes: one correct learner's three files,
and a class of such learners graded one after the other.

    python benchmarks/bench_checker.py                  # one learner, 3 runs
    python benchmarks/bench_checker.py --class-size 50  # and a class of 50, graded

Each run is the command course staff and learners use
(``check_implementation.py``), in a process of its own, timed from start to
exit; the class is graded with ``--grade numpy``. Time it alone: two
BLAS-heavy jobs at once on two cores are several times slower.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

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
                    help="also grade a class of this many learners in turn (default: 0)")
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
        start = time.perf_counter()
        for _ in range(args.class_size):
            one_run(["--grade", "numpy"])
        total = time.perf_counter() - start
        print(f"a class of {args.class_size}, graded in turn: {total:.1f} s "
              f"({total / args.class_size:.2f} s a learner)")


if __name__ == "__main__":
    main()
