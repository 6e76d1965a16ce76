"""The helpers behind README figures in benchmarks/bench_pipeline.py and
the "uncached" column of benchmarks/bench_captioning.py."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from captioning_rnn import CaptioningRNN  # noqa: E402
import bench_captioning  # noqa: E402
import bench_pipeline  # noqa: E402
from rnn_captioning.scenes import dataset as sd  # noqa: E402

SMALL = dict(num_train=40, num_val=10, num_test=6, num_novel=4)


@pytest.mark.parametrize("one_process", [False, True])
def test_generation_is_timed_and_the_process_setting_put_back(tmp_path, one_process):
    before = sd._PARALLEL_FROM
    seconds = bench_pipeline.generation_seconds(tmp_path / "ds", one_process, **SMALL)
    assert seconds > 0 and sd._PARALLEL_FROM == before
    assert (tmp_path / "ds" / "DONE.json").is_file()


def test_generation_setting_put_back_on_error(tmp_path):
    before = sd._PARALLEL_FROM
    with pytest.raises(ValueError, match="num_train"):
        bench_pipeline.generation_seconds(tmp_path / "ds", True, num_train=0)
    assert sd._PARALLEL_FROM == before


def test_feature_time_and_meteor_without_java(tmp_path, monkeypatch):
    folder = sd.generate_dataset(tmp_path / "ds", seed=1, **SMALL)
    assert bench_pipeline.feature_ms_per_image(folder, count=8, repeat=1) > 0
    monkeypatch.setattr(bench_pipeline.shutil, "which", lambda name: None)
    assert bench_pipeline.meteor_seconds(folder, images=5) is None


def test_uncached_greedy_recomputes_the_table_and_keeps_the_cache(monkeypatch):
    model, features, _ = bench_captioning.make_problem("standard", "rnn", "coco")
    features = features[:4]
    expected = model.sample(features, max_length=bench_captioning.MAX_LENGTH)
    cache = model._table_cache
    seen, real = [], CaptioningRNN._word_table

    def spy(self):
        seen.append(self._table_cache)
        return real(self)

    monkeypatch.setattr(CaptioningRNN, "_word_table", spy)
    got = bench_captioning.uncached_greedy(model, features)
    np.testing.assert_array_equal(got, expected)
    assert seen == [None] and model._table_cache is cache


def test_feature_levers_transforms(rng):
    """benchmarks/feature_levers.py: each way of making the captioner's input
    has the documented width, and std-pca spans the top principal axes of the
    standardised data (checked against an SVD) at the dataset's spread."""
    import feature_levers
    raw = rng.standard_normal((600, 1024)) * rng.uniform(0.1, 5.0, 1024) + 3.0
    for kind, width in (("raw-pca", 512), ("std-pca", 512), ("whitened", 512),
                        ("std-raw", 1024)):
        out = feature_levers.transform(kind, raw)(raw)
        assert out.shape == (600, width), kind
        np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5, err_msg=kind)
    z = (raw - raw.mean(0)) / (raw.std(0) + 1e-6)
    np.testing.assert_allclose(feature_levers.transform("std-raw", raw)(raw), z, rtol=1e-12)
    np.testing.assert_allclose(feature_levers.transform("whitened", raw)(raw).std(axis=0), 1,
                               rtol=1e-8)
    got = feature_levers.transform("std-pca", raw)(raw).astype(np.float64)
    assert got.std() == pytest.approx(0.3, rel=1e-5)
    variances = got.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-6 * variances[0])   # by decreasing spread
    top = np.linalg.svd(z - z.mean(0), compute_uv=False)[:512] ** 2
    np.testing.assert_allclose(variances / variances.sum(), top / top.sum(), rtol=1e-3)
    raw_top = np.linalg.svd(raw - raw.mean(0), compute_uv=False)[:512] ** 2 / 600
    np.testing.assert_allclose(feature_levers.transform("raw-pca", raw)(raw).var(axis=0),
                               raw_top, rtol=1e-8)


def test_feature_levers_cut_out_the_smaller_extractors(monkeypatch):
    """The columns feature_levers keeps for a 64-filter bank are what that
    bank's extractor gives; one scale and no whole-image maximum keep
    the documented parts."""
    import feature_levers
    from rnn_captioning.scenes import features
    images = np.random.default_rng(5).integers(0, 256, (3, 64, 64, 3)).astype(np.uint8)
    full = features.extract(images)
    monkeypatch.setattr(features, "K2", 64)
    small = features.extract(images)
    monkeypatch.undo()
    # equal up to float32 rounding: BLAS blocks a narrower product differently
    np.testing.assert_allclose(full[:, feature_levers.feature_columns(2, 64)], small,
                               rtol=1e-5, atol=1e-5)
    half = full.shape[1] // 2
    np.testing.assert_array_equal(feature_levers.feature_columns(1), np.arange(half))
    no_top = feature_levers.feature_columns(1, 128, whole_image=False)
    np.testing.assert_array_equal(no_top, np.arange(half - 2 * 128))
