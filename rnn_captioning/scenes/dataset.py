"""A built-in captioning dataset of coloured shapes, in the exact COCO format.

So that training, the notebooks and the tests run on a fresh machine with no
download, this module renders small images of one to three coloured shapes,
writes five reference captions per image from a small grammar
(grammar.py), computes generic image features from the pixels
(features.py), and stores everything in the file layout, keys, dtypes
and special tokens of the exercise's ``coco_captioning`` folder (see
coco_utils.py). Generation is deterministic; the result is cached.

Scenes: 64 x 64 RGB images; each object has a shape (circle, square,
triangle), a colour (red, green, blue, yellow, purple; objects may share a
colour, never both colour and shape), a size (small, large) and a position;
objects do not overlap. The background's shade and tint and the pixel noise
vary from image to image.

Splits, so that the figures measure learning rather than recall:

- train / val / test: an object set (the scene's colour-shape-size triples)
  belongs either to training or to the held-out pool, decided by a hash of
  the set; val and test scenes come from the held-out pool only, so no test
  scene has the exact object set of a training scene. Checkpoints are chosen
  on val and figures reported on test.
- novel: scenes holding a colour-shape pair that no other split ever shows
  (NOVEL_PAIRS), for compositional generalisation.

Train and val are the COCO files themselves; test and novel are extra files in
the same layout beside them (``test2014_captions.h5`` with ``test_captions`` and
``test_image_idxs``, ``test2014_vgg16_fc7[_pca].h5``, ``test2014_urls.txt``),
read by ``rnn_captioning.evaluation.scenes.load_split``. ``{split}_scenes.json``
holds each image's true objects for the strict scene metric.
"""
import json
import os
import shutil
import tempfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from image_utils import resize_image
from rnn_captioning.files.checkpoints import atomic_write
from rnn_captioning.scenes import features as generic_features
from rnn_captioning.scenes.grammar import COLOURS, SHAPES, captions_of

__all__ = ["ensure_dataset", "generate_dataset", "default_dir", "random_scene",
           "render_scene", "scene_captions", "extract_features", "pca_features",
           "load_scenes", "load_pca", "featurize_images", "VOCAB", "SPLITS",
           "NOVEL_PAIRS"]

VERSION = 6                     # 3: generic features, shared colours, test and novel splits;
                                # 4: filters drawn in patch order, a generator per chunk;
                                # 5: PCA of standardised features, more training images;
                                # 6: 128 layer-2 filters, whole-image maximum,
                                #    a half-size scale (4,608 raw)
IMAGE_SIZE = 64
PALETTE = {"red": (215, 40, 40), "green": (40, 165, 60), "blue": (45, 85, 220),
           "yellow": (235, 200, 30), "purple": (145, 60, 185)}
SIZES = {"small": (5.0, 7.0), "large": (10.0, 13.0)}      # radius range, pixels
MAX_WORDS = 15                       # 17 tokens with <START> and <END>
PCA_DIM = 512
FEATURE_STD = 0.3                    # overall spread of the PCA features (see _fit_pca)
SCENES_FILE = "{split}_scenes.json"
SPLITS = ("train", "val", "test", "novel")
NOVEL_PAIRS = (("green", "triangle"), ("purple", "square"))
HELD_OUT_PERCENT = 20                # share of object sets kept out of training

SPECIAL = ["<NULL>", "<START>", "<END>", "<UNK>"]
WORDS = ["a", "and", ",", ":", "there", "is", "two", "three", "shapes", "of", "to", "the",
         "left", "right", "above", "below", "picture", "with", "in", "next",
         *SIZES, *COLOURS, *SHAPES]
VOCAB = SPECIAL + WORDS


_TOP = Path(__file__).resolve().parents[2]


def default_dir():
    """$SHAPES_CAPTIONING_DIR, else datasets/shapes_captioning at the top of the
    repository (beside the exercise's modules, where COCO's folder is too)."""
    env = os.environ.get("SHAPES_CAPTIONING_DIR")
    return Path(env) if env else _TOP / "datasets" / "shapes_captioning"


# ----------------------------------------------------------------------------
# Scenes and pixels
# ----------------------------------------------------------------------------

def random_scene(rng):
    """One to three non-overlapping objects; colours may repeat, colour-shape
    pairs do not. Returns a list of dicts: shape, colour, size, x, y, r (pixels)."""
    n = int(rng.integers(1, 4))
    objects = []
    while len(objects) < n:
        colour, shape = str(rng.choice(COLOURS)), str(rng.choice(SHAPES))
        size = str(rng.choice(list(SIZES)))
        r = float(rng.uniform(*SIZES[size]))
        x, y = rng.uniform(r + 1, IMAGE_SIZE - r - 1, size=2)
        if all(np.hypot(x - o["x"], y - o["y"]) > r + o["r"] + 3 and
               (colour, shape) != (o["colour"], o["shape"]) for o in objects):
            objects.append({"shape": shape, "colour": colour, "size": size,
                            "x": float(x), "y": float(y), "r": r})
    return objects


