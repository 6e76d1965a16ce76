"""Self-critical sequence training (Rennie et al., 2017): fine-tune a
captioner on the caption metric itself.

For each image, K captions are sampled from the model (temperature 1) and
scored by a reward (CIDEr-D, the strict scene metric, any callable); a
baseline b is subtracted, and the REINFORCE gradient of the expected reward,

    - sum_{n,k} (r_nk - b_n) * grad log p(caption_nk) / (N K),

is exactly the gradient of the weighted loss ``model.loss(features, samples,
weights=r - b)`` on the sampled captions. Baselines: the reward of the
model's own greedy caption ("greedy", the paper's), or the mean reward of the
image's other K - 1 samples ("mean", the later "new SCST" variant).

Use it as the solver's objective::

    objective = SelfCritical(CiderD(references_by_image(data, "train")))
    solver = CaptioningSolver(model, data, objective=objective, update_rule="adam",
                              optim_config={"learning_rate": 3e-4}, ...)

A reward is any callable ``reward(captions, image_ids)`` -> (M,) floats, with
captions as strings (special tokens removed) and image_ids the row indices of
the images in the split's features.
"""
import numpy as np

from coco_utils import decode_captions
from rnn_captioning.scenes.grammar import judge

__all__ = ["SelfCritical", "SceneReward"]

BASELINES = ("greedy", "mean")


class SelfCritical:
    """The self-critical objective, called by the solver once per step.

    - reward: callable (captions, image_ids) -> (M,) floats
    - samples: K captions sampled per image; a step uses batch_size // K
      images, so that it scores batch_size captions as a cross-entropy step
      trains on batch_size captions
    - baseline: 'greedy' or 'mean' (needs K >= 2)
    - temperature: of the sampling (1.0: the model's own distribution)
    """

    def __init__(self, reward, *, samples=5, baseline="greedy", temperature=1.0):
        if not callable(reward):
            raise TypeError(f"reward must be callable, got {type(reward).__name__}")
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be an int >= 1, got {samples!r}")
        if baseline == "mean" and samples < 2:
            raise ValueError("the 'mean' baseline needs samples >= 2")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.reward, self.samples, self.baseline = reward, samples, baseline
        self.temperature = float(temperature)
        self._images = None

    def __call__(self, model, data, batch_size, rng):
        """One step's loss and gradients. Returns (loss, grads, info) with
        info's mean sampled reward ('reward') and greedy reward."""
        K = self.samples
        ids = rng.choice(self._image_ids(data), size=max(batch_size // K, 1))
        features = data["train_features"][ids]
        max_length = data["train_captions"].shape[1] - 1
        sampled = model.sample(np.repeat(features, K, axis=0), max_length,
                               temperature=self.temperature, rng=rng)
        rewards = self._score(sampled, np.repeat(ids, K), data)
        info = {"reward": float(rewards.mean())}
        if self.baseline == "greedy":
            greedy = self._score(model.sample(features, max_length), ids, data)
            baseline = np.repeat(greedy, K)
            info["greedy_reward"] = float(greedy.mean())
        else:
            per_image = rewards.reshape(-1, K)
            baseline = ((per_image.sum(axis=1, keepdims=True) - per_image) / (K - 1)).ravel()
        start = np.full((len(sampled), 1), model.word_to_idx["<START>"], dtype=sampled.dtype)
        captions = np.concatenate([start, sampled], axis=1)
        weights = (rewards - baseline).astype(model.dtype)
        loss, grads = model.loss(np.repeat(features, K, axis=0), captions, weights=weights)
        return loss, grads, info

    def _image_ids(self, data):
        """Training images that have captions (the references), once per data."""
        if self._images is None or self._images[0] is not data:
            self._images = (data, np.unique(data["train_image_idxs"]))
        return self._images[1]

    def _score(self, captions, ids, data):
        texts = decode_captions(captions, data["idx_to_word"], strip_special=True)
        rewards = np.asarray(self.reward(list(texts), ids), dtype=np.float64)
        if rewards.shape != (len(texts),) or not np.all(np.isfinite(rewards)):
            raise ValueError(f"the reward must give {len(texts)} finite floats, got "
                             f"{rewards.shape} {rewards.dtype}")
        return rewards


class SceneReward:
    """The built-in dataset's strict scene metric as a reward: ``value`` for a
    caption that is entirely true of its image (scenes.grammar.judge), else 0.

    - scenes: list of each training image's objects (shapes_dataset.load_scenes)
    - value: the reward of a right caption (10 matches CIDEr-D's 0-10 range
      when the two are added)
    """

    def __init__(self, scenes, value=1.0):
        self.scenes, self.value = scenes, float(value)

    def __call__(self, captions, image_ids):
        return self.value * np.array([judge(c, self.scenes[int(i)]) is None
                                      for c, i in zip(captions, image_ids)], dtype=np.float64)
