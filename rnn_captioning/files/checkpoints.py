"""Safe files: atomic writes, and .npz archives of arrays plus JSON metadata.

Nothing here ever unpickles: archives are read with ``allow_pickle=False`` and
metadata is JSON stored as a unicode array. A write goes to a temporary file in
the destination's folder, is flushed and fsynced, then renamed over the
destination, so a crash, a full disk or an interrupt at any moment leaves
either the old file or the new one, never a torn one.
"""
import json
import os
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "save_npz", "load_npz", "parse_json"]

_META_KEY = "__meta__"
# what zipfile raises for damaged archives: NotImplementedError for unknown
# versions, compression methods or flags, RuntimeError for encryption
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, OSError, KeyError, NotImplementedError,
               RuntimeError)


def atomic_write(path, write):
    """Create or replace ``path`` atomically.

    - path: destination file
    - write: callable taking a binary file object and writing the content

    The temporary file is removed if ``write`` (or anything after it) fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); a run's files are ordinary
        # files, readable as the user's umask allows
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # BaseException: a KeyboardInterrupt mid-write must not leave debris
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _umask():
    """The process's umask (reading it means setting it: put it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder):
    """Make the rename itself durable (POSIX); a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def parse_json(text, what):
    """json.loads, with every failure a ValueError starting with ``what``: malformed
    text, and nesting deep enough to exhaust the parser's recursion."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ValueError(f"{what} {reason}") from e


def _check_zip_entries(path):
    """Refuse what np.savez never writes, before reading any array: duplicated
    entry names (zipfile would read the last, a reader scanning forward the
    first: two readers, two models), encryption, compression other than
    stored/deflated."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (ValueError, *_ZIP_ERRORS) as e:
        raise ValueError(f"{path} is a corrupt .npz archive: {e!r}") from e
    names = [info.filename for info in infos]
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicated:
        raise ValueError(f"{path} holds the entries {duplicated[:5]} more than once; refused")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ValueError(f"{path}: entry {info.filename!r} is encrypted; refused")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{path}: entry {info.filename!r} uses compression method "
                             f"{info.compress_type}, not stored or deflated; refused")


def save_npz(path, arrays, meta):
    """Write ``arrays`` (name -> ndarray) and ``meta`` (JSON-able dict) to one
    .npz file, atomically."""
    if _META_KEY in arrays:
        raise ValueError(f"array name {_META_KEY!r} is reserved for the metadata")
    for name, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"array {name!r} has dtype object, which cannot be saved safely")
    payload = dict(arrays)
    payload[_META_KEY] = np.array(json.dumps(meta))
    atomic_write(path, lambda f: np.savez(f, **payload))


def load_npz(path, kind):
    """Read an archive written by :func:`save_npz` whose ``meta['kind']`` is ``kind``.

    Returns (arrays, meta). Raises FileNotFoundError for a missing file and
    ValueError, naming the file, for anything that is not such an archive: a
    truncated or corrupt file, a pickled object, missing or foreign metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz archive (truncated, corrupt or another format)")
    _check_zip_entries(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise ValueError(f"{path} holds a pickled object; refused, nothing is unpickled") from e
        raise ValueError(f"{path} is a corrupt .npz archive: {e}") from e
    except _ZIP_ERRORS as e:
        raise ValueError(f"{path} is a corrupt or truncated .npz archive: {e!r}") from e
    meta_arr = arrays.pop(_META_KEY, None)
    if meta_arr is None or meta_arr.dtype.kind != "U" or meta_arr.ndim != 0:
        raise ValueError(f"{path} is not a {kind} file: it has no metadata")
    meta = parse_json(str(meta_arr), f"{path} has corrupt metadata:")
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        found = meta.get("kind") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path} is not a {kind} file (it says {found!r})")
    return arrays, meta
