"""The check of a data dict before the solver trains on it.

Every split the solver will read is checked whole, up front: a bad word index
or image index otherwise fails (or, for -1, silently trains on the wrong
image) only at the iteration that happens to draw it, and a missing
validation split only at the end of the first epoch. Features held in memory
(NumPy arrays) are checked for NaN and inf in one pass, before the first
update; features read lazily from their HDF5 file (``coco_utils.H5Rows``) are
not read up front: a non-finite value there shows as a non-finite loss, and
the solver stops before that update (keeping its last good checkpoint).
"""
import numpy as np

__all__ = ["check_training_data"]


def check_training_data(data, model, splits):
    """Raise ValueError/TypeError naming the key, the value and where it is,
    unless ``data`` holds, for each split in ``splits``, captions (N, T) of the
    model's word indices, image indices (N,) into features (num_images, D).

    - data: the dict of coco_utils.load_coco_data
    - model: the CaptioningRNN to train (its vocabulary size V and input_dim D)
    - splits: e.g. ('train',) or ('train', 'val')
    """
    if not isinstance(data, dict):
        raise TypeError(f"data must be the dict of load_coco_data, got {type(data).__name__}")
    if "word_to_idx" in data and data["word_to_idx"] != model.word_to_idx:
        raise ValueError("data['word_to_idx'] differs from the model's vocabulary")
    for split in splits:
        keys = [f"{split}_{k}" for k in ("captions", "image_idxs", "features")]
        missing = [k for k in keys if k not in data]
        if missing:
            why = "to train" if split == "train" else "to validate (val_every is not 0)"
            raise ValueError(f"data lacks the keys {missing}, needed {why}")
        features = data[keys[2]]
        shape = getattr(features, "shape", None)
        if shape is None or len(shape) != 2 or shape[1] != model.input_dim:
            raise ValueError(f"data[{keys[2]!r}] must have shape (num_images, "
                             f"{model.input_dim}), got {shape}")
        if isinstance(features, np.ndarray):
            _finite(features, keys[2])
        captions = _indices(data, keys[0], 2, model.vocab_size, "word indices")
        if captions.shape[0] == 0 or captions.shape[1] < 2:
            raise ValueError(f"data[{keys[0]!r}] must be (N, T) with N >= 1 and T >= 2, "
                             f"got {captions.shape}")
        idxs = _indices(data, keys[1], 1, shape[0], "image indices")
        if idxs.shape[0] != captions.shape[0]:
            raise ValueError(f"data[{keys[1]!r}] has {idxs.shape[0]} entries for "
                             f"{captions.shape[0]} captions")


def _indices(data, key, ndim, limit, what):
    """data[key] as an integer ndarray of rank ndim with values in [0, limit)."""
    a = data[key]
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != ndim:
        raise TypeError(f"data[{key!r}] must be a {ndim}-D integer array, got "
                        f"{type(a).__name__} {getattr(a, 'shape', '')} "
                        f"{getattr(a, 'dtype', '')}")
    outside = (a < 0) | (a >= limit)
    if outside.any():
        at = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(f"data[{key!r}]{list(at)} is {a[at]}, outside [0, {limit}) "
                         f"(the {limit} {what} there are)")
    return a


def _finite(features, key, rows=4096):
    """Refuse NaN or inf in features (num_images, D), naming the first row;
    read in blocks of rows, so that no full-size mask is made."""
    for lo in range(0, features.shape[0], rows):
        block = features[lo:lo + rows]
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            row = lo + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            raise ValueError(f"data[{key!r}] row {row} holds NaN or inf "
                             f"({np.count_nonzero(~np.isfinite(features[row]))} of its "
                             f"{features.shape[1]} values): refused before training")
