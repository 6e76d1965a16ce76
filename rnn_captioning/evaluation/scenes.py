"""Evaluation on the built-in dataset: its extra splits (test, novel), the
model's decoded captions of a split, the strict scene accuracy of them, and
the figure of sample captions.

It sits above both the built-in dataset and ``coco_utils`` (which reads the
files), so neither of those needs the other's internals.
"""
from pathlib import Path

from coco_utils import decode_captions, load_coco_split, references_by_image
from image_utils import load_images
from solver import caption_images
from rnn_captioning.evaluation.plots import plot_samples
from rnn_captioning.scenes import dataset as scenes_dataset
from rnn_captioning.scenes.grammar import judge, strict_accuracy

__all__ = ["load_split", "caption_texts", "scene_accuracy", "sample_figure"]


def load_split(data, data_dir, split, pca_features=True):
    """Add an extra split ('test' or 'novel') of the dataset in ``data_dir`` to
    ``data`` (the dict of load_coco_data): {split}_captions, _image_idxs,
    _features, _urls, as for train and val. Returns data."""
    if split not in ("test", "novel"):
        raise ValueError(f"split must be 'test' or 'novel', got {split!r}")
    data.update(load_coco_split(Path(data_dir), split, scenes_dataset.captions_file(split),
                                pca_features, len(data["idx_to_word"])))
    return data


def caption_texts(model, data, split, image_ids, beam_size=1):
    """The model's captions of a split's images (feature rows ``image_ids``)
    as strings without special tokens: greedy, or beam search."""
    caps = caption_images(model, data[f"{split}_features"], list(image_ids),
                          max_length=data[f"{split}_captions"].shape[1] - 1, beam_size=beam_size)
    return decode_captions(caps, data["idx_to_word"], strip_special=True)


def scene_accuracy(model, data, data_dir, split, beam_size=1):
    """Strict scene accuracy of the model's captions of every image of a
    built-in split, and its error counts (scenes.grammar.strict_accuracy)."""
    scenes = scenes_dataset.load_scenes(data_dir, split)
    texts = caption_texts(model, data, split, range(len(scenes)), beam_size)
    return strict_accuracy(texts, scenes)


def sample_figure(model, data, n=8, beam_size=1, data_dir=None):
    """Val images with their generated and first reference captions; with
    the built-in dataset's folder ``data_dir``, each generated caption is
    marked right or wrong under the strict scene metric."""
    refs = references_by_image(data, "val")
    ids = sorted(refs)[:n]
    generated = caption_texts(model, data, "val", ids, beam_size)
    images, _ = load_images([data["val_urls"][i] for i in ids])  # None where a URL is dead
    verdicts, title = None, "validation images: generated and reference (ref) captions"
    if data_dir is not None:
        scenes = scenes_dataset.load_scenes(data_dir, "val")
        verdicts = [judge(text, scenes[i]) for text, i in zip(generated, ids)]
        title += ", generated marked right or wrong under the strict scene metric"
    return plot_samples(images, generated, [refs[i][0] for i in ids], title=title,
                        verdicts=verdicts)
