"""Caption metrics through pycocoevalcap, the COCO caption evaluation code.

BLEU-1..4, CIDEr (the CIDEr-D variant that the COCO evaluation server
reports, with the document frequencies of the evaluated references), ROUGE-L,
and METEOR when a Java runtime is present. We do not re-implement any of
them: scores then compare with published ones.

The official pipeline tokenises with a Java PTB tokenizer; our captions come
from a fixed vocabulary and are already tokens, so they are only lower-cased
and stripped of punctuation here, which is what that tokenizer does to them.
"""
import re
import shutil

__all__ = ["score_captions", "java_available", "tokenize", "METRIC_NAMES"]

METRIC_NAMES = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "CIDEr", "ROUGE_L", "METEOR")
_PUNCT = re.compile(r"[^\w\s<>]")


def java_available():
    return shutil.which("java") is not None


def tokenize(caption):
    """Lower-case, punctuation removed, single spaces: what the PTB tokenizer
    does to captions made of vocabulary tokens."""
    return " ".join(_PUNCT.sub(" ", caption.lower()).split())


def score_captions(candidates, references, *, meteor="auto"):
    """Corpus-level scores of candidate captions against their references.

    Inputs:
    - candidates: dict id -> caption string (one per image)
    - references: dict id -> list of reference caption strings, same ids
    - meteor: True, False, or 'auto' (computed when `java` is on PATH)

    Returns a dict metric name -> float (see METRIC_NAMES).
    """
    # imported here: loading pycocoevalcap is slow and only needed for scoring
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    if not candidates:
        raise ValueError("candidates is empty: nothing to score")
    if set(candidates) != set(references):
        raise ValueError("candidates and references must have the same ids; "
                         f"{len(set(candidates) ^ set(references))} ids differ")
    for key, refs in references.items():
        if isinstance(refs, str) or not refs:
            raise ValueError(f"references[{key!r}] must be a non-empty list of strings")
    res = {k: [tokenize(c)] for k, c in candidates.items()}
    gts = {k: [tokenize(r) for r in refs] for k, refs in references.items()}

    scores = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores.update({f"Bleu_{n + 1}": float(b) for n, b in enumerate(bleu)})
    scores["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    scores["ROUGE_L"] = float(Rouge().compute_score(gts, res)[0])
    if meteor is True or (meteor == "auto" and java_available()):
        scores["METEOR"] = _meteor(gts, res)
    return scores


def _meteor(gts, res):
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    try:
        return float(scorer.compute_score(gts, res)[0])
    finally:
        # stop the Java process now rather than whenever the object is collected
        proc = scorer.meteor_p
        if proc.stdin:
            proc.stdin.close()
        proc.kill()
        proc.wait()
