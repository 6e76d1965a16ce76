"""The checker of learners' code: every catalogue mistake, written by hand into
a correct learner's solution, is named; correct code passes; broken files are
reported, never fatal."""
import json
from pathlib import Path

import pytest

from rnn_captioning.checker import report as ci
from rnn_captioning.checker.checks import SPECS
from rnn_captioning.checker.mistakes import CATALOGUE
from student_code import LAYERS, MODEL, OPTIM

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


# (mistake id, function checked, file, edits): each a line a learner gets wrong
MISTAKES = [
    ("loss_over_words", "temporal_softmax_loss", "layers",
     [("y_flat])) / N", "y_flat])) / mask_flat.sum()"),
      ("dx_flat /= N", "dx_flat /= mask_flat.sum()")]),
    ("loss_over_NT", "temporal_softmax_loss", "layers",
     [("y_flat])) / N", "y_flat])) / (N * T)"), ("dx_flat /= N", "dx_flat /= N * T")]),
    ("mask_ignored", "temporal_softmax_loss", "layers",
     [("-np.sum(mask_flat * np.log(", "-np.sum(np.log("),
      ("dx_flat *= mask_flat[:, None]", "dx_flat *= 1")]),
    ("softmax_no_max", "temporal_softmax_loss", "layers",
     [("np.exp(x_flat - np.max(x_flat, axis=1, keepdims=True))", "np.exp(x_flat)")]),
    ("gate_order_ifgo", "lstm_step_forward", "layers",
     [("o = sigmoid(a[:, 2 * H:3 * H])\n    g = np.tanh(a[:, 3 * H:])",
       "g = np.tanh(a[:, 2 * H:3 * H])\n    o = sigmoid(a[:, 3 * H:])")]),
    ("sigmoid_on_g", "lstm_forward", "layers",
     [("g = np.tanh(a[:, 3 * H:])", "g = sigmoid(a[:, 3 * H:])")]),
    ("tanh_on_o", "lstm_step_forward", "layers",
     [("o = sigmoid(a[:, 2 * H:3 * H])", "o = np.tanh(a[:, 2 * H:3 * H])")]),
    ("h_without_tanh", "lstm_step_forward", "layers",
     [("next_h = o * np.tanh(next_c)", "next_h = o * next_c")]),
    ("rnn_no_carry", "rnn_backward", "layers",
     [("rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])",
       "rnn_step_backward(dh[:, t, :], cache[t])")]),
    ("lstm_no_carry", "lstm_backward", "layers",
     [("dh[:, t, :] + dprev_h, dprev_c, cache[t])", "dh[:, t, :], dprev_c, cache[t])")]),
    ("dprev_c_without_f", "lstm_step_backward", "layers",
     [("dprev_c = dc * f", "dprev_c = dc")]),
    ("dWh_last_step_only", "rnn_backward", "layers", [("dWh += dWh_t", "dWh = dWh_t")]),
    ("tanh_grad_not_squared", "rnn_step_backward", "layers",
     [("dtanh = dnext_h * (1 - next_h ** 2)", "dtanh = dnext_h * (1 - next_h)")]),
    ("embedding_drops_repeats", "word_embedding_backward", "layers",
     [("np.add.at(dW, x, dout)", "dW[x] += dout")]),
    ("h0_in_states", "rnn_forward", "layers",
     [("        prev_h, step_cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)\n"
       "        h[:, t, :] = prev_h",
       "        h[:, t, :] = prev_h\n"
       "        prev_h, step_cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)")]),
    ("targets_from_captions_in", "CaptioningRNN.loss", "model",
     [("captions_out = captions[:, 1:]", "captions_out = captions[:, :-1]")]),
    ("sample_feeds_start", "CaptioningRNN.sample", "model",
     [("word_embedding_forward(word, p[\"W_embed\"])",
       "word_embedding_forward(self._start * np.ones(N, dtype=np.int32), p[\"W_embed\"])")]),
    ("adam_no_bias_correction", "adam", "optim",
     [("mt = m / (1 - beta1 ** t)", "mt = m"), ("vt = v / (1 - beta2 ** t)", "vt = v")]),
    ("rmsprop_no_square", "rmsprop", "optim",
     [("(1 - decay_rate) * dw ** 2", "(1 - decay_rate) * dw")]),
]


