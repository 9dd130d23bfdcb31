"""Data collection: every frame the policy sees is recorded with the runtime's own preprocessing and
features, labelled with the expert's plan; the DART noise moves the car but not the labels."""

import numpy as np

from sim_bridge.embedded.drive import DriveOptions, run_drive
from tools.distill import spec
from tools.distill.record import RecordingPolicy


def _drive(noise: float, seconds: float = 6.0):
    holder = []

    def factory(expert, cfg):
        holder.append(RecordingPolicy(expert, None, noise, seed=5))
        return holder[0]

    result = run_drive(DriveOptions(scenario="lead_braking", seed=5, duration_s=seconds, policy_factory=factory))
    return result, holder[0].arrays()


def test_every_policy_call_is_recorded_with_the_runtime_features_and_expert_labels():
    result, data = _drive(0.0)
    n = len(data["image"])
    assert n == len(result.reasoning) > 50  # one row per policy output the runtime used
    assert data["image"].shape == (n, 3, spec.IMAGE.height, spec.IMAGE.width) and data["image"].dtype == np.uint8
    assert data["nav"].shape == (n, 9 + 2 * spec.ROUTE_POINTS) and data["ego"].shape == (n, len(spec.EGO_FEATURES))
    # the route feature holds 40 distinct points 2 m apart (the fusion gives as many as the student reads)
    route = data["nav"][10, 9:].reshape(spec.ROUTE_POINTS, 2)
    steps = np.linalg.norm(np.diff(route, axis=0), axis=1)
    assert np.all(np.abs(steps - spec.ROUTE_SPACING_M) < 0.05)
    # without noise the expert drives: what was recorded is what the runtime was told
    assert [r for _, r in result.reasoning] == list(data["reason"])
    assert np.all(data["speed"] >= 0.0) and data["trajectory"].shape == (n, spec.POINTS, 2)
    assert data["image"].std() > 10  # a real rendered scene, not a blank buffer


def test_dart_noise_perturbs_the_drive_but_labels_stay_the_experts_plan():
    clean, _ = _drive(0.0)
    noisy, data = _drive(1.0)
    lateral_clean = np.abs(clean.timeline["lateral"]).max()
    lateral_noisy = np.abs(noisy.timeline["lateral"]).max()
    assert lateral_noisy > lateral_clean + 0.1
    # labels point back to the route: their first point's lateral offset mirrors the car's own
    assert np.abs(data["trajectory"][:, 0, 1]).max() > 0.1


def test_the_leads_exact_gap_and_speed_are_recorded_beside_the_phrase_that_rounds_them():
    """Privileged labels for the student's auxiliary lead head: the gap the phrase names in 5 m steps,
    exact; nan where the expert saw no lead."""
    _, data = _drive(0.0, seconds=12.0)
    gap, speed = data["lead_gap_m"], data["lead_speed_mps"]
    assert gap.shape == speed.shape == (len(data["reason"]),)
    named = [(k, int(w)) for k, r in enumerate(data["reason"]) if "lead vehicle" in r for w in r.split() if w.isdigit()]
    assert len(named) > 20
    for k, number in named:
        assert 5 * round(gap[k] / 5) == number, (data["reason"][k], gap[k])
    assert np.all(np.isfinite(speed[[k for k, _ in named]])) and np.all(speed[np.isfinite(speed)] >= 0.0)
    assert np.isnan(gap).sum() == np.isnan(speed).sum()


def test_a_run_at_another_camera_size_renders_the_front_camera_at_that_size(tmp_path):
    from tools.distill.record import rig_with_size
    from vehicle_runtime.camera_rig import load_camera_rig

    default = load_camera_rig()
    rig = load_camera_rig(rig_with_size("front", "640x360", tmp_path))
    assert (rig["front"].width, rig["front"].height) == (640, 360)
    # only the size changes: the field of view, mounting and rate are the rig's (the model's fov check still holds)
    same = ("hfov_deg", "mount_x_m", "mount_height_m", "pitch_deg", "rate_hz")
    assert all(getattr(rig["front"], k) == getattr(default["front"], k) for k in same)
    assert {k: v for k, v in rig.items() if k != "front"} == {k: v for k, v in default.items() if k != "front"}


def test_cached_runs_drawn_or_preprocessed_otherwise_are_found_before_they_are_trained_on(tmp_path):
    """A cache recorded with bilinear downscaling must not feed an area-interpolation student (or the reverse),
    nor frames drawn by an older renderer (no brake lamps) a student of today's: the model would learn two
    inputs as one. Runs cached before the preprocessing was stored were bilinear."""
    import json

    from sim_bridge.embedded.renderer import RENDERER_VERSION
    from tools.distill.record import RunSpec, preprocessing, save_npz, stale_runs

    runs = [RunSpec("curvy_road", s, "expert") for s in (1, 2, 3, 4, 5, 6)]
    frames = np.zeros((1, 3, 4, 4), np.uint8)
    current = json.loads(preprocessing())
    linear = json.dumps({**current, "interpolation": "linear"}, sort_keys=True)
    older_renderer = json.dumps({**current, "renderer": RENDERER_VERSION - 1}, sort_keys=True)
    no_renderer = json.dumps({k: v for k, v in current.items() if k != "renderer"}, sort_keys=True)
    save_npz(tmp_path / f"{runs[0].name}.npz", image=frames, preprocessing=np.str_(preprocessing()))
    save_npz(tmp_path / f"{runs[1].name}.npz", image=frames, preprocessing=np.str_(linear))
    save_npz(tmp_path / f"{runs[2].name}.npz", image=frames)  # recorded before the key existed
    save_npz(tmp_path / f"{runs[3].name}.npz", image=frames, preprocessing=np.str_(older_renderer))
    save_npz(tmp_path / f"{runs[4].name}.npz", image=frames, preprocessing=np.str_(no_renderer))  # area, no lamps
    # runs[5] not recorded yet: nothing to check
    stale = [p.name for p in stale_runs(runs, tmp_path)]
    assert spec.IMAGE.interpolation == "area" and current["renderer"] == RENDERER_VERSION
    assert stale == [f"{r.name}.npz" for r in runs[1:5]]
