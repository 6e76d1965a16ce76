"""The learner's functions and objects as the checker sees them: stand-ins
that forward each call to the learner's process (walls.Sandbox) and give back
what it answered as plain data.

A :class:`Remote` looks like the learner's module, function, class or model
object: attribute reads and writes and calls go across; arguments go as
arrays and JSON; results come back as arrays, numbers, strings, tuples, lists
and dicts, or as further Remotes for what stays in the child (a cache, a
model). An exception the learner's code raised comes back as data and is
raised here as the built-in exception of that name (any other name: a
:class:`LearnerError`), with the learner's frames for the report. The checks
(checks.py, torch_checks.py) call these exactly as they would call local code.
"""
import builtins
import inspect
import traceback

import numpy as np

from rnn_captioning.checker.walls import ChildGone

__all__ = ["Remote", "RemoteTensor", "NewTensor", "TorchDtype", "LearnerError", "connect"]

MAX_DEPTH = 64


class LearnerError(Exception):
    """An exception of a type of the learner's own (or a library's) making."""

    def __init__(self, type_name, message):
        super().__init__(message)
        self.type_name = type_name


class Remote:
    """An object living in the learner's process."""

    __slots__ = ("_child", "_handle", "_attrs")

    def __init__(self, child, handle):
        object.__setattr__(self, "_child", child)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_attrs", {})

    def __getattr__(self, name):
        if name.startswith("__"):           # copy, inspect and friends probe these
            raise AttributeError(name)
        cache = self._attrs
        if name not in cache:
            value = self._child.ask("get", obj=self, name=name)
            if not isinstance(value, Remote):
                return value
            cache[name] = value             # functions and classes: ask once
        return cache[name]

    def __setattr__(self, name, value):
        self._attrs.pop(name, None)
        self._child.ask("set", obj=self, name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._child.call(self, args, kwargs)

    def perturbed(self, args, index, h):
        """The values (but the last: a cache, or a gradient) this function
        returns for ``args`` with args[index] changed by +h and then -h at
        each of its entries in turn: a list of 2 * size tuples."""
        return self._child.ask("perturbed", fn=self, args=list(args), index=index, h=h)

    def perturbed_model(self, args, kwargs, params, key, call_args, h):
        """This class's loss, made anew for each entry of params[key] moved by
        +h and then -h: ``model = cls(*args, **kwargs)``, its params set, the
        values but the last of ``model.loss(*call_args)``."""
        return self._child.ask("perturbed_model", cls=self, args=list(args), kwargs=kwargs,
                               params=params, key=key, call_args=list(call_args), h=h)

    def call_keeping_last(self, *args):
        """Call; the last returned value (a cache) stays in the learner's
        process and comes back as a Remote."""
        return self._child.call(self, args, {}, keep_last=True)

    @property
    def __signature__(self):
        params = self._child.ask("signature", fn=self)
        if params is None:
            return None
        return inspect.Signature([inspect.Parameter(str(name), inspect._ParameterKind(kind),
                                                    **({"default": None} if default else {}))
                                  for name, kind, default in params])


class RemoteTensor:
    """A tensor the learner's code returned: its values (float64 copies of
    what NumPy cannot hold), dtype name, whether autograd's graph reaches it,
    and a handle to the tensor itself (for :meth:`Connection.grad`)."""

    def __init__(self, values, dtype, grad_fn, requires_grad, handle):
        self.values, self.dtype, self.grad_fn = values, dtype, grad_fn
        self.requires_grad, self.handle = requires_grad, handle

    @property
    def shape(self):
        return self.values.shape


class NewTensor:
    """A tensor for the learner's process to make: values, dtype name
    ('float64', 'float32', 'long'), requires_grad."""

    def __init__(self, values, dtype, requires_grad=False):
        self.values, self.dtype, self.requires_grad = values, dtype, requires_grad

    @property
    def shape(self):
        return self.values.shape


class TorchDtype:
    """A torch dtype by name ('float64'), for the learner's process to take."""

    def __init__(self, name):
        self.name = name.removeprefix("torch.")


class Connection:
    """Requests to one Sandbox, and the decoding of its answers."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def ask(self, op, **args):
        arrays = []
        message = {"op": op, "args": {k: _encode(v, arrays) for k, v in args.items()}}
        reply, got = self.sandbox.request(message, arrays)
        if not isinstance(reply, dict) or not ({"value"} == set(reply) or {"error"} == set(reply)):
            raise ChildGone("its answer was not in the checker's format")
        if "error" in reply:
            raise _exception(reply["error"])
        return self._decode(reply["value"], got, 0)

    def call(self, fn, args, kwargs, keep_last=False):
        out = self.ask("call", fn=fn, args=list(args), kwargs=dict(kwargs), keep_last=keep_last)
        if not isinstance(out, dict) or set(out) != {"value", "changed"}:
            raise ChildGone("its answer was not in the checker's format")
        for item in out["changed"] if isinstance(out["changed"], list) else ():
            # the learner's code changed an input in place: do the same here
            if (isinstance(item, list) and len(item) == 2 and type(item[0]) is int
                    and 0 <= item[0] < len(args) and isinstance(args[item[0]], np.ndarray)
                    and isinstance(item[1], np.ndarray) and item[1].shape == args[item[0]].shape):
                np.copyto(args[item[0]], item[1], casting="unsafe")
        return out["value"]

    def grad(self, outputs, weights, inputs):
        """Autograd's gradients, in the learner's process, of sum(output *
        weight) with respect to ``inputs`` (RemoteTensors); None where the
        graph does not reach."""
        return self.ask("grad", outputs=outputs, weights=weights, inputs=inputs)

    def _decode(self, v, arrays, depth):
        if depth > MAX_DEPTH:
            raise ChildGone("its answer was nested too deeply")
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is list:
            return [self._decode(x, arrays, depth + 1) for x in v]
        if type(v) is not dict:
            raise ChildGone("its answer was not in the checker's format")
        try:
            if "@T" in v:
                return RemoteTensor(arrays[v["@T"]], str(v["dtype"])[:40], bool(v["grad_fn"]),
                                    bool(v["requires_grad"]), Remote(self, int(v["@h"])))
            if "@a" in v:
                return arrays[v["@a"]]
            if "@s" in v:
                return arrays[v["@s"]][()]
            if "@t" in v:
                return tuple(self._decode(x, arrays, depth + 1) for x in v["@t"])
            if "@d" in v:
                return {str(k): self._decode(x, arrays, depth + 1) for k, x in v["@d"]}
            if "@h" in v:
                return Remote(self, int(v["@h"]))
        except (KeyError, IndexError, TypeError, ValueError):
            pass
        raise ChildGone("its answer was not in the checker's format")


def _encode(v, arrays):
    if v is None or type(v) in (bool, int, float, str):
        return v
    if isinstance(v, np.ndarray):
        arrays.append(v)
        return {"@a": len(arrays) - 1}
    if isinstance(v, np.generic):
        arrays.append(np.asarray(v))
        return {"@s": len(arrays) - 1}
    if isinstance(v, Remote):
        return {"@h": v._handle}
    if isinstance(v, RemoteTensor):
        return {"@h": v.handle._handle}
    if isinstance(v, np.dtype):
        return {"@dtype": v.name}
    if isinstance(v, TorchDtype):
        return {"@tdtype": v.name}
    if isinstance(v, NewTensor):
        arrays.append(np.asarray(v.values))
        return {"@new_T": len(arrays) - 1, "dtype": v.dtype, "requires_grad": v.requires_grad}
    if isinstance(v, tuple):
        return {"@t": [_encode(x, arrays) for x in v]}
    if isinstance(v, list):
        return [_encode(x, arrays) for x in v]
    if isinstance(v, dict):
        return {"@d": [[str(k), _encode(x, arrays)] for k, x in v.items()]}
    raise TypeError(f"cannot send a {type(v).__name__} to the learner's process")


_BUILTIN_ERRORS = {name: cls for name, cls in vars(builtins).items()
                   if isinstance(cls, type) and issubclass(cls, Exception)
                   and not issubclass(cls, (Warning, OSError, UnicodeError))}


def _exception(data):
    """The learner's exception, rebuilt from data (never from its objects)."""
    if not isinstance(data, dict):
        return ChildGone("its answer was not in the checker's format")
    name, message = str(data.get("type", "Exception"))[:80], str(data.get("message", ""))[:2000]
    bases = data.get("bases") if isinstance(data.get("bases"), list) else []
    # the nearest built-in class of its own or its bases (torch's errors are
    # RuntimeErrors, a learner's may derive from NotImplementedError)
    cls = next((_BUILTIN_ERRORS[str(b)] for b in [name, *bases[:12]]
                if str(b) in _BUILTIN_ERRORS), None)
    e = LearnerError(name, message)
    if cls is not None and cls is not SyntaxError:
        try:
            e = cls(message)
        except Exception:           # a class whose constructor wants more
            pass
    e.remote_type = name
    e.remote_frames = _frames(data.get("frames"))
    return e


def _frames(frames):
    out = []
    for f in frames if isinstance(frames, list) else ():
        if isinstance(f, list) and len(f) == 4:
            out.append(traceback.FrameSummary(str(f[0])[:300], int(f[1]) if type(f[1]) is int
                                              else 0, str(f[2])[:100], line=str(f[3])[:300]))
    return out[-30:]


def connect(sandbox):
    """A Connection to ``sandbox``."""
    return Connection(sandbox)
