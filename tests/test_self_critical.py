"""Self-critical training: the weighted loss and its gradients, CIDEr-D
against pycocoevalcap, SCST moving greedy captions to what the metric
prefers, and exact resume in the self-critical phase."""
import numpy as np
import pytest
from pycocoevalcap.cider.cider import Cider

from captioning_rnn import CaptioningRNN
from solver import CaptioningSolver
from helpers import check_scalar_grad
from toy_data import make_toy_data
from rnn_captioning.evaluation.metrics import tokenize
from rnn_captioning.self_critical.reward import CiderD
from rnn_captioning.self_critical.training import SceneReward, SelfCritical


def small_model(cell, V=9, D=5, W=4, H=6, seed=0):
    w2i = {"<NULL>": 0, "<START>": 1, "<END>": 2}
    w2i.update({f"w{i}": i for i in range(3, V)})
    model = CaptioningRNN(w2i, input_dim=D, wordvec_dim=W, hidden_dim=H, cell_type=cell,
                          dtype=np.float64, rng=seed)
    rng = np.random.default_rng(seed + 1)
    model.params = {k: 0.5 * rng.standard_normal(v.shape) for k, v in model.params.items()}
    return model


def captions_of_lengths(rng, lengths, T, V):
    caps = np.zeros((len(lengths), T), dtype=np.int64)
    caps[:, 0] = 1
    for n, L in enumerate(lengths):
        caps[n, 1:L + 1] = rng.integers(3, V, size=L)
        caps[n, L + 1] = 2
    return caps


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("N,T,D,H", [(1, 2, 5, 6), (3, 5, 7, 4), (4, 6, 3, 3)])
def test_weighted_loss_gradcheck(rng, cell, N, T, D, H):
    model = small_model(cell, D=D, H=H)
    features = rng.standard_normal((N, D))
    captions = captions_of_lengths(rng, rng.integers(0, T - 1, size=N), T, 9)
    weights = rng.standard_normal(N)                   # of both signs
    loss, grads = model.loss(features, captions, weights=weights)
    for name in model.params:
        def f(w, name=name):
            saved = model.params[name]
            model.params[name] = w
            try:
                return model.loss(features, captions, weights=weights)[0]
            finally:
                model.params[name] = saved
        check_scalar_grad(name, f, model.params[name].copy(), grads[name], tol=1e-6,
                          atol=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_weighted_loss_values(rng, cell):
    """sum_n w_n * (-log p(caption n)) / N, computed caption by caption."""
    model = small_model(cell)
    features = rng.standard_normal((5, 5))
    captions = captions_of_lengths(rng, [4, 1, 3, 0, 4], 7, 9)
    weights = np.array([0.5, -1.0, 2.0, 3.0, 0.0])
    single = [model.loss(features[[n]], captions[[n]])[0] for n in range(5)]   # -log p
    loss, _ = model.loss(features, captions, weights=weights)
    assert loss == pytest.approx(float(np.dot(weights, single)) / 5, rel=1e-12)
    plain, plain_grads = model.loss(features, captions)
    ones, ones_grads = model.loss(features, captions, weights=np.ones(5))
    assert plain == ones
    for name in plain_grads:
        np.testing.assert_array_equal(plain_grads[name], ones_grads[name])


def test_weighted_loss_bad_weights(rng):
    model = small_model("rnn")
    features, captions = rng.standard_normal((3, 5)), captions_of_lengths(rng, [2, 2, 2], 5, 9)
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\)"):
        model.loss(features, captions, weights=np.ones(2))
    with pytest.raises(ValueError, match="weights must be finite"):
        model.loss(features, captions, weights=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(TypeError, match="weights must be a floating-point array"):
        model.loss(features, captions, weights=np.ones(3, dtype=int))


def corpus(rng, images=30, refs=5):
    words = "a the red blue small large circle square dog man on with and".split()
    def caption():
        return " ".join(rng.choice(words, size=int(rng.integers(1, 9))))
    references = {i: [caption() for _ in range(refs)] for i in range(images)}
    candidates = {i: caption() for i in range(images)}
    candidates[0] = references[0][1]                   # an exact match
    candidates[1] = "dog"                              # one word: no bigrams
    return candidates, references


def test_cider_d_equals_pycocoevalcap(rng):
    candidates, references = corpus(rng)
    mean, per_caption = Cider().compute_score({i: [tokenize(r) for r in refs]
                                               for i, refs in references.items()},
                                              {i: [tokenize(c)] for i, c in candidates.items()})
    ours = CiderD(references)
    ids = list(candidates)
    scores = ours([candidates[i] for i in ids], ids)
    np.testing.assert_allclose(scores, per_caption, rtol=1e-9, atol=1e-12)
    assert float(scores.mean()) == pytest.approx(mean, rel=1e-9)
    assert scores[0] > 1 and np.all(scores >= 0)
    again = ours([candidates[i] for i in ids], ids)           # remembered scores
    np.testing.assert_array_equal(again, scores)


def test_cider_d_bad_input():
    with pytest.raises(ValueError, match="references is empty"):
        CiderD({})
    with pytest.raises(ValueError, match=r"references\[3\] must be a non-empty list"):
        CiderD({3: "a caption"})
    cider = CiderD({0: ["a b"], 1: ["c d"]})
    with pytest.raises(ValueError, match="2 captions for 1 image ids"):
        cider(["a", "b"], [0])
    with pytest.raises(ValueError, match="image id 7 has no references"):
        cider(["a"], [7])


def preference_data(rng):
    """Four images, each with captions 'w3' four times and 'w4' once: the
    likelihood-optimal caption is 'w3'."""
    words = ["<NULL>", "<START>", "<END>", "w3", "w4"]
    data = {"idx_to_word": words, "word_to_idx": {w: i for i, w in enumerate(words)}}
    for split, n in (("train", 20), ("val", 4)):
        caps = np.zeros((n, 4), dtype=np.int32)
        caps[:, 0], caps[:, 2] = 1, 2
        caps[:, 1] = np.where(np.arange(n) % 5 < 4, 3, 4)
        data[f"{split}_captions"] = caps
        data[f"{split}_image_idxs"] = (np.arange(n) // 5 if split == "train"
                                       else np.arange(n)).astype(np.int32)
        data[f"{split}_features"] = rng.standard_normal((4, 6)).astype(np.float32)
        data[f"{split}_urls"] = np.asarray([f"http://example.invalid/{i}.jpg" for i in range(4)])
    return data


def w4_reward(captions, image_ids):
    """A metric that prefers 'w4' (which the likelihood does not)."""
    return np.array([c == "w4" for c in captions], dtype=np.float64)


@pytest.mark.parametrize("baseline", ["greedy", "mean"])
def test_scst_moves_greedy_captions_to_what_the_metric_prefers(rng, baseline):
    data = preference_data(rng)
    model = CaptioningRNN(data["word_to_idx"], input_dim=6, wordvec_dim=8, hidden_dim=16,
                          cell_type="lstm", rng=0)
    CaptioningSolver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                     batch_size=20, num_epochs=60, verbose=False, seed=0).train()
    greedy = model.sample(data["train_features"], max_length=3)
    assert (greedy[:, 0] == 3).all()                    # likelihood: 'w3'
    solver = CaptioningSolver(model, data, update_rule="adam",
                              optim_config={"learning_rate": 1e-2}, batch_size=20,
                              num_epochs=30, verbose=False, seed=0,
                              objective=SelfCritical(w4_reward, samples=5, baseline=baseline))
    solver.train()
    greedy = model.sample(data["train_features"], max_length=3)
    assert (greedy[:, 0] == 4).all()                    # the metric: 'w4'
    assert solver.reward_history[-1] > solver.reward_history[0]
    assert len(solver.reward_history) == len(solver.loss_history)


