"""The solver's checkpoint file: what it holds, and the check of all of it.

A checkpoint is one .npz archive (see checkpoints.py): the model's parameters,
the optimiser state per parameter (arrays as ``optim/<param>/<key>``, scalars
in the metadata), the best parameters so far (``best/<param>``), the loss,
gradient-norm and reward histories (rewards: self-critical steps), and JSON
metadata with the counters, the minibatch generator's state and the
validation history.

:func:`read_checkpoint` checks every part against the model before returning
anything, so a refused file leaves the caller's model and solver untouched and
an accepted one cannot fail later with a broadcast error.
"""
import numbers

import numpy as np

from captioning_rnn import CaptioningRNN, check_saved_config, check_saved_params
import optim
from rnn_captioning.files.checkpoints import load_npz, save_npz

__all__ = ["CHECKPOINT_KIND", "write_checkpoint", "read_checkpoint", "model_for_checkpoint"]

CHECKPOINT_KIND = "rnn-captioning-checkpoint"
FORMAT_VERSION = 1


def write_checkpoint(path, solver):
    """Write the state of ``solver`` (and its model) to ``path``, atomically."""
    arrays = dict(solver.model.params)
    scalars = {}
    for name, config in solver.optim_configs.items():
        scalars[name] = {k: v.item() if isinstance(v, np.generic) else v
                         for k, v in config.items() if not isinstance(v, np.ndarray)}
        arrays.update({f"optim/{name}/{k}": v for k, v in config.items()
                       if isinstance(v, np.ndarray)})
    if solver.best_params is not None:
        arrays.update({f"best/{k}": v for k, v in solver.best_params.items()})
    arrays["loss_history"] = np.asarray(solver.loss_history, dtype=np.float64)
    arrays["grad_norm_history"] = np.asarray(solver.grad_norm_history, dtype=np.float64)
    arrays["reward_history"] = np.asarray(solver.reward_history, dtype=np.float64)
    rule = solver.update_rule
    meta = {
        "kind": CHECKPOINT_KIND, "format_version": FORMAT_VERSION,
        "model": solver.model.config(), "iteration": solver.iteration, "epoch": solver.epoch,
        "rng_state": solver.rng.bit_generator.state, "optim_scalars": scalars,
        "update_rule": rule if isinstance(rule, str) else None,
        "val_history": solver.val_history, "best_metric": solver.best_metric,
        "keep_best": solver.keep_best,
    }
    save_npz(path, arrays, meta)


def model_for_checkpoint(path):
    """A CaptioningRNN of the sizes, cell and vocabulary a checkpoint was
    written for (its weights come with read_checkpoint / resume_from)."""
    _, meta = load_npz(path, CHECKPOINT_KIND)
    return CaptioningRNN.from_config(check_saved_config(meta.get("model"), path), rng=0)


def read_checkpoint(path, model, update_rule):
    """The state saved in ``path``, checked against ``model`` (sizes, cell,
    vocabulary, dtypes) and the update rule; nothing is changed here.

    Returns a dict: params, optim_configs, best_params (or None), rng_state,
    iteration, epoch, loss_history, grad_norm_history, reward_history, val_history,
    best_metric. Raises FileNotFoundError, or ValueError naming the file and
    the part that is wrong.
    """
    arrays, meta = load_npz(path, CHECKPOINT_KIND)

    def bad(what):
        return ValueError(f"{path} is an incomplete or damaged checkpoint: {what}")

    if meta.get("model") != model.config():
        raise ValueError(f"{path} is a checkpoint of another model (sizes, cell type or "
                         f"vocabulary differ): {_config_diff(meta.get('model'), model.config())}")
    shapes = {name: p.shape for name, p in model.params.items()}
    check_saved_params(arrays, shapes, model.dtype, path)
    best = None
    if any(k.startswith("best/") for k in arrays):
        check_saved_params(arrays, shapes, model.dtype, path, prefix="best/")
        best = {k: arrays[f"best/{k}"].astype(model.dtype, copy=False) for k in shapes}
    configs = {name: _optim_config(name, arrays, meta, model.params[name], update_rule, bad)
               for name in shapes}
    iteration, epoch = meta.get("iteration"), meta.get("epoch")
    if not all(_is_count(v) for v in (iteration, epoch)):
        raise bad(f"iteration and epoch must be counts, got {iteration!r:.40}, {epoch!r:.40}")
    histories = {}
    for key in ("loss_history", "grad_norm_history"):
        h = arrays.get(key)
        if h is None or h.ndim != 1 or h.dtype.kind != "f" or len(h) != iteration:
            raise bad(f"{key} must be {iteration} floats (one per iteration), got "
                      f"{None if h is None else (h.shape, str(h.dtype))}")
        histories[key] = h.tolist()
    rewards = arrays.get("reward_history", np.zeros(0))        # older checkpoints: none
    if rewards.ndim != 1 or rewards.dtype.kind != "f" or len(rewards) > iteration:
        raise bad(f"reward_history must be at most {iteration} floats, got "
                  f"{rewards.shape, str(rewards.dtype)}")
    histories["reward_history"] = rewards.tolist()
    val_history, best_metric = meta.get("val_history"), meta.get("best_metric")
    if not (isinstance(val_history, list) and all(isinstance(r, dict) for r in val_history)):
        raise bad("val_history must be a list of records")
    if best_metric is not None and not _is_number(best_metric):
        raise bad(f"best_metric must be a number or null, got {best_metric!r:.40}")
    return {"params": {k: arrays[k] for k in shapes}, "optim_configs": configs,
            "best_params": best, "rng_state": _rng_state(meta.get("rng_state"), bad),
            "iteration": iteration, "epoch": epoch, "val_history": val_history,
            "best_metric": best_metric, **histories}


def _optim_config(name, arrays, meta, w, update_rule, bad):
    """One parameter's optimiser state: scalars that are numbers, arrays of
    w's shape and dtype, and for a built-in rule only the keys it knows."""
    scalars = (meta.get("optim_scalars") or {}).get(name)
    if not isinstance(scalars, dict):
        raise bad(f"no optimiser state for {name}")
    prefix = f"optim/{name}/"
    state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    for key, value in scalars.items():
        if not _is_number(value):
            raise bad(f"optimiser value {name}/{key} must be a finite number, got {value!r:.40}")
    for key, a in state.items():
        if a.shape != w.shape or a.dtype != w.dtype:
            raise bad(f"optimiser state {name}/{key} is {a.shape} {a.dtype}, the parameter "
                      f"is {w.shape} {w.dtype}")
    config = {**scalars, **state}
    if isinstance(update_rule, str):
        known = optim.config_keys(update_rule)
        unknown = set(config) - known
        if unknown:
            raise bad(f"optimiser state {name} has keys {sorted(unknown)} that "
                      f"{update_rule} does not know")
        if "t" in config and not _is_count(config["t"]):
            raise bad(f"optimiser step count {name}/t must be a count, got {config['t']!r}")
    return config


def _rng_state(state, bad):
    """A state the minibatch generator accepts (tried on a scratch generator)."""
    try:
        np.random.default_rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise bad(f"the minibatch generator's state is invalid: {e!r:.100}") from e
    return state


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)


def _is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _config_diff(a, b):
    if not isinstance(a, dict):
        return "no model description"
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {'vocabulary' if k == 'word_to_idx' else a.get(k)!r:.40} vs "
                     f"{'vocabulary' if k == 'word_to_idx' else b.get(k)!r:.40}" for k in keys)
