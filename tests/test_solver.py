"""CaptioningSolver: overfitting, exact resume, faults, validation, options."""
import os
import signal

import numpy as np
import pytest

from captioning_rnn import CaptioningRNN
from solver import CHECKPOINT_KIND, CaptioningSolver
from toy_data import make_toy_data
from rnn_captioning.files.checkpoints import load_npz


def toy_model(data, cell="rnn", H=16, W=8, seed=0):
    return CaptioningRNN(data["word_to_idx"], input_dim=data["train_features"].shape[1],
                         wordvec_dim=W, hidden_dim=H, cell_type=cell, rng=seed)


def solver_for(model, data, **kw):
    opts = dict(update_rule="adam", optim_config={"learning_rate": 5e-3}, batch_size=10,
                num_epochs=2, verbose=False, seed=0)
    opts.update(kw)
    return CaptioningSolver(model, data, **opts)


def fault_at_call(model, n, fault):
    """Make model.loss call ``fault(loss, grads)`` on its n-th call (1-based)
    and return what fault returns; other calls are untouched."""
    real_loss, calls = model.loss, {"n": 0}

    def loss(features, captions):
        calls["n"] += 1
        if calls["n"] == n:
            return fault(features, captions, real_loss)
        return real_loss(features, captions)

    model.loss = loss


def _raise_interrupt(features, captions, real_loss):
    raise KeyboardInterrupt


def _nan_loss(features, captions, real_loss):
    return float("nan"), real_loss(features, captions)[1]


def _ctrl_c_mid_step(features, captions, real_loss):
    os.kill(os.getpid(), signal.SIGINT)             # arrives mid-iteration
    return real_loss(features, captions)


@pytest.mark.parametrize("cell,lr", [("rnn", 5e-3), ("lstm", 2e-2)])
def test_overfit_small_data(rng, cell, lr):
    """The exercise's check: 50 captions memorised, final loss below 0.1."""
    data = make_toy_data(rng, num_train=50, D=512, V=100)
    model = CaptioningRNN(data["word_to_idx"], input_dim=512, wordvec_dim=256,
                          hidden_dim=512, cell_type=cell)
    solver = solver_for(model, data, num_epochs=50, batch_size=25, lr_decay=0.95,
                        optim_config={"learning_rate": lr})
    history = solver.train()
    assert len(history) == 100
    assert history[-1] < 0.1, history[-5:]
    assert history[0] > 10 * history[-1]


def test_resume_is_exact(tmp_path, rng):
    """2K iterations straight equal K, a checkpoint, a new process's resume, K."""
    data = make_toy_data(rng, num_train=40)
    straight = solver_for(toy_model(data), data, num_epochs=4, lr_decay=0.9, grad_clip=5.0)
    straight.train()

    first = solver_for(toy_model(data), data, num_epochs=2, lr_decay=0.9, grad_clip=5.0,
                       checkpoint_dir=tmp_path)
    first.train()
    resumed_model = toy_model(data, seed=123)         # different start: all state must load
    resumed = solver_for(resumed_model, data, num_epochs=4, lr_decay=0.9, grad_clip=5.0,
                         resume_from=tmp_path / "checkpoint.npz", seed=77)
    assert resumed.iteration == 8 and resumed.epoch == 2
    resumed.train()
    for name, p in straight.model.params.items():
        np.testing.assert_array_equal(resumed_model.params[name], p, err_msg=name)
    assert resumed.loss_history == straight.loss_history
    assert resumed.optim_configs["Wx"]["t"] == straight.optim_configs["Wx"]["t"] == 16


