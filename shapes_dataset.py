"""A built-in captioning dataset of coloured shapes, in the exact COCO format.

So that training, the notebooks and the tests run on a fresh machine with no
download, this module renders small images of one to three coloured shapes,
writes five reference captions per image from a small grammar, computes image
features from the pixels, and stores everything in the file layout, keys,
dtypes and special tokens of the exercise's ``coco_captioning`` folder
(see coco_utils.py). Generation is deterministic and takes a few seconds; the
result is cached.

Scenes: 64 x 64 RGB images on a light background; each object has a shape
(circle, square, triangle), a colour (red, green, blue, yellow, purple, all
different within an image), a size (small, large) and a position; objects
do not overlap.

Feature extractor (fixed, no learning; it stands in for VGG-16 fc7):
1. Colour segmentation: a pixel belongs to colour k when it is within a fixed
   distance of the palette colour.
2. Per colour, 29 numbers: present, area, centroid (x, y), bounding box
   (width, height), fill ratio (area / box area: about 1 for a square, 0.79
   for a circle, 0.5 for a triangle), vertical mass balance, soft one-hot
   evidence of the shape (Gaussian bumps on the fill ratio) and of the size
   (on the box's longer side), and the mask average-pooled on a 4 x 4 grid.
3. The image average-pooled to 16 x 16 x 3, scaled to [-1, 1].
The "raw" features (the ``train2014_vgg16_fc7.h5`` files) are 1 and 3 side
by side: 5 * 29 + 768 = 913 numbers. The PCA files hold their projection on
the top 512 principal components of the training images (the exercise's
fc7 -> PCA step); ``pca.npz`` keeps the mean and components so that new images
can be featurised the same way (caption.py).
"""
import json
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np

from checkpoint_io import atomic_write
from image_utils import resize_image

__all__ = ["ensure_dataset", "generate_dataset", "default_dir", "random_scene",
           "render_scene", "scene_captions", "extract_features", "pca_features",
           "attribute_accuracy", "caption_objects", "load_scenes", "load_pca",
           "featurize_images", "VOCAB"]

