"""The exercise's COCO captioning data: loading, minibatches, decoding.

The data folder (``coco_captioning``) holds:

- ``coco2014_captions.h5``: train_captions (N, 17) int32, train_image_idxs (N,),
  val_captions, val_image_idxs
- ``train2014_vgg16_fc7.h5`` / ``val2014_vgg16_fc7.h5`` (key ``features``,
  (num_images, 4096) float32) and their ``_pca`` versions (num_images, 512)
- ``coco2014_vocab.json``: ``idx_to_word`` (list) and ``word_to_idx`` (dict)
- ``train2014_urls.txt``, ``val2014_urls.txt``: one image URL per line

Special tokens: <NULL> = 0 (padding), <START> = 1, <END> = 2, <UNK> = 3.
"""
import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np

__all__ = ["default_data_dir", "load_coco_data", "load_coco_split", "decode_captions", "sample_coco_minibatch",
           "references_by_image", "H5Rows"]

SPECIAL_TOKENS = ("<NULL>", "<START>", "<END>")
_HOW_TO_GET = ("run datasets/get_datasets.sh to download the COCO files, or use the "
               "built-in dataset (shapes_dataset.ensure_dataset())")


def default_data_dir():
    """$COCO_CAPTIONING_DIR, else datasets/coco_captioning beside this module."""
    env = os.environ.get("COCO_CAPTIONING_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "datasets" / "coco_captioning"


class H5Rows:
    """Rows of an HDF5 dataset read on demand: for the 4,096-wide features,
    which need 1.3 GB in memory for the training split.

    Behaves like a read-only array for ``shape``, ``dtype``, ``len`` and
    indexing with an int or an integer array (any order, with repeats).
    """

    def __init__(self, path, key="features"):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r")
        self._data = self._file[key]
        self.shape, self.dtype, self.ndim = self._data.shape, self._data.dtype, self._data.ndim

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        if idx.ndim == 0:
            return self._data[int(idx)]
        # h5py reads only strictly increasing indices: read each row once, reorder
        uniq, inverse = np.unique(idx, return_inverse=True)
        return self._data[uniq][inverse.reshape(idx.shape)]

    def __array__(self, dtype=None, copy=None):
        out = self._data[()]
        return out if dtype is None else out.astype(dtype)

    def close(self):
        self._file.close()


def _builtin_instead_of(coco_dir):
    """The built-in dataset's folder (generated on first use), for notebooks
    and scripts that ask for COCO on a machine without it; named folders that
    are missing still raise."""
    # here, not at the top: coco_utils stands alone otherwise
    from rnn_captioning.scenes import dataset as shapes_dataset

    warnings.warn(f"the COCO captioning files are not in {coco_dir}: using the built-in "
                  f"shapes dataset in {shapes_dataset.default_dir()} instead. To use COCO, "
                  f"run datasets/get_datasets.sh or set COCO_CAPTIONING_DIR.", stacklevel=3)
    return shapes_dataset.ensure_dataset()


def _require(path):
    if not path.is_file():
        raise FileNotFoundError(f"missing data file {path}; {_HOW_TO_GET}")
    return path


def _open_h5(path):
    _require(path)
    bad = (f"{path} is not a valid HDF5 file (a truncated or interrupted download?); "
           f"delete it and fetch it again")
    if not h5py.is_hdf5(path):
        raise ValueError(bad)
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{bad}: {e}") from e


# what each dataset must be: dtype kind ('i' integer, 'f' float) and rank
def _caption_layout(split):
    return {f"{split}_captions": ("iu", 2), f"{split}_image_idxs": ("iu", 1)}


_FEATURE_LAYOUT = {"features": ("f", 2)}


def _datasets(f, path, layout):
    """The named datasets of an open file, each checked to be a dataset of the
    layout's dtype kind and rank -- from the header, before reading any data."""
    out = {}
    for key, (kinds, ndim) in layout.items():
        d = f.get(key)
        if not isinstance(d, h5py.Dataset):
            found = "nothing" if d is None else f"a {type(d).__name__}"
            raise ValueError(f"{path} must hold a dataset {key!r}, found {found}")
        if d.dtype.kind not in kinds or d.ndim != ndim:
            want = "integer" if "i" in kinds else "float"
            raise ValueError(f"{path}: {key} must be a {ndim}-D {want} array, got shape "
                             f"{d.shape} and dtype {d.dtype}")
        out[key] = d
    return out


def _read_h5(path, layout):
    """The layout's datasets of an HDF5 file, checked, then read in full."""
    with _open_h5(path) as f:
        datasets = _datasets(f, path, layout)
        try:
            return {k: d[()] for k, d in datasets.items()}
        except (OSError, KeyError) as e:
            raise ValueError(f"{path} is damaged: {e}") from e


def _read_vocab(path):
    """idx_to_word (list of V str) and word_to_idx (dict), checked to be each
    other's inverse."""
    try:
        vocab = json.loads(_require(path).read_text(encoding="utf-8"))
        idx_to_word, word_to_idx = vocab["idx_to_word"], vocab["word_to_idx"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a valid vocabulary file: {e!r}") from e
    except RecursionError as e:
        raise ValueError(f"{path} is not a valid vocabulary file: nested too deeply") from e
    if not (isinstance(idx_to_word, list) and all(isinstance(w, str) for w in idx_to_word)
            and isinstance(word_to_idx, dict)):
        raise ValueError(f"{path}: idx_to_word must be a list of words and word_to_idx a dict")
    if word_to_idx != {w: i for i, w in enumerate(idx_to_word)}:
        wrong = [w for w in word_to_idx if w not in idx_to_word
                 or word_to_idx[w] != idx_to_word.index(w)][:3]
        raise ValueError(f"{path}: idx_to_word ({len(idx_to_word)} words) and word_to_idx "
                         f"({len(word_to_idx)} words) disagree, e.g. on {wrong}")
    return idx_to_word, word_to_idx


def load_coco_data(base_dir=None, max_train=None, pca_features=True, *, rng=None,
                   lazy_features=False):
    """Load the exercise's captioning data as a dict.

    Inputs:
    - base_dir: the coco_captioning folder (default: :func:`default_data_dir`;
      when neither it nor $COCO_CAPTIONING_DIR names one and the default
      folder has no COCO files, the built-in shapes dataset, with a warning)
    - max_train: keep this many training captions, drawn without replacement
    - pca_features: the 512-wide PCA features (True) or the raw fc7 ones
    - rng: np.random.Generator or seed for the max_train draw (None: NumPy's
      global random state, so np.random.seed(...) decides it as in the exercise)
    - lazy_features: give the features as :class:`H5Rows` (read on demand)

    Returns a dict with keys train_captions (N, T) int, train_image_idxs (N,),
    train_features (num_images, D), train_urls (num_images,), the same for
    val, idx_to_word and word_to_idx.
    """
    base = Path(base_dir) if base_dir is not None else default_data_dir()
    if base_dir is None and "COCO_CAPTIONING_DIR" not in os.environ \
            and not (base / "coco2014_captions.h5").is_file():
        base = _builtin_instead_of(base)
    if not base.is_dir():
        raise FileNotFoundError(f"data folder {base} does not exist; {_HOW_TO_GET}")
    data = {}
    data["idx_to_word"], data["word_to_idx"] = _read_vocab(base / "coco2014_vocab.json")
    for split in ("train", "val"):
        data.update(load_coco_split(base, split, "coco2014_captions.h5", pca_features,
                                    len(data["idx_to_word"]), lazy_features=lazy_features))
    widths = {data[f"{s}_features"].shape[1] for s in ("train", "val")}
    if len(widths) != 1:
        raise ValueError(f"the train and val features in {base} differ in width: {widths}")
    if max_train is not None:
        _subsample_train(data, max_train, rng)
    return data


def _read_urls(path, base):
    """One URL per line. A line without a scheme is a path relative to the data
    folder (the built-in dataset's), returned as a file URL of where the folder
    is now."""
    try:
        lines = path.read_text(encoding="utf-8").split()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text: {e}") from e
    folder = base.resolve()
    return np.asarray([line if "://" in line else (folder / line).as_uri() for line in lines])


def load_coco_split(base, split, captions_file, pca_features, V, *, lazy_features=False):
    """One split of a folder in the COCO layout, checked: {split}_captions
    and {split}_image_idxs from ``captions_file``, {split}_features from
    ``{split}2014_vgg16_fc7[_pca].h5``, {split}_urls from ``{split}2014_urls.txt``.
    V is the vocabulary size the captions' word indices must stay below."""
    base = Path(base)
    data = _read_h5(base / captions_file, _caption_layout(split))
    path = base / f"{split}2014_vgg16_fc7{'_pca' if pca_features else ''}.h5"
    if lazy_features:
        with _open_h5(path) as f:
            _datasets(f, path, _FEATURE_LAYOUT)
        data[f"{split}_features"] = H5Rows(path)
    else:
        data[f"{split}_features"] = _read_h5(path, _FEATURE_LAYOUT)["features"]
    data[f"{split}_urls"] = _read_urls(_require(base / f"{split}2014_urls.txt"), base)
    _validate(data, split, base / captions_file, V)
    return data


def _validate(data, split, captions_file, V):
    """Captions use known words; image indices point at existing features."""
    caps, idxs = data[f"{split}_captions"], data[f"{split}_image_idxs"]
    num_images = data[f"{split}_features"].shape[0]
    if idxs.shape != (caps.shape[0],):
        raise ValueError(f"{captions_file}: {split}_captions {caps.shape} and "
                         f"{split}_image_idxs {idxs.shape} must be (N, T) and (N,)")
    for key, a, limit, what in ((f"{split}_captions", caps, V, "vocabulary words"),
                                (f"{split}_image_idxs", idxs, num_images,
                                 f"{split} feature rows")):
        if a.size and (a.min() < 0 or a.max() >= limit):
            at = tuple(int(i) for i in np.unravel_index(np.argmax((a < 0) | (a >= limit)),
                                                        a.shape))
            raise ValueError(f"{captions_file}: {key}{list(at)} is {a[at]}, outside "
                             f"[0, {limit}) (there are {limit} {what})")
    if len(data[f"{split}_urls"]) != num_images:
        raise ValueError(f"{split}2014_urls.txt has {len(data[f'{split}_urls'])} lines "
                         f"for {num_images} images")


def _check_positive_int(name, value):
    # coco_utils stands alone (no library imports), hence its own copy of this check
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _random_source(rng):
    # as layers.random_source (coco_utils stands alone): None is NumPy's global
    # state, whose np.random.choice is the exercise's own draw
    return np.random if rng is None else np.random.default_rng(rng)


def _subsample_train(data, max_train, rng):
    num_train = data["train_captions"].shape[0]
    _check_positive_int("max_train", max_train)
    if max_train < num_train:
        rng = _random_source(rng)
        keep = np.sort(rng.choice(num_train, size=max_train, replace=False))
        data["train_captions"] = data["train_captions"][keep]
        data["train_image_idxs"] = data["train_image_idxs"][keep]


def decode_captions(captions, idx_to_word, *, strip_special=False):
    """Turn word indices into strings.

    Inputs:
    - captions: (T,) or (N, T) integer word indices
    - idx_to_word: list or dict index -> word
    - strip_special: also drop <START> and <END> (<NULL> is always dropped)

    Returns a str for 1-D input, a list of N str for 2-D input. Decoding of a
    row stops after its first <END>.
    """
    captions = np.asarray(captions)
    if captions.ndim not in (1, 2) or not np.issubdtype(captions.dtype, np.integer):
        raise ValueError(f"captions must be a 1-D or 2-D integer array, got shape "
                         f"{captions.shape} and dtype {captions.dtype}")
    rows = captions[None] if captions.ndim == 1 else captions
    _check_known_words(rows, idx_to_word)
    drop = set(SPECIAL_TOKENS) if strip_special else {"<NULL>"}
    decoded = []
    for row in rows:
        words = []
        for idx in row:
            word = idx_to_word[int(idx)]
            if word not in drop:
                words.append(word)
            if word == "<END>":
                break
        decoded.append(" ".join(words))
    return decoded[0] if captions.ndim == 1 else decoded


def _check_known_words(captions, idx_to_word):
    """Every index of captions must name a word of idx_to_word (list or dict)."""
    if not captions.size:
        return
    if isinstance(idx_to_word, dict):
        unknown = sorted(set(np.unique(captions).tolist()) - set(idx_to_word))
    else:
        unknown = [int(i) for i in (captions.min(), captions.max())
                   if not 0 <= i < len(idx_to_word)]
    if unknown:
        raise ValueError(f"captions hold word indices {unknown[:5]} that idx_to_word "
                         f"({len(idx_to_word)} words) does not have")


def sample_coco_minibatch(data, batch_size=100, split="train", *, rng=None):
    """A random minibatch of captions with their image features and URLs.

    Draws caption indices with replacement, as the exercise does; with rng
    None from NumPy's global random state (the exercise's exact draw), else
    from np.random.default_rng(rng).

    Returns a tuple of:
    - captions: (batch_size, T) int
    - features: (batch_size, D)
    - urls: (batch_size,) str
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    _check_positive_int("batch_size", batch_size)
    missing = [k for k in (f"{split}_captions", f"{split}_image_idxs", f"{split}_features",
                           f"{split}_urls") if k not in data]
    if missing:
        raise ValueError(f"data lacks the keys {missing}")
    rng = _random_source(rng)
    split_size = data[f"{split}_captions"].shape[0]
    mask = rng.choice(split_size, batch_size)
    captions = data[f"{split}_captions"][mask]
    image_idxs = data[f"{split}_image_idxs"][mask]
    features = data[f"{split}_features"][image_idxs]     # ndarray or H5Rows
    urls = data[f"{split}_urls"][image_idxs]
    return captions, features, urls


def references_by_image(data, split="val", *, strip_special=True):
    """All reference captions of each image of a split.

    Returns a dict image index -> list of caption strings.
    """
    refs = {}
    captions = decode_captions(data[f"{split}_captions"], data["idx_to_word"],
                               strip_special=strip_special)
    for idx, caption in zip(data[f"{split}_image_idxs"], captions):
        refs.setdefault(int(idx), []).append(caption)
    return refs
