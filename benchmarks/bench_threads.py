"""BLAS threads, alone and under load: the main job's training speed with one
and with two BLAS threads, on a quiet machine and beside competing processes.

    python benchmarks/bench_threads.py                    # 1 and 2 threads, load 0 and 3
    python benchmarks/bench_threads.py --iterations 300 --load 0 2 4

Each measurement is a fresh process that trains `train.py`'s default model
(LSTM, W=128, H=256, batch 100, Adam, dropout 0.2) on the built-in dataset
for a fixed number of iterations with ``blas_threads`` set,
then greedily captions the 500 validation images; it prints iterations per
second and the captioning time. The competing load is that many processes
spinning in pure Python (what a browser, an IDE or a second notebook does to a
laptop's cores). Two threads on two shared cores spin-wait for each other, so
under load they can be slower than one; the table says by how much.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# the measurement, run in a child so that its BLAS starts with the limit set
_CHILD = """
import json, sys, time
from threadpoolctl import threadpool_limits
from captioning_rnn import CaptioningRNN
from coco_utils import load_coco_data
from solver import CaptioningSolver
from rnn_captioning.scenes.dataset import ensure_dataset
threads, iterations = int(sys.argv[1]), int(sys.argv[2])
data = load_coco_data(ensure_dataset(), max_train=100 * iterations, rng=0)
model = CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                      wordvec_dim=128, hidden_dim=256, cell_type="lstm", rng=0, dropout=0.2)
solver = CaptioningSolver(model, data, update_rule="adam", batch_size=100, num_epochs=1,
                          grad_clip=5.0, verbose=False, seed=0, blas_threads=threads)
start = time.perf_counter()
solver.train()
train_seconds = time.perf_counter() - start
with threadpool_limits(threads):
    start = time.perf_counter()
    solver.caption_metrics("val", 500)
    caption_seconds = time.perf_counter() - start
print(json.dumps({"it_per_s": iterations / train_seconds, "caption_s": caption_seconds}))
"""


def measure(threads, iterations):
    """(iterations per second, seconds to caption val) of one fresh process."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(threads), str(iterations)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["it_per_s"], figures["caption_s"]


def spinners(n):
    """n processes spinning in pure Python; the caller stops them."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="BLAS thread counts to compare (default: 1 2)")
    ap.add_argument("--load", type=int, nargs="+", default=[0, 3],
                    help="numbers of competing busy processes (default: 0 3)")
    ap.add_argument("--iterations", type=int, default=200,
                    help="training iterations per measurement (default: 200)")
    args = ap.parse_args(argv)
    subprocess.run([sys.executable, "-c", "from rnn_captioning.scenes.dataset import "
                    "ensure_dataset; ensure_dataset()"], cwd=ROOT, check=True)
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'busy processes':>14s} {'BLAS threads':>12s} {'train it/s':>10s} "
          f"{'caption val':>11s}")
    for load in args.load:
        busy = spinners(load)
        try:
            time.sleep(1.0 if load else 0.0)
            for threads in args.threads:
                speed, caption = measure(threads, args.iterations)
                print(f"{load:14d} {threads:12d} {speed:10.1f} {caption:10.1f}s", flush=True)
        finally:
            for p in busy:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
