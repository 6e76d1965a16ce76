"""What the self-critical phase adds to the main job, measured.

    python benchmarks/scst_gain.py                          # seeds 0 and 1
    python benchmarks/scst_gain.py --seeds 0 --scst-epochs 2 --reward scene

For each seed: trains `train.py`'s default cross-entropy model on the
built-in dataset (generated with its default settings, here or in
--data-dir), scores it on the test split (CIDEr-D and the strict scene
accuracy, greedy captions), then runs `train.py`'s self-critical phase with
the given settings from that model and scores it again. Prints the figures
before and after, the relative CIDEr-D gain, the share of the remaining
strict-accuracy errors removed, and the seconds each phase took.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioning_rnn import CaptioningRNN  # noqa: E402
from coco_utils import load_coco_data  # noqa: E402
from rnn_captioning.commands import train  # noqa: E402
from rnn_captioning.evaluation import scenes as evaluation_scenes  # noqa: E402
from rnn_captioning.scenes import dataset as shapes_dataset  # noqa: E402


def test_figures(solver, data, folder):
    """Test CIDEr-D and strict scene accuracy of greedy captions."""
    cider = solver.caption_metrics("test", None, meteor=False)["CIDEr"]
    return cider, evaluation_scenes.scene_accuracy(solver.model, data, folder, "test")[0]


def one_seed(seed, args, data, folder, work):
    targs = train.parse_args(["--no-progress", "--seed", str(seed), "--data-dir", str(folder),
                              "--scst-epochs", str(args.scst_epochs), "--scst-reward",
                              args.reward, "--scst-samples", str(args.samples),
                              "--scst-baseline", args.baseline,
                              "--scst-learning-rate", str(args.learning_rate),
                              "--scst-scene-value", str(args.scene_value)])
    start = time.perf_counter()
    ce = train.build_solver(targs, data, work / f"ce{seed}")
    cached = args.ce_cache / f"ce_seed{seed}.npz" if args.ce_cache else None
    if cached and cached.is_file():                     # tuning the second phase only
        ce.model.set_params(CaptioningRNN.load(cached).params)
        ce.best_metric = ce.caption_metrics("val", ce.val_max_images)["CIDEr"]
    else:
        ce.train()
        if cached:
            ce.model.save(cached)
    ce_seconds = time.perf_counter() - start
    before = test_figures(ce, data, folder)
    start = time.perf_counter()
    scst = train.build_scst_solver(targs, data, folder, True, ce.model, work / f"sc{seed}",
                                   ce.best_metric)
    scst.train()
    scst_seconds = time.perf_counter() - start
    after = test_figures(scst, data, folder)
    print(f"seed {seed}: test CIDEr-D {before[0]:.3f} -> {after[0]:.3f} "
          f"({after[0] / before[0] - 1:+.1%}), strict accuracy {before[1]:.1%} -> "
          f"{after[1]:.1%} ({(after[1] - before[1]) / (1 - before[1]):+.0%} of the errors "
          f"removed); cross-entropy {ce_seconds:.0f} s, self-critical {scst_seconds:.0f} s "
          f"(val CIDEr-D by epoch: "
          f"{', '.join(format(r['CIDEr'], '.3f') for r in scst.val_history)})", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1",
                    help="training seeds, comma-separated (default: %(default)s)")
    ap.add_argument("--scst-epochs", type=int, default=3,
                    help="self-critical epochs (default: %(default)s)")
    ap.add_argument("--reward", default="cider+scene", choices=("cider", "scene", "cider+scene"),
                    help="as train.py's --scst-reward (default: %(default)s)")
    ap.add_argument("--samples", type=int, default=5,
                    help="captions sampled per image (default: %(default)s)")
    ap.add_argument("--baseline", default="greedy", choices=("greedy", "mean"),
                    help="as train.py's --scst-baseline (default: %(default)s)")
    ap.add_argument("--learning-rate", type=float, default=3e-4,
                    help="self-critical learning rate (default: %(default)s)")
    ap.add_argument("--scene-value", type=float, default=4.0,
                    help="reward of a strictly right caption (with --reward *scene)")
    ap.add_argument("--ce-cache", type=Path, default=None,
                    help="keep the cross-entropy models here and reuse them (for tuning)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="a built-in dataset folder (default: generated in a temp folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data_dir or shapes_dataset.generate_dataset(Path(tmp) / "ds")
        data = load_coco_data(folder)
        evaluation_scenes.load_split(data, folder, "test")
        print(f"settings: {args.scst_epochs} self-critical epochs, reward {args.reward}, "
              f"{args.samples} samples, {args.baseline} baseline, learning rate "
              f"{args.learning_rate}", flush=True)
        for seed in (int(s) for s in args.seeds.split(",")):
            one_seed(seed, args, data, folder, Path(tmp))


if __name__ == "__main__":
    main()
