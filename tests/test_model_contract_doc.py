"""docs/model_contract.md is enough to build a student: its own example (two cameras of different size,
crop, colour order and fov, history 3, recurrent state; reasoning as logits or ids; float32 or float16)
passes `model inspect` and drives the embedded simulator."""

import argparse

import numpy as np
import onnxruntime as ort
import pytest

import doc_example
from sim_bridge.embedded.drive import DriveOptions, run_drive
from vehicle_runtime.commands import model_inspect

EXAMPLE = doc_example.load()
VARIANTS = [("logits", "float32"), ("token_ids", "float32"), ("logits", "float16"), ("token_ids", "float16")]


@pytest.fixture(scope="module", params=VARIANTS, ids=["-".join(v) for v in VARIANTS])
def example_model(request, tmp_path_factory):
    reasoning, dtype = request.param
    return EXAMPLE.build(tmp_path_factory.mktemp(f"{reasoning}_{dtype}"), reasoning, dtype), reasoning, dtype


def test_graph_types_are_the_manifests(example_model):
    folder, reasoning, dtype = example_model
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    want = "tensor(float16)" if dtype == "float16" else "tensor(float)"
    assert {i.name: i.type for i in sess.get_inputs()} == dict.fromkeys(
        ["image_front", "image_narrow", "nav", "ego", "state_in"], want
    )
    outputs = {o.name: o.type for o in sess.get_outputs()}
    assert outputs["reasoning"] == ("tensor(int64)" if reasoning == "token_ids" else want)


def test_inspect_runs_it(example_model, capsys):
    folder, _, _ = example_model
    args = argparse.Namespace(path=str(folder), rig=None, config=None, json=False)
    assert model_inspect.run(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "contract ok" in out and "following the lane" in out


def test_short_drive(example_model):
    folder, _, dtype = example_model
    r = run_drive(DriveOptions(scenario="curvy_road", policy="student", model_path=folder, duration_s=8.0))
    o = r.outcome
    assert o["failure"] is None and o["engaged"] and o["frames_rejected"] == 0 and o["preprocess_failures"] == 0
    assert o["policy_outputs"] == 8 * 20 + 1
    assert r.metrics["collisions"] == 0 and r.metrics["lateral_max_m"] < 0.5
    assert r.timeline["speed"][-1] > 4.0  # it moved off and keeps going
    texts = {text for _, text in r.reasoning}
    assert "following the lane" in texts and texts <= set(EXAMPLE.PHRASES)


def test_two_camera_float16_student_drives_curvy_road(tmp_path):
    folder = EXAMPLE.build(tmp_path / "m", "logits", "float16")
    r = run_drive(DriveOptions(scenario="curvy_road", policy="student", model_path=folder))
    assert r.outcome["failure"] is None and r.outcome["frames_rejected"] == 0
    assert r.metrics["driving_score"] >= 0.95 and r.metrics["collisions"] == 0, r.metrics
    assert r.metrics["lateral_rms_m"] < 0.3


def test_recurrent_state_is_fed_back(tmp_path):
    """The example smooths its speed with the state: v_k = (v_target + v_{k-1}) / 2 from zero (the car already
    fast, so the plan's start is not held to the measured speed + acceleration)."""
    from conftest import make_observation, uniform_frame
    from vehicle_runtime.pipeline import StudentPolicy
    from vehicle_runtime.student import SessionConfig, Student

    student = Student.load(
        EXAMPLE.build(tmp_path / "m", "token_ids", "float32"), SessionConfig(providers=("CPUExecutionProvider",))
    )
    policy = StudentPolicy(student)
    nav = np.array([[2.0 * (i + 1), 0.0] for i in range(10)])  # straight: v_target = cruise
    speeds = []
    for k in range(3):
        frames = {
            "front": uniform_frame("front", 120, 320, 180, stamp_s=k),
            "front_narrow": uniform_frame("front_narrow", 120, 160, 90, encoding="bgr8", stamp_s=k),
        }
        obs = make_observation(frames, stamp_s=float(k), speed_mps=30.0)
        obs.nav.route_ego_xy_m[:] = nav
        speeds.append(float(policy.infer(obs).speed_profile_mps[0]))
    cruise = EXAMPLE.CRUISE_MPS
    np.testing.assert_allclose(speeds, [cruise / 2, cruise * 3 / 4, cruise * 7 / 8], rtol=1e-5)
