"""What the main job's levers give: which image features, how the captioner's
input is made from them, and the training settings.

    python benchmarks/feature_levers.py                                   # train.py's recipe
    python benchmarks/feature_levers.py --scales 1 --filters 64 --no-whole-image --dropout 0
    python benchmarks/feature_levers.py --features raw-pca --scale 0 --lr-decay 0.8

Generates the built-in dataset (--num-train training images, dataset seed
--data-seed) into --cache-dir (reused when it is there) and reads its raw
features. Those of a smaller extractor are a part of them, so each is cut
out (up to float32 rounding) rather than recomputed (rnn_captioning/scenes/features.py):

- --scales 1: the full-size image's pyramid only (no half-size one);
- --filters 64: the maps of the first 64 layer-2 filters (the bank draws its
  filters in order, so these are what a 64-filter bank gives);
- --no-whole-image: without the whole-image maximum atop the 2 x 2 grid.

Those are turned into the captioner's input, fitted on the training images:

- std-pca: PCA-512 of the standardised features (the dataset's own recipe,
  dataset._fit_pca, whose spread is FEATURE_STD = 0.3);
- raw-pca: PCA-512 of the raw features (the recipe before 2026-12);
- whitened: raw-pca with each component divided by its spread;
- std-raw: the standardised features, no PCA;

then scaled to an overall spread of --scale (0: as they come). It trains
train.py's default model with training seed --seed and any of train.py's
--epochs, --dropout, --lr-decay, --learning-rate, --hidden-dim given here,
and prints one JSON line: strict scene accuracy of greedy captions on val
and test (the checkpoint chosen on val CIDEr-D, as train.py does), and the
training seconds.
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
from rnn_captioning.scenes import features as generic_features  # noqa: E402

SPLITS = ("train", "val", "test")
TRAIN_FLAGS = ("epochs", "dropout", "lr_decay", "learning_rate", "hidden_dim")


def feature_columns(scales=2, filters=generic_features.K2, whole_image=True):
    """Indices of the raw features a smaller extractor would give.

    Raw features: for each scale, the cells' maxima (GRID, GRID, C), their
    means (GRID, GRID, C) and the whole-image maxima (C,), with C = 2 * K2
    maps: ReLU(z) of the K2 filters, then ReLU(-z) of them."""
    K2, cells = generic_features.K2, generic_features.GRID ** 2
    maps = np.r_[0:filters, K2:K2 + filters]                     # both signs of each filter
    per_scale = 2 * K2 * (2 * cells + 1)
    blocks = range(2 * cells + (1 if whole_image else 0))        # cell max x4, mean x4, whole
    return np.concatenate([s * per_scale + b * 2 * K2 + maps
                           for s in range(scales) for b in blocks])


def transform(kind, train_raw, dim=512):
    """A function raw (M, F) -> the captioner's input, fitted on train_raw."""
    if kind == "std-pca":
        mean, comps = dataset._fit_pca(train_raw, dim)
        return lambda x: dataset.pca_features(x, mean, comps)
    mean = train_raw.mean(axis=0)
    if kind == "std-raw":
        spread = train_raw.std(axis=0) + 1e-6
        return lambda x: (x - mean) / spread
    axes = dataset.principal_axes(train_raw - mean, dim)
    if kind == "raw-pca":
        return lambda x: (x - mean) @ axes
    if kind == "whitened":
        spread = ((train_raw - mean) @ axes).std(axis=0)
        return lambda x: ((x - mean) @ axes) / spread
    raise ValueError(f"unknown --features {kind!r}")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=int, choices=(1, 2), default=2,
                    help="image scales the features pool over (default: %(default)s)")
    ap.add_argument("--filters", type=int, choices=(64, 128), default=128,
                    help="random filters per scale (default: %(default)s)")
    ap.add_argument("--no-whole-image", action="store_true",
                    help="leave out the features pooled over the whole image")
    ap.add_argument("--features", default="std-pca",
                    choices=("raw-pca", "std-pca", "whitened", "std-raw"),
                    help="how the raw features are reduced (default: %(default)s)")
    ap.add_argument("--scale", type=float, default=0.3, help="overall spread (0: as is)")
    ap.add_argument("--num-train", type=int, default=24000,
                    help="training images (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--data-seed", type=int, default=0, help="dataset seed")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "levers",
                    help="where generated datasets are kept between runs (default: %(default)s)")
    for flag in TRAIN_FLAGS:
        ap.add_argument("--" + flag.replace("_", "-"), type=float, default=None,
                        help="as train.py's (default: train.py's)")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    folder = args.cache_dir / f"v{dataset.VERSION}_ds{args.data_seed}_{args.num_train}"
    if not (folder / "DONE.json").is_file():
        dataset.generate_dataset(folder, seed=args.data_seed, num_train=args.num_train)
    data = load_coco_data(folder, pca_features=False, rng=args.data_seed)
    load_split(data, folder, "test", pca_features=False)
    columns = feature_columns(args.scales, args.filters, not args.no_whole_image)
    raw = {s: np.asarray(data[f"{s}_features"][:, columns], dtype=np.float64) for s in SPLITS}
    f = transform(args.features, raw["train"])
    scale = args.scale / f(raw["train"]).std() if args.scale else 1.0
    for s in SPLITS:
        data[f"{s}_features"] = (f(raw[s]) * scale).astype(np.float32)
    given = [f"--{k.replace('_', '-')}={getattr(args, k):g}" for k in TRAIN_FLAGS
             if getattr(args, k) is not None]
    targs = train.parse_args(["--no-progress", "--seed", str(args.seed), *given])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        solver = train.build_solver(targs, data, Path(tmp) / "run")
        solver.train()
        seconds = time.perf_counter() - start
        acc = {s: scene_accuracy(solver.model, data, folder, s)[0] for s in ("val", "test")}
    settings = {k: v for k, v in vars(args).items() if k != "cache_dir" and v is not None}
    print(json.dumps({**settings, "raw_width": len(columns), "train_s": round(seconds), **acc}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
