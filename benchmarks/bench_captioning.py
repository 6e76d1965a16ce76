"""Speed and memory of the captioning model against PyTorch's fastest CPU
path (nn.RNN / nn.LSTM, with pack_padded_sequence when captions are shorter
than the window), against per-step PyTorch cells, and against a
straightforward per-timestep NumPy implementation (kept below as the
baseline), all on the same weights.

    python benchmarks/bench_captioning.py               # standard and large sizes
    python benchmarks/bench_captioning.py --sizes standard --repeat 10
    python benchmarks/bench_captioning.py --scale       # + loading COCO-sized files

Two caption-length cases: "full" (every caption fills the 16-step window) and
"coco" (lengths drawn from COCO's; see COCO_WORDS). Before timing, losses and
gradients of all implementations are compared. The implementations of one
task are timed interleaved (A, B, C, A, B, C, ...) in this one process, so that
the machine's load falls on all of them alike; the load average is printed
before and after. Figures are medians in milliseconds; ratios are library time
/ other time (below 1: the library is faster); "products" is the time of the
matrix products the library actually performs for that task (packed rows
only), the floor its element-wise work and Python add to; "uncached" is
greedy sampling with the library's word table recomputed at each call.
PyTorch is optional: `pip install torch==2.13.0` (a CPU build on this machine).
"""
import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captioning_rnn import CaptioningRNN  # noqa: E402

try:
    import torch
except ImportError:  # the comparison is optional
    torch = None

SIZES = {
    "standard": dict(N=128, T=16, D=512, W=256, H=512, V=1004),
    "large": dict(N=512, T=16, D=512, W=256, H=1024, V=1004),
}
MAX_LENGTH = 16
BEAM = 3
# Words per caption in COCO 2014 train (the exercise's files keep at most 15
# words, 17 tokens with <START> and <END>): a histogram that matches the
# published mean of 10.5 words per caption (Chen et al., "Microsoft COCO
# Captions: Data Collection and Evaluation Server", arXiv:1504.00325, 2015)
# and the usual shape of its length histogram (mode 9-10 words, few under 8).
# An approximation, stated as such: the real files are not on this machine.
COCO_WORDS = {7: 0.02, 8: 0.12, 9: 0.22, 10: 0.22, 11: 0.15, 12: 0.10, 13: 0.07,
              14: 0.05, 15: 0.05}


# ----------------------------------------------------------------------------
# The baseline: the exercise's straightforward style, one timestep at a time
# ----------------------------------------------------------------------------

def masked_sigmoid(x):
    """The exercise's numerically stable sigmoid, by boolean masks."""
    pos, neg = x >= 0, x < 0
    z = np.zeros_like(x)
    z[pos] = np.exp(-x[pos])
    z[neg] = np.exp(x[neg])
    top = np.ones_like(x)
    top[neg] = z[neg]
    return top / (1 + z)


def baseline_step(x, h, c, p, cell):
    a = x @ p["Wx"] + h @ p["Wh"] + p["b"]
    if cell == "rnn":
        next_h = np.tanh(a)
        return next_h, None, (x, h, next_h)
    H = h.shape[1]
    i, f, o = masked_sigmoid(a[:, :H]), masked_sigmoid(a[:, H:2 * H]), masked_sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, h, c, i, f, o, g, next_c)


def baseline_step_backward(dh, dc, cache, p, cell):
    if cell == "rnn":
        x, h, next_h = cache
        da = dh * (1 - next_h ** 2)
        dc_prev = None
    else:
        x, h, c, i, f, o, g, next_c = cache
        tc = np.tanh(next_c)
        dc = dc + dh * o * (1 - tc ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f),
                             dh * tc * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
        dc_prev = dc * f
    return (da @ p["Wx"].T, da @ p["Wh"].T, dc_prev, x.T @ da, h.T @ da, da.sum(axis=0))


