"""coco_utils against files written in the exercise's exact format."""
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

import coco_utils as cu
from coco_files import write_coco_folder


@pytest.fixture
def coco_dir(tmp_path, rng):
    folder = tmp_path / "coco_captioning"
    truth = write_coco_folder(folder, rng)
    return folder, truth


def test_load_reads_every_key_exactly(coco_dir):
    folder, truth = coco_dir
    data = cu.load_coco_data(folder)
    assert set(data) == {"train_captions", "train_image_idxs", "val_captions", "val_image_idxs",
                         "train_features", "val_features", "train_urls", "val_urls",
                         "idx_to_word", "word_to_idx"}
    for key in ("train_captions", "train_image_idxs", "val_captions", "train_features",
                "val_features", "train_urls"):
        np.testing.assert_array_equal(data[key], truth[key], err_msg=key)
    assert data["train_captions"].dtype == np.int32
    assert data["train_features"].dtype == np.float32
    assert data["idx_to_word"] == truth["idx_to_word"]
    assert data["word_to_idx"] == truth["word_to_idx"]


def test_raw_features_and_lazy_rows(coco_dir):
    folder, _ = coco_dir
    raw = cu.load_coco_data(folder, pca_features=False)
    assert raw["train_features"].shape == (20, 40)   # no feature size hard-coded
    lazy = cu.load_coco_data(folder, pca_features=False, lazy_features=True)
    rows = lazy["train_features"]
    assert isinstance(rows, cu.H5Rows) and rows.shape == (20, 40) and len(rows) == 20
    idx = np.array([5, 1, 5, 19, 0])                 # unsorted, with a repeat
    np.testing.assert_array_equal(rows[idx], raw["train_features"][idx])
    np.testing.assert_array_equal(np.asarray(rows), raw["train_features"])
    caps, feats, urls = cu.sample_coco_minibatch(lazy, batch_size=7, rng=3)
    assert feats.shape == (7, 40)
    rows.close()


def test_default_dir_from_environment_not_cwd(coco_dir, monkeypatch, tmp_path):
    folder, truth = coco_dir
    monkeypatch.setenv("COCO_CAPTIONING_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    assert cu.default_data_dir() == folder
    assert cu.load_coco_data()["train_captions"].shape == truth["train_captions"].shape
    monkeypatch.delenv("COCO_CAPTIONING_DIR")
    here = Path(cu.__file__).resolve().parent
    assert cu.default_data_dir() == here / "datasets" / "coco_captioning"


def test_max_train_without_replacement_and_reproducible(coco_dir):
    folder, truth = coco_dir
    a = cu.load_coco_data(folder, max_train=25, rng=4)
    b = cu.load_coco_data(folder, max_train=25, rng=4)
    c = cu.load_coco_data(folder, max_train=25, rng=5)
    np.testing.assert_array_equal(a["train_captions"], b["train_captions"])
    assert not np.array_equal(a["train_captions"], c["train_captions"])
    # without replacement: 25 distinct rows of the original
    rows = {tuple(r) for r in truth["train_captions"]}
    picked = [tuple(r) for r in a["train_captions"]]
    assert len(picked) == 25 and set(picked) <= rows
    assert len(set(map(tuple, np.c_[a["train_captions"], a["train_image_idxs"]]))) == 25
    with pytest.raises(ValueError, match="max_train"):
        cu.load_coco_data(folder, max_train=0)


def test_decode_captions():
    idx_to_word = ["<NULL>", "<START>", "<END>", "<UNK>", "cat", "sat"]
    caps = np.array([[1, 4, 5, 2, 4, 0], [1, 3, 0, 4, 2, 5]])
    assert cu.decode_captions(caps, idx_to_word) == ["<START> cat sat <END>",
                                                     "<START> <UNK> cat <END>"]
    assert cu.decode_captions(caps[0], idx_to_word) == "<START> cat sat <END>"
    assert cu.decode_captions(caps, idx_to_word, strip_special=True) == ["cat sat",
                                                                         "<UNK> cat"]
    with pytest.raises(ValueError, match="integer"):
        cu.decode_captions(np.zeros((2, 2)), idx_to_word)


def test_sample_minibatch(coco_dir):
    folder, _ = coco_dir
    data = cu.load_coco_data(folder)
    caps, feats, urls = cu.sample_coco_minibatch(data, batch_size=10, split="val", rng=0)
    assert caps.shape == (10, 17) and feats.shape == (10, 16) and urls.shape == (10,)
    again = cu.sample_coco_minibatch(data, batch_size=10, split="val", rng=0)
    np.testing.assert_array_equal(caps, again[0])
    # each caption comes with its own image's features and URL
    for c, f in zip(caps, feats):
        i = np.flatnonzero((data["val_captions"] == c).all(axis=1))[0]
        np.testing.assert_array_equal(f, data["val_features"][data["val_image_idxs"][i]])
    with pytest.raises(ValueError, match="split"):
        cu.sample_coco_minibatch(data, split="test")


def test_references_by_image(coco_dir):
    folder, _ = coco_dir
    data = cu.load_coco_data(folder)
    refs = cu.references_by_image(data, "train")
    assert len(refs) == 20 and all(len(r) == 3 for r in refs.values())
    assert all("<START>" not in r for rs in refs.values() for r in rs)


def test_loading_memory_stays_near_array_bytes(tmp_path, rng):
    folder = tmp_path / "big"
    write_coco_folder(folder, rng, num_train=20000, num_val=100, caps_per_image=5, D=512)
    tracemalloc.start()
    data = cu.load_coco_data(folder)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nbytes = sum(v.nbytes for v in data.values() if isinstance(v, np.ndarray))
    assert peak <= 1.5 * nbytes, (peak, nbytes)


# --- errors -------------------------------------------------------------------

def test_missing_folder_and_file(tmp_path, coco_dir):
    with pytest.raises(FileNotFoundError, match="does not exist.*get_datasets.sh"):
        cu.load_coco_data(tmp_path / "nowhere")
    folder, _ = coco_dir
    (folder / "val2014_urls.txt").unlink()
    with pytest.raises(FileNotFoundError, match="val2014_urls.txt"):
        cu.load_coco_data(folder)


def test_truncated_hdf5_names_the_file(coco_dir):
    folder, _ = coco_dir
    path = folder / "train2014_vgg16_fc7_pca.h5"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="train2014_vgg16_fc7_pca.h5.*not a valid HDF5"):
        cu.load_coco_data(folder)