VERSION = 2                          # 2: URLs relative to the dataset folder
IMAGE_SIZE = 64
PALETTE = {"red": (215, 40, 40), "green": (40, 165, 60), "blue": (45, 85, 220),
           "yellow": (235, 200, 30), "purple": (145, 60, 185)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": (5.0, 7.0), "large": (10.0, 13.0)}      # radius range, pixels
BACKGROUND = (242, 242, 236)
MAX_WORDS = 15                       # 17 tokens with <START> and <END>
PCA_DIM = 512
SCENES_FILE = "{split}_scenes.json"
RELATIONS = {"left": ("to the left of", "to the right of"),
             "above": ("above", "below")}

SPECIAL = ["<NULL>", "<START>", "<END>", "<UNK>"]
WORDS = ["a", "and", ",", ":", "there", "is", "are", "two", "three", "shapes", "of",
         "to", "the", "left", "right", "above", "below", "picture", "with", "in", "next",
         *SIZES, *PALETTE, *SHAPES]
VOCAB = SPECIAL + WORDS


def default_dir():
    """$SHAPES_CAPTIONING_DIR, else datasets/shapes_captioning beside this module."""
    env = os.environ.get("SHAPES_CAPTIONING_DIR")
    return Path(env) if env else Path(__file__).resolve().parent / "datasets" / "shapes_captioning"


# ----------------------------------------------------------------------------
# Scenes and pixels
# ----------------------------------------------------------------------------

def random_scene(rng):
    """One to three non-overlapping objects of different colours.

    Returns a list of dicts with keys shape, colour, size, x, y, r (pixels).
    """
    n = int(rng.integers(1, 4))
    colours = rng.choice(list(PALETTE), size=n, replace=False)
    objects = []
    while len(objects) < n:
        size = str(rng.choice(list(SIZES)))
        r = float(rng.uniform(*SIZES[size]))
        x, y = rng.uniform(r + 1, IMAGE_SIZE - r - 1, size=2)
        if all(np.hypot(x - o["x"], y - o["y"]) > r + o["r"] + 3 for o in objects):
            objects.append({"shape": str(rng.choice(SHAPES)), "colour": str(colours[len(objects)]),
                            "size": size, "x": float(x), "y": float(y), "r": r})
    return objects


def render_scene(objects, rng=None):
    """Pixels of a scene: (IMAGE_SIZE, IMAGE_SIZE, 3) uint8, with mild noise."""
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    img = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float64)
    img[:] = BACKGROUND
    for o in objects:
        dx, dy, r = xx - o["x"], yy - o["y"], o["r"]
        if o["shape"] == "circle":
            inside = dx ** 2 + dy ** 2 <= r ** 2
        elif o["shape"] == "square":
            inside = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
        else:  # upward triangle: apex at top, base at the bottom
            inside = (dy <= r * 0.85) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.55)
        img[inside] = PALETTE[o["colour"]]
    if rng is not None:
        img += rng.normal(0, 4.0, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------
# Captions
# ----------------------------------------------------------------------------

def _phrase(o, with_size):
    return f"a {o['size']} {o['colour']} {o['shape']}" if with_size else \
        f"a {o['colour']} {o['shape']}"


def _relation(a, b):
    """How a stands to b: 'to the left of', 'above', ... by the larger offset."""
    dx, dy = a["x"] - b["x"], a["y"] - b["y"]
    if abs(dx) >= abs(dy):
        return RELATIONS["left"][0 if dx < 0 else 1]
    return RELATIONS["above"][0 if dy < 0 else 1]


def _templates(objects):
    """Every candidate caption (word lists) of a scene: each template, with
    and without size words, those of at most MAX_WORDS words, no repeats."""
    out = []
    for with_size in (True, False):
        ph = [_phrase(o, with_size) for o in objects]
        if len(objects) == 1:
            out += [ph[0], f"there is {ph[0]}", f"a picture of {ph[0]}",
                    f"{ph[0]} in the picture"]
        elif len(objects) == 2:
            a, b = objects
            out += [f"{ph[0]} and {ph[1]}", f"{ph[1]} and {ph[0]}",
                    f"{ph[0]} {_relation(a, b)} {ph[1]}", f"{ph[1]} {_relation(b, a)} {ph[0]}",
                    f"two shapes : {ph[0]} and {ph[1]}", f"there is {ph[0]} next to {ph[1]}"]
        else:
            order = sorted(range(3), key=lambda i: objects[i]["x"])   # left to right
            p = [ph[i] for i in order]
            out += [f"{p[0]} , {p[1]} and {p[2]}", f"three shapes : {p[0]} , {p[1]} and {p[2]}",
                    f"{ph[0]} , {ph[1]} and {ph[2]}", f"{ph[2]} , {ph[1]} and {ph[0]}",
                    f"a picture with {p[0]} , {p[1]} and {p[2]}"]
    unique = dict.fromkeys(c for c in out if len(c.split()) <= MAX_WORDS)   # keeps order
    return [c.split() for c in unique]


def scene_captions(objects, rng, k=5):
    """k different reference captions of a scene, as strings."""
    candidates = _templates(objects)
    picks = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)
    return [" ".join(candidates[i]) for i in picks]


def caption_objects(caption):
    """The (colour, shape) pairs a caption names, sorted: a shape word counts
    with the colour word just before it (after skipping a size word)."""
    words = caption.split()
    pairs = []
    for i, w in enumerate(words):
        if w in SHAPES and i > 0:
            j = i - 1
            colour = words[j] if words[j] in PALETTE else None
            pairs.append((colour, w))
    return sorted(pairs, key=lambda p: (str(p[0]), p[1]))


