"""Starting, bounding and ending the process that runs a learner's code.

The checker (this process) owns a work folder the child cannot list; the
child gets a scratch folder inside it as its working folder, ``$HOME`` and
``$TMPDIR``, with copies of the learner's files. It starts as a fresh
interpreter (never a fork of the checker, which holds the reference), in its
own session and process group, with stdin from /dev/null and its output in a
file only the checker reads, cut at RLIMIT_FSIZE. Its walls are put up by
confine.py before any learner file is read: resource limits, Landlock where
the kernel has it (reads of the library hidden when grading, writes only in
the scratch folder, no TCP, no signals out), and, when the checker runs as
root, an unprivileged user of its own. When it is done, times out or dies,
its process group, every process of its user and every orphan it left (the
checker is their subreaper) are killed.
"""
import ctypes
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from rnn_captioning.checker import confine, sandbox, wire
from rnn_captioning.checker.reference import EXERCISE_MODULES, LIBRARY_ROOT

__all__ = ["Sandbox", "ChildGone", "machine_walls", "subreaper", "FRAME_LIMIT"]

FRAME_LIMIT = 32 << 20          # bytes of one answer from the child
LOG_SHOWN = 2000                # characters of the child's output kept for a report
LIMITS = {"RLIMIT_AS": 4 << 30, "RLIMIT_FSIZE": 64 << 20, "RLIMIT_NOFILE": 256,
          "RLIMIT_CORE": 0}
CHILD_PROCESSES = 32            # processes the learner's code may have at once
UID_BASE = 2_100_000_000        # the children's users: no account has these

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37
_REAPING = threading.Lock()     # one thread at a time starts children or reaps orphans
_SPARED = set()                 # children this process had before it checked anything
_MODULES = {"checker_wire": wire, "checker_confine": confine, "checker_sandbox": sandbox}
_BOOT = ("import sys, types, json\n"
         "for name, text in json.loads(sys.argv[1]).items():\n"
         "    m = types.ModuleType(name)\n"
         "    sys.modules[name] = m\n"
         "    exec(compile(text, " + repr(sandbox.SOURCE_NAME) + ", 'exec'), m.__dict__)\n"
         "sys.modules['checker_sandbox'].main(json.loads(sys.argv[2]))\n")


class ChildGone(BaseException):
    """The learner's process timed out, died or broke the protocol. A
    BaseException: no ``except Exception`` in the checks may swallow it."""


@lru_cache(maxsize=None)
def _sources():
    return json.dumps({name: Path(m.__file__).read_text() for name, m in _MODULES.items()})


@lru_cache(maxsize=None)
def machine_walls():
    """What this machine lets the checker put up: {'landlock': ABI or 0
    (6 and up also keep signals inside), 'root': bool}."""
    abi = _libc.syscall(confine._SYS_CREATE, None, 0, 1) if sys.platform == "linux" else -1
    abi = max(abi, 0)
    return {"landlock": abi, "root": os.geteuid() == 0}


@contextmanager
def subreaper():
    """Make this process the subreaper of everything its children start, so
    that a double fork cannot hide a process from the sweep."""
    if sys.platform != "linux":
        yield
        return
    before = ctypes.c_int(0)
    _libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
    _SPARED.update(pid for pid, _ in _children_of(os.getpid()))  # a notebook's own children
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        with _REAPING:
            sweep_orphans(set())
        _libc.prctl(_PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)