def object_set(scene):
    """The scene's objects as a sorted tuple of (colour, shape, size)."""
    return tuple(sorted((o["colour"], o["shape"], o["size"]) for o in scene))


def held_out(scene):
    """Is the scene's object set kept out of training? (a fixed hash of the set)"""
    return zlib.crc32(repr(object_set(scene)).encode()) % 100 < HELD_OUT_PERCENT


def has_novel_pair(scene):
    return any((o["colour"], o["shape"]) in NOVEL_PAIRS for o in scene)


def _belongs(scene, split):
    if split == "novel":
        return has_novel_pair(scene)
    if has_novel_pair(scene):
        return False
    return held_out(scene) == (split != "train")


def render_scene(objects, rng=None):
    """Pixels of a scene: (IMAGE_SIZE, IMAGE_SIZE, 3) uint8. With an rng, the
    background's shade and tint and the noise level are drawn too."""
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] + 0.5
    img = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float64)
    img[:] = (242, 242, 236) if rng is None else rng.uniform(200, 250) + rng.uniform(-8, 8, 3)
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
        img += rng.normal(0, rng.uniform(2.0, 8.0), size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def scene_captions(objects, rng, k=5):
    """k different reference captions of a scene, as strings."""
    candidates = captions_of(objects, MAX_WORDS)
    picks = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)
    return [candidates[i] for i in picks]


# ----------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------

def extract_features(images):
    """Raw generic features of images (M, S, S, 3) uint8 -> (M, F) float32
    (see features.py: nothing in them knows this dataset)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"images must have shape (M, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), "
                         f"got {images.shape}")
    return generic_features.extract(images)


def pca_features(raw, mean, components):
    """Project raw features (M, F) on components (F, PCA_DIM) -> float32."""
    return ((raw - mean) @ components).astype(np.float32)


def principal_axes(z, dim):
    """z: (M, F) centred -> (F, k) its top k = min(dim, M, F) principal axes,
    by decreasing spread.

    They are the top eigenvectors of z.T @ z: an (F, F) problem, and only k
    of its eigenvectors, in place of an SVD of the (M, F) matrix: 10 s
    instead of minutes for 24,000 x 4,608 here."""
    k = min(dim, *z.shape)
    F = z.shape[1]
    _, axes = scipy.linalg.eigh(z.T @ z, subset_by_index=[F - k, F - 1])   # ascending
    return axes[:, ::-1]


def _fit_pca(raw, dim):
    """(mean (F,), components (F, dim)) fitted on the training images' raw
    features (M, F), so that pca_features(raw) = (raw - mean) @ components.

    The principal components are those of the *standardised* features (each
    raw feature divided by its spread on the training images): on the raw
    scale a few strong filters dominate the top components and the weak ones
    that tell colours and shapes apart are cut by the 512-d projection. The
    result is scaled to an overall spread of FEATURE_STD, the input scale the
    model's initial W_proj and learning rate were chosen for. Both steps are
    folded into the components, so the file layout and pca_features stay the
    exercise's (see the README's built-in benchmark for what each gave).
    """
    mean = raw.mean(axis=0)
    spread = raw.std(axis=0)
    spread = np.maximum(spread, 1e-3 * spread.max())       # constant features stay small
    components = principal_axes((raw - mean) / spread, dim) / spread[:, None]
    components *= FEATURE_STD / ((raw - mean) @ components).std()
    return mean.astype(np.float32), components.astype(np.float32)


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------

CHUNK = 1000                         # images drawn from one generator
_PARALLEL_FROM = 2000                # fewer images: one process is faster


def _make_chunk(job):
    """Draw ``count`` scenes that belong to ``split`` with the chunk's own
    generator and render them into image_dir as images start, start+1, ...

    The URLs are relative to the dataset's folder (``images/val_00000.png``):
    load_coco_data resolves them against wherever the folder is when it is
    read, so a moved copy still works. Returns scenes, caption rows (M, 17),
    image indices (M,), URLs and raw features (count, F).
    """
    seed, split, start, count, image_dir = job
    rng = np.random.default_rng([seed, SPLITS.index(split), start])
    scenes, captions, image_idxs, urls, images = [], [], [], [], []
    w2i = {w: i for i, w in enumerate(VOCAB)}
    while len(scenes) < count:
        scene = random_scene(rng)
        if not _belongs(scene, split):
            continue
        i = start + len(scenes)
        img = render_scene(scene, rng)
        path = image_dir / f"{split}_{i:05d}.png"
        iio.imwrite(path, img, compress_level=1)      # fast; the files stay small
        scenes.append(scene)
        images.append(img)
        urls.append(f"{image_dir.name}/{path.name}")
        for text in scene_captions(scene, rng):
            row = np.zeros(MAX_WORDS + 2, dtype=np.int32)               # <NULL> = 0
            ids = [w2i["<START>"]] + [w2i[w] for w in text.split()] + [w2i["<END>"]]
            row[:len(ids)] = ids
            captions.append(row)
            image_idxs.append(i)
    # One BLAS thread in every path: OpenBLAS's rounding depends on its thread
    # count, and the features must not depend on how many processes drew them.
    with threadpool_limits(1):
        features = extract_features(np.stack(images))
    return scenes, np.stack(captions), np.asarray(image_idxs, dtype=np.int32), urls, features


@contextmanager
def _single_threaded_blas():
    """One BLAS thread in the processes started meanwhile: two processes
    with two threads each would fight over two cores."""
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: "1" for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _make_splits(sizes, seed, image_dir):
    """Every split, in chunks of CHUNK images with a generator each (so the
    result does not depend on how many processes drew them), drawn by two
    processes when there are many: rendering and encoding images is Python
    work that one process does on one core."""
    jobs = [(seed, split, start, min(CHUNK, n - start), image_dir)
            for split, n in sizes.items() for start in range(0, n, CHUNK)]
    if sum(sizes.values()) < _PARALLEL_FROM:
        chunks = [_make_chunk(job) for job in jobs]
    else:
        print(f"generating the built-in dataset ({sum(sizes.values()):,} images; about a "
              f"minute on 2 cores, up to 3.5 GB of memory)", flush=True)
        with _single_threaded_blas(), ProcessPoolExecutor(
                2, mp_context=get_context("spawn")) as pool, \
                tqdm(total=sum(sizes.values()), desc="images", unit="img") as bar:
            chunks = []
            for (*_, count, _), chunk in zip(jobs, pool.map(_make_chunk, jobs)):
                chunks.append(chunk)
                bar.update(count)
    splits = {}
    for (_, split, *_), chunk in zip(jobs, chunks):
        splits.setdefault(split, []).append(chunk)
    return {split: _join(parts) for split, parts in splits.items()}


def _join(parts):
    """One split's chunks as one: lists end to end, arrays stacked."""
    return tuple(sum(field, []) if isinstance(field[0], list) else np.concatenate(field)
                 for field in zip(*parts))


