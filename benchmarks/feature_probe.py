"""How much of a scene the built-in dataset's features show, measured by
classifiers trained on the answer itself.

    python benchmarks/feature_probe.py                     # generates the dataset
    python benchmarks/feature_probe.py --data-dir datasets/shapes_captioning

A caption is strictly right (scene_grammar.judge) only if, among other
things, it names exactly the scene's colour-shape pairs. This script trains
two probes to predict that set straight from the features the captioner reads
(15 yes/no labels, one per colour-shape pair), on the train split, picks
their settings on val, and prints the share of val and test images whose set
they get exactly right:

- linear: ridge regression on the standardised features, one output per
  label, thresholded at 0 (closed form; the ridge weight chosen on val);
- mlp: one hidden layer of ReLUs, logistic outputs, Adam, the epoch chosen
  on val (the probe overfits its training images, as the captioner does).

The probes learn from labels, which are easier to learn from than
captions, and need not state the count, sizes or relations. Their test
figure shows how well perception alone can do on object sets never seen in
training. It is not a proof of a ceiling.

With --model (a captioner's .npz, such as the model.npz of `python train.py`
on the same dataset), it also prints that captioner's greedy captions'
strict accuracy and how often they name exactly the right set, per split,
and how many of its wrong test sets the linear probe gets wrong too.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioning_rnn import CaptioningRNN  # noqa: E402
from coco_utils import load_coco_data  # noqa: E402
from optim import adam  # noqa: E402
from rnn_captioning.evaluation import scenes as evaluation_scenes  # noqa: E402
from rnn_captioning.scenes import dataset as shapes_dataset  # noqa: E402
from rnn_captioning.scenes.grammar import COLOURS, SHAPES, judge, parse  # noqa: E402

SPLITS = ("train", "val", "test")


def pair_labels(scenes):
    """M scenes (lists of object dicts) -> (M, 15) 0/1: which colour-shape
    pairs each holds, column colour * 3 + shape."""
    labels = np.zeros((len(scenes), len(COLOURS) * len(SHAPES)))
    for row, scene in enumerate(scenes):
        for obj in scene:
            column = COLOURS.index(obj["colour"]) * len(SHAPES) + SHAPES.index(obj["shape"])
            labels[row, column] = 1
    return labels


def exact(scores, labels):
    """(M,) booleans: is every label of the row predicted right (score > 0
    means yes)?"""
    return np.all((scores > 0) == (labels > 0), axis=1)


def _better(right, best):
    """Is this probe setting's val figure above the best one's so far?"""
    return best is None or right["val"].mean() > best["val"].mean()


def linear_probe(x, y, weights=(0.1, 1, 10, 100, 1000)):
    """Ridge regression on +-1 targets; the ridge weight with the best val
    figure. x, y: dicts of split -> (M, F) features, (M, 15) labels.
    Returns split -> (M,) booleans, the rows whose set it gets right."""
    A = np.c_[x["train"], np.ones(len(x["train"]))]
    gram, target = A.T @ A, A.T @ (2 * y["train"] - 1)
    best = None
    for lam in weights:
        W = np.linalg.solve(gram + lam * np.eye(len(gram)), target)
        scores = {s: np.c_[x[s], np.ones(len(x[s]))] @ W for s in SPLITS}
        right = {s: exact(scores[s], y[s]) for s in SPLITS}
        if _better(right, best):
            best = right
    return best


def mlp_probe(x, y, hidden, epochs, seed, batch=100, lr=1e-3, decay=1e-3):
    """One hidden layer, logistic loss with L2 weight decay, the library's
    Adam; the epoch with the best val figure. Same inputs and result as
    :func:`linear_probe`."""
    rng = np.random.default_rng(seed)
    F, L = x["train"].shape[1], y["train"].shape[1]
    params = [rng.standard_normal((F, hidden)) * np.sqrt(2 / F), np.zeros(hidden),
              rng.standard_normal((hidden, L)) * 0.01, np.zeros(L)]
    configs = [{"learning_rate": lr} for _ in params]

    def forward(inputs):
        W1, b1, W2, b2 = params
        h = np.maximum(inputs @ W1 + b1, 0)
        return h, h @ W2 + b2

    best = None
    for _ in range(epochs):
        order = rng.permutation(len(x["train"]))
        for lo in range(0, len(order), batch):
            rows = order[lo:lo + batch]
            inputs, targets = x["train"][rows], y["train"][rows]
            h, z = forward(inputs)
            dz = (1 / (1 + np.exp(-z)) - targets) / len(rows)
            dh = (dz @ params[2].T) * (h > 0)
            grads = [inputs.T @ dh + decay * params[0], dh.sum(0),
                     h.T @ dz + decay * params[2], dz.sum(0)]
            for k, g in enumerate(grads):
                params[k], configs[k] = adam(params[k], g, configs[k])
        right = {s: exact(forward(x[s])[1], y[s]) for s in SPLITS}
        if _better(right, best):
            best = right
    return best


def names_the_set(caption, scene):
    """Does the caption parse and name exactly the scene's colour-shape pairs?"""
    claim = parse(caption)
    return claim is not None and (sorted((c, s) for _, c, s in claim["objects"])
                                  == sorted((o["colour"], o["shape"]) for o in scene))


def captioner_figures(model, data, scenes, linear_right):
    """Print a captioner's strict accuracy and right-set share per split, and
    how many of its wrong test sets the linear probe misses too."""
    print(f"captioner (greedy captions), {model.cell_type}:")
    right = {}
    for split in SPLITS:
        texts = evaluation_scenes.caption_texts(model, data, split, range(len(scenes[split])))
        strict = np.mean([judge(t, sc) is None for t, sc in zip(texts, scenes[split])])
        right[split] = np.array([names_the_set(t, sc) for t, sc in zip(texts, scenes[split])])
        print(f"  {split:5s} strict accuracy {strict:.1%}, names the right set "
              f"{right[split].mean():.1%}")
    both = int(np.sum(~right["test"] & ~linear_right["test"]))
    print(f"  of its {int(np.sum(~right['test']))} wrong test sets, the linear probe gets {both} "
          f"wrong too")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="a built-in dataset folder (default: generated in a temp folder)")
    ap.add_argument("--hidden", type=int, default=1024,
                    help="hidden units of the probe (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=40,
                    help="training epochs of the probe (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    ap.add_argument("--model", type=Path, default=None,
                    help="also score this captioner (.npz) trained on the same dataset")
    args = ap.parse_args(argv)
    model = CaptioningRNN.load(args.model) if args.model else None   # fail before the work
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data_dir or shapes_dataset.generate_dataset(Path(tmp) / "ds")
        data = load_coco_data(folder)
        evaluation_scenes.load_split(data, folder, "test")
        scenes = {s: shapes_dataset.load_scenes(folder, s) for s in SPLITS}
    y = {s: pair_labels(scenes[s]) for s in SPLITS}
    feats = {s: data[f"{s}_features"].astype(np.float64) for s in SPLITS}
    mean, std = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    x = {s: (f - mean) / std for s, f in feats.items()}
    linear = linear_probe(x, y)
    print("images whose exact set of colour-shape pairs the probe predicts:")
    for name, right in (("linear", linear),
                        (f"mlp ({args.hidden} hidden)",
                         mlp_probe(x, y, args.hidden, args.epochs, args.seed))):
        print(f"  {name:18s} train {right['train'].mean():.1%}  val {right['val'].mean():.1%}"
              f"  test {right['test'].mean():.1%}")
    if model is not None:
        captioner_figures(model, data, scenes, linear)


if __name__ == "__main__":
    main()
