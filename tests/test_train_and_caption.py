"""The command-line jobs, end to end on a small built-in dataset."""
import json
import re

import pytest

from captioning_rnn import CaptioningRNN
from solver import CHECKPOINT_KIND
from rnn_captioning.commands import caption
from rnn_captioning.commands import train
from rnn_captioning.evaluation.metrics import java_available
from rnn_captioning.files.checkpoints import load_npz
from rnn_captioning.scenes import dataset as sd

SMALL = ["--epochs", "2", "--hidden-dim", "32", "--wordvec-dim", "16", "--batch-size", "50",
         "--val-images", "10", "--no-progress"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return sd.generate_dataset(tmp_path_factory.mktemp("shapes") / "ds", num_train=80,
                               num_val=12, num_test=10, num_novel=6, seed=1)


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert train.main(["--data-dir", str(data_dir), "--output-dir", str(out), *SMALL]) == 0
    return out


def test_run_folder_contents(run, capsys):
    assert {p.name for p in run.iterdir()} >= {"model.npz", "checkpoint.npz", "metrics.json",
                                               "loss.png", "samples.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test"                       # chosen on val, reported on test
    for key in ("Bleu_4", "CIDEr", "ROUGE_L", "strict_accuracy"):
        assert 0 <= metrics[key] <= 10, key
        assert 0 <= metrics["novel"][key] <= 10, key
    errors = metrics["strict_errors"]
    assert set(errors) == {"parse", "count", "missing", "extra", "binding", "attribute", "size",
                           "relation"}
    assert sum(errors.values()) == round((1 - metrics["strict_accuracy"]) * 10)
    model = CaptioningRNN.load(run / "model.npz")
    assert model.cell_type == "lstm" and model.hidden_dim == 32
    for png in ("loss.png", "samples.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prints_the_headline_figures(data_dir, tmp_path, capsys):
    with_meteor = SMALL + ["--meteor"]                          # METEOR when Java is here
    train.main(["--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--cell-type",
                "rnn", "--beam-size", "2", *with_meteor])
    out = capsys.readouterr().out
    assert "test BLEU-4" in out and "CIDEr-D" in out and "strict scene accuracy" in out
    assert "novel colour-shape pairs: strict scene accuracy" in out
    assert ("METEOR" in out) == java_available()


def test_resume_continues_the_run(data_dir, run, tmp_path):
    out = tmp_path / "more"
    args = ["--data-dir", str(data_dir), "--output-dir", str(out),
            "--resume", str(run / "checkpoint.npz"), *SMALL]
    args[args.index("--epochs") + 1] = "3"
    assert train.main(args) == 0
    _, meta = load_npz(out / "checkpoint.npz", CHECKPOINT_KIND)
    _, first = load_npz(run / "checkpoint.npz", CHECKPOINT_KIND)
    assert meta["epoch"] == 3 and meta["iteration"] == first["iteration"] * 3 // 2


def test_self_critical_phase_from_a_model_and_resumed(data_dir, run, tmp_path, capsys,
                                                      monkeypatch):
    """--init-model starts the self-critical phase from a saved model (the
    summary starts from its val CIDEr-D); its checkpoints go to
    self_critical/, and --scst-resume continues them in the same run folder."""
    common = ["--data-dir", str(data_dir), *SMALL]
    assert train.main([*common, "--output-dir", str(tmp_path / "a"), "--init-model",
                       str(run / "model.npz"), "--scst-epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "self-critical training of" in out and "training a lstm captioner" not in out
    assert re.search(r"self-critical phase: val CIDEr-D \d+\.\d{3} -> \d+\.\d{3}", out)
    summary = json.loads((tmp_path / "a" / "metrics.json").read_text())["self_critical"]
    assert summary["epochs"] == 1 and summary["seconds"] > 0
    assert summary["val_CIDEr_before"] is not None
    checkpoint = tmp_path / "a" / "self_critical" / "checkpoint.npz"
    arrays, first = load_npz(checkpoint, CHECKPOINT_KIND)
    assert first["epoch"] == 1 and len(arrays["reward_history"]) == first["iteration"]
    monkeypatch.chdir(tmp_path)                 # a new run folder would appear in runs/
    assert train.main([*common, "--scst-resume", str(checkpoint), "--scst-epochs", "2",
                       "--scst-reward", "scene"]) == 0
    out = capsys.readouterr().out
    assert f"run folder {tmp_path / 'a'}" in out and not (tmp_path / "runs").exists()
    assert "val CIDEr-D of the chosen checkpoint" in out and "?" not in out
    arrays, meta = load_npz(checkpoint, CHECKPOINT_KIND)
    assert meta["epoch"] == 2 and len(arrays["reward_history"]) == 2 * first["iteration"]


def test_evaluate_a_saved_model_without_training(data_dir, run, tmp_path, capsys):
    """--init-model alone scores the model on the test split and writes the
    run folder's metrics and samples, training nothing."""
    out = tmp_path / "eval"
    assert train.main(["--data-dir", str(data_dir), *SMALL, "--output-dir", str(out),
                       "--init-model", str(run / "model.npz")]) == 0
    printed = capsys.readouterr().out
    assert f"evaluating {run / 'model.npz'} (lstm)" in printed and "training a" not in printed
    mine = json.loads((out / "metrics.json").read_text())
    theirs = json.loads((run / "metrics.json").read_text())
    assert mine["CIDEr"] == pytest.approx(theirs["CIDEr"])     # the same model, the same test
    assert {p.name for p in out.iterdir()} == {"metrics.json", "samples.png"}


def test_metrics_hold_their_settings_and_files_are_readable(run):
    settings = json.loads((run / "metrics.json").read_text())["settings"]
    assert settings["flags"]["hidden_dim"] == 32 and settings["flags"]["seed"] == 0
    assert settings["data"]["builtin"] and settings["data"]["version"] == sd.VERSION
    assert settings["data"]["train"] == 80
    for name in ("metrics.json", "model.npz", "checkpoint.npz", "loss.png"):
        assert (run / name).stat().st_mode & 0o044 == 0o044, name     # not private (0600)


def test_help_shows_every_default_once(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in [("--epochs EPOCHS", "3"), ("--learning-rate LEARNING_RATE", "0.005"),
                          ("--hidden-dim HIDDEN_DIM", "256"), ("--seed SEED", "0"),
                          ("--lr-decay LR_DECAY", "0.5"), ("--batch-size BATCH_SIZE", "100"),
                          ("--cell-type {rnn,lstm}", "lstm")]:
        after = text.split(flag, 2)[-1].split(" --", 1)[0]
        assert f"(default: {default})" in after, flag
    assert "(default: None)" not in text and text.count("$COCO_CAPTIONING_DIR") == 1


def test_both_phases_in_one_run(data_dir, tmp_path, capsys):
    args = ["--data-dir", str(data_dir), "--output-dir", str(tmp_path), *SMALL,
            "--scst-epochs", "1", "--scst-baseline", "mean", "--scst-samples", "2"]
    args[args.index("--epochs") + 1] = "1"
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"self-critical phase: val CIDEr-D \d+\.\d{3} -> ", out)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["self_critical"]["val_CIDEr_before"] is not None
    assert (tmp_path / "checkpoint.npz").is_file()
    assert (tmp_path / "self_critical" / "checkpoint.npz").is_file()


def test_missing_coco_folder_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="has no coco2014_captions.h5"):
        train.main(["--data-dir", str(tmp_path), *SMALL])


def test_caption_image_files_and_indices(run, data_dir, capsys):
    """An image file is featurised from its pixels exactly like the stored
    features, so it gets the same caption as its index."""
    model = str(run / "model.npz")
    image = data_dir / "images" / "val_00003.png"
    assert caption.main([model, str(image), "--index", "3", "0", "--data-dir",
                         str(data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{image}: ") and lines[1].startswith("val image 3: ")
    assert lines[0].split(": ", 1)[1] == lines[1].split(": ", 1)[1]
    assert sum(line.startswith("    ref: ") for line in lines) == 10

    assert caption.main([model, "--index", "0", "--beam-size", "3", "--data-dir",
                         str(data_dir)]) == 0
    assert capsys.readouterr().out.startswith("val image 0: ")


def test_caption_bad_index(run, data_dir):
    with pytest.raises(SystemExit, match=r"indices \[99\] are outside the 12 val images"):
        caption.main([str(run / "model.npz"), "--index", "99", "--data-dir", str(data_dir)])


def test_self_critical_resume_needs_epochs(tmp_path):
    with pytest.raises(SystemExit, match="give --scst-epochs N"):
        train.main(["--scst-resume", str(tmp_path / "checkpoint.npz"), *SMALL])


def test_caption_test_split_and_clear_errors(run, data_dir, tmp_path, capsys):
    assert caption.main([str(run / "model.npz"), "--index", "0", "--split", "test",
                         "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.startswith("test image 0: ")
    with pytest.raises(SystemExit, match="no model file .*nothing.npz"):
        caption.main([str(tmp_path / "nothing.npz"), "--index", "0"])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(SystemExit, match="bad.npz is not a model saved by this library"):
        caption.main([str(tmp_path / "bad.npz"), "--index", "0"])
    with pytest.raises(SystemExit, match="cannot read the image .*missing.png"):
        caption.main([str(run / "model.npz"), str(tmp_path / "missing.png"),
                      "--data-dir", str(data_dir)])


@pytest.mark.parametrize("flag,value,message", [
    ("--scst-samples", "0", "must be an integer >= 1, got 0"),
    ("--epochs", "-1", "must be an integer >= 0, got -1"),
    ("--batch-size", "ten", "must be an integer, got 'ten'"),
    ("--learning-rate", "0", "must be a finite number > 0, got 0"),
    ("--scst-learning-rate", "nan", "must be a finite number > 0, got nan"),
    ("--dropout", "1", "must be a number in [0, 1), got 1"),
    ("--dropout", "half", "must be a number, got 'half'"),
])
def test_bad_flag_values_are_refused_by_name(flag, value, message, capsys):
    with pytest.raises(SystemExit):
        train.parse_args([flag, value])
    err = capsys.readouterr().err
    assert f"argument {flag}: {message}" in err
