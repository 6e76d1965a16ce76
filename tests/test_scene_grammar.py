"""The strict scene metric: every reference caption passes, and hand-made
wrong captions of each kind fail with that kind."""
import numpy as np
import pytest

from rnn_captioning.scenes import dataset as sd
from rnn_captioning.scenes.grammar import captions_of, judge, parse, strict_accuracy


def obj(colour, shape, size, x, y):
    return {"colour": colour, "shape": shape, "size": size, "x": x, "y": y, "r": 6.0}


# a red circle at the left, a large red square at the right, a blue triangle below both
ONE = [obj("red", "circle", "small", 10, 20)]
TWO = [obj("red", "circle", "small", 10, 20), obj("red", "square", "large", 50, 22)]
THREE = TWO + [obj("blue", "triangle", "small", 30, 55)]


def test_every_reference_caption_passes(rng):
    for _ in range(300):
        scene = sd.random_scene(rng)
        for caption in captions_of(scene, sd.MAX_WORDS):
            assert judge(caption, scene) is None, (caption, scene)


@pytest.mark.parametrize("scene,caption,kind", [
    (TWO, "a red circle and a blue square", "attribute"),
    (TWO, "a red square and a red circle and", "parse"),
    (TWO, "circle red a", "parse"),
    (TWO, "a red circle", "missing"),
    (ONE, "a red circle and a red square", "extra"),
    (TWO, "three shapes : a red circle , a red square and a red triangle", "count"),
    ([obj("red", "circle", "small", 10, 20), obj("blue", "square", "large", 50, 22)],
     "a blue circle and a red square", "binding"),
    (TWO, "a large red circle and a red square", "size"),
    (TWO, "a red circle and a small red square", "size"),
    (TWO, "a red circle to the right of a red square", "relation"),
    (TWO, "a red square to the left of a red circle", "relation"),
    (TWO, "a red circle above a red square", "relation"),
    (THREE, "a red circle , a red square and a red triangle", "attribute"),
    (THREE, "a red circle and a red square", "missing"),
])
def test_wrong_captions_fail_with_their_kind(scene, caption, kind):
    assert judge(caption, scene) == kind


@pytest.mark.parametrize("scene,caption", [
    (TWO, "a red circle to the left of a large red square"),
    (TWO, "there is a small red circle next to a red square"),
    (TWO, "two shapes : a red square and a small red circle"),
    (THREE, "a picture with a blue triangle , a red circle and a red square"),
    (ONE, "a small red circle in the picture"),
])
def test_right_captions_pass(scene, caption):
    assert judge(caption, scene) is None


def test_parse_reads_objects_relation_and_count():
    assert parse("a small red circle to the left of a blue square") == {
        "objects": [("small", "red", "circle"), (None, "blue", "square")],
        "relation": "to the left of", "count": None}
    assert parse("two shapes : a red circle and a blue square")["count"] == 2
    assert parse("a red circle , a blue square") is None


def test_strict_accuracy_counts_error_kinds():
    acc, errors = strict_accuracy(["a red circle", "a blue circle", "nonsense"], [ONE] * 3)
    assert acc == pytest.approx(1 / 3)
    assert errors["attribute"] == 1 and errors["parse"] == 1 and sum(errors.values()) == 2
    with pytest.raises(ValueError, match="2 captions for 1 scenes"):
        strict_accuracy(["a", "b"], [ONE])