def baseline_loss(p, features, captions, cell, null=0):
    """Loss and gradients, written as the exercise's straightforward layers."""
    cin, cout = captions[:, :-1], captions[:, 1:]
    mask = cout != null
    N, T = cin.shape
    H = p["Wh"].shape[0]
    h0 = features @ p["W_proj"] + p["b_proj"]
    x = p["W_embed"][cin]
    h, c = h0, np.zeros_like(h0)
    hs, caches = np.zeros((N, T, H), dtype=h0.dtype), []
    for t in range(T):
        h, c, cache = baseline_step(x[:, t], h, c, p, cell)
        hs[:, t] = h
        caches.append(cache)
    V = p["W_vocab"].shape[1]
    scores = (hs.reshape(N * T, H) @ p["W_vocab"] + p["b_vocab"]).reshape(N, T, V)
    flat, y, m = scores.reshape(N * T, V), cout.reshape(N * T), mask.reshape(N * T)
    probs = np.exp(flat - flat.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.sum(m * np.log(probs[np.arange(N * T), y])) / N
    dflat = probs.copy()
    dflat[np.arange(N * T), y] -= 1
    dflat /= N
    dflat *= m[:, None]
    grads = {"W_vocab": hs.reshape(N * T, H).T @ dflat, "b_vocab": dflat.sum(axis=0)}
    dhs = (dflat @ p["W_vocab"].T).reshape(N, T, H)
    dx = np.zeros_like(x)
    gW = {k: np.zeros_like(p[k]) for k in ("Wx", "Wh", "b")}
    dh, dc = np.zeros_like(h0), np.zeros_like(h0)
    for t in reversed(range(T)):
        dx[:, t], dh, dc, dWx, dWh, db = baseline_step_backward(dhs[:, t] + dh, dc, caches[t], p, cell)
        gW["Wx"] += dWx
        gW["Wh"] += dWh
        gW["b"] += db
    grads.update(gW)
    dW_embed = np.zeros_like(p["W_embed"])
    np.add.at(dW_embed, cin, dx)
    grads.update(W_embed=dW_embed, W_proj=features.T @ dh, b_proj=dh.sum(axis=0))
    return float(loss), grads


def baseline_greedy(p, features, cell, start=1, max_length=MAX_LENGTH):
    h = features @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    words = np.full(len(features), start)
    out = []
    for _ in range(max_length):
        h, c, _ = baseline_step(p["W_embed"][words], h, c, p, cell)
        words = (h @ p["W_vocab"] + p["b_vocab"]).argmax(axis=1)
        out.append(words)
    return np.stack(out, axis=1)


def baseline_beam(p, features, cell, beam=BEAM, start=1, end=2, max_length=MAX_LENGTH):
    """A classic per-image beam search: a Python list of hypotheses."""
    results = []
    for f in features:
        h0 = f[None] @ p["W_proj"] + p["b_proj"]
        beams = [(0.0, [start], h0, np.zeros_like(h0))]
        done = []
        for _ in range(max_length):
            cand = []
            for lp, words, h, c in beams:
                nh, nc, _ = baseline_step(p["W_embed"][[words[-1]]], h, c, p, cell)
                s = (nh @ p["W_vocab"] + p["b_vocab"])[0]
                logp = s - s.max() - np.log(np.exp(s - s.max()).sum())
                for w in np.argsort(-logp)[:beam]:
                    cand.append((lp + logp[w], words + [int(w)], nh, nc))
            cand.sort(key=lambda z: -z[0])
            beams = []
            for hyp in cand[:beam]:
                (done if hyp[1][-1] == end else beams).append(hyp)
            if not beams:
                break
        results.append(max(done + beams, key=lambda z: z[0])[1][1:])
    return results


# ----------------------------------------------------------------------------
# PyTorch with the same weights
# ----------------------------------------------------------------------------

def torch_params(p):
    return {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}


def torch_loss_eager(tp, features, captions, cell, null=0):
    """Per-step cells in eager PyTorch; input projection in one product."""
    cin = torch.as_tensor(captions[:, :-1], dtype=torch.long)
    cout = torch.as_tensor(captions[:, 1:], dtype=torch.long)
    N, T = cin.shape
    H = tp["Wh"].shape[0]
    h = torch.as_tensor(features) @ tp["W_proj"] + tp["b_proj"]
    c = torch.zeros_like(h)
    xa = tp["W_embed"][cin] @ tp["Wx"] + tp["b"]
    hs = []
    for t in range(T):
        a = xa[:, t] + h @ tp["Wh"]
        if cell == "rnn":
            h = torch.tanh(a)
        else:
            ifo = torch.sigmoid(a[:, :3 * H])
            g = torch.tanh(a[:, 3 * H:])
            c = ifo[:, H:2 * H] * c + ifo[:, :H] * g
            h = ifo[:, 2 * H:] * torch.tanh(c)
        hs.append(h)
    return _torch_vocab_loss(tp, torch.stack(hs, dim=1), cout, null, N)


def _torch_vocab_loss(tp, hs, cout, null, N):
    scores = hs @ tp["W_vocab"] + tp["b_vocab"]
    V = scores.shape[2]
    ce = torch.nn.functional.cross_entropy(scores.reshape(-1, V), cout.reshape(-1),
                                           reduction="none")
    return (ce * (cout.reshape(-1) != null)).sum() / N


def torch_fused_module(p, cell):
    """nn.RNN / nn.LSTM holding our weights (gates i, f, o, g -> i, f, g, o)."""
    W, kH = p["Wx"].shape
    H = p["Wh"].shape[0]
    mod = (torch.nn.RNN(W, H, batch_first=True) if cell == "rnn"
           else torch.nn.LSTM(W, H, batch_first=True))
    perm = np.arange(kH) if cell == "rnn" else np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.tensor(p["Wx"][:, perm].T))
        mod.weight_hh_l0.copy_(torch.tensor(p["Wh"][:, perm].T))
        mod.bias_ih_l0.copy_(torch.tensor(p["b"][perm]))
        mod.bias_hh_l0.zero_()
    return mod


