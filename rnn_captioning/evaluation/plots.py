"""Figures for training runs: learning curves and captioned samples.

Functions build ``matplotlib.figure.Figure`` objects without pyplot, so they
work under any backend (a notebook displays the returned figure; scripts save
it with :func:`save_figure`, atomically).
"""
import io
import textwrap

import numpy as np
from matplotlib.figure import Figure

from rnn_captioning.files.checkpoints import atomic_write

__all__ = ["plot_training", "plot_samples", "save_figure"]


def plot_training(loss_history, val_history=(), metrics=("Bleu_4", "CIDEr")):
    """Training loss per iteration (with a moving average) beside the
    validation loss and caption metrics at each validation."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_loss, ax_val = fig.subplots(1, 2)
    loss = np.asarray(loss_history, dtype=float)
    ax_loss.plot(np.arange(1, len(loss) + 1), loss, lw=0.6, alpha=0.5, label="minibatch")
    if len(loss) >= 20:
        k = max(len(loss) // 50, 5)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax_loss.plot(np.arange(k, len(loss) + 1), smooth, lw=1.5, label=f"mean of {k}")
    ax_loss.set(xlabel="iteration", ylabel="training loss", title="Training loss")
    ax_loss.legend()
    if val_history:
        its = [r["iteration"] for r in val_history]
        ax_val.plot(its, [r["val_loss"] for r in val_history], "o-", color="C3",
                    label="val loss")
        ax_val.set(xlabel="iteration", ylabel="val loss", title="Validation")
        ax_metric = ax_val.twinx()
        for i, name in enumerate(m for m in metrics if m in val_history[0]):
            ax_metric.plot(its, [r[name] for r in val_history], "s--", color=f"C{i + 4}",
                           label=name)
        ax_metric.set_ylabel("score")
        handles = ax_val.get_legend_handles_labels()
        more = ax_metric.get_legend_handles_labels()
        ax_val.legend(handles[0] + more[0], handles[1] + more[1], loc="center right")
    else:
        ax_val.text(0.5, 0.5, "no validation data", ha="center", va="center")
        ax_val.set_axis_off()
    return fig


def plot_samples(images, generated, references, columns=4, title=None):
    """A grid of images, each with its generated caption and one reference.

    - images: list of (H, W, 3) uint8 arrays, or None where the image could
      not be loaded (the panel says so)
    - generated: list of caption strings, or None to show references only
    - references: list of caption strings
    """
    generated = [None] * len(images) if generated is None else generated
    n = len(images)
    rows = max(1, -(-n // columns))
    fig = Figure(figsize=(3.4 * columns, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, img, gen, ref in zip(axes, images, generated, references):
        if img is None:
            ax.text(0.5, 0.5, "image unavailable", ha="center", va="center", color="grey")
        else:
            ax.imshow(img, interpolation="nearest")
        lines = (textwrap.wrap(f"gen: {gen}", 38) if gen is not None else []) + \
            textwrap.wrap(f"ref: {ref}", 38)
        ax.set_title("\n".join(lines), fontsize=8, loc="left")
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig, path, dpi=110):
    """Write a figure as PNG, atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
