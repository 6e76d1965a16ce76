"""The exercise's overfitting cells: CaptioningSolver against a bare loop.

    python benchmarks/bench_solver_overhead.py            # rnn and lstm, 3 rounds
    python benchmarks/bench_solver_overhead.py --rounds 5

Both train the exercise's small model (hidden 512, word vectors 256) on 50
captions of the built-in dataset for 50 epochs of batch 25 (100 iterations)
with Adam, as the RNN_Captioning and LSTM_Captioning notebooks do. The bare
loop is the least a training run can do: draw a minibatch, loss and
gradients, one Adam update per parameter, the learning-rate decay. The solver
runs with the exercise's arguments and verbose=True (its printed lines go to
a null stream here). Runs alternate (bare, solver, bare, solver, ...) so the
machine's load hits both alike; the figure is the ratio of the medians (the
target is at most 1.5).
"""
import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioning_rnn import CaptioningRNN  # noqa: E402
from coco_utils import load_coco_data, sample_coco_minibatch  # noqa: E402
import optim  # noqa: E402
from solver import CaptioningSolver  # noqa: E402
from rnn_captioning.scenes import dataset as shapes_dataset  # noqa: E402

EPOCHS, BATCH, LR, DECAY = 50, 25, 5e-3, 0.95


def new_model(data, cell):
    np.random.seed(231)
    return CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                         wordvec_dim=256, hidden_dim=512, cell_type=cell)


def bare_loop(model, data):
    configs = {name: {"learning_rate": LR} for name in model.params}
    per_epoch = max(len(data["train_captions"]) // BATCH, 1)
    for t in range(EPOCHS * per_epoch):
        captions, features, _ = sample_coco_minibatch(data, batch_size=BATCH)
        loss, grads = model.loss(features, captions)
        for name, w in model.params.items():
            model.params[name], configs[name] = optim.adam(w, grads[name], configs[name])
        if (t + 1) % per_epoch == 0:
            for config in configs.values():
                config["learning_rate"] *= DECAY
    return loss


def with_solver(model, data):
    solver = CaptioningSolver(model, data, update_rule="adam", num_epochs=EPOCHS,
                              batch_size=BATCH, optim_config={"learning_rate": LR},
                              lr_decay=DECAY, verbose=True, print_every=10)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), \
            contextlib.redirect_stderr(io.StringIO()):
        solver.train()
    return solver.loss_history[-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3,
                    help="timed rounds of each; the best is kept (default: %(default)s)")
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm"],
                    help="cell types to time (default: rnn lstm)")
    args = ap.parse_args(argv)
    np.random.seed(231)
    data = load_coco_data(shapes_dataset.ensure_dataset(), max_train=50)
    print(f"{'cell':5} {'bare loop':>10} {'solver':>10} {'ratio':>6}   (seconds, medians of "
          f"{args.rounds}; load average {os.getloadavg()[0]:.2f})")
    for cell in args.cells:
        times = {"bare": [], "solver": []}
        for _ in range(args.rounds):
            for name, run in (("bare", bare_loop), ("solver", with_solver)):
                model = new_model(data, cell)
                start = time.perf_counter()
                run(model, data)
                times[name].append(time.perf_counter() - start)
        bare, solver = (statistics.median(times[k]) for k in ("bare", "solver"))
        print(f"{cell:5} {bare:10.2f} {solver:10.2f} {solver / bare:6.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
