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
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import shapes_dataset                          # noqa: E402
from coco_utils import load_coco_data          # noqa: E402
from scene_grammar import COLOURS, SHAPES      # noqa: E402

SPLITS = ("train", "val", "test")


def pair_labels(scenes):
    """(M,) scenes -> (M, 15) 0/1: which colour-shape pairs each holds."""
    labels = np.zeros((len(scenes), len(COLOURS) * len(SHAPES)))
    for row, scene in enumerate(scenes):
        for obj in scene:
            labels[row, COLOURS.index(obj["colour"]) * len(SHAPES) + SHAPES.index(obj["shape"])] = 1
    return labels


def exact(scores, labels):
    """Share of rows whose every label is predicted right (score > 0 means yes)."""
    return float(np.mean(np.all((scores > 0) == (labels > 0), axis=1)))


def linear_probe(x, y, weights=(0.1, 1, 10, 100, 1000)):
    """Ridge regression on +-1 targets; the ridge weight with the best val
    figure. x, y: dicts of split -> (M, F) features, (M, 15) labels."""
    A = np.c_[x["train"], np.ones(len(x["train"]))]
    gram, target = A.T @ A, A.T @ (2 * y["train"] - 1)
    best = None
    for lam in weights:
        W = np.linalg.solve(gram + lam * np.eye(len(gram)), target)
        scores = {s: np.c_[x[s], np.ones(len(x[s]))] @ W for s in SPLITS}
        figures = {s: exact(scores[s], y[s]) for s in SPLITS}
        if best is None or figures["val"] > best["val"]:
            best = figures
    return best


def mlp_probe(x, y, hidden, epochs, seed, batch=100, lr=1e-3, decay=1e-3):
    """One hidden layer, logistic loss, Adam; the epoch with the best val figure."""
    rng = np.random.default_rng(seed)
    F, L = x["train"].shape[1], y["train"].shape[1]
    params = [rng.standard_normal((F, hidden)) * np.sqrt(2 / F), np.zeros(hidden),
              rng.standard_normal((hidden, L)) * 0.01, np.zeros(L)]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]

    def forward(inputs):
        W1, b1, W2, b2 = params
        h = np.maximum(inputs @ W1 + b1, 0)
        return h, h @ W2 + b2

    best, step = None, 0
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
            step += 1
            for p, g, (m, v) in zip(params, grads, moments):
                m += 0.1 * (g - m)
                v += 0.001 * (g * g - v)
                p -= lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
        figures = {s: exact(forward(x[s])[1], y[s]) for s in SPLITS}
        if best is None or figures["val"] > best["val"]:
            best = figures
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="a built-in dataset folder (default: generated in a temp folder)")
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data_dir or shapes_dataset.generate_dataset(Path(tmp) / "ds")
        data = load_coco_data(folder)
        shapes_dataset.load_split(data, folder, "test")
        y = {s: pair_labels(shapes_dataset.load_scenes(folder, s)) for s in SPLITS}
    feats = {s: data[f"{s}_features"].astype(np.float64) for s in SPLITS}
    mean, std = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    x = {s: (f - mean) / std for s, f in feats.items()}
    print("images whose exact set of colour-shape pairs the probe predicts:")
    for name, figures in (("linear", linear_probe(x, y)),
                          (f"mlp ({args.hidden} hidden)",
                           mlp_probe(x, y, args.hidden, args.epochs, args.seed))):
        print(f"  {name:18s} train {figures['train']:.1%}  val {figures['val']:.1%}  "
              f"test {figures['test']:.1%}")


if __name__ == "__main__":
    main()
