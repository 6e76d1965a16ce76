"""CIDEr-D of single captions, as a reward for self-critical training.

The scores are those of pycocoevalcap's CIDEr-D (the COCO evaluation code:
n-grams 1..4, tf-idf vectors, clipped cosine similarity, a Gaussian penalty
on the length difference with sigma 6, times 10), with one difference that
the reference implementations of self-critical training also make: the
document frequencies come once from a fixed corpus of references (the
training captions) instead of from the references of the captions being
scored. Given the same references for both, the corpus mean equals
pycocoevalcap's score (tests/test_self_critical.py).

Speed: each image's reference vectors are computed once, and scores are
remembered per (image, caption), since a model samples the same caption for
an image again and again.
"""
from collections import defaultdict
from math import log

import numpy as np

from rnn_captioning.evaluation.metrics import tokenize

__all__ = ["CiderD", "ngram_counts"]


def ngram_counts(caption, n=4):
    """Counts of the 1..n-grams of a tokenised caption, in pycocoevalcap's
    order (all unigrams first, left to right, then bigrams, ...)."""
    words = caption.split()
    counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


class CiderD:
    """CIDEr-D of captions against the references of their images.

    - references: dict image id -> list of reference caption strings; these
      give the document frequencies (each image counts once per n-gram) and
      the references each caption is scored against
    - n: largest n-gram; sigma: width of the length penalty

    Call it as a reward: ``cider(captions, image_ids)`` -> (M,) float64.
    """

    def __init__(self, references, *, n=4, sigma=6.0, memory=200_000):
        if not references:
            raise ValueError("references is empty: CIDEr-D needs reference captions")
        self.n, self.sigma, self.memory = n, sigma, memory
        cooked = {}
        for image, refs in references.items():
            if isinstance(refs, str) or not refs:
                raise ValueError(f"references[{image!r}] must be a non-empty list of strings")
            cooked[image] = [ngram_counts(tokenize(r), n) for r in refs]
        self.document_frequency = defaultdict(float)
        for refs in cooked.values():
            for gram in {g for counts in refs for g in counts}:
                self.document_frequency[gram] += 1
        self.ref_len = np.log(float(len(cooked)))
        self._refs = {image: [self._vector(c) for c in refs] for image, refs in cooked.items()}
        self._seen = {}

    def __call__(self, captions, image_ids):
        """captions: M strings; image_ids: M keys of ``references``.
        Returns (M,) float64 CIDEr-D scores."""
        image_ids = list(image_ids)
        if len(captions) != len(image_ids):
            raise ValueError(f"{len(captions)} captions for {len(image_ids)} image ids")
        if len(self._seen) > self.memory:
            self._seen.clear()
        out = np.empty(len(captions))
        for m, (caption, image) in enumerate(zip(captions, image_ids)):
            key = (image, caption)
            if key not in self._seen:
                self._seen[key] = self.score(caption, image)
            out[m] = self._seen[key]
        return out

    def score(self, caption, image):
        """CIDEr-D of one caption against the references of ``image``."""
        if image not in self._refs:
            raise ValueError(f"image id {image!r} has no references")
        vec, norm, length = self._vector(ngram_counts(tokenize(caption), self.n))
        total = np.zeros(self.n)
        for ref in self._refs[image]:
            total += self._similarity(vec, norm, length, *ref)
        return float(np.mean(total) / len(self._refs[image]) * 10.0)

    def _vector(self, counts):
        """tf-idf weights {n-gram: weight}, their norm per n (n,), and the
        length pycocoevalcap compares (its count of bigrams)."""
        vec, norm, length = {}, [0.0] * self.n, 0
        for gram, tf in counts.items():
            weight = float(tf) * (self.ref_len - log(max(1.0, self.document_frequency[gram])))
            vec[gram] = weight
            norm[len(gram) - 1] += pow(weight, 2)
            if len(gram) == 2:
                length += tf
        return vec, np.sqrt(norm), length

    def _similarity(self, vec, norm, length, ref_vec, ref_norm, ref_length):
        """Clipped cosine similarity per n, times the length penalty: (n,)."""
        val = np.zeros(self.n)
        for gram, weight in vec.items():
            ref = ref_vec.get(gram)
            if ref is not None:                 # a missing n-gram adds 0.0
                val[len(gram) - 1] += min(weight, ref) * ref
        both = (norm != 0) & (ref_norm != 0)
        val[both] /= norm[both] * ref_norm[both]
        delta = float(length - ref_length)
        return val * np.e ** (-(delta ** 2) / (2 * self.sigma ** 2))
