"""The closed loop `vehicle-runtime drive` on the embedded simulator: determinism, the expert on
every scenario, the gateway's fallback, every injectable fault, the CLI and its report."""

import json
import subprocess
import sys

import can
import pytest

from sim_bridge.embedded.drive import DriveOptions, run_drive
from sim_bridge.embedded.scenario import available
from sim_bridge.faults import FAULTS


def test_deterministic_for_a_seed(tmp_path):
    a = run_drive(DriveOptions(scenario="lead_braking", duration_s=8.0, seed=3, can_log=tmp_path / "a.asc"))
    b = run_drive(DriveOptions(scenario="lead_braking", duration_s=8.0, seed=3, can_log=tmp_path / "b.asc"))
    c = run_drive(DriveOptions(scenario="lead_braking", duration_s=8.0, seed=4))
    assert a.metrics == b.metrics and a.timeline == b.timeline and a.reasoning == b.reasoning
    strip = lambda p: [line for line in p.read_text().splitlines() if not line.startswith("date")]  # noqa: E731
    assert strip(tmp_path / "a.asc") == strip(tmp_path / "b.asc")
    assert a.timeline["x"] != c.timeline["x"]  # another seed, other sensor noise


@pytest.mark.slow
@pytest.mark.parametrize("scenario", available())
def test_expert_completes_every_scenario_without_infractions(scenario):
    r = run_drive(DriveOptions(scenario=scenario, policy="expert"))
    m = r.metrics
    assert m["driving_score"] >= 0.95, m
    assert m["collisions"] == 0 and m["off_road_events"] == 0 and m["lane_invasions"] == 0, m
    assert m["route_completion"] == 1.0
    assert r.safety_state_final == "ENGAGED"
    assert r.frames > 0 and r.reasoning


def test_car_does_not_move_when_can_frames_stop():
    r = run_drive(DriveOptions(scenario="curvy_road", duration_s=5.0, inject=[("gate_killed", 0.0)]))
    assert max(r.timeline["speed"]) == 0.0 and len(set(r.timeline["x"])) == 1


def test_moving_car_stops_when_the_gate_dies():
    r = run_drive(DriveOptions(scenario="lead_braking", duration_s=10.0, inject=[("gate_killed", 2.0)]))
    assert r.timeline["speed"][-1] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_injected_fault_ends_in_its_safe_state(fault):
    spec = FAULTS[fault]
    r = run_drive(DriveOptions(scenario="lead_braking", duration_s=13.0, inject=[(fault, 3.0)]))
    assert r.safety_state_final == spec.end_state_in_drive.name, [t.reason for t in r.transitions]
    if spec.stops_car:
        assert r.timeline["speed"][-1] == 0.0
    assert r.metrics["collisions"] == 0


def cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "vehicle_runtime.cli", "drive", *args], capture_output=True, text=True, timeout=timeout
    )


def test_cli_drive_json_report_and_can_log(tmp_path):
    r = cli(
        "--scenario",
        "junction_left",
        "--policy",
        "expert",
        "--duration",
        "6",
        "--json",
        "--out",
        str(tmp_path / "run"),
        "--can-log",
        str(tmp_path / "bus.blf"),
        "--inject",
        "driver_override@4",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("driving_score", "route_completion", "collisions", "lateral_rms_m", "safety_state_final", "frames"):
        assert key in summary
    assert summary["policy"] == "expert" and "expert" in r.stdout
    assert summary["safety_state_final"] == "DISENGAGED" and summary["frames"] == 6 * 20 + 1
    html = (tmp_path / "run" / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 5 and "Safety transitions" in html
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["frames"] == summary["frames"]
    ids = {m.arbitration_id for m in can.LogReader(str(tmp_path / "bus.blf"))}
    assert {0x100, 0x101, 0x102, 0x200, 0x201, 0x202} <= ids


def test_cli_drive_bad_arguments_give_one_line():
    r = cli("--inject", "meteor_strike@3")
    assert r.returncode == 2 and "expected FAULT@SECONDS" in r.stderr and "Traceback" not in r.stderr
    r = cli("--scenario", "atlantis")
    assert r.returncode == 2 and "no scenario 'atlantis'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_realtime_reports_latency(tmp_path):
    r = cli("--scenario", "lead_braking", "--duration", "3", "--realtime", "--json", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["e2e_latency_p99_ms"] is not None and summary["e2e_latency_p99_ms"] > 0
    assert summary["deadline_misses"] >= 0 and summary["wall_time_s"] >= 2.9


def test_a_route_that_is_no_longer_republished_keeps_the_car_driving():
    """A route is published once and latched (Autoware's mission planner, Nav2): its age means nothing.
    With republishing stopped at 3 s, the car drives on to the route's end with no MRM."""
    r = run_drive(DriveOptions(scenario="curvy_road", policy="expert", inject=[("route_stall", 3.0)]))
    assert "MRM" not in [t.after.name for t in r.transitions], [t.reason for t in r.transitions]
    assert r.metrics["route_completion"] >= 0.99


def test_a_drive_that_starts_on_the_previous_drives_route_does_not_end_in_an_mrm(monkeypatch):
    """A restarted simulator's first frames can be planned on the route of the run before, when that route
    passes the new start (junction_right then lane_change: the 60-minute rclpy soaks, seeds 5 and 65). The
    plans for the new route then left that first plan's path and the validator refused them for a second:
    MRM. A new route now starts the model and the validator's reference afresh (Pipeline.set_route)."""
    from sim_bridge.embedded.scenario import load_scenario
    from sim_bridge.embedded.variation import vary
    from sim_bridge.embedded.world import World
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.runtime import OnboardRuntime
    from vehicle_runtime.types import Route

    cfg = load_runtime_config()
    previous = World(vary(load_scenario("junction_right"), 4), cfg.vehicle).route.points_xy_m
    on_route, on_camera = OnboardRuntime.on_route, OnboardRuntime.on_camera
    late = {}

    def route_of_the_run_before(self, route, now_s):
        if now_s < 0.1:  # the new route is 0.1 s late; the old one is held until then
            late["route"] = route
            route = Route(route.stamp_s, previous)
        return on_route(self, route, now_s)

    def camera(self, frame, now_s):
        if now_s >= 0.1 and "route" in late:
            on_route(self, late.pop("route"), now_s)
        return on_camera(self, frame, now_s)

    monkeypatch.setattr(OnboardRuntime, "on_route", route_of_the_run_before)
    monkeypatch.setattr(OnboardRuntime, "on_camera", camera)
    r = run_drive(DriveOptions(scenario="lane_change", seed=5, duration_s=6.0, policy="student"), cfg)
    assert "route" not in late  # the new route was delivered
    assert r.validator_status["mrm_requests"] == 0, r.validator_status
    assert r.safety_state_final == "ENGAGED" and r.validator_status["rejected"] == 0
