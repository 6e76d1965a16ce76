"""Malformed and hostile files and data: refused up front with a ValueError
naming the file or key, never half-loaded, never a crash of another kind.
The fuzz tests count outcomes of seeded random mutations of valid files."""
import json
import zipfile

import h5py
import numpy as np
import pytest

import coco_utils as cu
import optim
from captioning_rnn import CaptioningRNN
from coco_files import write_coco_folder
from solver import CaptioningSolver
from toy_data import make_toy_data

W2I = {"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3, "b": 4}


def small_model(rng=0):
    return CaptioningRNN(W2I, input_dim=6, wordvec_dim=3, hidden_dim=4, cell_type="lstm", rng=rng)


def saved_parts(tmp_path):
    path = tmp_path / "model.npz"
    small_model().save(path)
    arrays = dict(np.load(path, allow_pickle=False))
    return arrays, json.loads(str(arrays.pop("__meta__")))


def write_parts(path, arrays, meta):
    np.savez(path, **arrays, __meta__=np.array(json.dumps(meta)))
    return path


# -- model files -----------------------------------------------------------------

@pytest.mark.parametrize("change,match", [
    (lambda m: m["model"].update(hidden_dim=10 ** 13), r"W_proj has shape \(6, 4\).*needs"),
    (lambda m: m["model"].update(hidden_dim=30000), r"W_proj has shape \(6, 4\).*needs"),
    (lambda m: m["model"].update(hidden_dim=True), "hidden_dim must be a int"),
    (lambda m: m["model"].update(input_dim=-2), "input_dim must be positive"),
    (lambda m: m["model"].update(dtype="int8"), "unknown cell_type .* or dtype 'int8'"),
    (lambda m: m["model"].update(extra=1), "expected the keys"),
    (lambda m: m["model"]["word_to_idx"].update(a=7), "indices 0 .. 4, each once"),
    (lambda m: m["model"]["word_to_idx"].update(a=4), "indices 0 .. 4, each once"),
    (lambda m: m["model"]["word_to_idx"].update(a=-1), "indices 0 .. 4, each once"),
    (lambda m: m["model"]["word_to_idx"].update(a="3"), "indices 0 .. 4, each once"),
])
def test_model_metadata_checked_against_the_arrays_first(tmp_path, change, match):
    arrays, meta = saved_parts(tmp_path)
    change(meta)
    with pytest.raises(ValueError, match=f"model.npz.*{match}"):
        CaptioningRNN.load(write_parts(tmp_path / "model.npz", arrays, meta))


def test_deeply_nested_metadata_is_a_value_error(tmp_path):
    arrays, _ = saved_parts(tmp_path)
    path = tmp_path / "deep.npz"
    np.savez(path, **arrays, __meta__=np.array("[" * 100000 + "]" * 100000))
    with pytest.raises(ValueError, match="deep.npz has corrupt metadata: nested too deeply"):
        CaptioningRNN.load(path)


@pytest.mark.parametrize("dtype", [np.int32, np.complex64, "U3", np.bool_])
def test_parameter_of_a_non_float_dtype_is_a_value_error(tmp_path, dtype):
    arrays, meta = saved_parts(tmp_path)
    arrays["Wh"] = np.zeros(arrays["Wh"].shape, dtype=dtype)
    with pytest.raises(ValueError, match=f"model.npz: Wh has dtype"):
        CaptioningRNN.load(write_parts(tmp_path / "model.npz", arrays, meta))


def _patch_headers(src, dst, local_offset, central_offset, value):
    """Set a 2-byte field in every local and central zip header (zipfile's
    writer resets flags, so hostile archives are made by hand)."""
    raw = bytearray(src.read_bytes())
    for sig, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            raw[i + offset:i + offset + 2] = value.to_bytes(2, "little")
            start = i + 4
    dst.write_bytes(bytes(raw))
    return dst


def test_duplicated_zip_entries_refused(tmp_path):
    good = tmp_path / "model.npz"
    small_model().save(good)
    other = tmp_path / "other.npz"
    small_model(rng=5).save(other)
    with zipfile.ZipFile(other) as zf:
        wh = zf.read("Wh.npy")
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(good, "a") as zf:
            zf.writestr("Wh.npy", wh)
    with pytest.raises(ValueError, match=r"model.npz holds the entries \['Wh.npy'\] more "
                                         r"than once"):
        CaptioningRNN.load(good)


@pytest.mark.parametrize("field,value,match", [
    ("flags", 0x1, "encrypted"), ("flags", 0x41, "encrypted"),
    ("flags", 0x40, "corrupt"), ("method", 99, "compression method 99")])
def test_encryption_unknown_methods_and_flags_refused(tmp_path, field, value, match):
    good = tmp_path / "model.npz"
    small_model().save(good)
    offsets = {"flags": (6, 8), "method": (8, 10)}[field]
    path = _patch_headers(good, tmp_path / "hostile.npz", *offsets, value)
    with pytest.raises(ValueError, match=f"hostile.npz.*{match}"):
        CaptioningRNN.load(path)


def test_loading_never_touches_the_global_random_state(tmp_path):
    path = tmp_path / "model.npz"
    small_model().save(path)
    np.random.seed(3)
    before = np.random.get_state()[1].copy()
    CaptioningRNN.load(path)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


# -- checkpoints -------------------------------------------------------------------

def trained_solver(tmp_path, rng, model=None):
    data = make_toy_data(rng, num_train=20, V=5, D=6)
    data["word_to_idx"] = W2I
    model = model or small_model()
    solver = CaptioningSolver(model, data, update_rule="adam", num_epochs=1, batch_size=10,
                              verbose=False, seed=0, checkpoint_dir=tmp_path)
    solver.train()
    return solver, data


@pytest.mark.parametrize("key,value,match", [
    ("optim/Wx/m", np.zeros((2, 2), np.float32), r"Wx/m is \(2, 2\) float32"),
    ("optim/Wx/v", np.zeros((3, 16), np.float64), r"Wx/v is \(3, 16\) float64"),
    ("optim/Wh/v", np.zeros((4, 16), np.int64), r"Wh/v is \(4, 16\) int64"),
    ("loss_history", np.zeros(1), "loss_history must be 2 floats"),
])
def test_checkpoint_state_checked_and_model_untouched(tmp_path, rng, key, value, match):
    solver, data = trained_solver(tmp_path, rng)
    arrays = dict(np.load(tmp_path / "checkpoint.npz", allow_pickle=False))
    meta = json.loads(str(arrays.pop("__meta__")))
    arrays[key] = value
    bad = write_parts(tmp_path / "bad.npz", arrays, meta)
    model = small_model(rng=9)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=f"bad.npz.*{match}"):
        CaptioningSolver(model, data, update_rule="adam", verbose=False, resume_from=bad)
    for k, v in before.items():
        np.testing.assert_array_equal(model.params[k], v, err_msg=k)


