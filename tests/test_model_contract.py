"""The manifest closes the holes a model team fell into, `model inspect` means "it runs", fov is checked
for every camera, and a drive or an eval that the model never controlled says so instead of passing."""

import argparse
import hashlib
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import doc_example
from sim_bridge.embedded.drive import DriveOptions, run_drive
from sim_bridge.embedded.evaluation import NotControlledError, refuse_uncontrolled
from vehicle_runtime.commands import model_inspect
from vehicle_runtime.preprocess import ImageSpec, Preprocessor
from vehicle_runtime.student import ManifestError, load_manifest
from vehicle_runtime.student.contract import check_fov, check_rates
from vehicle_runtime.types import CameraFrame

EXAMPLE = doc_example.load()


def _edit(folder, fn):
    m = json.loads((folder / "manifest.json").read_text())
    fn(m)
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder


def _set(path, value):
    def fn(m):
        node = m
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return fn


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("cameras", 0, "image", "mean"), [0.5], "field 'cameras/0/image/mean': [0.5] is too short"),
        (("cameras", 1, "image", "std"), [1.0, 1.0, 1.0], "field 'cameras/1/image/std'"),
        (("cameras", 0, "image", "crop"), {"top": 0.6, "bottom": 0.5}, "top + bottom = 1.1 leaves no image"),
        (("cameras", 1, "image", "crop"), {"left": 0.5, "right": 0.5}, "left + right = 1 leaves no image"),
        (("cameras", 1, "camera"), "front", "camera(s) ['front'] listed more than once"),
        (("cameras", 0, "dtype"), "int8", "field 'cameras/0/dtype': 'int8' is not one of"),
        (("outputs", "reasoning", "dtype"), "int64", "does not fit kind logits"),
    ],
)
def test_manifest_refuses_what_the_runtime_cannot_run(two_camera_dir, path, value, message):
    _edit(two_camera_dir, _set(path, value))
    with pytest.raises(ManifestError) as err:
        load_manifest(two_camera_dir)
    assert message in str(err.value)


