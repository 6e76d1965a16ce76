"""The main job's own time, side by side: `python train.py` of this checkout
against the same command at an earlier commit.

    python benchmarks/bench_main_job.py                   # against BASELINE, one round
    python benchmarks/bench_main_job.py --baseline HEAD~3 --rounds 2

Each round runs both versions one after the other (baseline first, then this
checkout), each from a fresh folder for the built-in dataset, so that the
dataset's generation is part of the time as on a new machine, and with the
same defaults for data and model. The COCO folder is pointed at an empty
place so that both use the built-in dataset. Prints the wall time of each run
and the test figures each printed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the last commit before the work on the main job's speed (packed sequences,
# forward-only validation loss, METEOR on request, faster dataset generation)
BASELINE = "285d381"


def export(rev, folder):
    """The files of commit ``rev`` in ``folder`` (no checkout is touched)."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_job(code_dir, work, label):
    env = dict(os.environ, SHAPES_CAPTIONING_DIR=str(work / f"data_{label}"),
               COCO_CAPTIONING_DIR=str(work / "no_coco"))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "train.py", "--no-progress", "--output-dir",
                           str(work / f"run_{label}")], cwd=code_dir, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{label} failed:\n{done.stderr[-2000:]}")
    figures = [line for line in done.stdout.splitlines() if "BLEU-4" in line]
    return seconds, figures[-1] if figures else "(no figures printed)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default=BASELINE, help="commit to compare with")
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs of each version; the best is compared (default: %(default)s)")
    args = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    times = {"baseline": [], "this checkout": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = export(args.baseline, tmp / "baseline")
        for r in range(args.rounds):
            for label, code in (("baseline", old), ("this checkout", ROOT)):
                seconds, figures = run_job(code, tmp / f"round{r}", label.replace(" ", "_"))
                times[label].append(seconds)
                print(f"round {r + 1} {label:14s} {seconds:6.1f} s   {figures}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    base, new = (min(t) for t in times.values())
    print(f"best of {args.rounds}: baseline {base:.1f} s, this checkout {new:.1f} s: "
          f"{1 - new / base:.0%} less time ({args.baseline} vs the working tree)")


if __name__ == "__main__":
    main()