@pytest.mark.parametrize("change,match", [
    (lambda m: m["optim_scalars"]["Wx"].update(t="3"), "must be a finite number"),
    (lambda m: m["optim_scalars"]["Wx"].update(t=-1), "must be a count"),
    (lambda m: m["optim_scalars"]["Wx"].update(momentum=0.9), "does not know"),
    (lambda m: m.update(rng_state={"bit_generator": "MT19937"}), "generator's state"),
    (lambda m: m.update(iteration="2"), "iteration and epoch must be counts"),
    (lambda m: m.update(val_history={}), "val_history"),
])
def test_checkpoint_metadata_checked(tmp_path, rng, change, match):
    solver, data = trained_solver(tmp_path, rng)
    arrays = dict(np.load(tmp_path / "checkpoint.npz", allow_pickle=False))
    meta = json.loads(str(arrays.pop("__meta__")))
    change(meta)
    bad = write_parts(tmp_path / "bad.npz", arrays, meta)
    iteration = solver.iteration
    with pytest.raises(ValueError, match=f"bad.npz.*{match}"):
        solver.load_checkpoint(bad)
    assert solver.iteration == iteration


# -- update rules keep the dtype, resume stays bit-exact -----------------------------

@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
def test_numpy_scalar_hyperparameters_keep_float32(rule, rng):
    w = rng.standard_normal((3, 4)).astype(np.float32)
    dw = rng.standard_normal((3, 4)).astype(np.float32)
    lr = np.logspace(-3, -2, 3)[1]                       # an np.float64
    config = {"learning_rate": lr}
    for _ in range(3):
        w, config = optim.UPDATE_RULES[rule](w, dw, config)
        assert w.dtype == np.float32
        assert all(v.dtype == np.float32 for v in config.values() if isinstance(v, np.ndarray))
    w64, _ = optim.UPDATE_RULES[rule](w, dw.astype(np.float64))
    assert w64.dtype == np.float32