class Sandbox:
    """One learner process: start it, talk to it, end it with all it started.

    - files: the learner's files to copy in (each with the folder it keeps)
    - grading: only the given layers.py stands in, and the library's files are unreadable
    - torch: import PyTorch before the walls
    - slot: which of the concurrent children this is (its user when root)
    """

    live = set()            # pids of the children running now (not orphans)

    def __init__(self, files, *, grading, torch=False, slot=0, cpu_seconds=600):
        self.work = Path(tempfile.mkdtemp(prefix="rnn-check-"))
        os.chmod(self.work, 0o711)                  # the child may enter, not list
        self.scratch = self.work / "scratch"
        self.scratch.mkdir(mode=0o700)
        self.paths = copy_files(files, self.scratch / "files")
        walls = machine_walls()
        self.uid = UID_BASE + (os.getpid() % 1_000_000) * 8 + slot if walls["root"] else None
        if self.uid is not None:
            for path in [self.scratch, *self.scratch.rglob("*")]:
                os.chown(path, self.uid, self.uid, follow_symlinks=False)
        config = self._config(grading, torch, cpu_seconds)
        self.log = open(self.work / "output.log", "w+b")
        requests, self._to_child = os.pipe()
        self._from_child, answers = os.pipe()
        config.update(read_fd=requests, write_fd=answers)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.scratch), "TMPDIR": str(self.scratch),
               "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        with _REAPING:                  # a sweep must not take it for an orphan
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, _sources(), json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, cwd=self.scratch,
                env=env, pass_fds=(requests, answers), start_new_session=True)
            Sandbox.live.add(self.proc.pid)
        os.close(requests)
        os.close(answers)
        os.set_blocking(self._to_child, False)      # a child that stops reading cannot stall us
        self.deadline = None

    def _config(self, grading, torch, cpu_seconds):
        limits = dict(LIMITS, RLIMIT_CPU=int(cpu_seconds),
                      RLIMIT_NPROC=CHILD_PROCESSES + (0 if self.uid else _own_processes()))
        read = readable(hidden=library_files() if grading else ())
        return {"scratch": str(self.scratch), "limits": limits, "uid": self.uid,
                "parent": os.getpid(), "torch": torch, "frame_limit": FRAME_LIMIT,
                "grading": grading, "library_root": str(LIBRARY_ROOT),
                "reach": out_of_reach(self.uid) if self.uid is not None else {},
                "read": read, "write": [str(self.scratch), os.devnull]}

    # -- talking ----------------------------------------------------------------------

    def _wait(self, fd, write=False):
        """Until fd is readable (writable), or ChildGone past the deadline."""
        left = None if self.deadline is None else self.deadline - time.monotonic()
        if left is not None and left <= 0:
            raise ChildGone("timed out")
        ready = select.select(*(([], [fd]) if write else ([fd], [])), [], left)
        if not any(ready):
            raise ChildGone("timed out")

    def request(self, message, arrays=()):
        """Send one request; (reply, arrays) or ChildGone."""
        try:
            wire.write_frame(self._to_child, message, arrays,
                             wait=lambda fd: self._wait(fd, write=True))
            return wire.read_frame(self._from_child, FRAME_LIMIT, self._wait)
        except (BrokenPipeError, EOFError):
            self.proc.wait()
            raise ChildGone(self.death()) from None
        except wire.WireError as e:
            raise ChildGone(f"its answer was refused: {e}") from None

    def death(self):
        """Why the child is gone, in a learner's words."""
        code = self.proc.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            why = {"SIGXCPU": "it used up its CPU time", "SIGKILL": "it was killed",
                   "SIGSEGV": "a crash in native code"}.get(name, name)
            return f"the process died without a result ({why})"
        if "MemoryError" in self.output():
            return "the process died without a result (out of memory)"
        return f"the process ended without a result (exit status {code})"

    def output(self):
        """The end of what the child printed (bounded)."""
        self.log.flush()
        size = self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, size - LOG_SHOWN))
        return self.log.read(LOG_SHOWN).decode("utf-8", errors="replace")

    # -- ending -------------------------------------------------------------------------

    def stop(self):
        """Kill the child, its group, its user's processes and its orphans;
        remove the work folder."""
        for fd in (self._to_child, self._from_child):
            with _ignored(OSError):
                os.close(fd)
        with _ignored(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        with _REAPING:
            Sandbox.live.discard(self.proc.pid)
            if self.uid is not None:
                kill_user(self.uid)
            sweep_orphans(Sandbox.live)
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)


class _ignored:
    def __init__(self, *kinds):
        self.kinds = kinds

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, self.kinds)


