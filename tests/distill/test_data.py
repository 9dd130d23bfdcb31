"""Recorded runs on disk → the training set: the level-1 archive np.load reads, patch layout, and
DAgger rounds extending a loaded set instead of reading every run again."""

import numpy as np
import pytest

from tools.distill import spec
from tools.distill.data import frame_patches, load_runs
from tools.distill.record import save_npz

REASONS = ["following the lane at 8 m/s", "stopping for the lead vehicle 10 m ahead", "turning left at the junction"]


def _run(path, n, seed):
    rng = np.random.default_rng(seed)
    arrays = dict(
        image=rng.integers(0, 256, (n, spec.IMAGE.channels, spec.IMAGE.height, spec.IMAGE.width), dtype=np.uint8),
        nav=rng.normal(size=(n, 9 + 2 * spec.ROUTE_POINTS)).astype(np.float32),
        ego=rng.normal(size=(n, len(spec.EGO_FEATURES))).astype(np.float32),
        trajectory=rng.normal(size=(n, spec.POINTS, 2)).astype(np.float32),
        speed=rng.uniform(0, 10, (n, spec.POINTS)).astype(np.float32),
        reason=np.asarray([REASONS[i % len(REASONS)] for i in range(seed, seed + n)]),
    )
    save_npz(path, **arrays, record_s=np.float32(1.5))
    return arrays


def test_saved_runs_read_back_equal(tmp_path):
    arrays = _run(tmp_path / "a.npz", 4, 0)
    with np.load(tmp_path / "a.npz") as back:
        assert set(back.files) == set(arrays) | {"record_s"}
        for k, v in arrays.items():
            np.testing.assert_array_equal(back[k], v)


def test_frame_patches_holds_each_4x4_patch_channel_by_channel():
    img = np.arange(spec.IMAGE.channels * spec.IMAGE.height * spec.IMAGE.width, dtype=np.int64) % 251
    img = img.reshape(1, spec.IMAGE.channels, spec.IMAGE.height, spec.IMAGE.width).astype(np.uint8)
    p = frame_patches(img)
    assert p.shape == (1,) + spec.PATCH_GRID + (spec.FRAME_PATCH,)
    s = spec.PATCH_SIDE
    np.testing.assert_array_equal(p[0, 2, 5], img[0, :, 2 * s : 3 * s, 5 * s : 6 * s].reshape(-1))


def test_a_loaded_set_extended_with_new_runs_equals_loading_them_all(tmp_path):
    paths = [tmp_path / f"r{i}.npz" for i in range(3)]
    runs = [_run(p, n, seed) for p, n, seed in zip(paths, (5, 3, 4), (0, 1, 2))]
    whole = load_runs(paths)
    first = load_runs(paths[:2])
    extended = load_runs(paths, loaded=first)
    assert len(whole) == len(extended) == 12 and extended.vocab == first.vocab == whole.vocab
    assert extended.templates == first.templates == whole.templates
    for k in ("image", "run_start", "nav", "ego", "trajectory", "speed", "tokens", "reasons", "template", "number"):
        np.testing.assert_array_equal(getattr(extended, k), getattr(whole, k))
    # each frame knows its run's first frame, across the joins too; history never reaches into the run before
    np.testing.assert_array_equal(whole.run_start, [0] * 5 + [5] * 3 + [8] * 4)
    np.testing.assert_array_equal(whole.back(np.arange(12), 1), [0, 0, 1, 2, 3, 5, 5, 6, 8, 8, 9, 10])
    np.testing.assert_array_equal(whole.back(np.arange(12), 3), [0, 0, 0, 0, 1, 5, 5, 5, 8, 8, 8, 8])
    np.testing.assert_array_equal(whole.image[8], frame_patches(runs[2]["image"][:1])[0])
    with pytest.raises(ValueError, match="prefix"):
        load_runs(paths[1:], loaded=first)


def test_each_frame_is_labelled_with_its_phrase_and_number(tmp_path):
    runs = [_run(tmp_path / "a.npz", 6, 0)]
    ts = load_runs([tmp_path / "a.npz"])
    for k, reason in enumerate(runs[0]["reason"]):
        template, number = spec.template_of(str(reason))
        assert ts.templates[ts.template[k]] == template
        assert (np.isnan(ts.number[k]) and number is None) or ts.number[k] == number


def test_a_phrase_first_seen_in_a_later_round_is_left_out_of_the_phrase_loss(tmp_path):
    _run(tmp_path / "a.npz", 3, 0)
    first = load_runs([tmp_path / "a.npz"])
    save_npz(
        tmp_path / "b.npz",
        **{
            **{k: v[:1] for k, v in dict(np.load(tmp_path / "a.npz")).items() if k != "record_s"},
            "reason": np.asarray(["a phrase never seen before"]),
        },
    )
    extended = load_runs([tmp_path / "a.npz", tmp_path / "b.npz"], loaded=first)
    assert extended.template[-1] == -1 and extended.templates == first.templates