def torch_loss_fused(tp, mod, features, captions, cell, null=0):
    cin = torch.as_tensor(captions[:, :-1], dtype=torch.long)
    cout = torch.as_tensor(captions[:, 1:], dtype=torch.long)
    h0 = (torch.as_tensor(features) @ tp["W_proj"] + tp["b_proj"])[None]
    x = tp["W_embed"][cin]
    hs, _ = mod(x, h0) if cell == "rnn" else mod(x, (h0, torch.zeros_like(h0)))
    return _torch_vocab_loss(tp, hs, cout, null, len(cin))


def torch_loss_packed(tp, mod, features, captions, cell, null=0):
    """nn.RNN / nn.LSTM on a PackedSequence, scores only for the packed rows:
    what a PyTorch user runs on captions of different lengths."""
    from torch.nn.utils.rnn import pack_padded_sequence
    cin = torch.as_tensor(captions[:, :-1], dtype=torch.long)
    cout = torch.as_tensor(captions[:, 1:], dtype=torch.long)
    lengths = (cout != null).sum(dim=1)
    h0 = (torch.as_tensor(features) @ tp["W_proj"] + tp["b_proj"])[None]
    x = pack_padded_sequence(tp["W_embed"][cin], lengths, batch_first=True,
                             enforce_sorted=False)
    out, _ = mod(x, h0) if cell == "rnn" else mod(x, (h0, torch.zeros_like(h0)))
    targets = pack_padded_sequence(cout, lengths, batch_first=True, enforce_sorted=False)
    scores = out.data @ tp["W_vocab"] + tp["b_vocab"]
    return torch.nn.functional.cross_entropy(scores, targets.data, reduction="sum") / len(cin)


def torch_greedy(tp, features, cell, start=1, max_length=MAX_LENGTH):
    with torch.no_grad():
        H = tp["Wh"].shape[0]
        h = torch.as_tensor(features) @ tp["W_proj"] + tp["b_proj"]
        c = torch.zeros_like(h)
        table = tp["W_embed"] @ tp["Wx"] + tp["b"]
        words = torch.full((len(features),), start, dtype=torch.long)
        out = []
        for _ in range(max_length):
            a = table[words] + h @ tp["Wh"]
            if cell == "rnn":
                h = torch.tanh(a)
            else:
                ifo = torch.sigmoid(a[:, :3 * H])
                c = ifo[:, H:2 * H] * c + ifo[:, :H] * torch.tanh(a[:, 3 * H:])
                h = ifo[:, 2 * H:] * torch.tanh(c)
            words = (h @ tp["W_vocab"] + tp["b_vocab"]).argmax(dim=1)
            out.append(words)
        return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------

