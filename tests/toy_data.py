"""A small captioning data dict in the exercise's layout, made in memory."""
import numpy as np

SPECIAL = ["<NULL>", "<START>", "<END>", "<UNK>"]


def make_toy_data(rng, *, num_train=50, num_val=20, num_images=None, V=30, T=17, D=24,
                  caps_per_image=1):
    """Random captions <START> w1 .. wk <END> <NULL>..., random features.

    With caps_per_image=1 every caption has its own image (memorisable)."""
    words = SPECIAL + [f"w{i}" for i in range(V - len(SPECIAL))]
    word_to_idx = {w: i for i, w in enumerate(words)}
    data = {"idx_to_word": words, "word_to_idx": word_to_idx}
    for split, n in (("train", num_train), ("val", num_val)):
        n_img = num_images or max(n // caps_per_image, 1)
        caps = np.zeros((n, T), dtype=np.int32)
        for i in range(n):
            k = int(rng.integers(3, T - 2))
            caps[i, 0] = 1
            caps[i, 1:k + 1] = rng.integers(len(SPECIAL), V, size=k)
            caps[i, k + 1] = 2
        data[f"{split}_captions"] = caps
        data[f"{split}_image_idxs"] = (np.arange(n) % n_img).astype(np.int32)
        data[f"{split}_features"] = rng.standard_normal((n_img, D)).astype(np.float32)
        data[f"{split}_urls"] = np.asarray([f"http://example.invalid/{split}/{i}.jpg"
                                            for i in range(n_img)])
    return data
