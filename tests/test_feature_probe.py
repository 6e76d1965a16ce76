"""benchmarks/feature_probe.py: the labels, the exact-set figure and the two
probes, so that the README's figure comes from a script that works."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from captioning_rnn import CaptioningRNN  # noqa: E402
from coco_utils import load_coco_data  # noqa: E402
import feature_probe as fp  # noqa: E402
from rnn_captioning.evaluation.scenes import load_split  # noqa: E402
from rnn_captioning.scenes import dataset as sd


def test_pair_labels_mark_each_colour_shape_pair():
    scenes = [[{"colour": "red", "shape": "circle"}],
              [{"colour": "purple", "shape": "triangle"}, {"colour": "red", "shape": "square"}]]
    labels = fp.pair_labels(scenes)
    assert labels.shape == (2, 15)
    assert np.flatnonzero(labels[0]).tolist() == [0]               # red = 0, circle = 0
    assert np.flatnonzero(labels[1]).tolist() == [1, 14]           # red square, purple triangle


def test_exact_needs_every_label_right():
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1]])
    scores = np.array([[2.0, -1.0, 0.5], [1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])
    assert fp.exact(scores, labels).tolist() == [True, False, True]


def test_names_the_set_ignores_order_sizes_and_relations():
    scene = [{"colour": "red", "shape": "circle", "size": "small", "x": 10, "y": 10},
             {"colour": "blue", "shape": "square", "size": "large", "x": 40, "y": 40}]
    assert fp.names_the_set("a large blue square and a red circle", scene)
    assert not fp.names_the_set("a blue circle and a red square", scene)       # binding
    assert not fp.names_the_set("a red circle", scene)                          # missing
    assert not fp.names_the_set("red circles everywhere", scene)                # no parse


def _separable(seed=0, L=15, F=40):
    """Labels that a linear read-out of the features gives exactly."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((L, F))
    x, y = {}, {}
    for split, n in (("train", 400), ("val", 100), ("test", 100)):
        y[split] = (rng.random((n, L)) < 0.2).astype(float)
        x[split] = (2 * y[split] - 1) @ mix + 0.01 * rng.standard_normal((n, F))
    return x, y


def test_probes_find_a_linear_read_out():
    x, y = _separable()
    assert fp.linear_probe(x, y)["test"].all()
    assert fp.mlp_probe(x, y, hidden=32, epochs=150, seed=0)["test"].mean() >= 0.95


def test_probes_do_not_see_labels_that_are_not_in_the_features():
    x, y = _separable()
    noise = np.random.default_rng(1)
    x = {s: noise.standard_normal(v.shape) for s, v in x.items()}
    assert fp.linear_probe(x, y)["test"].mean() < 0.2


def test_main_runs_on_a_generated_dataset(tmp_path, capsys):
    folder = sd.generate_dataset(tmp_path / "ds", num_train=60, num_val=15, num_test=12,
                                 num_novel=8, seed=3)
    data = load_coco_data(folder)
    model = CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                          wordvec_dim=8, hidden_dim=8, cell_type="lstm", rng=0)
    model.save(tmp_path / "model.npz")
    fp.main(["--data-dir", str(folder), "--hidden", "8", "--epochs", "2",
             "--model", str(tmp_path / "model.npz")])
    out = capsys.readouterr().out
    assert "linear" in out and "mlp (8 hidden)" in out and out.count("  test ") == 3
    assert "names the right set" in out and "wrong test sets" in out


@pytest.mark.parametrize("shift", [0, 1])
def test_captioner_figures_count_right_captions_as_right(tmp_path, capsys, monkeypatch, shift):
    """A 'captioner' that returns each image's first reference caption is
    strictly right, with the right set, on every image of every split; one
    that returns the next image's is not."""
    folder = sd.generate_dataset(tmp_path / "ds", num_train=30, num_val=10, num_test=8,
                                 num_novel=4, seed=5)
    data = load_coco_data(folder)
    load_split(data, folder, "test")
    scenes = {s: sd.load_scenes(folder, s) for s in fp.SPLITS}

    def references(model, features, ids, max_length, beam_size):
        split = next(s for s in fp.SPLITS if data[f"{s}_features"] is features)
        first = {}
        for caption, image in zip(data[f"{split}_captions"], data[f"{split}_image_idxs"]):
            first.setdefault(int(image), caption[1:])            # drop <START>
        return np.stack([first[(i + shift) % len(ids)] for i in ids])

    monkeypatch.setattr(fp.evaluation_scenes, "caption_images", references)
    linear = {s: np.zeros(len(scenes[s]), bool) for s in fp.SPLITS}
    fp.captioner_figures(CaptioningRNN(data["word_to_idx"], input_dim=512, wordvec_dim=4,
                                       hidden_dim=4, rng=0), data, scenes, linear)
    out = capsys.readouterr().out
    perfect = out.count("strict accuracy 100.0%, names the right set 100.0%")
    if shift == 0:
        assert perfect == 3 and "of its 0 wrong test sets" in out
    else:
        assert perfect == 0 and "of its 0 wrong test sets" not in out
