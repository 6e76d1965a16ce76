"""Strict scene accuracy of the built-in benchmark against training time.

    python benchmarks/scene_accuracy_curve.py                  # the main job's settings
    python benchmarks/scene_accuracy_curve.py --num-train 16000 --epochs 12 --png curve.png

Generates the built-in dataset (default sizes, or --num-train training images)
into a temporary folder, trains train.py's default model on it, and after
each epoch prints the seconds of training so far and the strict scene
accuracy of greedy captions on val, test and the novel colour-shape pairs.
Everything it reports is measured here, on data it generates.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coco_utils import load_coco_data  # noqa: E402
from rnn_captioning.commands import train  # noqa: E402
from rnn_captioning.evaluation import scenes as evaluation_scenes  # noqa: E402
from rnn_captioning.scenes import dataset as shapes_dataset  # noqa: E402


def accuracy(model, data, folder, split):
    return evaluation_scenes.scene_accuracy(model, data, folder, split)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--num-train", type=int, default=None,
                    help="training images (default: the built-in dataset's)")
    ap.add_argument("--epochs", type=int, default=None, help="default: train.py's")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    ap.add_argument("--png", type=Path, default=None, help="also plot the curve here")
    args = ap.parse_args(argv)
    targs = train.parse_args(["--no-progress", "--seed", str(args.seed)]
                             + (["--epochs", str(args.epochs)] if args.epochs else []))
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {} if args.num_train is None else {"num_train": args.num_train}
        start = time.perf_counter()
        folder = shapes_dataset.generate_dataset(Path(tmp) / "ds", seed=args.seed, **sizes)
        print(f"dataset generated in {time.perf_counter() - start:.0f} s", flush=True)
        data = load_coco_data(folder)
        for split in ("test", "novel"):
            evaluation_scenes.load_split(data, folder, split)
        solver = train.build_solver(targs, data, Path(tmp) / "run")
        solver.val_every = 0                 # this script measures; no selection
        rows, trained = [], 0.0
        print(f"{'epoch':>5} {'train s':>8} {'val':>6} {'test':>6} {'novel':>6}", flush=True)
        for epoch in range(1, targs.epochs + 1):
            solver.num_epochs = epoch
            start = time.perf_counter()
            solver.train()
            trained += time.perf_counter() - start
            accs = [accuracy(solver.model, data, folder, s) for s in ("val", "test", "novel")]
            rows.append((epoch, trained, *accs))
            print(f"{epoch:5d} {trained:8.0f} " + " ".join(f"{a:6.1%}" for a in accs),
                  flush=True)
    if args.png:
        from rnn_captioning.evaluation.plots import save_figure
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        rows = np.array(rows)
        for k, name in ((2, "val"), (3, "test"), (4, "novel pairs")):
            ax.plot(rows[:, 1], rows[:, k], marker="o", label=name)
        ax.set_xlabel("training time (s)")
        ax.set_ylabel("strict scene accuracy (greedy)")
        ax.legend()
        save_figure(fig, args.png)


if __name__ == "__main__":
    main()
