"""The built-in dataset: exact COCO format, determinism, caching, generic
features from pixels, and splits that measure learning."""
import json

import h5py
import numpy as np
import pytest

import coco_utils as cu
from image_utils import load_image
from rnn_captioning.evaluation.scenes import load_split
from rnn_captioning.scenes import features as generic_features
from rnn_captioning.scenes import dataset as sd
from rnn_captioning.scenes.grammar import judge


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return sd.generate_dataset(tmp_path_factory.mktemp("shapes") / "ds", num_train=60,
                               num_val=15, num_test=12, num_novel=8, seed=3)


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
        assert list(f) == ["features"] and f["features"].shape == (60, generic_features.feature_size(64))
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
    sizes = dict(num_train=60, num_val=15, num_test=12, num_novel=8)
    again = sd.generate_dataset(tmp_path / "again", seed=3, **sizes)
    a, b = cu.load_coco_data(small_dataset), cu.load_coco_data(again)
    for key in ("train_captions", "val_captions", "train_features", "val_image_idxs"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = sd.generate_dataset(tmp_path / "other", seed=4, **sizes)
    assert not np.array_equal(cu.load_coco_data(other)["train_captions"], a["train_captions"])


def test_extra_splits_in_the_same_layout(small_dataset):
    data = cu.load_coco_data(small_dataset)
    for split, n in (("test", 12), ("novel", 8)):
        load_split(data, small_dataset, split)
        assert data[f"{split}_features"].shape == (n, 60)        # PCA: 60 training images
        assert data[f"{split}_captions"].shape == (5 * n, 17)
        assert len(data[f"{split}_urls"]) == n and len(sd.load_scenes(small_dataset, split)) == n
    with pytest.raises(ValueError, match="'test' or 'novel'"):
        load_split(data, small_dataset, "train")


def test_splits_keep_object_sets_and_novel_pairs_apart(small_dataset):
    train = {sd.object_set(s) for s in sd.load_scenes(small_dataset, "train")}
    for split in ("val", "test"):
        for scene in sd.load_scenes(small_dataset, split):
            assert sd.object_set(scene) not in train
            assert not sd.has_novel_pair(scene)
    for scene in sd.load_scenes(small_dataset, "train"):
        assert not sd.has_novel_pair(scene) and not sd.held_out(scene)
    assert all(sd.has_novel_pair(s) for s in sd.load_scenes(small_dataset, "novel"))


def test_cached_on_first_use(tmp_path, monkeypatch):
    sizes = dict(num_train=10, num_val=5, num_test=3, num_novel=2)
    folder = sd.ensure_dataset(tmp_path / "cache", **sizes)
    assert (folder / "DONE.json").is_file()
    calls = []
    monkeypatch.setattr(sd, "generate_dataset", lambda *a, **k: calls.append(a))
    assert sd.ensure_dataset(tmp_path / "cache", **sizes) == folder
    assert calls == []
    sd.ensure_dataset(tmp_path / "cache", **{**sizes, "num_train": 11})   # regenerate
    assert len(calls) == 1


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(sd, "_fit_pca", broken)
    with pytest.raises(OSError, match="disk full"):
        sd.generate_dataset(tmp_path / "ds", num_train=5, num_val=2, num_test=2, num_novel=2)
    assert list(tmp_path.iterdir()) == []


def test_captions_describe_the_scene_and_colours_may_repeat(rng):
    shared = 0
    for _ in range(200):
        scene = sd.random_scene(rng)
        caps = sd.scene_captions(scene, rng)
        assert len(caps) == min(5, len(set(caps))) and len(set(caps)) == len(caps)
        for c in caps:
            assert len(c.split()) <= 15
            assert judge(c, scene) is None, (c, scene)
        pairs = [(o["colour"], o["shape"]) for o in scene]
        assert len(set(pairs)) == len(pairs)
        shared += len({o["colour"] for o in scene}) < len(scene)
    assert shared > 10                                     # objects share colours


def test_background_and_noise_vary(rng):
    scene = [{"shape": "circle", "colour": "red", "size": "small", "x": 10, "y": 10, "r": 5}]
    corners = [sd.render_scene(scene, rng)[60:, 60:].mean() for _ in range(20)]
    assert np.ptp(corners) > 20


def test_generic_features_know_no_palette():
    """The extractor has no colour table: an image in colours outside the
    palette gives features as any other; and they are deterministic."""
    odd = np.zeros((2, 64, 64, 3), np.uint8)
    odd[0, 10:30, 10:30] = (10, 200, 200)                  # cyan: not a palette colour
    odd[1, 30:50, 20:40] = (250, 120, 0)
    a, b = sd.extract_features(odd), sd.extract_features(odd)
    assert a.shape == (2, generic_features.feature_size(64)) and np.array_equal(a, b) and np.abs(a[0] - a[1]).max() > 0.1
    assert "PALETTE" not in open(generic_features.__file__).read()
    with pytest.raises(ValueError, match="images must have shape"):
        sd.extract_features(np.zeros((1, 32, 32, 3), np.uint8))


def test_whole_image_features_do_not_move_with_the_object():
    """The pyramids' top level (the maximum over the whole image, the last
    2 * K2 figures of each scale) says what is there wherever it is: an object
    moved by a multiple of the extractors' strides (4 pixels, 8 at half size)
    gives the same figures, while the grid cells' figures change."""
    images = np.full((2, 64, 64, 3), 230, np.uint8)
    images[0, 16:28, 16:30] = (200, 40, 160)        # away from the borders, which valid
    images[1, 32:44, 24:38] = (200, 40, 160)        # convolutions see less of
    a = generic_features.extract(images).reshape(2, 2, -1)           # (image, scale, F / 2)
    top = 2 * generic_features.K2
    np.testing.assert_allclose(a[0, :, -top:], a[1, :, -top:], atol=1e-5)
    assert a[0, :, -top:].max() > 0.5 and np.abs(a[0, :, :-top] - a[1, :, :-top]).max() > 0.5


def test_sizes_checked_first(tmp_path):
    with pytest.raises(ValueError, match="num_test must be an int >= 1, got 0"):
        sd.generate_dataset(tmp_path / "ds", num_train=5, num_val=2, num_test=0, num_novel=2)
    assert list(tmp_path.iterdir()) == []


def test_same_dataset_whether_drawn_in_one_process_or_two(tmp_path, monkeypatch):
    """Chunks have their own generators: the pool changes nothing."""
    sizes = dict(num_train=30, num_val=4, num_test=3, num_novel=2)
    monkeypatch.setattr(sd, "CHUNK", 10)
    one = cu.load_coco_data(sd.generate_dataset(tmp_path / "one", seed=2, **sizes))
    monkeypatch.setattr(sd, "_PARALLEL_FROM", 0)
    two = cu.load_coco_data(sd.generate_dataset(tmp_path / "two", seed=2, **sizes))
    for key in ("train_captions", "train_image_idxs", "train_features", "val_features"):
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    assert [u.rsplit("/", 1)[1] for u in one["train_urls"]] == \
        [u.rsplit("/", 1)[1] for u in two["train_urls"]]


def reference_features(img):
    """generic_features.extract for one image, written plainly: convolution as
    a sum over kernel offsets, ReLU of both signs, then 2 x 2 max pooling,
    then each grid cell's maximum and mean and the whole map's maximum; for
    the image and for its half-size copy of 2 x 2 averages (float64)."""
    w1, w2 = generic_features._bank()

    def layer(x, w, k):
        s = x.shape[0] - k + 1
        filters = w.T.astype(np.float64).reshape(-1, k, k, x.shape[2])      # (K, kh, kw, c)
        z = sum(np.einsum("hwc,kc->hwk", x[i:i + s, j:j + s], filters[:, i, j])
                for i in range(k) for j in range(k))
        a = np.concatenate([np.maximum(z, 0), np.maximum(-z, 0)], axis=2)
        half = s // 2
        return a[:2 * half, :2 * half].reshape(half, 2, half, 2, -1).max(axis=(1, 3))

    def pyramid(x):
        maps = layer(layer(x, w1, 5), w2, 3)                     # (14, 14, 256) at full size
        g, cell = generic_features.GRID, maps.shape[0] // generic_features.GRID
        cells = maps.reshape(g, cell, g, cell, -1)
        return np.concatenate([cells.max(axis=(1, 3)).ravel(), cells.mean(axis=(1, 3)).ravel(),
                               maps.max(axis=(0, 1))])

    x = img.astype(np.float64) / 127.5 - 1
    half = (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4
    return np.concatenate([pyramid(x), pyramid(half)])


def test_generic_features_equal_a_plain_computation(rng):
    scene = sd.random_scene(rng)
    images = np.stack([sd.render_scene(scene, rng), sd.render_scene(sd.random_scene(rng), rng)])
    got = generic_features.extract(images)
    for img, row in zip(images, got):
        want = reference_features(img)
        np.testing.assert_allclose(row, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
