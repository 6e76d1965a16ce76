"""Caption images with a saved model.

    python caption.py runs/x/model.npz picture.png other.png     # image files
    python caption.py runs/x/model.npz --index 0 5 9             # val images by index
    python caption.py runs/x/model.npz --index 3 --split train --beam-size 3

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
from rnn_captioning.commands.train import COCO_MARKER, default_data_dir
from rnn_captioning.scenes import dataset as shapes_dataset


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a model.npz written by train.py")
    p.add_argument("images", nargs="*", help="image files (or file:// / http(s) URLs)")
    p.add_argument("--index", type=int, nargs="+", default=[], help="image indices of a split")
    p.add_argument("--split", choices=("train", "val"), default="val")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data folder (default: COCO if present, else the built-in dataset)")
    p.add_argument("--beam-size", type=int, default=1, help="1: greedy decoding")
    p.add_argument("--max-length", type=int, default=16)
    args = p.parse_args(argv)
    if not args.images and not args.index:
        p.error("give image files or --index")
    return args


def generate(model, features, beam_size, max_length):
    if beam_size > 1:
        return model.beam_search(features, beam_size=beam_size, max_length=max_length)[0]
    return model.sample(features, max_length=max_length)


def caption_files(model, paths, args):
    builtin_dir = args.data_dir or shapes_dataset.ensure_dataset()
    features = shapes_dataset.featurize_images([load_image(p) for p in paths], builtin_dir)
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
    model = CaptioningRNN.load(args.model)
    if args.images:
        caption_files(model, args.images, args)
    if args.index:
        caption_indices(model, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