def _sizes(num_train, num_val, num_test, num_novel):
    sizes = {"train": num_train, "val": num_val, "test": num_test, "novel": num_novel}
    for split, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"num_{split} must be an int >= 1, got {n!r}")
    return sizes


def generate_dataset(out_dir=None, *, num_train=24000, num_val=500, num_test=500,
                     num_novel=200, seed=0):
    """Write the dataset to ``out_dir`` (replacing it) and return its path.

    Written to a temporary folder beside ``out_dir`` first, then renamed, so a
    crash never leaves a half-written dataset that looks complete.
    """
    sizes = _sizes(num_train, num_val, num_test, num_novel)
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        _write_dataset(tmp, sizes, seed)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def captions_file(split):
    # train and val share the COCO file; the extra splits have one each
    return "coco2014_captions.h5" if split in ("train", "val") else f"{split}2014_captions.h5"


def _write_dataset(tmp, sizes, seed):
    (tmp / "images").mkdir()
    splits = _make_splits(sizes, seed, tmp / "images")
    mean, components = _fit_pca(splits["train"][4].astype(np.float64), PCA_DIM)
    for s, (scenes, caps, idxs, urls, raw) in splits.items():
        with h5py.File(tmp / captions_file(s), "a") as f:
            f[f"{s}_captions"], f[f"{s}_image_idxs"] = caps, idxs
        with h5py.File(tmp / f"{s}2014_vgg16_fc7.h5", "w") as f:
            f["features"] = raw
        with h5py.File(tmp / f"{s}2014_vgg16_fc7_pca.h5", "w") as f:
            f["features"] = pca_features(raw, mean, components)
        (tmp / f"{s}2014_urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
        (tmp / SCENES_FILE.format(split=s)).write_text(json.dumps(scenes), encoding="utf-8")
    np.savez(tmp / "pca.npz", mean=mean, components=components)
    vocab = {"idx_to_word": VOCAB, "word_to_idx": {w: i for i, w in enumerate(VOCAB)}}
    (tmp / "coco2014_vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    marker = {"version": VERSION, "seed": seed, **sizes}
    atomic_write(tmp / "DONE.json", lambda f: f.write(json.dumps(marker).encode()))


def ensure_dataset(out_dir=None, *, num_train=24000, num_val=500, num_test=500,
                   num_novel=200, seed=0):
    """The dataset's folder, generated on first use and cached afterwards."""
    out_dir = Path(out_dir) if out_dir is not None else default_dir()
    sizes = _sizes(num_train, num_val, num_test, num_novel)
    try:
        if json.loads((out_dir / "DONE.json").read_text()) == {"version": VERSION,
                                                                "seed": seed, **sizes}:
            return out_dir
    except (OSError, ValueError):
        pass
    return generate_dataset(out_dir, **{f"num_{k}": v for k, v in sizes.items()}, seed=seed)


def load_scenes(data_dir, split):
    """The true objects of each image of a split (for the strict scene metric)."""
    path = Path(data_dir) / SCENES_FILE.format(split=split)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the strict scene metric needs the "
                                f"built-in dataset")
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