def test_resume_bit_exact_with_a_numpy_learning_rate(tmp_path, rng):
    data = make_toy_data(rng, num_train=40)
    lr = np.logspace(-3, -2, 3)[2]

    def solver(model, **kw):
        return CaptioningSolver(model, data, update_rule="adam", batch_size=10, verbose=False,
                                optim_config={"learning_rate": lr}, lr_decay=np.float64(0.9),
                                seed=1, **kw)

    def model():
        return CaptioningRNN(data["word_to_idx"], input_dim=24, wordvec_dim=4, hidden_dim=5,
                             rng=0)

    whole = model()
    solver(whole, num_epochs=4).train()
    first = model()
    solver(first, num_epochs=2, checkpoint_dir=tmp_path).train()
    resumed = model()
    solver(resumed, num_epochs=4, resume_from=tmp_path / "checkpoint.npz").train()
    for k in whole.params:
        np.testing.assert_array_equal(resumed.params[k], whole.params[k], err_msg=k)


@pytest.mark.parametrize("value", [float("nan"), "0.1", True])
def test_update_rule_hyperparameters_checked(value):
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        optim.sgd(np.zeros(2), np.zeros(2), {"learning_rate": value})


# -- solver data -------------------------------------------------------------------

def _data_with(rng, change):
    data = make_toy_data(rng, num_train=20, num_val=6)
    change(data)
    return data


@pytest.mark.parametrize("change,val_every,exc,match", [
    (lambda d: d["train_captions"].__setitem__((3, 2), 30), 0, ValueError,
     r"data\['train_captions'\]\[3, 2\] is 30, outside \[0, 30\)"),
    (lambda d: d["train_image_idxs"].__setitem__(5, 20), 0, ValueError,
     r"data\['train_image_idxs'\]\[5\] is 20, outside \[0, 20\)"),
    (lambda d: d["train_image_idxs"].__setitem__(0, -1), 0, ValueError,
     r"data\['train_image_idxs'\]\[0\] is -1"),
    (lambda d: d.pop("val_features"), None, ValueError, r"lacks the keys \['val_features'\]"),
    (lambda d: d.update(val_captions=d["val_captions"][:0], val_image_idxs=np.zeros(0, int)),
     None, ValueError, r"data\['val_captions'\] must be \(N, T\) with N >= 1"),
    (lambda d: d.update(val_captions=d["val_captions"].astype(float)), 5, TypeError,
     r"data\['val_captions'\] must be a 2-D integer array"),
    (lambda d: d.update(train_features=d["train_features"][:, :3]), 0, ValueError,
     r"data\['train_features'\] must have shape \(num_images, 24\)"),
    (lambda d: d["train_features"].__setitem__((7, 3), np.nan), 0, ValueError,
     r"data\['train_features'\] row 7 holds NaN or inf \(1 of its 24 values\)"),
    (lambda d: d["val_features"].__setitem__((2, 0), -np.inf), None, ValueError,
     r"data\['val_features'\] row 2 holds NaN or inf"),
])
def test_solver_refuses_bad_data_in_the_constructor(rng, change, val_every, exc, match):
    data = _data_with(rng, change)
    model = CaptioningRNN(data["word_to_idx"], input_dim=24, wordvec_dim=4, hidden_dim=5, rng=0)
    with pytest.raises(exc, match=match):
        CaptioningSolver(model, data, verbose=False, val_every=val_every)


