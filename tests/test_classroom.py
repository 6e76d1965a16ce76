"""Grading a class folder: one results.json per student and a summary (per
function, the share passing; the named mistakes) as JSON, CSV and a plot."""
import csv
import json

from student_code import LAYERS, MODEL, OPTIM
from rnn_captioning.checker.classroom import grade_class, main
from rnn_captioning.checker.session import REQUIRED

# a student whose softmax ignores the mask (a catalogue mistake, named) and
# whose rnn_forward is scaled (not in the catalogue)
MASK = ("    loss = -np.sum(mask_flat * np.log(probs[np.arange(N * T), y_flat])) / N\n",
        "    loss = -np.sum(np.log(probs[np.arange(N * T), y_flat])) / N\n")


def write(folder, layers=LAYERS, model=MODEL):
    package = folder / "cs231n"
    (package / "classifiers").mkdir(parents=True)
    (package / "rnn_layers.py").write_text(layers)
    (package / "classifiers" / "rnn.py").write_text(model)
    (package / "optim.py").write_text(OPTIM)


def test_a_class_is_graded_and_summarised(tmp_path, capsys):
    subs, out = tmp_path / "submissions", tmp_path / "grades"
    write(subs / "ada")
    assert MASK[0] in LAYERS
    wrong = LAYERS.replace("def rnn_forward(", "def _right(") + (
        "\n\ndef rnn_forward(x, h0, Wx, Wh, b):\n"
        "    h, cache = _right(x, h0, Wx, Wh, b)\n    return h * 1.01, cache\n")
    write(subs / "bo", layers=wrong)
    (subs / "cy").mkdir()                                  # handed in nothing
    assert main([str(subs), "--out", str(out), "--jobs", "2"]) == 0
    assert "rnn_forward" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    n = len(REQUIRED["numpy"])
    scores = {name: s["score"] for name, s in summary["students"].items()}
    assert scores["ada"] == n and scores["cy"] == 0 and 0 < scores["bo"] < n
    assert summary["passing"]["rnn_forward"] == 1 / 3
    assert summary["passing"]["rnn_step_forward"] == 2 / 3
    for name in ("ada", "bo", "cy"):
        assert json.loads((out / name / "results.json").read_text())["tests"]
    rows = list(csv.reader((out / "summary.csv").open()))
    assert rows[0][:2] == ["student", "score"] and len(rows) == 4
    assert (out / "summary.png").stat().st_size > 1000


def test_named_mistakes_are_counted_per_student(tmp_path):
    subs = tmp_path / "submissions"
    # the mask ignored lives in temporal_softmax_loss, which the model's loss calls
    write(subs / "di", model=MODEL)
    write(subs / "ed", layers=LAYERS.replace(*MASK))
    summary = grade_class(subs, tmp_path / "grades")
    assert summary["students"]["di"]["score"] == len(REQUIRED["numpy"])
    assert dict(summary["mistakes"]).get("mask_ignored") == 1, summary["mistakes"]
