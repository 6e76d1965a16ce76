"""Figures for training runs: learning curves and captioned samples.

Functions build ``matplotlib.figure.Figure`` objects without pyplot, so they
work under any backend (a notebook displays the returned figure; scripts save
it with :func:`save_figure`, atomically).
"""
import io
import re
import textwrap

import numpy as np
from matplotlib.figure import Figure

from rnn_captioning.files.checkpoints import atomic_write

__all__ = ["plot_training", "plot_samples", "save_figure"]


def plot_training(loss_history, val_history=(), metrics=("Bleu_4", "CIDEr"), *,
                  reward_history=(), scst_val_history=()):
    """Learning curves: the training loss per iteration (log axis: the first
    iterations' loss is ten times the rest), the validation loss, and BLEU-4
    and CIDEr-D on axes of their own (they range over 0-1 and 0-10).

    - loss_history: cross-entropy training loss per iteration
    - val_history: dicts with 'iteration', 'val_loss' and the metrics
    - reward_history, scst_val_history: a self-critical phase after it (its
      loss is a surrogate, so its mean reward is shown instead); its
      iterations are counted on from the last cross-entropy one
    """
    panels = 3 if not len(reward_history) else 4
    fig = Figure(figsize=(4.2 * panels, 3.8), layout="constrained")
    axes = fig.subplots(1, panels)
    _curve(axes[0], loss_history, "training loss (cross-entropy)", log=True)
    offset = len(loss_history)
    history = list(val_history) + [dict(r, iteration=r["iteration"] + offset)
                                   for r in scst_val_history]
    _validation(axes[1], axes[2], history, metrics)
    if len(reward_history):
        _curve(axes[3], reward_history, "mean reward (self-critical)", start=offset)
        axes[3].set_title("Self-critical phase\n(its loss is a surrogate: reward shown)",
                          fontsize=9)
        for ax in axes[1:3]:
            if history:
                ax.axvline(offset, color="grey", ls=":", lw=1, label="self-critical from here")
    if history:     # one legend for the metrics' axes
        handles = [h for ax in fig.axes if ax.bbox.bounds == axes[2].bbox.bounds
                   for h in ax.get_legend_handles_labels()[0]]
        axes[2].legend(handles=handles, fontsize=8, loc="lower right")
    return fig


def _curve(ax, values, label, log=False, start=0):
    """Per-iteration values with a moving mean; log axis when asked and all > 0."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        ax.text(0.5, 0.5, "no training in this run", ha="center", va="center")
        ax.set_axis_off()
        return
    x = np.arange(start + 1, start + len(values) + 1)
    ax.plot(x, values, lw=0.6, alpha=0.5, label="minibatch")
    if len(values) >= 20:
        k = max(len(values) // 50, 5)
        ax.plot(x[k - 1:], np.convolve(values, np.ones(k) / k, mode="valid"), lw=1.5,
                label=f"mean of {k}")
    if log and np.all(values > 0):
        ax.set_yscale("log")
    ax.set(xlabel="iteration", ylabel=label, title=label[0].upper() + label[1:])
    ax.legend(fontsize=8)


_METRIC_LABELS = {"Bleu_4": "BLEU-4", "CIDEr": "CIDEr-D", "ROUGE_L": "ROUGE-L"}


def _validation(ax_loss, ax_metric, history, metrics):
    """The validation loss on one panel; the caption metrics on the other,
    each metric on an axis of its own."""
    if not history:
        for ax in (ax_loss, ax_metric):
            ax.text(0.5, 0.5, "no validation in this run", ha="center", va="center")
            ax.set_axis_off()
        return
    its = [r["iteration"] for r in history]
    ax_loss.plot(its, [r["val_loss"] for r in history], "o-", color="C3")
    ax_loss.set(xlabel="iteration", ylabel="validation loss", title="Validation loss")
    shown = [m for m in metrics if m in history[0]]
    axes = [ax_metric] + [ax_metric.twinx() for _ in shown[1:]]
    for i, (ax, name) in enumerate(zip(axes, shown)):
        color, label = f"C{i + 4}", _METRIC_LABELS.get(name, name)
        ax.plot(its, [r[name] for r in history], "s--", color=color, label=label)
        ax.set_ylabel(f"{label} (val)", color=color)
        ax.tick_params(axis="y", colors=color)
        if i > 1:       # a third metric's axis stands off the right edge
            ax.spines.right.set_position(("axes", 1.0 + 0.18 * (i - 1)))
    ax_metric.set(xlabel="iteration",
                  title=" and ".join(_METRIC_LABELS.get(m, m) for m in shown) + " (val)")


def plot_samples(images, generated, references, columns=4, title=None, verdicts=None):
    """A grid of images, each with its generated caption and one reference.

    - images: list of (H, W, 3) uint8 arrays, or None where the image could
      not be loaded (the panel says so)
    - generated: list of caption strings, or None to show references only
    - references: list of caption strings
    - verdicts: None, or per image None (right) or what is wrong with the
      generated caption (say 'size'): marked in green or red
    """
    generated = [None] * len(images) if generated is None else generated
    verdicts = [False] * len(images) if verdicts is None else verdicts
    n = len(images)
    rows = max(1, -(-n // columns))
    fig = Figure(figsize=(3.4 * columns, 3.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, img, gen, ref, verdict in zip(axes, images, generated, references, verdicts):
        if img is None:
            ax.text(0.5, 0.5, "image unavailable", ha="center", va="center", color="grey")
        else:
            ax.imshow(img, interpolation="nearest")
        mark, color = ("gen: ", "black") if verdict is False else \
            ("right: ", "darkgreen") if verdict is None else (f"wrong ({verdict}): ", "firebrick")
        lines = (textwrap.wrap(f"{mark}{detokenize(gen)}", 38) if gen is not None else []) + \
            textwrap.wrap(f"ref: {detokenize(ref)}", 38)
        ax.set_title("\n".join(lines), fontsize=8, loc="left", color=color)
    if title:
        fig.suptitle(title)
    return fig


def detokenize(text):
    """A caption as written, not as tokenised: 'square , a' -> 'square, a'."""
    return re.sub(r"\s+([,.;:!?])", r"\1", text)


def save_figure(fig, path, dpi=110):
    """Write a figure as PNG, atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
