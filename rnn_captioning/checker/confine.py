"""The walls a learner's process puts up around itself before it reads a
learner's file (run in the child, from walls.py's configuration).

In order: resource limits (CPU seconds, address space, processes, file size,
open files, no core files); as root, a private view of the file system in
which the interpreter stays reachable for an unprivileged user; Landlock
(Linux 5.13+), which limits the files the process and everything it starts
may read and write, forbids TCP, and (Linux 6.12+) keeps its signals and
abstract sockets inside the sandbox; as root, the switch to an unprivileged
user; and death with the checker. What the kernel does not offer is left
out; walls.py knows beforehand which of them this machine has.
"""
import ctypes
import os
import resource
import signal
import sys

# Landlock's ABI (include/uapi/linux/landlock.h)
_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_READ_FILE = (1 << 0) | (1 << 2)                 # execute, read a file
_READ = _READ_FILE | (1 << 3)                    # and list a directory
_PR_SET_NO_NEW_PRIVS, _PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 38, 1, 4
_MS_BIND, _MS_REC, _MS_PRIVATE, _MS_MOVE = 4096, 16384, 1 << 18, 8192
_CLONE_NEWNS = 0x00020000

_libc = ctypes.CDLL(None, use_errno=True)


def preload(config):
    """Import, while the interpreter's files are in reach, what learners'
    files import: torch when they use it, and the standard modules they use."""
    if config.get("torch"):
        import torch  # noqa: F401
    for name in ("math", "copy", "random", "functools", "itertools", "collections", "typing",
                 "time", "warnings", "numbers", "operator", "string", "abc", "dataclasses",
                 "json", "re", "enum", "contextlib", "statistics", "heapq", "bisect"):
        __import__(name)


def put_up_walls(config):
    _limits(config["limits"])
    os.chdir(config["scratch"])
    dropping = os.geteuid() == 0 and config.get("uid") is not None
    if dropping and config.get("reach"):
        _keep_reachable(config["reach"], config["scratch"])
    ruleset = _landlock_ruleset(config["read"], config["write"])
    if dropping:
        os.setgroups([])
        os.setresgid(config["uid"], config["uid"], config["uid"])
        os.setresuid(config["uid"], config["uid"], config["uid"])
    if sys.platform == "linux":
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)   # after the switch: it clears it
    if os.getppid() != config["parent"]:
        os._exit(70)                    # the checker is already gone
    if ruleset is not None:
        _restrict(ruleset)


def _limits(limits):
    for name, value in limits.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (AttributeError, ValueError, OSError):
            if sys.platform == "linux":         # elsewhere some limits do not exist
                raise
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the size limit fails instead


def _check(result, what):
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _keep_reachable(reach, scratch):
    """A private mount namespace in which the folders the interpreter needs,
    under a folder only root may enter (such as /root), sit in an empty,
    enterable copy of that folder; the rest of it stays hidden.

    - reach: {closed folder: [folders inside it to keep]}
    """
    _check(_libc.unshare(_CLONE_NEWNS), "unshare")
    _check(_libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate")
    for closed, insides in reach.items():
        stages = []
        for i, inside in enumerate(insides):
            stage = os.path.join(scratch, f".stage{i}")
            os.mkdir(stage)
            _check(_libc.mount(inside.encode(), stage.encode(), None, _MS_BIND | _MS_REC, None),
                   f"bind {inside}")
            stages.append((stage, inside))
        _check(_libc.mount(b"tmpfs", closed.encode(), b"tmpfs", 0, b"mode=0755"), "tmpfs")
        for stage, inside in stages:
            os.makedirs(inside, mode=0o755)
            _check(_libc.mount(stage.encode(), inside.encode(), None, _MS_MOVE, None), "move")
            os.rmdir(stage)


def _landlock_ruleset(read, write):
    """A Landlock ruleset: read (and execute) beneath ``read``, everything
    beneath ``write``; no TCP; signals and abstract sockets kept inside."""
    if sys.platform != "linux":
        return None
    abi = _libc.syscall(_SYS_CREATE, None, 0, 1)
    if abi < 1:
        return None
    fs = _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)]
    fields = [fs] + ([3] if abi >= 4 else []) + ([3] if abi >= 6 else [])   # TCP; scopes
    attr = (ctypes.c_uint64 * len(fields))(*fields)
    fd = _check(_libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.sizeof(attr), 0),
                "landlock_create_ruleset")
    for paths, access in ((read, _READ), (write, fs)):
        for path in paths:
            _add_rule(fd, path, access)
    return fd


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _add_rule(ruleset, path, access):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return                          # a path that is not there needs no rule
    try:
        if not os.path.isdir(path):
            access &= _READ_FILE | (1 << 1) | (1 << 14) | (1 << 15)   # a file's own rights
        rule = _PathBeneath(access, fd)
        _check(_libc.syscall(_SYS_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0),
               f"landlock_add_rule {path}")
    finally:
        os.close(fd)


def _restrict(ruleset):
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(_libc.syscall(_SYS_RESTRICT, ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)