def test_float16_slot_gets_the_float32_result_rounded_once():
    rgb = np.random.default_rng(3).integers(0, 256, (72, 128, 3), np.uint8)
    frame = CameraFrame("front", 1.0, "rgb8", rgb.tobytes(), 128, 72)
    spec = ImageSpec(width=32, height=16, colour_order="bgr", crop_top=0.25, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    out32, out16 = np.empty((3, 16, 32), np.float32), np.empty((3, 16, 32), np.float16)
    Preprocessor(spec).process(frame, out32)
    Preprocessor(spec).process(frame, out16)
    np.testing.assert_array_equal(out16, out32.astype(np.float16))
    with pytest.raises(ValueError, match="mean has 1 value"):
        Preprocessor(ImageSpec(width=8, height=8, colour_order="rgb", mean=(0.5,)))


def test_fov_checked_for_every_camera(tmp_path):
    m = load_manifest(EXAMPLE.build(tmp_path / "m", "token_ids", "float32"))
    check_fov(m, {"front": 90.0, "front_narrow": 51.5})
    with pytest.raises(
        ManifestError, match="expects camera 'front_narrow' with a 50 deg field of view; rig gives 90 deg"
    ):
        check_fov(m, {"front": 90.0, "front_narrow": 90.0}, "rig")
    with pytest.raises(ManifestError, match="reads camera 'front_narrow', which rig does not have"):
        check_fov(m, {"front": 90.0}, "rig")


def test_frame_rate_checked_for_every_camera_that_states_one(tmp_path):
    """History is consecutive frames: at another rate it spans another time, and every motion the model
    reads from it is off by the ratio."""
    folder = EXAMPLE.build(tmp_path / "m", "token_ids", "float32")
    check_rates(load_manifest(folder), {"front": 7.0, "front_narrow": 300.0})  # no rate stated: any rate
    _edit(folder, _set(("cameras", 1, "rate_hz"), 20.0))
    m = load_manifest(folder)
    check_rates(m, {"front": 7.0, "front_narrow": 21.9})  # within 10 %
    for have in (30.0, 17.9):
        with pytest.raises(ManifestError, match=f"expects camera 'front_narrow' at 20 Hz .* rig gives {have:g} Hz"):
            check_rates(m, {"front": 20.0, "front_narrow": have}, "rig")


def _inspect(folder, capsys, rig=None):
    code = model_inspect.run(argparse.Namespace(path=str(folder), rig=rig, config=None, json=True))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inspect_is_ok_only_when_the_model_runs(tmp_path, capsys, two_camera_dir):
    code, out, err = _inspect(two_camera_dir, capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["contract"] == "ok" and info["run"]["reasoning"] == "lead braking slowing down"
    assert info["cameras"][1]["rig"] == {"width": 640, "height": 480, "hfov_deg": 120.0, "rate_hz": 20.0}
    # a graph that matches the manifest but produces NaN: the contract holds on paper, not in the car
    folder = EXAMPLE.build(tmp_path / "nan", "logits", "float32")
    model = onnx.load(str(folder / "model.onnx"))
    cruise = next(i for i in model.graph.initializer if i.name == "cruise")
    cruise.CopyFrom(numpy_helper.from_array(np.float32(np.nan), "cruise"))
    data = model.SerializeToString()
    (folder / "model.onnx").write_bytes(data)
    _edit(folder, _set(("sha256",), hashlib.sha256(data).hexdigest()))
    code, out, err = _inspect(folder, capsys)
    assert (
        code == 1
        and out == ""
        and err.strip() == "model inspect: decode: trajectory is not finite; speed profile is not finite"
    )
    # a model expecting 50 deg on a 90 deg front camera: refused in one line
    folder = _edit(EXAMPLE.build(tmp_path / "fov", "logits", "float32"), _set(("cameras", 0, "fov_deg"), 50.0))
    code, _, err = _inspect(folder, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "cameras: model 'foreign_two_camera' expects camera 'front' with a 50 deg field of view" in err
    # a camera the vehicle does not have
    folder = _edit(EXAMPLE.build(tmp_path / "cam", "logits", "float32"), _set(("cameras", 1, "camera"), "roof"))
    code, _, err = _inspect(folder, capsys)
    assert code == 1 and "reads camera 'roof', which the camera rig" in err


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("fov_deg", 90.0, "expects camera 'front_narrow' with a 90 deg field of view; the camera rig .* gives 50 deg"),
        ("rate_hz", 30.0, "expects camera 'front_narrow' at 30 Hz .*; the camera rig .* gives 20 Hz"),
    ],
)
def test_drive_refuses_a_camera_mismatch_in_one_line(tmp_path, capsys, field, value, message):
    folder = _edit(EXAMPLE.build(tmp_path / "m", "logits", "float32"), _set(("cameras", 1, field), value))
    with pytest.raises(ManifestError, match=message):
        run_drive(DriveOptions(scenario="curvy_road", policy="student", model_path=folder, duration_s=1.0))
    code, _, err = _inspect(folder, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "cameras: " in err


TINY_RIG = """cameras:
  front: {width: 16, height: 16, hfov_deg: 90.0, mount_x_m: 1.6, mount_height_m: 1.4, pitch_deg: 2.0, rate_hz: 20.0}
  front_narrow: {width: 640, height: 360, hfov_deg: 50.0, mount_x_m: 1.6, mount_height_m: 1.4, pitch_deg: 1.0,
    rate_hz: 20.0}
"""


def test_drive_whose_frames_all_fail_preprocessing_exits_non_zero_with_the_reason(tmp_path):
    # a 16 px camera and crops of 0.49 + 0.49: round(7.84) rows off each side leave nothing
    folder = _edit(
        EXAMPLE.build(tmp_path / "m", "logits", "float32"),
        _set(("cameras", 0, "image", "crop"), {"top": 0.49, "bottom": 0.49}),
    )
    rig = tmp_path / "rig.yaml"
    rig.write_text(TINY_RIG)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_runtime.cli",
            "drive",
            "--model",
            str(folder),
            "--camera-rig",
            str(rig),
            "--duration",
            "1",
            "--json",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["policy_outputs"] == 0 and summary["preprocess_failures"] == 21 and not summary["engaged"]
    assert summary["failure"].startswith(
        "the policy never produced an output; 21 frame(s) failed preprocessing (crop leaves nothing of a 16x16 image)"
    )
    assert "drive: the policy never produced an output" in r.stderr and "Traceback" not in r.stderr
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["failure"] == summary["failure"]
    assert "preprocess_failures" in (tmp_path / "run" / "report.html").read_text()
    with pytest.raises(NotControlledError, match="never controlled the car, nothing to score"):
        refuse_uncontrolled(argparse.Namespace(outcome=summary, policy="student"), "curvy_road seed 0")


def test_eval_refuses_a_run_the_student_never_controlled(tmp_path, monkeypatch):
    """A frame the fusion never matches (the second camera 0.2 s late, beyond sync_slop_s): no output."""
    from sim_bridge.embedded import evaluation

    folder = EXAMPLE.build(tmp_path / "m", "token_ids", "float32")
    rig = tmp_path / "rig.yaml"
    rig.write_text(TINY_RIG.replace("width: 16, height: 16", "width: 320, height: 180"))
    real = evaluation.run_drive

    def late_second_camera(opts, cfg=None):
        opts.camera_rig, opts.model_path, opts.duration_s = rig, folder, 1.0
        from sim_bridge.embedded import cameras

        due = cameras.CameraSet.due
        monkeypatch.setattr(
            cameras.CameraSet,
            "due",
            lambda self, k: ((n, r) for n, r in due(self, k) if n == self.reference or k > 10**6),
        )
        return real(opts, cfg)

    monkeypatch.setattr(evaluation, "run_drive", late_second_camera)
    with pytest.raises(NotControlledError) as err:
        evaluation.run_one("curvy_road", 1000, "student", str(folder))
    assert "waiting for: no frame from camera 'front_narrow'" in str(err.value)


def test_history_and_recurrent_state_restart_after_a_stall(two_camera_dir, request):
    """The two-camera test model: speed = target x + state, state += 1 per run; trajectory = the frame
    history's means. After a gap longer than the camera watchdog both start afresh (docs/model_contract.md)."""
    from conftest import uniform_frame
    from model_factory import H, W
    from vehicle_runtime.can import BusConfig, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.control import TrajectoryTracker
    from vehicle_runtime.pipeline import Pipeline, StudentPolicy
    from vehicle_runtime.runtime import OnboardRuntime
    from vehicle_runtime.student import SessionConfig, Student
    from vehicle_runtime.synthetic import curved_route
    from vehicle_runtime.types import EgoState, Pose2D

    cfg = load_runtime_config()
    student = Student.load(two_camera_dir, SessionConfig(providers=("CPUExecutionProvider",)))
    bus = open_bus(BusConfig("virtual", f"stall-{request.node.name}"))
    rt = OnboardRuntime(cfg, Pipeline(StudentPolicy(student), TrajectoryTracker(cfg.vehicle, cfg.tracker)), bus)
    route = curved_route()
    rt.on_route(route, 0.0)
    outs = []
    gap_s = cfg.safety.timeouts_s["camera"] + 0.1
    for k, t in enumerate([1.0, 1.05, 1.10, 1.10 + gap_s]):
        rt.on_odometry(EgoState(t, Pose2D(0.0, 0.0, 0.0), 0.0), t)
        rt.on_camera(uniform_frame("front", 10 * (k + 1), W, H, stamp_s=t), t)
        rt.on_camera(uniform_frame("rear", 100 + k, W, H, encoding="mono8", stamp_s=t), t)
        outs.append(rt.step_policy(t))
    bus.shutdown()
    target_x = outs[0].speed_profile_mps[0]
    assert [o.speed_profile_mps[0] - target_x for o in outs] == pytest.approx([0.0, 1.0, 2.0, 0.0])
    np.testing.assert_allclose(outs[2].trajectory_ego_xy_m[:, 0], [10, 20, 30])  # oldest first
    np.testing.assert_allclose(outs[3].trajectory_ego_xy_m[:, 0], [40, 40, 40])  # history restarted


def test_the_carla_bridge_refuses_a_step_that_gives_another_frame_rate_than_the_models():
    """Every CARLA camera delivers every tick: fixed_delta_s sets the frame rate the history sees."""
    from sim_bridge.carla.cli import _model_cameras
    from vehicle_runtime.config import load_runtime_config

    cfg = load_runtime_config()
    assert list(_model_cameras(None, cfg, 0.05)) == ["front"]  # the shipped student: 20 Hz
    with pytest.raises(ManifestError, match=r"at 20 Hz .*the CARLA step \(fixed_delta_s 0.1 s\) gives 10 Hz"):
        _model_cameras(None, cfg, 0.1)
