"""The checker of learners' code: every catalogue mistake, written by hand into
a correct learner's solution, is named; correct code passes; broken files are
reported, never fatal."""
import json
from pathlib import Path


from rnn_captioning.checker import report as ci
import numpy as np

from student_code import LAYERS, MODEL, OPTIM
from rnn_captioning.checker.checks import SPECS, reference_namespace
from rnn_captioning.checker.mistakes import CATALOGUE, variant_namespace

ROOT = Path(__file__).resolve().parent.parent


def write_student(folder, edits=(), file="layers"):
    """The learner's files, with (old, new) text edits made in one of them."""
    sources = {"layers": LAYERS, "model": MODEL, "optim": OPTIM}
    for old, new in edits:
        assert old in sources[file], old
        sources[file] = sources[file].replace(old, new, 1)
    folder.mkdir(parents=True, exist_ok=True)
    names = {"layers": "rnn_layers.py", "model": "rnn.py", "optim": "optim.py"}
    for kind, text in sources.items():
        (folder / names[kind]).write_text(text)
    return [folder / names[k] for k in ("layers", "model", "optim")]


def test_every_catalogue_mistake_has_a_learner_who_makes_it():
    """tests/learners/ holds a learner per mistake; test_learners.py runs them."""
    named = set()
    for expected in (ROOT / "tests" / "learners").glob("*/expected.json"):
        named |= {f.get("mistake") for f in json.loads(expected.read_text())["functions"].values()}
    assert len(CATALOGUE) >= 25
    assert {m.id for m in CATALOGUE} <= named


def test_sampling_cases_tell_every_wrong_decoding_from_the_right_one():
    """Non-degenerate sampling: the reference's captions vary over images and
    steps, and every sampling mistake changes them on the cases checked."""
    spec = next(s for s in SPECS if s.name == "CaptioningRNN.sample")
    ref = reference_namespace()
    cases = [spec.make(np.random.default_rng(i), **shape) for i, shape in enumerate(spec.shapes)]
    outs = [spec.run(ref, c)["captions"] for c in cases]
    for caps in outs:
        varied = [len(set(row.tolist())) >= 2 for row in caps]
        assert sum(varied) >= len(caps) / 2, caps            # words change along a caption
        assert len(caps) == 1 or len({tuple(r) for r in caps}) > 1, caps   # and between images
    for m in CATALOGUE:
        if spec.name in m.functions:
            variant = variant_namespace({m.id})
            differs = [not np.array_equal(spec.run(variant, c)["captions"], o)
                       for c, o in zip(cases, outs)]
            assert any(differs), m.id


def test_a_correct_learner_passes_every_check(tmp_path):
    results = ci.run_checks(write_student(tmp_path), timeout=60)
    assert [r["name"] for r in results] == [s.name for s in SPECS]
    failed = [(r["name"], r["message"]) for r in results if r["status"] != "pass"]
    assert failed == []
    assert ci.passed(results)


def test_the_library_passes_every_check():
    paths = [ROOT / "rnn_layers.py", ROOT / "rnn_captioning" / "temporal_layers.py",
             ROOT / "captioning_rnn.py", ROOT / "optim.py"]
    results = ci.run_checks(paths, timeout=60)
    assert [r["status"] for r in results] == ["pass"] * len(SPECS), \
        [(r["name"], r["message"]) for r in results if r["status"] != "pass"]


def test_syntax_error_reported_once_with_its_line(tmp_path):
    path = tmp_path / "rnn_layers.py"
    path.write_text("import numpy as np\n\ndef rnn_step_forward(x, prev_h, Wx, Wh, b)\n"
                    "    return x\n")
    results = ci.run_checks([path], timeout=20)
    [crash] = [r for r in results if r["status"] == "crashed"]
    assert crash["name"] == "rnn_layers.py"
    assert "SyntaxError" in crash["message"] and "line 3" in crash["message"]
    assert crash["message"].count("line 3") == 1
    assert not ci.passed(results)


def test_import_error_reported_with_the_file(tmp_path):
    path = tmp_path / "rnn_layers.py"
    path.write_text("import numpy as np\nimport no_such_module_here\n\n\n"
                    "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    return None, None\n")
    [result] = [r for r in ci.run_checks([path], timeout=20) if r["status"] != "absent"]
    assert result["name"] == "rnn_layers.py"
    assert "ModuleNotFoundError" in result["message"] and "line 2" in result["message"]


