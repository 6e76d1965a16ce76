"""The main job's time outside the model: generating the built-in dataset,
its image features, and what METEOR adds to an evaluation.

    python benchmarks/bench_pipeline.py
    python benchmarks/bench_pipeline.py --no-single     # skip the one-process generation

Prints:
- the wall time of `shapes_dataset.generate_dataset()` with its defaults (two
  processes, as `train.py` runs it on a new machine) and, unless
  --no-single, with everything drawn in this one process (the same files);
- the generic features' cost per 64 x 64 image (`generic_features.extract`
  on 1,000 of the dataset's training images, in this process's BLAS threads);
- the seconds METEOR adds to scoring 500 val images (`score_captions` with
  and without it; candidates are each image's first reference), when `java`
  is on PATH: what `train.py --meteor` adds to its final evaluation.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coco_utils import load_coco_data, references_by_image  # noqa: E402
from rnn_captioning.evaluation.metrics import score_captions  # noqa: E402
from rnn_captioning.scenes import features as generic_features  # noqa: E402
from rnn_captioning.scenes import dataset as shapes_dataset  # noqa: E402


def generation_seconds(folder, one_process=False, **sizes):
    """Seconds to generate the dataset (default sizes unless ``sizes`` gives
    num_train=... and the like) into ``folder``."""
    saved = shapes_dataset._PARALLEL_FROM
    if one_process:
        shapes_dataset._PARALLEL_FROM = float("inf")   # the path small datasets take
    try:
        start = time.perf_counter()
        shapes_dataset.generate_dataset(folder, **sizes)
        return time.perf_counter() - start
    finally:
        shapes_dataset._PARALLEL_FROM = saved


def feature_ms_per_image(folder, count=1000, repeat=3):
    """Median over ``repeat`` runs of extract() on ``count`` training images."""
    images = np.stack([iio.imread(folder / "images" / f"train_{i:05d}.png")
                       for i in range(count)])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        generic_features.extract(images)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / count


def meteor_seconds(folder, images=500):
    """Seconds METEOR adds to scoring ``images`` val images, or None without java."""
    if shutil.which("java") is None:
        return None
    refs = references_by_image(load_coco_data(folder), "val")
    ids = sorted(refs)[:images]
    candidates = {i: refs[i][0] for i in ids}
    references = {i: refs[i] for i in ids}
    seconds = []
    for meteor in (False, True):
        start = time.perf_counter()
        score_captions(candidates, references, meteor=meteor)
        seconds.append(time.perf_counter() - start)
    return seconds[1] - seconds[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-single", action="store_true",
                    help="do not time the generation in one process")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ds"
        print(f"dataset generation, two processes: {generation_seconds(folder):.1f} s",
              flush=True)
        if not args.no_single:
            seconds = generation_seconds(Path(tmp) / "ds1", one_process=True)
            print(f"dataset generation, one process:   {seconds:.1f} s", flush=True)
        print(f"generic features: {feature_ms_per_image(folder):.2f} ms per image", flush=True)
        added = meteor_seconds(folder)
        print("METEOR: java not found, not timed" if added is None else
              f"METEOR adds {added:.1f} s to scoring 500 val images")


if __name__ == "__main__":
    main()