def test_bad_vocab_json(coco_dir):
    folder, _ = coco_dir
    (folder / "coco2014_vocab.json").write_text("{not json")
    with pytest.raises(ValueError, match="coco2014_vocab.json"):
        cu.load_coco_data(folder)


def test_out_of_range_image_idxs_and_unknown_words(coco_dir):
    folder, truth = coco_dir
    with h5py.File(folder / "coco2014_captions.h5", "a") as f:
        idxs = f["val_image_idxs"][()]
        idxs[0] = 999
        f["val_image_idxs"][...] = idxs
    with pytest.raises(ValueError, match=r"coco2014_captions.h5: val_image_idxs\[0\] is 999, "
                                         r"outside \[0, \d+\)"):
        cu.load_coco_data(folder)
    with h5py.File(folder / "coco2014_captions.h5", "a") as f:
        f["val_image_idxs"][...] = truth["val_image_idxs"]
        caps = f["train_captions"][()]
        caps[0, 1] = 500
        f["train_captions"][...] = caps
    with pytest.raises(ValueError, match=r"coco2014_captions.h5: train_captions\[0, 1\] is 500"):
        cu.load_coco_data(folder)


def _rewrite(path, key, value):
    with h5py.File(path, "a") as f:
        del f[key]
        if isinstance(value, str):          # "group"
            f.create_group(key)
        else:
            f[key] = value


@pytest.mark.parametrize("file,key,value,match", [
    ("coco2014_captions.h5", "train_captions", np.zeros((60, 17), np.float32),
     "train_captions must be a 2-D integer array, got shape .* float32"),
    ("coco2014_captions.h5", "val_image_idxs", np.zeros((20, 1), np.int32),
     "val_image_idxs must be a 1-D integer array"),
    ("coco2014_captions.h5", "val_captions", "group", "dataset 'val_captions', found a Group"),
    ("train2014_vgg16_fc7_pca.h5", "features", np.zeros(20, np.float32),
     "features must be a 2-D float array, got shape \\(20,\\)"),
    ("val2014_vgg16_fc7_pca.h5", "features", np.zeros((7, 16, 1), np.float32),
     "features must be a 2-D float array"),
    ("val2014_vgg16_fc7_pca.h5", "features", "group", "dataset 'features', found a Group"),
])
@pytest.mark.parametrize("lazy", [False, True])
def test_each_dataset_checked_for_kind_dtype_and_rank(coco_dir, file, key, value, match, lazy):
    folder, _ = coco_dir
    _rewrite(folder / file, key, value)
    with pytest.raises(ValueError, match=f"{file}.*{match}"):
        cu.load_coco_data(folder, lazy_features=lazy)


def test_lazy_features_missing_dataset_names_the_file(coco_dir):
    folder, _ = coco_dir
    with h5py.File(folder / "val2014_vgg16_fc7_pca.h5", "a") as f:
        f["other"] = f["features"][()]
        del f["features"]
    with pytest.raises(ValueError, match="val2014_vgg16_fc7_pca.h5 must hold a dataset "
                                         "'features', found nothing"):
        cu.load_coco_data(folder, lazy_features=True)


def test_features_of_two_widths_refused(coco_dir):
    folder, _ = coco_dir
    with h5py.File(folder / "val2014_vgg16_fc7_pca.h5") as f:
        rows = f["features"].shape[0]
    _rewrite(folder / "val2014_vgg16_fc7_pca.h5", "features", np.zeros((rows, 5), np.float32))
    with pytest.raises(ValueError, match="differ in width"):
        cu.load_coco_data(folder)


@pytest.mark.parametrize("vocab,match", [
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"idx_to_word": ["<NULL>", "a"], "word_to_idx": {"<NULL>": 0, "a": 0}}', "disagree.*'a'"),
    ('{"idx_to_word": ["<NULL>", "a"], "word_to_idx": {"<NULL>": 0}}', "disagree"),
    ('{"idx_to_word": "<NULL> a", "word_to_idx": {}}', "list of words"),
])
def test_vocabulary_files_checked(coco_dir, vocab, match):
    folder, _ = coco_dir
    (folder / "coco2014_vocab.json").write_text(vocab)
    with pytest.raises(ValueError, match=f"coco2014_vocab.json.*{match}"):
        cu.load_coco_data(folder)


def test_url_list_not_utf8_names_the_file(coco_dir):
    folder, _ = coco_dir
    (folder / "val2014_urls.txt").write_bytes(b"http://x/\xff\xfe.jpg\n" * 20)
    with pytest.raises(ValueError, match="val2014_urls.txt is not UTF-8"):
        cu.load_coco_data(folder)
