"""The built-in dataset's caption grammar, and the strict scene metric.

Captions come from a small grammar: object phrases ``a [size] colour shape``
put into one of the templates below, with a spatial relation between two
objects. The same templates generate the reference captions
(dataset.py) and parse a model's captions here, so the metric judges
exactly the language the references teach.

A caption counts as right under :func:`judge` only if it parses in the
grammar, names exactly the scene's objects with colour and shape bound
together, states only true sizes and a true relation, and the right count.
Its errors fall into categories: ``parse`` (not in the grammar), ``count``
(a count word that is not the number of objects), ``missing`` / ``extra``
(too few / too many objects), ``binding`` (the right colours and shapes, paired
wrongly), ``attribute`` (a colour or shape that is not there), ``size`` and
``relation``.
"""
import re
from collections import Counter
from itertools import permutations

__all__ = ["COLOURS", "SHAPES", "SIZES", "RELATIONS", "TEMPLATES", "phrase", "relation",
           "captions_of", "parse", "judge", "strict_accuracy", "ERROR_KINDS"]

COLOURS = ("red", "green", "blue", "yellow", "purple")
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
RELATIONS = ("to the left of", "to the right of", "above", "below")
ERROR_KINDS = ("parse", "count", "missing", "extra", "binding", "attribute", "size",
               "relation")

# {0}, {1}, {2}: object phrases; {rel}: how object 0 stands to object 1
TEMPLATES = {
    1: ("{0}", "there is {0}", "a picture of {0}", "{0} in the picture"),
    2: ("{0} and {1}", "{0} {rel} {1}", "two shapes : {0} and {1}",
        "there is {0} next to {1}"),
    3: ("{0} , {1} and {2}", "three shapes : {0} , {1} and {2}",
        "a picture with {0} , {1} and {2}"),
}
_COUNT_WORDS = {"two shapes": 2, "three shapes": 3}
_PHRASE = (rf"a (?:({'|'.join(SIZES)}) )?({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})")


def phrase(obj, with_size):
    """``a [size] colour shape`` of an object dict (keys colour, shape, size)."""
    size = f"{obj['size']} " if with_size else ""
    return f"a {size}{obj['colour']} {obj['shape']}"


def relation(a, b):
    """How object a stands to object b, by the larger of the two offsets."""
    dx, dy = a["x"] - b["x"], a["y"] - b["y"]
    if abs(dx) >= abs(dy):
        return RELATIONS[0] if dx < 0 else RELATIONS[1]
    return RELATIONS[2] if dy < 0 else RELATIONS[3]


def captions_of(objects, max_words):
    """Every caption of a scene (strings): each template, each order of the
    objects, with and without size words; at most ``max_words`` words."""
    out = []
    for with_size in (True, False):
        for template in TEMPLATES[len(objects)]:
            for order in permutations(objects):
                rel = relation(order[0], order[1]) if len(order) > 1 else ""
                out.append(template.format(*(phrase(o, with_size) for o in order), rel=rel))
    return [c for c in dict.fromkeys(out) if len(c.split()) <= max_words]


def _pattern(template):
    text = re.escape(template).replace(r"\{rel\}", f"({'|'.join(RELATIONS)})")
    for k in range(3):
        text = text.replace(re.escape(f"{{{k}}}"), _PHRASE)
    return re.compile(text + "$")


_PATTERNS = [(n, t, _pattern(t)) for n, ts in TEMPLATES.items() for t in ts]


def parse(caption):
    """What a caption claims, or None if it is not in the grammar.

    Returns a dict: objects (list of (size or None, colour, shape), in caption
    order), relation (the relation words of object 0 to object 1, or None),
    count (the number a count word claims, or None).
    """
    text = " ".join(caption.split())
    for n, template, pattern in _PATTERNS:
        m = pattern.match(text)
        if m is None:
            continue
        groups = list(m.groups())
        rel = groups.pop(3) if "{rel}" in template else None
        objects = [tuple(groups[i:i + 3]) for i in range(0, 3 * n, 3)]
        count = next((v for k, v in _COUNT_WORDS.items() if template.startswith(k)), None)
        return {"objects": objects, "relation": rel, "count": count}
    return None


def judge(caption, scene):
    """The first error of ``caption`` about ``scene`` (a list of object dicts
    with colour, shape, size, x, y), or None when the caption is right."""
    claim = parse(caption)
    if claim is None:
        return "parse"
    named = [(c, s) for _, c, s in claim["objects"]]
    truth = [(o["colour"], o["shape"]) for o in scene]
    if claim["count"] is not None and claim["count"] != len(scene):
        return "count"
    if Counter(named) != Counter(truth):
        if len(named) < len(truth):
            return "missing"
        if len(named) > len(truth):
            return "extra"
        same_attributes = (Counter(c for c, _ in named) == Counter(c for c, _ in truth)
                           and Counter(s for _, s in named) == Counter(s for _, s in truth))
        return "binding" if same_attributes else "attribute"
    by_pair = {(o["colour"], o["shape"]): o for o in scene}   # pairs are unique in a scene
    if any(size is not None and size != by_pair[(c, s)]["size"]
           for size, c, s in claim["objects"]):
        return "size"
    if claim["relation"] is not None:
        a, b = (by_pair[pair] for pair in named[:2])
        if relation(a, b) != claim["relation"]:
            return "relation"
    return None


def strict_accuracy(captions, scenes):
    """Share of captions right under :func:`judge`, and the count of each
    error kind: (accuracy, {kind: count})."""
    if len(captions) != len(scenes):
        raise ValueError(f"{len(captions)} captions for {len(scenes)} scenes")
    errors = Counter(judge(c, s) for c, s in zip(captions, scenes))
    right = errors.pop(None, 0)
    accuracy = right / len(captions) if captions else float("nan")
    return accuracy, {kind: errors.get(kind, 0) for kind in ERROR_KINDS}