def test_scst_resumes_exactly(rng, tmp_path):
    data = make_toy_data(rng, num_train=40, num_val=10, caps_per_image=5)
    references = {}
    for idx, cap in zip(data["train_image_idxs"], data["train_captions"]):
        words = [data["idx_to_word"][w] for w in cap if w > 2]
        references.setdefault(int(idx), []).append(" ".join(words))

    def solver(**kw):
        model = CaptioningRNN(data["word_to_idx"], input_dim=24, wordvec_dim=8, hidden_dim=12,
                              cell_type="lstm", rng=3)
        return CaptioningSolver(model, data, update_rule="adam",
                                optim_config={"learning_rate": 1e-3}, batch_size=10,
                                verbose=False, seed=5, checkpoint_dir=tmp_path / kw.pop("dir"),
                                objective=SelfCritical(CiderD(references), samples=2), **kw)

    straight = solver(dir="a", num_epochs=4)
    straight.train()
    first = solver(dir="b", num_epochs=2)
    first.train()
    resumed = solver(dir="c", num_epochs=4, resume_from=first.checkpoint_path)
    resumed.train()
    for name in straight.model.params:
        np.testing.assert_array_equal(resumed.model.params[name], straight.model.params[name])
    assert resumed.reward_history == straight.reward_history
    assert resumed.loss_history == straight.loss_history


def test_self_critical_arguments():
    with pytest.raises(TypeError, match="reward must be callable"):
        SelfCritical("CIDEr")
    with pytest.raises(ValueError, match="baseline must be one of"):
        SelfCritical(w4_reward, baseline="max")
    with pytest.raises(ValueError, match="needs samples >= 2"):
        SelfCritical(w4_reward, samples=1, baseline="mean")
    with pytest.raises(ValueError, match="samples must be an int"):
        SelfCritical(w4_reward, samples=0)


def test_scene_reward():
    scenes = [[{"colour": "red", "shape": "circle", "size": "small", "x": 5, "y": 5}]]
    reward = SceneReward(scenes)
    np.testing.assert_array_equal(reward(["a red circle", "a blue circle"], [0, 0]), [1, 0])