def kill_user(uid):
    """SIGKILL every process of ``uid`` (a helper that takes that user and
    signals all it may: exactly the learner's processes)."""
    pid = os.fork()
    if pid == 0:                                # only system calls here: safe after fork
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def sweep_orphans(keep):
    """Kill and reap every process reparented to this one (the subreaper),
    but the children in ``keep``, until none is left. Only processes of
    another session are ours to kill: every learner process starts a session
    of its own and no process can join another's, while the children the
    host (a notebook's kernel, pytest) starts, even meanwhile, share its own."""
    me, mine, quiet = os.getpid(), os.getsid(0), 0
    while quiet < 2:
        found = [pid for pid, session in _children_of(me)
                 if pid not in keep and pid not in _SPARED and session != mine]
        for pid in found:
            with _ignored(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with _ignored(ChildProcessError):
                os.waitpid(pid, 0)
        quiet = 0 if found else quiet + 1


def _children_of(parent):
    """(pid, session id) of each child of ``parent``."""
    pids = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append((int(entry.name), int(fields[3])))
    return pids


def _own_processes():
    """How many processes this user has now (RLIMIT_NPROC counts them all)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


# -- what the child may read ------------------------------------------------------------

def library_files():
    """The library's files: a checkout's whole folder (but the interpreter's
    environment inside it), or the installed names in site-packages."""
    keep = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
    if (LIBRARY_ROOT / "pyproject.toml").is_file() or (LIBRARY_ROOT / "setup.py").is_file():
        return [str(p) for p in LIBRARY_ROOT.iterdir()
                if not any(k == p or p in k.parents for k in keep)]
    names = {f"{m}.py" for m in EXERCISE_MODULES} | {"rnn_captioning", "__pycache__"}
    names |= {f"{m}.py" for m in ("coco_utils", "image_utils", "gradient_check", "solver")}
    return [str(LIBRARY_ROOT / n) for n in os.listdir(LIBRARY_ROOT)
            if n in names or n.startswith(("rnn_captioning-", "__editable__"))]


def readable(hidden=()):
    """Folders (and files) the child may read: everything, or when ``hidden``
    is given, the system's and the interpreter's folders less those paths."""
    if not hidden:
        return ["/"]
    roots = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/sys", "/dev", "/opt",
             sys.prefix, sys.base_prefix, sys.exec_prefix]
    hidden = [Path(h) for h in hidden]
    out = []
    for root in dict.fromkeys(str(Path(r).resolve()) for r in roots):
        out += _less(Path(root), hidden)
    return out


def _less(folder, hidden):
    """``folder`` as read rules that leave out every path in ``hidden``."""
    if any(folder == h or h in folder.parents for h in hidden) or not folder.exists():
        return []
    if not any(folder in h.parents for h in hidden):
        return [str(folder)]
    out = []
    for entry in folder.iterdir():
        out += _less(entry, hidden)
    return out


def out_of_reach(uid):
    """{closed folder: [folders in it]}: the interpreter's folders an
    unprivileged user cannot enter, under the outermost folder that shuts it
    out (a pyenv under /root)."""
    import numpy
    needed = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, sys.exec_prefix,
                                          Path(numpy.__file__).parents[1], sys.executable)}
    reach = {}
    for path in needed:
        path = path if path.is_dir() else path.parent
        closed = next((a for a in reversed([path, *path.parents])
                       if not os.stat(a).st_mode & stat.S_IXOTH), None)
        if closed is not None and closed != path:
            reach.setdefault(str(closed), set()).add(str(path))
    return {c: sorted(_outermost(v)) for c, v in reach.items()}


def _outermost(paths):
    return {p for p in paths if not any(q != p and p.startswith(q + os.sep) for q in paths)}


HELPER_BYTES = 1 << 20          # a learner's helper module larger than this is not copied


def copy_files(files, into):
    """Copy the learner's files, and the other .py files of their package
    folders (their own helper modules), keeping the layout below the
    folders' common parent; the copies of ``files``, in order."""
    files = [Path(f).resolve() for f in files]
    roots = {_package_root(f) for f in files}
    top = Path(os.path.commonpath([str(r.parent) for r in roots]))
    copies = []
    for root in roots:
        for folder in (root, root / "classifiers"):
            for source in sorted(folder.glob("*.py")) if folder.is_dir() else []:
                if source.is_file() and (source in files or source.stat().st_size < HELPER_BYTES):
                    target = into / source.relative_to(top)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
    for f in files:
        target = into / f.relative_to(top)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
        copies.append(target)
    return copies


def _package_root(path):
    folder = path.parent
    return folder.parent if folder.name == "classifiers" else folder