def test_checkpoint_every_k_and_contents(tmp_path, rng):
    data = make_toy_data(rng, num_train=30)
    solver = solver_for(toy_model(data), data, checkpoint_dir=tmp_path, checkpoint_every=2,
                        num_epochs=1)
    solver.train()
    arrays, meta = load_npz(tmp_path / "checkpoint.npz", CHECKPOINT_KIND)
    assert meta["iteration"] == 3 and meta["epoch"] == 1
    assert set(solver.model.params) <= set(arrays)
    assert "optim/Wx/m" in arrays and meta["optim_scalars"]["Wx"]["t"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_nan_loss_stops_and_keeps_last_good_state(tmp_path, rng):
    data = make_toy_data(rng, num_train=30)
    model = toy_model(data)
    solver = solver_for(model, data, checkpoint_dir=tmp_path, checkpoint_every=1)
    fault_at_call(model, 4, _nan_loss)
    with pytest.raises(FloatingPointError, match="diverged at iteration 3.*last good checkpoint"):
        solver.train()
    arrays, meta = load_npz(tmp_path / "checkpoint.npz", CHECKPOINT_KIND)
    assert meta["iteration"] == 3 == solver.iteration
    for name, p in model.params.items():
        np.testing.assert_array_equal(arrays[name], p, err_msg=name)
    assert all(np.isfinite(p).all() for p in model.params.values())


def test_keyboard_interrupt_writes_resumable_checkpoint(tmp_path, rng):
    data = make_toy_data(rng, num_train=30)
    straight = solver_for(toy_model(data), data)
    straight.train()

    model = toy_model(data)
    solver = solver_for(model, data, checkpoint_dir=tmp_path, checkpoint_every=100)
    fault_at_call(model, 5, _raise_interrupt)
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    _, meta = load_npz(tmp_path / "checkpoint.npz", CHECKPOINT_KIND)
    assert meta["iteration"] == 4
    model2 = toy_model(data)
    resumed = solver_for(model2, data, resume_from=tmp_path / "checkpoint.npz")
    resumed.train()
    for name, p in straight.model.params.items():
        np.testing.assert_array_equal(model2.params[name], p, err_msg=name)


def test_sigint_stops_at_an_iteration_boundary(tmp_path, rng):
    data = make_toy_data(rng, num_train=30)
    model = toy_model(data)
    solver = solver_for(model, data, checkpoint_dir=tmp_path, checkpoint_every=100)
    fault_at_call(model, 2, _ctrl_c_mid_step)
    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    assert solver.iteration == 2                    # the step in flight completed
    assert load_npz(tmp_path / "checkpoint.npz", CHECKPOINT_KIND)[1]["iteration"] == 2
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_gradient_clipping_bounds_the_step(rng):
    data = make_toy_data(rng, num_train=20)
    model = toy_model(data)
    before = {k: v.copy() for k, v in model.params.items()}
    solver = solver_for(model, data, update_rule="sgd", optim_config={"learning_rate": 1.0},
                        grad_clip=1e-3, num_epochs=1, batch_size=20)
    solver.train()
    step = np.sqrt(sum(np.sum((model.params[k].astype(np.float64) - before[k]) ** 2)
                       for k in before))
    assert step == pytest.approx(1e-3, rel=1e-3)
    assert solver.grad_norm_history[0] > 1e-3


def test_validation_records_metrics_and_keeps_best(rng):
    data = make_toy_data(rng, num_train=40, num_val=12, caps_per_image=3)
    model = toy_model(data)
    solver = solver_for(model, data, num_epochs=3, val_every=None, keep_best="val_loss",
                        restore_best=True)
    solver.train()
    assert [r["iteration"] for r in solver.val_history] == [4, 8, 12]
    record = solver.val_history[-1]
    for key in ("val_loss", "Bleu_1", "Bleu_4", "CIDEr", "ROUGE_L"):
        assert np.isfinite(record[key]), key
    best = min(r["val_loss"] for r in solver.val_history)
    assert solver.best_metric == best
    for name, p in solver.best_params.items():        # restored into the model
        np.testing.assert_array_equal(model.params[name], p)


def test_verbose_prints_the_exercise_lines_and_a_bar_on_stderr(rng, capsys):
    data = make_toy_data(rng, num_train=20)     # batch 10: 2 iterations an epoch
    solver = solver_for(toy_model(data), data, verbose=True, num_epochs=5, print_every=4)
    solver.train()
    out, err = capsys.readouterr()
    h = solver.loss_history         # the exercise prints at t % print_every == 0
    assert out == "".join(f"(Iteration {i + 1} / 10) loss: {h[i]:f}\n" for i in (0, 4, 8))
    assert "loss=" in err
    solver_for(toy_model(data), data, verbose=False).train()
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("kw,exc,match", [
    (dict(learning_rate=0.1), ValueError, r"unknown CaptioningSolver options: \['learning_rate'\]"),
    (dict(update_rule="adagrad"), ValueError, "update_rule must be one of"),
    (dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    (dict(grad_clip=-1.0), ValueError, "grad_clip"),
    (dict(lr_decay=0), ValueError, "lr_decay"),
    (dict(blas_threads=0), ValueError, "blas_threads must be a positive integer"),
])
def test_bad_options(rng, kw, exc, match):
    data = make_toy_data(rng, num_train=10)
    with pytest.raises(exc, match=match):
        solver_for(toy_model(data), data, **kw)


def test_blas_threads_hold_while_training_only(rng):
    """Training runs with the solver's BLAS thread count; the process's own
    setting is back afterwards."""
    from threadpoolctl import threadpool_info
    data = make_toy_data(rng, num_train=10)
    before = [p["num_threads"] for p in threadpool_info()]
    seen = []
    solver = solver_for(toy_model(data), data, verbose=False, blas_threads=1)
    step = solver._step
    solver._step = lambda: (seen.append([p["num_threads"] for p in threadpool_info()]), step())
    solver.train()
    assert seen and all(all(n == 1 for n in counts) for counts in seen)
    assert [p["num_threads"] for p in threadpool_info()] == before


def test_bad_data_and_foreign_checkpoint(tmp_path, rng):
    data = make_toy_data(rng, num_train=20)
    model = toy_model(data)
    with pytest.raises(ValueError, match="lacks the keys"):
        CaptioningSolver(model, {"train_captions": data["train_captions"]})
    other = dict(data, word_to_idx={"<NULL>": 0})
    with pytest.raises(ValueError, match="vocabulary"):
        CaptioningSolver(model, other)
    solver = solver_for(model, data, checkpoint_dir=tmp_path, num_epochs=1)
    solver.train()
    bigger = toy_model(data, H=32)
    with pytest.raises(ValueError, match="another model.*hidden_dim: 16 vs 32"):
        solver_for(bigger, data, resume_from=tmp_path / "checkpoint.npz")
    model_file = tmp_path / "model.npz"
    model.save(model_file)
    with pytest.raises(ValueError, match="is not a rnn-captioning-checkpoint file"):
        solver_for(toy_model(data), data, resume_from=model_file)