def test_endless_loop_times_out_and_the_rest_is_checked(tmp_path):
    edits = [("def rnn_forward(x, h0, Wx, Wh, b):\n",
              "def rnn_forward(x, h0, Wx, Wh, b):\n    while True:\n        pass\n")]
    paths = write_student(tmp_path, edits)
    results = ci.run_checks(paths, only=["rnn_forward", "rnn_step_forward"], timeout=2)
    by_name = {r["name"]: r for r in results}
    assert by_name["rnn_forward"]["status"] == "crashed"
    assert "timed out after 2 s" in by_name["rnn_forward"]["message"]
    assert by_name["rnn_step_forward"]["status"] == "pass"


def test_wrong_number_of_returned_values(tmp_path):
    edits = [("    return next_h, cache\n", "    return next_h\n")]
    [result] = ci.run_checks(write_student(tmp_path, edits), only=["rnn_step_forward"])
    assert result["status"] == "crashed"
    assert "returns 1 values; the exercise's returns 2 (next_h, cache)" in result["message"]


def test_exception_names_the_learners_line(tmp_path):
    edits = [("    dx = da.dot(Wx.T)\n", "    dx = da.dot(Wx)\n")]      # shapes do not fit
    [result] = ci.run_checks(write_student(tmp_path, edits), only=["lstm_step_backward"])
    assert result["status"] == "crashed"
    assert "ValueError" in result["message"] and "rnn_layers.py" in result["message"]
    assert "da.dot(Wx)" in result["message"]


def test_stub_reported_not_implemented_and_inputs_modified_in_place_warned(tmp_path):
    edits = [("    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)\n"
              "    cache = (x, prev_h, Wx, Wh, next_h)\n"
              "    return next_h, cache\n",
              "    next_h, cache = None, None\n    return next_h, cache\n"),
             ("    dx_flat = probs.copy()\n", "    dx_flat = probs\n    x *= 1.5\n")]
    results = ci.run_checks(write_student(tmp_path, edits),
                            only=["rnn_step_forward", "temporal_softmax_loss"])
    assert results[0]["status"] == "todo" and "not implemented" in results[0]["message"]
    assert results[1]["status"] == "pass", results[1]
    assert any("changes its input x in place" in n for n in results[1]["notes"])


def test_float64_results_are_a_note_not_a_failure(tmp_path):
    edits = [("    out = W[x]\n", "    out = W[x].astype(np.float64)\n")]
    [result] = ci.run_checks(write_student(tmp_path, edits), only=["word_embedding_forward"])
    assert result["status"] == "pass"
    assert any("float32 inputs give float64 out" in n for n in result["notes"])
    assert ci.passed([result])


