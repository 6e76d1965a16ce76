"""The built-in dataset: exact COCO format, determinism, caching, features
from pixels, and attribute accuracy."""
import json

import h5py
import numpy as np
import pytest

import coco_utils as cu
import shapes_dataset as sd
from image_utils import load_image


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return sd.generate_dataset(tmp_path_factory.mktemp("shapes") / "ds", num_train=60,
                               num_val=15, seed=3)


def test_exact_coco_format(small_dataset):
    folder = small_dataset
    names = {p.name for p in folder.iterdir()}
    assert {"coco2014_captions.h5", "coco2014_vocab.json", "train2014_vgg16_fc7.h5",
            "val2014_vgg16_fc7.h5", "train2014_vgg16_fc7_pca.h5", "val2014_vgg16_fc7_pca.h5",
            "train2014_urls.txt", "val2014_urls.txt"} <= names
    with h5py.File(folder / "coco2014_captions.h5") as f:
        assert set(f) == {"train_captions", "train_image_idxs", "val_captions", "val_image_idxs"}
        assert f["train_captions"].dtype == np.int32 and f["train_captions"].shape == (300, 17)
    with h5py.File(folder / "train2014_vgg16_fc7.h5") as f:
        assert list(f) == ["features"] and f["features"].shape == (60, 913)
    vocab = json.loads((folder / "coco2014_vocab.json").read_text())
    assert vocab["idx_to_word"][:4] == ["<NULL>", "<START>", "<END>", "<UNK>"]
    assert all(vocab["word_to_idx"][w] == i for i, w in enumerate(vocab["idx_to_word"]))

    data = cu.load_coco_data(folder)
    # PCA keeps min(512, number of training images) components
    assert data["train_features"].shape == (60, min(sd.PCA_DIM, 60))
    caps = data["train_captions"]
    assert (caps[:, 0] == 1).all()                          # every caption starts with <START>
    for row in caps:
        end = int(np.flatnonzero(row == 2)[0])
        assert (row[end + 1:] == 0).all() and (row[1:end] > 3).all()
    assert np.bincount(data["train_image_idxs"]).tolist() == [5] * 60


def test_urls_point_at_images_whose_pixels_give_the_features(small_dataset):
    data = cu.load_coco_data(small_dataset)
    for i in (0, 7):
        img = load_image(data["val_urls"][i])
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        feats = sd.featurize_images([img], small_dataset)
        np.testing.assert_allclose(feats[0], data["val_features"][i], rtol=1e-4, atol=1e-4)


def test_deterministic(small_dataset, tmp_path):
    again = sd.generate_dataset(tmp_path / "again", num_train=60, num_val=15, seed=3)
    a, b = cu.load_coco_data(small_dataset), cu.load_coco_data(again)
    for key in ("train_captions", "val_captions", "train_features", "val_image_idxs"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = sd.generate_dataset(tmp_path / "other", num_train=60, num_val=15, seed=4)
    assert not np.array_equal(cu.load_coco_data(other)["train_captions"], a["train_captions"])


def test_cached_on_first_use(tmp_path, monkeypatch):
    folder = sd.ensure_dataset(tmp_path / "cache", num_train=10, num_val=5)
    assert (folder / "DONE.json").is_file()
    calls = []
    monkeypatch.setattr(sd, "generate_dataset", lambda *a, **k: calls.append(a))
    assert sd.ensure_dataset(tmp_path / "cache", num_train=10, num_val=5) == folder
    assert calls == []
    sd.ensure_dataset(tmp_path / "cache", num_train=11, num_val=5)   # other size: regenerate
    assert len(calls) == 1


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(sd, "_fit_pca", broken)
    with pytest.raises(OSError, match="disk full"):
        sd.generate_dataset(tmp_path / "ds", num_train=5, num_val=2)
    assert list(tmp_path.iterdir()) == []


def test_captions_describe_the_scene(rng):
    for _ in range(50):
        scene = sd.random_scene(rng)
        truth = sorted((o["colour"], o["shape"]) for o in scene)
        caps = sd.scene_captions(scene, rng)
        assert len(caps) == 5 and len(set(caps)) == 5
        for c in caps:
            assert len(c.split()) <= 15
            assert sd.caption_objects(c) == truth, (c, truth)
        assert len({o["colour"] for o in scene}) == len(scene)


def test_attribute_accuracy():
    scenes = [[{"colour": "red", "shape": "circle"}],
              [{"colour": "blue", "shape": "square"}, {"colour": "green", "shape": "triangle"}]]
    assert sd.attribute_accuracy(["a small red circle", "a green triangle and a blue square"],
                                 scenes) == 1.0
    assert sd.attribute_accuracy(["a red square", "a blue square"], scenes) == 0.0
    assert sd.attribute_accuracy(["a red circle and a red circle",
                                  "a blue square above a green triangle"], scenes) == 0.5
    with pytest.raises(ValueError, match="2 captions for 1 scenes"):
        sd.attribute_accuracy(["a", "b"], scenes[:1])


def test_features_separate_shapes_and_sizes():
    """The extractor's shape and size evidence peaks at the right class."""
    for shape, k in (("triangle", 0), ("circle", 1), ("square", 2)):
        for size, j in (("small", 0), ("large", 1)):
            r = np.mean(sd.SIZES[size])
            scene = [{"shape": shape, "colour": "red", "size": size, "x": 32, "y": 32, "r": r}]
            desc = sd.extract_features(sd.render_scene(scene)[None])[0][:29]
            assert desc[0] == 1 and np.argmax(desc[8:11]) == k, (shape, desc[8:11])
            assert np.argmax(desc[11:13]) == j, (size, desc[11:13])
    with pytest.raises(ValueError, match="images must have shape"):
        sd.extract_features(np.zeros((1, 32, 32, 3), np.uint8))
