"""A fixed convolutional feature extractor in NumPy: generic image features.

It stands in for the exercise's VGG-16 fc7 activations and, like them, knows
nothing of the captions' words: no palette, no shapes, no sizes. Two layers of
fixed random filters (drawn once from a seeded Gaussian, as in random-feature
networks), each followed by a ReLU of both signs and max pooling, then a
spatial pyramid of max and mean pooling:

1. Layer 1: K1 = 32 filters of 5 x 5 x 3 on the image scaled to [-1, 1], each
   made zero-mean and unit-norm (so it responds to colour and luminance
   *contrast*, not to the background's level); ReLU(z) and ReLU(-z); 2 x 2 max
   pooling: 64 maps of 30 x 30 for a 64 x 64 image.
2. Layer 2: K2 = 128 filters of 3 x 3 x 64 with the same treatment: 256 maps
   of 14 x 14.
3. A two-level spatial pyramid over the layer-2 maps: each cell of a 2 x 2
   grid gives its maximum (is the pattern there?) and its mean (how much of
   it: sizes), and the whole image its maximum (is the pattern anywhere?):
   (2 * 4 + 1) * 256 = 2,304 numbers.
4. The same for the image at half its size (2 x 2 averages), where the
   layer-2 filters see twice as far: a large object's outline fits in one
   of them there, as a small object's does at full size.

The two scales make the 4,608 "raw" features (the exercise's fc7 has 4,096).

The dataset then keeps their projection on the top 512 principal components
of the training images' standardised features, the exercise's fc7 -> PCA step
(see dataset._fit_pca). Deterministic (a fixed seed, FEATURE_SEED), about
1.9 ms per 64 x 64 image (both scales) with two BLAS threads.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["extract", "feature_size", "FEATURE_SEED"]

FEATURE_SEED = 1234
K1, K2, SIZE1, SIZE2, GRID = 32, 128, 5, 3, 2
_BATCH = 16                      # small batches reuse memory: no page faults per batch


def _filters(shape, rng):
    """Zero-mean, unit-norm random filters (k, ...) as a (prod(...), k) matrix."""
    f = rng.standard_normal(shape)
    f -= f.mean(axis=(1, 2, 3), keepdims=True)
    f /= np.linalg.norm(f.reshape(shape[0], -1), axis=1)[:, None, None, None]
    return f.reshape(shape[0], -1).T.astype(np.float32)


def _bank():
    rng = np.random.default_rng(FEATURE_SEED)
    # each in the (kh, kw, c) order its patches are copied in (see _patch_rows)
    return (_filters((K1, SIZE1, SIZE1, 3), rng),
            _filters((K2, SIZE2, SIZE2, 2 * K1), rng))


def _patch_rows(x, size):
    """x: (M, S, S, C) -> (M * s * s, size * size * C) patches in (kh, kw, c)
    order, s = S - size + 1.

    Copied in two passes, along the width and then along the height, so that
    each pass copies runs of size * C contiguous numbers: twice as fast as
    one copy of sliding_window_view's patches."""
    M, S, _, C = x.shape
    s = S - size + 1
    sm, sh, sw, sc = x.strides
    across = np.ascontiguousarray(as_strided(x, (M, S, s, size * C), (sm, sh, sw, sc)))
    sm, sh, sw, sc = across.strides                                 # (M, S, s, size*C)
    patches = as_strided(across, (M, s, s, size, size * C), (sm, sh, sw, sh, sc))
    return patches.reshape(M * s * s, size * size * C)


def _conv_relu_pool(x, weights, size):
    """x: (M, S, S, C) -> valid convolution with weights (C*size*size, K), then
    ReLU of both signs and 2 x 2 max pooling: (M, S', S', 2K)."""
    M, S, _, C = x.shape
    s = S - size + 1
    z = (_patch_rows(x, size) @ weights).reshape(M, s, s, -1)
    half = s // 2
    blocks = z[:, :2 * half, :2 * half].reshape(M, half, 2, half, 2, -1)
    # the max of ReLU(z) is ReLU(max z), and of ReLU(-z) is ReLU(-min z):
    # pooling first halves the work
    return np.concatenate([np.maximum(blocks.max(axis=(2, 4)), 0),
                           np.maximum(-blocks.min(axis=(2, 4)), 0)], axis=3)


def _grid_pool(maps):
    """(M, s, s, C) -> (M, (2 * GRID * GRID + 1) * C), s even: a two-level
    spatial pyramid. Each cell of the grid gives its maximum (is the pattern
    there?) and its mean (how much of it: sizes); the whole image gives its
    maximum (is it anywhere?), which no linear read-out of the cells'
    figures can form and which tells what the image holds wherever it is."""
    M, s, _, C = maps.shape
    cells = maps.reshape(M, GRID, s // GRID, GRID, s // GRID, C)
    cell_max = cells.max(axis=(2, 4))                              # (M, GRID, GRID, C)
    return np.concatenate([cell_max.reshape(M, -1),
                           cells.mean(axis=(2, 4)).reshape(M, -1),
                           cell_max.max(axis=(1, 2))], axis=1)


def extract(images):
    """images: (M, S, S, 3) uint8, S even -> raw features (M, F) float32:
    the pyramid of the image, then that of the image at half its size."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (M, S, S, 3), got {images.shape}")
    S = images.shape[1]
    if S % 2:
        raise ValueError(f"images must have an even side (the second scale halves it), "
                         f"got {S} x {S}")
    for side in (S, S // 2):
        final = _final_size(side)
        if final < GRID or final % GRID:
            raise ValueError(f"images of {S} x {S} (and {S // 2} x {S // 2} at half size) "
                             f"give layer-2 maps of {final} x {final}, which a {GRID} x {GRID} "
                             f"grid does not divide (64 x 64 images give 14 x 14 and 6 x 6)")
    bank = _bank()
    out = [np.zeros((0, feature_size(S)), np.float32)]
    for lo in range(0, len(images), _BATCH):
        x = images[lo:lo + _BATCH].astype(np.float32) / 127.5 - 1
        M = len(x)
        half = x.reshape(M, S // 2, 2, S // 2, 2, 3).mean(axis=(2, 4))     # 2 x 2 averages
        out.append(np.concatenate([_pyramid(x, bank), _pyramid(half, bank)], axis=1))
    return np.concatenate(out).astype(np.float32)


def _pyramid(x, bank):
    """x: (M, S, S, 3) in [-1, 1] -> the two layers, then _grid_pool."""
    w1, w2 = bank
    return _grid_pool(_conv_relu_pool(_conv_relu_pool(x, w1, SIZE1), w2, SIZE2))


def _final_size(S):
    """Side of the layer-2 maps of an S x S image."""
    return ((S - SIZE1 + 1) // 2 - SIZE2 + 1) // 2


def feature_size(S):
    """Length of the raw features of an S x S image (S even, >= 32; the grid
    pooling makes it independent of S): two scales of (2 * GRID**2 + 1)
    figures for each of the 2 * K2 layer-2 maps."""
    return 2 * 2 * K2 * (2 * GRID * GRID + 1)