def interleaved_ms(fns, repeat, warmup=1):
    """Medians in ms of each named callable, run in turns A, B, C, A, B, C, ...
    so that changes in the machine's load reach all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def peak_mib(fn):
    """Peak of memory traced by Python's tracemalloc (NumPy reports its
    buffers to it) during one call, in MiB."""
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2 ** 20


def caption_words(case, N, T, rng):
    """Words per caption: T - 1 for "full" (with <END>, T targets), else drawn
    from COCO_WORDS."""
    if case == "full":
        return np.full(N, T - 1)
    words, probs = zip(*COCO_WORDS.items())
    return rng.choice(words, size=N, p=probs)


def make_problem(size, cell, case, seed=0):
    s = SIZES[size]
    rng = np.random.default_rng(seed)
    words = ["<NULL>", "<START>", "<END>"] + [f"w{i}" for i in range(s["V"] - 3)]
    model = CaptioningRNN({w: i for i, w in enumerate(words)}, input_dim=s["D"],
                          wordvec_dim=s["W"], hidden_dim=s["H"], cell_type=cell, rng=seed)
    model.params["b_vocab"] = rng.standard_normal(s["V"]).astype(np.float32)
    features = rng.standard_normal((s["N"], s["D"])).astype(np.float32)
    captions = rng.integers(3, s["V"], size=(s["N"], s["T"] + 1))
    captions[:, 0] = 1
    for n, L in enumerate(caption_words(case, s["N"], s["T"], rng)):   # <END>, <NULL>s
        captions[n, L + 1] = 2
        captions[n, L + 2:] = 0
    return model, features, captions


def cache_bytes(model, features, captions):
    """MiB held by the caches of the model's forward pass (what its backward
    keeps), not counting parameters and inputs."""
    p = model.params
    skip = {id(v) for v in p.values()} | {id(features), id(captions)}
    caches = model._forward(features, captions, with_grads=True)[2]
    seen = set()

    def walk(obj):
        if isinstance(obj, tuple):
            return sum(walk(o) for o in obj)
        if not isinstance(obj, np.ndarray):
            return 0
        base = obj
        while base.base is not None:
            base = base.base
        if id(base) in seen or id(base) in skip or id(obj) in skip:
            return 0
        seen.add(id(base))
        return base.nbytes

    return walk(caches) / 2 ** 20


def library_products(model, features, captions):
    """The (m, k) x (k, n) shapes of the matrix products the library performs
    in one training step and in greedy sampling, packed rows only."""
    import rnn_layers as rl
    p, N, T = model.params, len(features), captions.shape[1] - 1
    V, W = p["W_embed"].shape
    H, kH = p["Wh"].shape
    D = p["W_proj"].shape[0]
    mask = captions[:, 1:] != 0
    steps = rl.active_rows(np.sort(rl.sequence_lengths(mask))[::-1], N, T)
    M = int(mask.sum())                              # targets the mask counts
    words = ([(V, W, kH), (V, kH, W), (W, V, kH)] if V < N * T else
             [(N * T, W, kH), (N * T, kH, W), (W, N * T, kH)])
    recurrence = ([(n, H, kH) for n in steps] + [(n, kH, H) for n in steps]
                  + [(H, sum(steps), kH)])
    train = ([(N, D, H), (D, N, H)] + words + recurrence
             + [(M, H, V), (M, V, H), (H, M, V)])
    greedy = [(N, H, kH), (N, H, V)] * MAX_LENGTH
    return train, greedy


def products_ms(shapes, repeat):
    """Median time of the given products alone, on random float32 arrays."""
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((m, k), dtype=np.float32),
              rng.standard_normal((k, n), dtype=np.float32)) for m, k, n in shapes]

    def run():
        for a, b in pairs:
            a @ b

    return interleaved_ms({"products": run}, repeat)["products"]


def gflop(shapes):
    return sum(2 * m * k * n for m, k, n in shapes) / 1e9


def check_agreement(model, features, captions, cell):
    """Losses and gradients of all implementations must agree."""
    loss, grads = model.loss(features, captions)
    bl, bgrads = baseline_loss(model.params, features, captions, cell)
    worst = max(_rel(grads[k], bgrads[k]) for k in grads)
    line = f"    check vs baseline: loss {loss:.5f} vs {bl:.5f}, worst gradient rel. diff {worst:.1e}"
    assert abs(loss - bl) <= 1e-4 * abs(bl) and worst < 1e-2, line
    if torch is not None:
        for name, fn in torch_losses(model.params, features, captions, cell).items():
            tp = torch_params(model.params)
            tl = fn(tp)
            tl.backward()
            tworst = max(_rel(grads[k], tp[k].grad.numpy()) for k in grads
                         if tp[k].grad is not None)
            line += f"; {name} loss {tl.item():.5f}, worst {tworst:.1e}"
            assert abs(loss - tl.item()) <= 1e-4 * abs(loss) and tworst < 1e-2, line
    print(line)


def torch_losses(p, features, captions, cell):
    """The PyTorch training losses compared, by column name."""
    mod = torch_fused_module(p, cell)
    return {"torch nn packed": lambda tp: torch_loss_packed(tp, mod, features, captions, cell),
            "torch nn": lambda tp: torch_loss_fused(tp, mod, features, captions, cell),
            "torch eager": lambda tp: torch_loss_eager(tp, features, captions, cell)}


def _rel(a, b):
    """Largest difference relative to the array's scale (float32 noise ~1e-6)."""
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def torch_step(loss_fn, tp):
    def step():
        for v in tp.values():
            v.grad = None
        loss_fn(tp).backward()
    return step


