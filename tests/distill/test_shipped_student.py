"""The shipped distilled student: contract, size, route input agreement, and the eval metric."""

import json
from dataclasses import replace

import pytest

from conftest import REPO
from sim_bridge.embedded.evaluation import token_hits
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.pipeline import check_route_input
from vehicle_runtime.student import Student
from vehicle_runtime.student.manifest import ManifestError

MODEL = REPO / "models" / "distilled_student"


def test_shipped_student_is_the_default_small_and_valid():
    cfg = load_runtime_config()
    assert cfg.model_path.resolve() == MODEL.resolve()
    assert sum(f.stat().st_size for f in MODEL.iterdir()) <= 10e6
    manifest = json.loads((MODEL / "manifest.json").read_text())
    assert manifest["opset"] >= 17 and manifest["provenance"]["teacher"].startswith("sim_bridge.embedded.expert")
    prov = manifest["provenance"]
    base = prov["train_seeds"] + [s for r in prov["dagger_rounds"] for s in r]
    highest = max(base) + 100 * (prov["focus_factor"] - 1)  # focus scenarios also drive s + 100, s + 200, ...
    assert highest < 1000  # no held-out evaluation seed was trained on
    student = Student.load(MODEL)
    check_route_input(student.manifest, cfg.fusion)


def test_route_input_disagreement_is_refused_by_name():
    cfg = load_runtime_config()
    m = Student.load(MODEL).manifest
    with pytest.raises(ManifestError, match="route_points"):
        check_route_input(m, replace(cfg.fusion, route_points=10))
    with pytest.raises(ManifestError, match="route_spacing_m"):
        check_route_input(m, replace(cfg.fusion, route_spacing_m=1.0))


def test_token_hits_counts_the_experts_tokens_up_to_its_end():
    assert token_hits([5, 6, 1, 0], [5, 6, 1]) == (3, 3)
    assert token_hits([5, 7, 1, 0], [5, 6, 1]) == (2, 3)
    assert token_hits([5, 6, 9, 1], [5, 6, 1]) == (2, 3)  # a word too many misses the end
    assert token_hits([], [5, 1]) == (0, 2)


def test_the_shipped_student_keeps_its_lane_through_a_turn_at_another_camera_resolution(tmp_path):
    """The node graph on a 2-core machine renders 640x360; a student that had only seen 1280x720 frames swung
    out of junction_right's turn there until its plans were refused (student v13). The shipped one drives the
    turn as it does at the rig's size."""
    from sim_bridge.embedded.drive import DriveOptions, run_drive
    from tools.distill.record import rig_with_size

    lateral_max_m = {}
    for size in ("", "640x360"):
        rig = rig_with_size("front", size, tmp_path) if size else None
        result = run_drive(DriveOptions(scenario="junction_right", seed=5, policy="student", camera_rig=rig))
        assert result.metrics["route_completion"] == 1.0 and result.metrics["collisions"] == 0
        assert result.safety_state_final == "ENGAGED"
        lateral_max_m[size or "rig"] = result.metrics["lateral_max_m"]
    assert lateral_max_m["640x360"] < 0.35, lateral_max_m  # v13: 0.41 on this seed (0.25 at 1280x720); v11: 0.25
    assert abs(lateral_max_m["640x360"] - lateral_max_m["rig"]) < 0.08, lateral_max_m


def test_the_shipped_student_brakes_for_a_braking_lead_without_changing_its_mind(tmp_path):
    """At a lead's brake onset, with the node graph's camera size and noise-free odometry, candidate v14 planned
    to slow down for 0.4 s, then to follow at speed again; the validator refused the faster plans (speed_shift)
    for a second and stopped the car (lead_braking seed 9, and in a 20-minute DDS soak). The shipped student
    keeps braking: no plan refused, no MRM."""
    from sim_bridge.embedded.drive import DriveOptions, run_drive
    from tools.distill.record import rig_with_size

    rig = rig_with_size("front", "640x360", tmp_path)
    opts = DriveOptions(scenario="lead_braking", seed=9, policy="student", camera_rig=rig, odometry_noise=0.0)
    result = run_drive(opts)
    assert result.metrics["collisions"] == 0 and result.metrics["route_completion"] == 1.0
    assert result.safety_state_final == "ENGAGED", result.transitions
    assert result.validator_status["rejected_by_rule"].get("speed_shift", 0) == 0, result.validator_status
