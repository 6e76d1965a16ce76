"""The one format that crosses the boundary between the checker and a
learner's process: length-prefixed frames of JSON and arrays of numbers.

Both sides use this module (the child gets its source, see walls.py). What a
frame may hold is plain data only: JSON numbers, strings, lists and the tagged
objects below, and arrays of numbers (a dtype such as ``<f8``, a shape, raw
bytes; never a pickle, never NumPy's header parser). Nothing
that arrives is imported, evaluated or unpickled; a frame larger than the
reader's bound, malformed, or holding an array of objects is refused whole.

Tags (one key each): ``{"@a": i}`` the i-th array; ``{"@s": i}`` a NumPy
scalar (a 0-d array); ``{"@t": [...]}`` a tuple; ``{"@d": [[key, value], ...]}``
a dict with string keys; ``{"@h": n, ...}`` an object that stays in the
child, named by a handle (``"callable"``, ``"type"`` say what it is);
``{"@T": i, "dtype": ..., "grad_fn": ..., "requires_grad": ..., "@h": n}`` a
tensor: its values, and a handle to it; ``{"@new_T": i, "dtype": ...,
"requires_grad": ...}`` a tensor for the child to make.
"""
import json
import math
import os
import re
import struct

import numpy as np

HEADER = struct.Struct(">QI")     # frame length, JSON length
NUMERIC = "biufc"                 # the array kinds that may cross: no objects, strings, voids
DTYPE = re.compile(r"^[<>|=][biufc][0-9]{1,2}$")


class WireError(ValueError):
    """A frame that breaks the format or its bounds."""


def pack(message, arrays):
    """One frame: ``message`` (JSON-able) and its arrays, each described by
    its dtype string and shape and sent as its raw C-order bytes."""
    arrays = [np.ascontiguousarray(a).reshape(np.shape(a)) for a in arrays]
    heads = [[a.dtype.str, list(a.shape)] for a in arrays]
    text = json.dumps({"m": message, "arrays": heads}).encode("utf-8")
    body = b"".join(a.tobytes() for a in arrays)
    return HEADER.pack(len(text) + len(body), len(text)) + text + body


def _array(dtype, shape, payload, offset):
    """One array from its description, refused unless it is plain numbers
    whose size matches."""
    if not (isinstance(dtype, str) and DTYPE.match(dtype) and isinstance(shape, list)
            and len(shape) <= 32 and all(type(n) is int and 0 <= n < 1 << 40 for n in shape)):
        raise WireError("an array's description is malformed")
    dtype = np.dtype(dtype)
    if dtype.kind not in NUMERIC:
        raise WireError(f"an array of dtype {dtype} is not plain numbers")
    size = dtype.itemsize * math.prod(shape)
    if offset + size > len(payload):
        raise WireError("the frame's array sizes do not add up")
    return np.frombuffer(payload, dtype, math.prod(shape), offset).reshape(shape), offset + size


def unpack(payload, json_length):
    """(message, arrays) from a frame's payload (a bytearray), or WireError."""
    try:
        head = json.loads(payload[:json_length].decode("utf-8"))
        heads, message = head["arrays"], head["m"]
        arrays, offset = [], json_length
        for dtype, shape in heads:
            a, offset = _array(dtype, shape, payload, offset)
            arrays.append(a)
    except WireError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as e:
        raise WireError(f"malformed frame: {type(e).__name__}") from None
    if offset != len(payload):
        raise WireError("the frame's array sizes do not add up")
    return message, arrays


def write_frame(fd, message, arrays=(), wait=None):
    """Write one frame; on a non-blocking fd, ``wait(fd)`` blocks until it
    is writable (or raises)."""
    data = memoryview(pack(message, arrays))
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            wait(fd)


def read_exactly(fd, n, wait=None):
    """n bytes from fd; ``wait(fd)`` blocks until it is readable (or raises)."""
    buf, got = bytearray(n), 0
    view = memoryview(buf)
    while got < n:
        if wait is not None:
            wait(fd)
        k = os.readv(fd, [view[got:]])
        if not k:
            raise EOFError("the other side closed the channel")
        got += k
    return buf


def read_frame(fd, limit, wait=None):
    """(message, arrays) of the next frame on fd; WireError past ``limit`` bytes."""
    length, json_length = HEADER.unpack(read_exactly(fd, HEADER.size, wait))
    if length > limit or json_length > length:
        raise WireError(f"a frame of {length} bytes (the bound is {limit})")
    return unpack(read_exactly(fd, length, wait), json_length)
