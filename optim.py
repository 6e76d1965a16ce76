"""First-order update rules with the exercise's interface and defaults.

Each rule is ``rule(w, dw, config=None) -> (next_w, config)``: w and dw are
arrays of the same shape, and ``config`` is a dict holding the
hyperparameters and every piece of state the rule needs (velocity, moving
averages, step count); the rule returns the updated dict. Nothing is kept
anywhere else, so a config saved with a checkpoint resumes exactly. Updates
keep w's dtype whatever the types of the hyperparameters: they are made
Python floats first, since a NumPy float64 scalar (a learning rate from
np.logspace, say) would otherwise promote float32 weights to float64 -- and
a run resumed from JSON, where it is a plain float, would then round
differently from the uninterrupted one.
"""
import numpy as np

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam", "UPDATE_RULES", "config_keys"]

_DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
_STATE = {"sgd": (), "sgd_momentum": ("velocity",), "rmsprop": ("cache",),
          "adam": ("m", "v", "t")}


def config_keys(rule):
    """Every key a built-in rule's config may hold: hyperparameters and state."""
    return set(_DEFAULTS[rule]) | set(_STATE[rule])


def _prepare(rule, w, dw, config):
    """Check the arrays, fill in default hyperparameters as Python floats,
    refuse unknown keys and state arrays that do not match w."""
    if not isinstance(w, np.ndarray) or not isinstance(dw, np.ndarray):
        raise TypeError(f"{rule}: w and dw must be ndarrays, got {type(w).__name__} "
                        f"and {type(dw).__name__}")
    if w.shape != dw.shape:
        raise ValueError(f"{rule}: dw must have w's shape {w.shape}, got {dw.shape}")
    config = {} if config is None else config
    unknown = set(config) - config_keys(rule)
    if unknown:
        raise ValueError(f"{rule}: unknown config keys {sorted(unknown)}; "
                         f"known: {sorted(_DEFAULTS[rule]) + list(_STATE[rule])}")
    for key, default in _DEFAULTS[rule].items():
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value):
            raise ValueError(f"{rule}: {key} must be a finite number, got {value!r}")
        config[key] = float(value)
    for key in _STATE[rule]:
        state = config.get(key)
        if isinstance(state, np.ndarray) and (state.shape != w.shape or state.dtype != w.dtype):
            raise ValueError(f"{rule}: config[{key!r}] is {state.shape} {state.dtype}, w is "
                             f"{w.shape} {w.dtype}")
    return config


def _like(w, a):
    """a in w's dtype (a dw of another dtype must not change the weights')."""
    return a.astype(w.dtype, copy=False)


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w -= learning_rate * dw.

    config: learning_rate (1e-2).
    """
    config = _prepare("sgd", w, dw, config)
    return _like(w, w - config["learning_rate"] * dw), config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: v = momentum * v - learning_rate * dw; w += v.

    config: learning_rate (1e-2), momentum (0.9), velocity (zeros like w).
    """
    config = _prepare("sgd_momentum", w, dw, config)
    v = config.get("velocity")
    v = np.zeros_like(w) if v is None else v
    v = _like(w, config["momentum"] * v - config["learning_rate"] * dw)
    config["velocity"] = v
    return w + v, config


def rmsprop(w, dw, config=None):
    """RMSProp: a moving average of squared gradients scales each step.

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8),
    cache (zeros like w).
    """
    config = _prepare("rmsprop", w, dw, config)
    cache = config.get("cache")
    cache = np.zeros_like(w) if cache is None else cache
    decay = config["decay_rate"]
    cache = _like(w, decay * cache + (1 - decay) * dw * dw)
    config["cache"] = cache
    step = config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    return _like(w, w - step), config


def adam(w, dw, config=None):
    """Adam with bias-corrected first and second moments.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8),
    m and v (zeros like w), t (0; incremented before use, as in the paper).
    """
    config = _prepare("adam", w, dw, config)
    m, v = config.get("m"), config.get("v")
    m = np.zeros_like(w) if m is None else m
    v = np.zeros_like(w) if v is None else v
    t = config.get("t", 0) + 1
    b1, b2 = config["beta1"], config["beta2"]
    m = _like(w, b1 * m + (1 - b1) * dw)
    v = _like(w, b2 * v + (1 - b2) * (dw * dw))
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    config.update(m=m, v=v, t=t)
    step = config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return _like(w, w - step), config


UPDATE_RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "rmsprop": rmsprop, "adam": adam}