def attribute_accuracy(captions, scenes):
    """Share of captions naming exactly every object's colour and shape.

    - captions: list of caption strings (special tokens are ignored)
    - scenes: list of object lists, as from :func:`random_scene`
    """
    if len(captions) != len(scenes):
        raise ValueError(f"{len(captions)} captions for {len(scenes)} scenes")
    if not captions:
        return float("nan")
    hits = [caption_objects(c) == sorted((o["colour"], o["shape"]) for o in s)
            for c, s in zip(captions, scenes)]
    return float(np.mean(hits))


# ----------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------

def _evidence(value, centres, width):
    """Soft one-hot of a measurement: a Gaussian bump per class centre."""
    return np.exp(-0.5 * ((value - np.asarray(centres)) / width) ** 2)


def _colour_descriptor(mask):
    """29 numbers describing one colour's mask (IMAGE_SIZE, IMAGE_SIZE) bool."""
    S = IMAGE_SIZE
    area = mask.sum()
    d = np.zeros(29)
    if area == 0:
        return d
    ys, xs = np.nonzero(mask)
    w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    cy = ys.mean()
    fill = area / (w * h)
    d[0] = 1.0
    d[1] = area / (S * S) * 10
    d[2], d[3] = xs.mean() / S * 2 - 1, cy / S * 2 - 1
    d[4], d[5] = w / S * 4, h / S * 4
    d[6] = fill * 2
    d[7] = ((ys > cy).sum() - (ys < cy).sum()) / area * 2       # triangles: more mass below
    # shape and size evidence: what fc7 units carry for real objects
    d[8:11] = _evidence(fill, (0.5, 0.79, 1.0), 0.07) * 2      # triangle, circle, square
    d[11:13] = _evidence(max(w, h), (11.0, 21.5), 3.0) * 2     # small, large
    d[13:] = mask.reshape(4, S // 4, 4, S // 4).mean(axis=(1, 3)).ravel() * 2
    return d


def extract_features(images):
    """Raw features of images (M, S, S, 3) uint8 -> (M, 913) float32."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"images must have shape (M, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), "
                         f"got {images.shape}")
    palette = np.array(list(PALETTE.values()), dtype=np.float64)        # (K, 3)
    out = []
    for img in images.astype(np.float64):
        dist = np.linalg.norm(img[:, :, None, :] - palette, axis=3)   # (S, S, K)
        desc = [_colour_descriptor(dist[:, :, k] < 60) for k in range(len(palette))]
        pooled = img.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3)) / 127.5 - 1
        out.append(np.concatenate(desc + [pooled.ravel()]))
    return np.asarray(out, dtype=np.float32)


def pca_features(raw, mean, components):
    """Project raw features (M, F) on components (F, PCA_DIM) -> float32."""
    return ((raw - mean) @ components).astype(np.float32)


def _fit_pca(raw, dim):
    mean = raw.mean(axis=0)
    _, _, vt = np.linalg.svd(raw - mean, full_matrices=False)
    return mean.astype(np.float32), vt[:dim].T.astype(np.float32)


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------

def _make_split(rng, n_images, image_dir, split):
    """Render a split into image_dir. Its URLs are relative to the dataset's
    folder (``images/val_00000.png``): load_coco_data resolves them against
    wherever the folder is when it is read, so a moved copy still works."""
    scenes, captions, image_idxs, urls, images = [], [], [], [], []
    w2i = {w: i for i, w in enumerate(VOCAB)}
    for i in range(n_images):
        scene = random_scene(rng)
        img = render_scene(scene, rng)
        path = image_dir / f"{split}_{i:05d}.png"
        iio.imwrite(path, img)
        scenes.append(scene)
        images.append(img)
        urls.append(f"{image_dir.name}/{path.name}")
        for text in scene_captions(scene, rng):
            row = np.zeros(MAX_WORDS + 2, dtype=np.int32)               # <NULL> = 0
            ids = [w2i["<START>"]] + [w2i[w] for w in text.split()] + [w2i["<END>"]]
            row[:len(ids)] = ids
            captions.append(row)
            image_idxs.append(i)
    return (scenes, np.stack(captions), np.asarray(image_idxs, dtype=np.int32), urls,
            extract_features(np.stack(images)))


def generate_dataset(out_dir=None, *, num_train=4000, num_val=500, seed=0):
    """Write the dataset to ``out_dir`` (replacing it) and return its path.

    Written to a temporary folder beside ``out_dir`` first, then renamed, so a
    crash never leaves a half-written dataset that looks complete.
    """
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        _write_dataset(tmp, num_train, num_val, seed)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _write_dataset(tmp, num_train, num_val, seed):
    rng = np.random.default_rng(seed)
    (tmp / "images").mkdir()
    splits = {s: _make_split(rng, n, tmp / "images", s)
              for s, n in (("train", num_train), ("val", num_val))}
    mean, components = _fit_pca(splits["train"][4].astype(np.float64), PCA_DIM)
    with h5py.File(tmp / "coco2014_captions.h5", "w") as f:
        for s, (_, caps, idxs, _, _) in splits.items():
            f[f"{s}_captions"], f[f"{s}_image_idxs"] = caps, idxs
    for s, (scenes, _, _, urls, raw) in splits.items():
        with h5py.File(tmp / f"{s}2014_vgg16_fc7.h5", "w") as f:
            f["features"] = raw
        with h5py.File(tmp / f"{s}2014_vgg16_fc7_pca.h5", "w") as f:
            f["features"] = pca_features(raw, mean, components)
        (tmp / f"{s}2014_urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
        (tmp / SCENES_FILE.format(split=s)).write_text(json.dumps(scenes), encoding="utf-8")
    np.savez(tmp / "pca.npz", mean=mean, components=components)
    vocab = {"idx_to_word": VOCAB, "word_to_idx": {w: i for i, w in enumerate(VOCAB)}}
    (tmp / "coco2014_vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    marker = {"version": VERSION, "num_train": num_train, "num_val": num_val, "seed": seed}
    atomic_write(tmp / "DONE.json", lambda f: f.write(json.dumps(marker).encode()))


def ensure_dataset(out_dir=None, *, num_train=4000, num_val=500, seed=0):
    """The dataset's folder, generated on first use and cached afterwards."""
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    wanted = {"version": VERSION, "num_train": num_train, "num_val": num_val, "seed": seed}
    try:
        if json.loads((out_dir / "DONE.json").read_text()) == wanted:
            return out_dir
    except (OSError, ValueError):
        pass
    return generate_dataset(out_dir, num_train=num_train, num_val=num_val, seed=seed)


def load_scenes(data_dir, split):
    """The true objects of each image of a split (for attribute accuracy)."""
    path = Path(data_dir) / SCENES_FILE.format(split=split)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: attribute accuracy needs the built-in dataset")
    return json.loads(path.read_text(encoding="utf-8"))


def load_pca(data_dir):
    """(mean (F,), components (F, PCA_DIM)) of the dataset in ``data_dir``."""
    with np.load(Path(data_dir) / "pca.npz", allow_pickle=False) as f:
        return f["mean"], f["components"]


def featurize_images(images, data_dir=None):
    """PCA features of new images, exactly as the dataset's were computed.

    - images: list of (H, W, 3) or (H, W, 4) uint8 arrays; other sizes are
      resized to IMAGE_SIZE x IMAGE_SIZE
    Returns (M, PCA_DIM) float32.
    """
    fixed = []
    for img in images:
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError(f"images must be RGB or RGBA (H, W, 3 or 4), got shape {img.shape}")
        img = img[:, :, :3].astype(np.uint8)
        if img.shape[:2] != (IMAGE_SIZE, IMAGE_SIZE):
            img = resize_image(img, (IMAGE_SIZE, IMAGE_SIZE))
        fixed.append(img)
    mean, components = load_pca(data_dir if data_dir is not None else default_dir())
    return pca_features(extract_features(np.stack(fixed)), mean, components)
