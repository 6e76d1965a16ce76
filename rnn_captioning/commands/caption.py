"""Caption images with a saved model.

    python caption.py runs/x/model.npz picture.png other.png     # image files
    python caption.py runs/x/model.npz --index 0 5 9             # val images by index
    python caption.py runs/x/model.npz --index 3 --split test --beam-size 3

Image files are featurised from their pixels with the built-in dataset's
feature extractor and PCA (so they must be images of the built-in kind: the
COCO features came from VGG-16, which this library does not ship). Images
given by index use the stored features of the data folder, COCO when present,
else the built-in dataset; their reference captions are printed too.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from captioning_rnn import CaptioningRNN
from coco_utils import decode_captions, load_coco_data, references_by_image
from image_utils import load_image
from rnn_captioning.commands.train import COCO_MARKER, count, default_data_dir
from rnn_captioning.evaluation.scenes import load_split
from rnn_captioning.scenes import dataset as shapes_dataset


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model.npz written by train.py")
    p.add_argument("images", nargs="*", help="image files (or file:// / http(s) URLs)")
    p.add_argument("--index", type=int, nargs="+", default=[], help="image indices of a split")
    p.add_argument("--split", choices=("train", "val", "test"), default="val",
                   help="split of --index (test: the built-in dataset's; default: val)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data folder (default: COCO if present, else the built-in dataset)")
    p.add_argument("--beam-size", type=count(1), default=1,
                   help="beam width (default: 1, greedy decoding)")
    p.add_argument("--max-length", type=count(1), default=16,
                   help="most words per caption (default: 16)")
    args = p.parse_args(argv)
    if not args.images and not args.index:
        p.error("give image files or --index")
    return args


def load_model(path):
    """The saved model, or a clear error naming the file."""
    if not path.is_file():
        raise SystemExit(f"error: no model file {path} (python train.py writes "
                         f"runs/<date>-<time>/model.npz)")
    try:
        return CaptioningRNN.load(path)
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"error: {path} is not a model saved by this library: {e}") from None


def load_pictures(paths):
    """The image files (or URLs) as arrays; a clear error for one that is
    missing or unreadable."""
    images = []
    for p in paths:
        try:
            images.append(load_image(p))
        except (OSError, ValueError) as e:
            raise SystemExit(f"error: cannot read the image {p}: {e}") from None
    return images


def generate(model, features, beam_size, max_length):
    if beam_size > 1:
        return model.beam_search(features, beam_size=beam_size, max_length=max_length)[0]
    return model.sample(features, max_length=max_length)


def caption_files(model, paths, args):
    builtin_dir = args.data_dir or shapes_dataset.ensure_dataset()
    features = shapes_dataset.featurize_images(load_pictures(paths), builtin_dir)
    if features.shape[1] != model.input_dim:
        raise SystemExit(f"error: the model takes {model.input_dim} features, the built-in "
                         f"extractor gives {features.shape[1]}: was it trained on COCO?")
    caps = generate(model, features, args.beam_size, args.max_length)
    for path, text in zip(paths, decode_captions(caps, model.idx_to_word, strip_special=True)):
        print(f"{path}: {text}")


def caption_indices(model, args):
    data_dir = args.data_dir
    if data_dir is None:
        coco = default_data_dir()
        data_dir = coco if (coco / COCO_MARKER).is_file() else shapes_dataset.ensure_dataset()
    data = load_coco_data(data_dir)
    if args.split == "test":
        if not (Path(data_dir) / shapes_dataset.captions_file("test")).is_file():
            raise SystemExit(f"error: {data_dir} has no test split (COCO's test captions are "
                             f"not public): use --split val")
        load_split(data, data_dir, "test")
    features = data[f"{args.split}_features"]
    n = features.shape[0]
    bad = [i for i in args.index if not 0 <= i < n]
    if bad:
        raise SystemExit(f"error: indices {bad} are outside the {n} {args.split} images")
    caps = generate(model, features[np.asarray(args.index)], args.beam_size, args.max_length)
    refs = references_by_image(data, args.split)
    for i, text in zip(args.index, decode_captions(caps, model.idx_to_word, strip_special=True)):
        print(f"{args.split} image {i}: {text}")
        for ref in refs.get(i, []):
            print(f"    ref: {ref}")


def main(argv=None):
    args = parse_args(argv)
    model = load_model(args.model)
    if args.images:
        caption_files(model, args.images, args)
    if args.index:
        caption_indices(model, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
