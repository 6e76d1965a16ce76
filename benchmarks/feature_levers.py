"""What the main job's levers give: how the PCA features are made, their
scale, the number of training images and epochs.

    python benchmarks/feature_levers.py --features std-pca --scale 0.3 --num-train 24000 --epochs 3
    python benchmarks/feature_levers.py --features raw-pca --num-train 8000 --epochs 5

Generates the built-in dataset (seed --seed, --num-train training images)
into --cache-dir (reused when it is there), reads its raw 1,024-d features
and turns them into the captioner's input in one of these ways, fitted on the
training images:

- raw-pca: PCA-512 of the raw features (the recipe before 2026-12);
- std-pca: PCA-512 of the standardised features (each divided by its spread);
- whitened: raw-pca with each component divided by its spread;
- std-raw: the standardised 1,024 features, no PCA;

then scales them to an overall spread of --scale (0: as they come), trains
train.py's default model (--epochs, otherwise its settings) and prints one
JSON line: strict scene accuracy of greedy captions on val and test, and the
training seconds. The dataset's own fc7_pca files are those of std-pca at
scale 0.3 (rnn_captioning/scenes/dataset.py), up to a floor on tiny spreads.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coco_utils import load_coco_data  # noqa: E402
from rnn_captioning.commands import train  # noqa: E402
from rnn_captioning.evaluation.scenes import load_split, scene_accuracy  # noqa: E402
from rnn_captioning.scenes import dataset  # noqa: E402

SPLITS = ("train", "val", "test")


def _pca(x, dim=512):
    """(mean, components (F, dim), spread of each component) of x (M, F)."""
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:dim].T, s[:dim] / np.sqrt(len(x))


def transform(kind, train_raw):
    """A function raw (M, 1024) -> the captioner's input, fitted on train_raw."""
    mu, spread = train_raw.mean(axis=0), train_raw.std(axis=0) + 1e-6
    if kind == "raw-pca":
        mean, comps, _ = _pca(train_raw)
        return lambda x: (x - mean) @ comps
    if kind == "std-pca":
        mean, comps, _ = _pca((train_raw - mu) / spread)
        return lambda x: ((x - mu) / spread - mean) @ comps
    if kind == "whitened":
        mean, comps, sv = _pca(train_raw)
        return lambda x: ((x - mean) @ comps) / sv
    if kind == "std-raw":
        return lambda x: (x - mu) / spread
    raise ValueError(f"unknown --features {kind!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", default="std-pca",
                    choices=("raw-pca", "std-pca", "whitened", "std-raw"))
    ap.add_argument("--scale", type=float, default=0.3, help="overall spread (0: as is)")
    ap.add_argument("--num-train", type=int, default=24000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "levers")
    args = ap.parse_args(argv)
    folder = args.cache_dir / f"ds{args.seed}_{args.num_train}"
    if not (folder / "DONE.json").is_file():
        dataset.generate_dataset(folder, seed=args.seed, num_train=args.num_train)
    data = load_coco_data(folder, pca_features=False, rng=args.seed)
    load_split(data, folder, "test", pca_features=False)
    raw = {s: np.asarray(data[f"{s}_features"], dtype=np.float64) for s in SPLITS}
    f = transform(args.features, raw["train"])
    scale = args.scale / f(raw["train"]).std() if args.scale else 1.0
    for s in SPLITS:
        data[f"{s}_features"] = (f(raw[s]) * scale).astype(np.float32)
    targs = train.parse_args(["--no-progress", "--seed", str(args.seed),
                              "--epochs", str(args.epochs)])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        solver = train.build_solver(targs, data, Path(tmp) / "run")
        solver.train()
        seconds = time.perf_counter() - start
        acc = {s: scene_accuracy(solver.model, data, folder, s)[0] for s in ("val", "test")}
    print(json.dumps({**{k: v for k, v in vars(args).items() if k != "cache_dir"},
                      "train_s": round(seconds), **acc}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
