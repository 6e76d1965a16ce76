"""A Gradescope autograder of the exercise, built from this library.

    python -m rnn_captioning.checker.autograder build autograder.zip --edition numpy

makes the zip Gradescope asks for: ``setup.sh`` (installs the pinned library
and NumPy, and PyTorch for the PyTorch edition), ``run_autograder`` (grades
the files in ``/autograder/submission`` and writes
``/autograder/results/results.json``) and ``library/`` (this library's
source). ``run_autograder`` calls ``python3 -m rnn_captioning.checker.autograder
run``, which grades every ``.py`` file of the submission with ``--grade``
(see report.py and walls.py: the learner's code runs walled, as its own user,
and cannot read the library) and always leaves a results.json.
``AUTOGRADER_ROOT`` (default /autograder) and ``PYTHON`` (default python3)
move it elsewhere, as the tests do.
"""
import argparse
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from rnn_captioning.checker.reference import LIBRARY_ROOT
from rnn_captioning.checker.session import REQUIRED

__all__ = ["build", "run", "main", "submitted_files"]

MAX_SUBMITTED = 50               # .py files graded from one submission
LIBRARY_FILES = ("setup.py", "pyproject.toml", "README.md", "captioning_rnn.py",
                 "coco_utils.py", "gradient_check.py", "image_utils.py", "layers.py", "optim.py",
                 "rnn_layers.py", "solver.py")

_SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv
pip3 install -q "numpy=={numpy}" {torch}
pip3 install -q /autograder/source/library
"""
_RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission; the grade is results.json.
cd "$(dirname "$0")"
exec "${{PYTHON:-python3}}" -m rnn_captioning.checker.autograder run --edition {edition}
"""


def build(path, edition):
    """Write the autograder zip for ``edition`` ('numpy' or 'torch') at ``path``."""
    if edition not in REQUIRED:
        raise ValueError(f"edition must be one of {sorted(REQUIRED)}, got {edition!r}")
    # PyPI's Linux wheel of torch is the CUDA build; PIP_INDEX_URL in
    # Gradescope's settings can point pip at a CPU build of the same version
    torch = "torch==2.13.0" if edition == "torch" else ""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        _script(z, "setup.sh", _SETUP.format(numpy=np.__version__, torch=torch))
        _script(z, "run_autograder", _RUN.format(edition=edition))
        for name in LIBRARY_FILES:
            z.write(LIBRARY_ROOT / name, f"library/{name}")
        for source in sorted((LIBRARY_ROOT / "rnn_captioning").rglob("*.py")):
            z.write(source, f"library/{source.relative_to(LIBRARY_ROOT)}")
    return path


def _script(z, name, text):
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16           # executable, as Gradescope runs them
    z.writestr(info, text)


def submitted_files(submission):
    """The submission's .py files (not in hidden or cache folders), sorted;
    at most MAX_SUBMITTED."""
    files = [p for p in sorted(Path(submission).rglob("*.py"))
             if p.is_file() and not p.is_symlink()
             and not any(part.startswith((".", "__")) for part in
                         p.relative_to(submission).parts[:-1])]
    return files[:MAX_SUBMITTED]


def run(root, edition, timeout=30.0):
    """Grade ``root``/submission into ``root``/results/results.json; the
    report's exit status."""
    from rnn_captioning.checker import report
    from rnn_captioning.checker.gradescope import write_results
    results = Path(root) / "results" / "results.json"
    files = submitted_files(Path(root) / "submission")
    if not files:
        write_results(results, None, FileNotFoundError("no .py files in the submission"))
        return 1
    return report.main([*map(str, files), "--grade", edition, "--gradescope", str(results),
                        "--timeout", str(timeout)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the autograder zip")
    b.add_argument("zip", type=Path, help="where to write it")
    r = sub.add_parser("run", help="grade the submission (what run_autograder does)")
    for p in (b, r):
        p.add_argument("--edition", choices=sorted(REQUIRED), default="numpy",
                       help="the exercise's edition (default: %(default)s)")
    r.add_argument("--timeout", type=float, default=30.0,
                   help="seconds each function may take (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.command == "build":
        print(f"wrote {build(args.zip, args.edition)}")
        return 0
    run(os.environ.get("AUTOGRADER_ROOT", "/autograder"), args.edition, args.timeout)
    return 0                    # Gradescope reads the grade from results.json


if __name__ == "__main__":
    sys.exit(main())
