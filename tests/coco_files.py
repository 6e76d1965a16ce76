"""Writes a folder in the exact layout of the exercise's coco_captioning data."""
import json

import h5py
import numpy as np

from toy_data import make_toy_data


def write_coco_folder(path, rng, *, num_train=60, num_val=20, caps_per_image=3, D=16,
                      raw_D=40, V=30):
    data = make_toy_data(rng, num_train=num_train, num_val=num_val, V=V, D=D,
                         caps_per_image=caps_per_image)
    path.mkdir(parents=True, exist_ok=True)
    with h5py.File(path / "coco2014_captions.h5", "w") as f:
        for split in ("train", "val"):
            f[f"{split}_captions"] = data[f"{split}_captions"]
            f[f"{split}_image_idxs"] = data[f"{split}_image_idxs"]
    for split in ("train", "val"):
        feats = data[f"{split}_features"]
        with h5py.File(path / f"{split}2014_vgg16_fc7_pca.h5", "w") as f:
            f["features"] = feats
        with h5py.File(path / f"{split}2014_vgg16_fc7.h5", "w") as f:
            f["features"] = rng.standard_normal((len(feats), raw_D)).astype(np.float32)
        (path / f"{split}2014_urls.txt").write_text("\n".join(data[f"{split}_urls"]) + "\n")
    (path / "coco2014_vocab.json").write_text(json.dumps(
        {"idx_to_word": data["idx_to_word"], "word_to_idx": data["word_to_idx"]}))
    return data