def test_missing_val_split_is_fine_without_validation(rng):
    data = _data_with(rng, lambda d: [d.pop(k) for k in list(d) if k.startswith("val_")])
    model = CaptioningRNN(data["word_to_idx"], input_dim=24, wordvec_dim=4, hidden_dim=5, rng=0)
    CaptioningSolver(model, data, verbose=False, num_epochs=1, batch_size=10).train()


# -- fuzzing: seeded random mutations of valid files ----------------------------------

def _mutate(blob, rng):
    """A few flipped bytes, a truncation, or a few bytes inserted."""
    b = bytearray(blob)
    kind = rng.integers(3)
    if kind == 0:
        for _ in range(rng.integers(1, 5)):
            b[rng.integers(len(b))] ^= int(rng.integers(1, 256))
    elif kind == 1:
        del b[rng.integers(len(b)):]
    else:
        at = int(rng.integers(len(b)))
        b[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
    return bytes(b)


def _fuzz(blob, path, load, same, n, seed):
    """Outcomes of loading n mutations of blob: 'equal', 'error' (ValueError)
    and, counted separately so the test can name them, anything else."""
    rng = np.random.default_rng(seed)
    counts = {"equal": 0, "error": 0, "different": 0}
    for _ in range(n):
        path.write_bytes(_mutate(blob, rng))
        try:
            loaded = load(path)
        except ValueError:
            counts["error"] += 1
            continue
        counts["equal" if same(loaded) else "different"] += 1
    return counts


def test_fuzzed_model_files_load_equal_or_raise_value_error(tmp_path):
    model = small_model()
    model.save(tmp_path / "model.npz")
    blob = (tmp_path / "model.npz").read_bytes()

    def same(m):
        return m.config() == model.config() and all(
            np.array_equal(m.params[k], model.params[k]) for k in model.params)

    counts = _fuzz(blob, tmp_path / "fuzz.npz", CaptioningRNN.load, same, 400, seed=0)
    assert counts["different"] == 0 and counts["error"] > 300, counts


def test_fuzzed_checkpoints_resume_equal_or_raise_value_error(tmp_path, rng):
    solver, data = trained_solver(tmp_path, rng)
    blob = (tmp_path / "checkpoint.npz").read_bytes()

    def load(path):
        return CaptioningSolver(small_model(rng=4), data, update_rule="adam", verbose=False,
                                resume_from=path)

    def same(s):
        return s.iteration == solver.iteration and all(
            np.array_equal(s.model.params[k], solver.model.params[k]) for k in s.model.params)

    counts = _fuzz(blob, tmp_path / "fuzz.npz", load, same, 300, seed=1)
    assert counts["different"] == 0 and counts["error"] > 200, counts


def test_fuzzed_hdf5_files_load_or_raise_value_error(tmp_path, rng):
    """HDF5 has no checksums over data: a flipped byte in an array loads as a
    different number that passes every check. What must never happen is an
    error of another kind; values out of range are refused."""
    folder = tmp_path / "coco"
    write_coco_folder(folder, rng)
    target = folder / "coco2014_captions.h5"
    blob = target.read_bytes()
    counts = _fuzz(blob, target, lambda _: cu.load_coco_data(folder), lambda d: True, 300,
                   seed=2)
    assert counts["error"] > 30, counts