def unpacked_loss(model, features, captions):
    model.pack_sequences = False
    try:
        return model.loss(features, captions)
    finally:
        model.pack_sequences = True


def uncached_greedy(model, features):
    """Greedy sampling with the word table W_embed @ Wx + b computed afresh,
    as when the weights have changed since the last call; the library's cache
    is put back after, so the "library" column keeps it."""
    kept = getattr(model, "_table_cache", None)
    model._table_cache = None
    try:
        return model.sample(features, max_length=MAX_LENGTH)
    finally:
        model._table_cache = kept


def bench_case(size, cell, case, repeat):
    model, features, captions = make_problem(size, cell, case)
    p = model.params
    s = SIZES[size]
    print(f"  {size} {cell} {case}: N={s['N']} T={s['T']} H={s['H']}", flush=True)
    check_agreement(model, features, captions, cell)
    train_shapes, greedy_shapes = library_products(model, features, captions)
    row = {"size": size, "cell": cell, "case": case,
           "train_gflop": gflop(train_shapes), "greedy_gflop": gflop(greedy_shapes),
           "train_products": products_ms(train_shapes, repeat),
           "greedy_products": products_ms(greedy_shapes, repeat)}
    train = {"library": lambda: model.loss(features, captions),
             "unpacked": lambda: unpacked_loss(model, features, captions)}
    greedy = {"library": lambda: model.sample(features, max_length=MAX_LENGTH),
              "uncached": lambda: uncached_greedy(model, features),
              "baseline": lambda: baseline_greedy(p, features, cell)}
    if torch is not None:
        tp = torch_params(p)
        for name, fn in torch_losses(p, features, captions, cell).items():
            train[name] = torch_step(fn, tp)
        greedy["torch"] = lambda: torch_greedy(tp, features, cell)
    train["baseline"] = lambda: baseline_loss(p, features, captions, cell)
    row["train"] = interleaved_ms(train, repeat)
    row["greedy"] = interleaved_ms(greedy, repeat)
    nb = min(len(features), 64)                      # the per-image baseline is slow
    beam = interleaved_ms({"library": lambda: model.beam_search(features[:nb], BEAM, MAX_LENGTH),
                           "baseline": lambda: baseline_beam(p, features[:nb], cell)},
                          max(1, repeat // 5), warmup=0)
    row["beam"] = {k: v * len(features) / nb for k, v in beam.items()}
    row["peak_mib"] = peak_mib(lambda: model.loss(features, captions))
    row["peak_base_mib"] = peak_mib(lambda: baseline_loss(p, features, captions, cell))
    row["cache_mib"] = cache_bytes(model, features, captions)
    return row


COLUMNS = ("library", "products", "torch nn packed", "torch nn", "torch", "torch eager",
           "unpacked", "uncached", "baseline")


def print_table(rows):
    print("\nmedians in ms; (x) = library / that column, < 1 is faster; 'products' is the"
          "\nlibrary's own matrix products alone (the floor), with their GFLOP")
    print(f"{'case':22s} {'task':7s} " + " ".join(f"{c:>17s}" for c in COLUMNS))
    for r in rows:
        case = f"{r['size']} {r['cell']} {r['case']}"
        for task in ("train", "greedy", "beam"):
            times = dict(r[task])
            if f"{task}_products" in r:
                times["products"] = r[f"{task}_products"]
            ours = times["library"]
            cells = []
            for c in COLUMNS:
                if c not in times:
                    cells.append(f"{'':>17s}")
                elif c == "library":
                    cells.append(f"{ours:17.1f}")
                elif c == "products":
                    cells.append(f"{times[c]:8.1f} {r[task + '_gflop']:4.1f}GF ")
                else:
                    cells.append(f"{times[c]:9.1f} ({ours / times[c]:4.2f})")
            print(f"{case:22s} {task:7s} " + " ".join(cells))
    print("\npeak traced memory of one training step (MiB) and what the caches hold")
    for r in rows:
        print(f"{r['size']:9s} {r['cell']:5s} {r['case']:5s} library {r['peak_mib']:7.1f}  "
              f"baseline {r['peak_base_mib']:7.1f}  caches {r['cache_mib']:6.1f}")


# ----------------------------------------------------------------------------
# Scale: loading COCO-sized files
# ----------------------------------------------------------------------------

def bench_scale(folder, step_ms):
    import h5py
    import coco_utils
    folder = Path(folder)
    rng = np.random.default_rng(0)
    sizes = {"train": (400135, 82783), "val": (195954, 40504)}
    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "coco2014_captions.h5", "w") as f:
        for split, (n_caps, n_img) in sizes.items():
            caps = rng.integers(4, 1004, size=(n_caps, 17)).astype(np.int32)
            caps[:, 0] = 1
            f[f"{split}_captions"] = caps
            f[f"{split}_image_idxs"] = rng.integers(0, n_img, size=n_caps).astype(np.int32)
    for split, (_, n_img) in sizes.items():
        for suffix, D in (("_pca", 512), ("", 4096)):
            with h5py.File(folder / f"{split}2014_vgg16_fc7{suffix}.h5", "w") as f:
                ds = f.create_dataset("features", shape=(n_img, D), dtype=np.float32)
                for lo in range(0, n_img, 8192):
                    hi = min(n_img, lo + 8192)
                    ds[lo:hi] = rng.standard_normal((hi - lo, D), dtype=np.float32)
        (folder / f"{split}2014_urls.txt").write_text(
            "\n".join(f"http://example.invalid/{i}.jpg" for i in range(n_img)) + "\n")
    words = ["<NULL>", "<START>", "<END>", "<UNK>"] + [f"w{i}" for i in range(1000)]
    (folder / "coco2014_vocab.json").write_text(json.dumps(
        {"idx_to_word": words, "word_to_idx": {w: i for i, w in enumerate(words)}}))
    print(f"\nscale: wrote COCO-sized files in {time.perf_counter() - t0:.0f} s")
    for label, kw in (("PCA-512 features", {}), ("4,096-wide features", {"pca_features": False}),
                      ("4,096-wide, lazy", {"pca_features": False, "lazy_features": True})):
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        data = coco_utils.load_coco_data(folder, **kw)
        secs = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        nbytes = sum(v.nbytes for v in data.values() if isinstance(v, np.ndarray))
        print(f"  load_coco_data, {label:20s} {secs:6.1f} s, peak {peak / 2 ** 30:5.2f} GiB "
              f"for {nbytes / 2 ** 30:5.2f} GiB of arrays ({peak / nbytes:.2f}x)")
        del data
    iters = 400135 // 128
    for cell, ms in step_ms.items():
        print(f"  one epoch at the standard size, {cell}: {iters} steps x {ms:.1f} ms "
              f"= {iters * ms / 1000 / 60:.1f} min of loss and gradients")


def load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="standard,large",
                    help="model sizes to time, comma-separated (default: %(default)s)")
    ap.add_argument("--cells", default="rnn,lstm",
                    help="cell types, comma-separated (default: %(default)s)")
    ap.add_argument("--cases", default="coco,full",
                    help="workloads, comma-separated (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=11,
                    help="timed repetitions; the median is shown (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--scale", action="store_true", help="also time loading COCO-sized files")
    ap.add_argument("--scale-dir", default=None, help="where to write them (default: a temp dir)")
    args = ap.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    print(f"numpy {np.__version__}, {os.cpu_count()} cores, torch "
          f"{torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'not installed'}")
    print(f"before: {load()}", flush=True)
    rows = [bench_case(size, cell, case, args.repeat) for size in args.sizes.split(",")
            for cell in args.cells.split(",") for case in args.cases.split(",")]
    print(f"after: {load()}")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.scale:
        step_ms = {r["cell"]: r["train"]["library"] for r in rows
                   if r["size"] == "standard" and r["case"] == "coco"}
        with tempfile.TemporaryDirectory(dir=args.scale_dir) as tmp:
            bench_scale(Path(tmp) / "coco_captioning", step_ms)


if __name__ == "__main__":
    main()
