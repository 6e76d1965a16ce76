"""The layout: what the wheel installs, which way imports go, and that every
import the README shows still works."""
import ast
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXERCISE = {"layers", "rnn_layers", "captioning_rnn", "coco_utils", "image_utils",
            "gradient_check", "optim", "solver"}
PACKAGE = "rnn_captioning"
COMMANDS = {"train", "caption", "check_implementation"}


def library_files():
    """{dotted module name: path} of the exercise's modules and the package."""
    files = {name: ROOT / f"{name}.py" for name in EXERCISE}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imported_modules(path, known):
    """The names in ``known`` that the file at ``path`` imports, anywhere in
    it (functions included); ``from pkg import mod`` counts as ``pkg.mod``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found & set(known)


def import_graph():
    files = library_files()
    return {name: imported_modules(path, files) - {name} for name, path in files.items()}


def test_the_wheel_installs_the_exercise_modules_and_one_package(tmp_path):
    if shutil.which("pip", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no pip beside this Python")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel, = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        top = {n.split("/")[0] for n in z.namelist() if ".dist-info/" not in n}
    assert top == {f"{m}.py" for m in EXERCISE} | {PACKAGE}


def test_the_root_holds_the_exercise_and_the_commands_only():
    modules = {p.stem for p in ROOT.glob("*.py")} - {"setup"}
    assert modules == EXERCISE | COMMANDS


def test_library_imports_never_form_a_cycle():
    graph = import_graph()
    state = {}                       # name -> "open" while on the path, "done" after

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycle = path[path.index(dep):] + [dep] if dep in path else [name, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, path + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_nothing_imports_a_command():
    """The root's commands are entries only: library, benchmarks and tests
    import the package's modules instead."""
    users = list(library_files().values()) + list((ROOT / "benchmarks").glob("*.py")) \
        + list((ROOT / "tests").glob("*.py"))
    for path in users:
        assert not imported_modules(path, COMMANDS), f"{path.name} imports a root command"


def test_the_exercise_layers_import_no_model_or_solver():
    graph = import_graph()
    assert graph["layers"] & EXERCISE == set()
    assert graph["rnn_layers"] & EXERCISE == {"layers"}
    assert "solver" not in graph["captioning_rnn"] and "optim" not in graph["captioning_rnn"]


def readme_imports():
    """Every import line of the README's Python code blocks."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        lines += [line.strip() for line in block.splitlines()
                  if re.match(r"\s*(from \S+ )?import ", line)]
    return lines


def test_the_readme_shows_imports():
    assert any(PACKAGE in line for line in readme_imports())


@pytest.mark.parametrize("line", readme_imports())
def test_every_import_the_readme_shows_works(line):
    exec(line, {})                                  # an ImportError names the stale example


def test_data_folders_stay_at_the_top(monkeypatch):
    """The move into the package changed no data location: the built-in
    dataset is generated where COCO's folder is, under datasets/."""
    from rnn_captioning.scenes import dataset
    import coco_utils
    monkeypatch.delenv("SHAPES_CAPTIONING_DIR", raising=False)
    monkeypatch.delenv("COCO_CAPTIONING_DIR", raising=False)
    assert dataset.default_dir() == ROOT / "datasets" / "shapes_captioning"
    assert coco_utils.default_data_dir().parent == ROOT / "datasets"
