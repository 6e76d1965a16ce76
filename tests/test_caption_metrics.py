"""caption_metrics: our thin wrapper around pycocoevalcap."""
import pytest

from rnn_captioning.evaluation.metrics import java_available, score_captions

REFS = {1: ["a red circle", "there is a red circle"],
        2: ["a blue square and a red circle", "two shapes : a blue square and a red circle"]}


def test_perfect_and_wrong_captions():
    perfect = score_captions({1: "a red circle", 2: "a blue square and a red circle"}, REFS,
                             meteor=False)
    assert set(perfect) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "CIDEr", "ROUGE_L"}
    assert perfect["Bleu_4"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["ROUGE_L"] == pytest.approx(1.0)
    wrong = score_captions({1: "a green triangle", 2: "a yellow circle"}, REFS, meteor=False)
    for name in perfect:
        assert wrong[name] < perfect[name], name


def test_tokenisation_ignores_case_and_punctuation():
    plain = score_captions({1: "a red circle", 2: "a blue square"}, REFS, meteor=False)
    shouty = score_captions({1: "A Red circle.", 2: "a BLUE, square!"}, REFS, meteor=False)
    assert shouty == plain


@pytest.mark.skipif(not java_available(), reason="METEOR needs a Java runtime")
def test_meteor_when_java_is_present():
    scores = score_captions({1: "a red circle", 2: "a red circle"}, REFS, meteor=True)
    assert 0 < scores["METEOR"] <= 1


def test_bad_input():
    with pytest.raises(ValueError, match="same ids"):
        score_captions({1: "a red circle"}, REFS, meteor=False)
    with pytest.raises(ValueError, match="non-empty list"):
        score_captions({1: "x"}, {1: []}, meteor=False)
    with pytest.raises(ValueError, match="empty"):
        score_captions({}, {}, meteor=False)