def test_command_line_json_and_exit_status(tmp_path, capsys):
    paths = write_student(tmp_path, [("dprev_c = dc * f", "dprev_c = dc")])
    status = ci.main([*map(str, paths), "--json", "--only", "lstm_step_backward",
                      "lstm_step_forward"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1
    assert [(e["name"], e["status"], e["mistake"]) for e in report] == [
        ("lstm_step_forward", "pass", None),
        ("lstm_step_backward", "fail", "dprev_c_without_f")]
    assert set(report[1]) >= {"name", "status", "score", "message"}
    assert 0 < report[1]["score"] < 1
    good = write_student(tmp_path / "good")
    assert ci.main([str(p) for p in good] + ["--only", "rnn_forward"]) == 0
    assert ci.main([str(tmp_path / "none.py")]) == 2


def test_notebook_function_returns_a_report(tmp_path, capsys):
    """check() prints nothing and returns a report that shows itself: plain
    text for print() and repr(), HTML in Jupyter; false when something fails."""
    paths = write_student(tmp_path, [("np.add.at(dW, x, dout)", "dW[x] += dout")])
    report = ci.check(*paths, only=["word_embedding_backward"])
    assert capsys.readouterr().out == ""
    assert not report and report.passed is False
    assert str(report) == repr(report) == report.text
    assert "word_embedding_backward" in report.text and "FAIL" in report.text
    assert "dW[x] += dout keeps one update per repeated word" in report.text
    page = report._repr_html_()
    assert page.startswith("<pre") and '<b style="color:#cf222e">FAIL</b>' in page
    assert "dW[x] += dout" in page and "<module" not in page


def test_the_notebook_entry_point_works_from_the_learners_folder(tmp_path):
    """A kernel whose working folder holds the learner's rnn_layers.py and
    optim.py (so `import rnn_layers` is theirs): the checker still uses the
    library as its reference, and the notebook keeps its own modules."""
    import shutil
    import nbformat
    from nbclient import NotebookClient
    folder = tmp_path / "learner"
    shutil.copytree(ROOT / "tests" / "learners" / "flat_folder_from_a_notebook", folder)
    cells = ["import os, rnn_layers, optim",
             "from rnn_captioning.checker.report import check\n"
             "check('rnn_layers.py', 'optim.py')",
             "assert check('rnn_layers.py', only=['rnn_forward']).passed is True\n"
             "import rnn_layers as again\n"
             "assert os.path.dirname(os.path.abspath(again.__file__)) == os.getcwd()\n"
             "assert not hasattr(again, 'lstm_cell')"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    shown = nb.cells[1].outputs         # the report alone: nothing printed, no stray value
    assert len(shown) == 1 and shown[0]["output_type"] == "execute_result", shown
    assert "ALL CHECKS PASS" in shown[0]["data"]["text/plain"]
    assert '<b style="color:#1a7f37">PASS</b>' in shown[0]["data"]["text/html"]


def test_python_dash_m_from_the_learners_folder(tmp_path):
    import shutil
    import subprocess
    import sys
    folder = tmp_path / "learner"
    shutil.copytree(ROOT / "tests" / "learners" / "flat_folder_from_a_notebook", folder)
    done = subprocess.run([sys.executable, "-m", "rnn_captioning.checker.report",
                           "rnn_layers.py", "optim.py"], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ALL CHECKS PASS" in done.stdout


def test_learners_prints_stay_out_of_json(tmp_path, capsys):
    edits = [("    out = W[x]\n", "    print('embedding', x.shape)\n    out = W[x]\n")]
    paths = write_student(tmp_path, edits)
    assert ci.main([str(paths[0]), "--json", "--only", "word_embedding_forward"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["status"] == "pass"


def test_gradescope_results_are_written_and_scored(tmp_path, capsys):
    out = tmp_path / "results" / "results.json"
    paths = write_student(tmp_path, [("dprev_c = dc * f", "dprev_c = dc")])
    status = ci.main([str(paths[0]), "--gradescope", str(out), "--only",
                      "lstm_step_forward", "lstm_step_backward", "rnn_forward"])
    assert status == 1
    results = json.loads(out.read_text())
    tests = {t["name"]: t for t in results["tests"]}
    assert set(tests) == {"lstm_step_forward", "lstm_step_backward", "rnn_forward"}
    assert all(set(t) >= {"name", "score", "max_score", "output", "visibility"}
               for t in tests.values())
    assert tests["lstm_step_forward"]["score"] == 1.0
    assert tests["lstm_step_backward"]["score"] < 1.0
    assert "dprev_c misses the forget gate" in tests["lstm_step_backward"]["output"]
    output = tests["lstm_step_backward"]["output"]     # the explanation reaches the student
    assert "failing case: N=2, T=3, D=4, H=4" in output and "expected against got:" in output
    assert results["score"] == sum(t["score"] for t in tests.values())


def test_gradescope_file_written_when_the_checker_cannot_run(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert ci.main([str(tmp_path / "missing.py"), "--gradescope", str(out)]) == 2
    results = json.loads(out.read_text())
    assert results["score"] == 0 and "could not run" in results["tests"][0]["output"]


def test_gradescope_scores_crashes_and_timeouts_zero(tmp_path, capsys):
    out = tmp_path / "results.json"
    edits = [("def rnn_forward(x, h0, Wx, Wh, b):\n",
              "def rnn_forward(x, h0, Wx, Wh, b):\n    while True:\n        pass\n")]
    paths = write_student(tmp_path, edits)
    ci.main([str(paths[0]), "--gradescope", str(out), "--timeout", "2", "--only", "rnn_forward"])
    [test] = json.loads(out.read_text())["tests"]
    assert test["score"] == 0 and "timed out" in test["output"]


def test_an_rnn_only_model_crash_names_the_lstm_case(tmp_path):
    """The LSTM branch left out of the model (the layers are done): the crash
    says it was the LSTM case, with its shapes."""
    edits = [("        else:\n            h, cache_rnn = lstm_forward(x, h0, p[\"Wx\"], p[\"Wh\"], "
              "p[\"b\"])\n", "")]
    paths = write_student(tmp_path, edits, file="model")
    [result] = ci.run_checks(paths, only=["CaptioningRNN.loss"])
    assert result["status"] == "crashed"
    assert "cell_type=lstm" in result["message"] and "N=" in result["message"]


def test_pytorch_files_without_pytorch_say_how_to_install_it(monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    model = ROOT / "tests" / "learners" / "torch_model_file_alone" / "cs231n" / "classifiers" \
        / "rnn_pytorch.py"
    assert ci.main([str(model)]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[torch]"' in err and "torch==2.13.0" in err


def test_pytorch_edition_reports_only_its_functions(capsys):
    folder = ROOT / "tests" / "learners" / "torch_lstm_left_as_stubs"
    status = ci.main([str(p) for p in sorted(folder.rglob("*.py"))])
    out = capsys.readouterr().out
    assert status == 0 and "ALL CHECKS PASS (2 not implemented yet, 2 only in part)" in out
    assert "backward" not in out and "update rules" not in out


def test_a_file_saved_with_a_byte_order_mark_is_read_as_python_reads_it(tmp_path):
    """Windows editors save UTF-8 with a BOM; Python runs such files."""
    source = (ROOT / "tests" / "learners" / "flat_folder_from_a_notebook" / "optim.py").read_text()
    path = tmp_path / "optim.py"
    path.write_bytes(b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode("utf-8"))
    results = [r for r in ci.run_checks([path]) if r["status"] != "absent"]
    assert [r["status"] for r in results] == ["pass"] * 4, results


def test_centred_differences_made_in_the_learners_process_equal_the_call_by_call_ones(tmp_path):
    """The batched path (f.in_child: one request for every perturbed call)
    gives the same numeric gradients as calling f once per perturbation."""
    from rnn_captioning.checker.checks import numeric_gradient
    from rnn_captioning.checker.remote import connect
    from rnn_captioning.checker.walls import Sandbox
    paths = write_student(tmp_path)
    box = Sandbox(paths, grading=False)
    try:
        conn = connect(box)
        layers = conn.ask("load", target=str(box.paths[0]), others=[])
        model = conn.ask("load", target=str(box.paths[1]), others=[str(box.paths[0])])
        names = ["lstm_step_backward", "rnn_backward", "temporal_softmax_loss",
                 "CaptioningRNN.loss"]
        for spec in [s for s in SPECS if s.name in names]:
            ns = model if spec.name.startswith("Captioning") else layers
            inputs = spec.make(np.random.default_rng(1), **spec.shapes[1])
            for name, path in spec.grads.items():
                batched = numeric_gradient(spec.f, ns, inputs, path)
                # the same f, through a plain function: one request per call
                one_by_one = numeric_gradient(lambda n, i: spec.f(n, i), ns, inputs, path)
                np.testing.assert_array_equal(batched, one_by_one, err_msg=f"{spec.name} {name}")
                assert np.abs(batched).max() > 0, (spec.name, name)
    finally:
        box.stop()


def test_readme_example_report_is_what_its_command_prints(capsys):
    """The README's example report of mistakes outside the catalogue is the
    output of the command printed above it, to the character."""
    import re
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```\npython check_implementation\.py (tests/learners/explain_[^\n]+)\n```"
                      r"\n\n```\n(.*?)```", text, re.S)
    assert found, "the README's example command and report are missing"
    args = [str(ROOT / a) if a.endswith(".py") else a for a in found.group(1).split()]
    assert ci.main(args) == 1
    assert capsys.readouterr().out == found.group(2)


def test_the_hosts_own_processes_outlive_a_check():
    """A notebook's kernel (here pytest) keeps its child processes, those it
    had before the check and one it starts meanwhile: the checker sweeps
    only the learner's processes (of sessions of their own)."""
    import subprocess
    import threading
    import time
    before = subprocess.Popen(["sleep", "60"])
    meanwhile = []
    starter = threading.Thread(target=lambda: (time.sleep(0.3), meanwhile.append(
        subprocess.Popen(["sleep", "60"]))))
    starter.start()
    try:
        ci.run_checks([ROOT / "tests" / "learners" / "mistake_h_without_tanh" / "cs231n" /
                       "rnn_layers.py"], only=["lstm_step_forward"])
        starter.join()
        assert before.poll() is None and meanwhile[0].poll() is None
    finally:
        for p in [before] + meanwhile:
            p.kill()
            p.wait()