def test_catalogue_has_at_least_15_mistakes_and_each_has_a_test():
    assert len(CATALOGUE) >= 15
    assert sorted(m[0] for m in MISTAKES) == sorted(m.id for m in CATALOGUE)


@pytest.mark.parametrize("mistake,function,file,edits", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_named(tmp_path, mistake, function, file, edits):
    paths = write_student(tmp_path, edits, file)
    [result] = ci.run_checks(paths, only=[function], timeout=60)
    assert result["status"] == "fail", result
    assert result["diagnosis"] is not None, result
    assert result["diagnosis"]["id"] == mistake, result["diagnosis"]
    assert result["diagnosis"]["description"] in ci.format_report([result])


def test_a_correct_learner_passes_every_check(tmp_path):
    results = ci.run_checks(write_student(tmp_path), timeout=60)
    assert [r["name"] for r in results] == [s.name for s in SPECS]
    failed = [(r["name"], r["message"]) for r in results if r["status"] != "pass"]
    assert failed == []
    assert ci.passed(results)


def test_the_library_passes_every_check():
    paths = [ROOT / "rnn_layers.py", ROOT / "captioning_rnn.py", ROOT / "optim.py"]
    results = ci.run_checks(paths, timeout=60)
    assert [r["status"] for r in results] == ["pass"] * len(SPECS), \
        [(r["name"], r["message"]) for r in results if r["status"] != "pass"]


def test_syntax_error_reported_with_its_line(tmp_path):
    path = tmp_path / "rnn_layers.py"
    path.write_text("import numpy as np\n\ndef rnn_step_forward(x, prev_h, Wx, Wh, b)\n"
                    "    return x\n")
    results = ci.run_checks([path], timeout=20)
    assert {r["status"] for r in results} == {"crashed"}
    assert "SyntaxError" in results[0]["message"] and "line 3" in results[0]["message"]
    assert not ci.passed(results)


def test_import_error_reported(tmp_path):
    path = tmp_path / "rnn_layers.py"
    path.write_text("import no_such_module_here\n")
    results = ci.run_checks([path], timeout=20)
    assert "ModuleNotFoundError" in results[0]["message"]


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


def test_stub_reported_missing_and_inputs_modified_in_place(tmp_path):
    edits = [("    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)\n"
              "    cache = (x, prev_h, Wx, Wh, next_h)\n"
              "    return next_h, cache\n",
              "    next_h, cache = None, None\n    return next_h, cache\n"),
             ("    dx_flat = probs.copy()\n", "    dx_flat = probs\n    x *= 1.5\n")]
    results = ci.run_checks(write_student(tmp_path, edits),
                            only=["rnn_step_forward", "temporal_softmax_loss"])
    assert results[0]["status"] == "missing" and "not implemented" in results[0]["message"]
    assert results[1]["status"] == "fail"
    assert results[1]["checks"]["inputs unchanged"] is False


def test_float64_only_code_fails_the_float32_check(tmp_path):
    edits = [("    out = W[x]\n", "    out = W[x].astype(np.float64)\n")]
    [result] = ci.run_checks(write_student(tmp_path, edits), only=["word_embedding_forward"])
    assert result["status"] == "fail"
    assert result["checks"] == {"signature": True, "values": True, "inputs unchanged": True,
                                "float32 in, float32 out": False}


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


def test_notebook_function_prints_the_report(tmp_path, capsys):
    paths = write_student(tmp_path, [("np.add.at(dW, x, dout)", "dW[x] += dout")])
    assert ci.check(*paths, only=["word_embedding_backward"]) is False
    out = capsys.readouterr().out
    assert "word_embedding_backward" in out and "FAIL" in out
    assert "dW[x] += dout keeps one update per repeated word" in out
