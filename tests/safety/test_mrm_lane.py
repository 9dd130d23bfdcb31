"""The MRM keeps its lane: the gate follows fresh lane-keeping requests while braking and holds the
wheel only without one; the pipeline tracks the last valid trajectory, then the route; and in full
closed-loop drives the car stops in its lane after faults on the curve and at a junction."""

from dataclasses import replace
from typing import Dict

import numpy as np
import pytest

from sim_bridge.mrm_lane import mrm_row
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.control import TrajectoryTracker
from vehicle_runtime.latency import LatencyStats
from vehicle_runtime.pipeline import Pipeline
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.safety.state_machine import SafetyState
from vehicle_runtime.types import ActuatorRequest, EgoState, PolicyOutput, Pose2D, Route, VehicleFeedback
from vehicle_runtime.validation import TrajectoryValidator

CFG = load_runtime_config()
LANE_HALF_M = 3.5 / 2 - CFG.vehicle.width_m / 2  # the goal: the car's side stays in its lane


def _engaged_gate():
    gate = SafetyGate(replace(CFG.safety, auto_engage=True))
    for k in range(30):
        now = k * 0.01
        for name in ("camera", "route", "odometry", "policy"):
            gate.feed(name, now)
        gate.set_feedback(VehicleFeedback(valid=True, speed_mps=10.0), now)
        gate.set_request(ActuatorRequest(now, 0.02, 0.0), now)
        gate.tick(now)
    assert gate.sm.state is SafetyState.ENGAGED
    return gate


def test_mrm_follows_fresh_requests_and_holds_without_them():
    gate = _engaged_gate()
    now = 0.3
    gate.model_fault("test")
    steer = []
    for k in range(80):  # requests keep coming: the steering follows them (rate-limited by the envelope)
        now = 0.3 + k * 0.01
        gate.set_feedback(VehicleFeedback(valid=True, speed_mps=10.0), now)
        gate.set_request(ActuatorRequest(now, 0.05, 0.5), now)
        status = gate.tick(now)
        steer.append(status.command.steer_rad)
        assert status.state is SafetyState.MRM and status.command.accel_mps2 <= 0.0 + 1e-9
    assert steer[-1] == pytest.approx(0.05) and gate.mrm_lane_keeping_periods > 0
    held = steer[-1]
    for k in range(1, 40):  # requests stop: after max_request_age_s the wheel is held where it was
        now2 = now + k * 0.01
        gate.set_feedback(VehicleFeedback(valid=True, speed_mps=8.0), now2)
        cmd = gate.tick(now2).command
    assert cmd.steer_rad == pytest.approx(held)
    before = gate.mrm_lane_keeping_periods
    gate.set_request(ActuatorRequest(now2, -0.3, 0.0), now2 - CFG.safety.max_request_age_s - 0.01)  # too old
    assert gate.tick(now2 + 0.01).command.steer_rad == pytest.approx(held)
    assert gate.mrm_lane_keeping_periods == before


class _Silent:
    cameras = ("front",)
    latency: Dict[str, LatencyStats] = {}
    resets = 0

    def infer(self, obs):
        raise AssertionError("not used")

    def reset(self):
        self.resets += 1


def _pipeline():
    return Pipeline(_Silent(), TrajectoryTracker(CFG.vehicle, CFG.tracker), None, CFG.route_corridor_m)


def test_pipeline_follows_the_trajectory_then_the_route_then_nothing():
    p = _pipeline()
    straight = np.stack((np.arange(1, 11) * 5.0, np.zeros(10)), axis=1)
    p.latest = PolicyOutput(0.0, Pose2D(0, 0, 0), straight, 0.5, np.full(10, 10.0))
    # a route bending left: a circle of radius 60 m
    a = np.linspace(0, 1.5, 200)
    p.set_route(Route(0.0, np.stack((60 * np.sin(a), 60 * (1 - np.cos(a))), axis=1)), now_s=0.0)
    ego = lambda x, y, yaw: EgoState(0.0, Pose2D(x, y, yaw), 8.0)  # noqa: E731
    req = p.control(ego(0.0, 0.0, 0.0), 0.1, 0.01)
    assert p.following == "trajectory" and abs(req.steer_rad) < 1e-6
    # near the end of the trajectory: the route takes over, steering into the bend, braking
    x = 42.0
    pose = (60 * np.sin(x / 60), 60 * (1 - np.cos(x / 60)), x / 60)
    req = p.control(ego(*pose), 0.2, 0.01)
    assert p.following == "route" and req.steer_rad == pytest.approx(np.arctan(CFG.vehicle.wheelbase_m / 60), rel=0.2)
    assert req.accel_mps2 < 0
    # the car is off the route (beyond its corridor): nothing left to follow
    off = (pose[0], pose[1] - CFG.route_corridor_m - 3.0, pose[2])
    assert p.control(ego(*off), 0.3, 0.01) is None and p.following == "none"
    # the route withdrawn (an empty route): nothing either
    p.set_route(Route(0.4, np.zeros((0, 2))), now_s=0.4)
    assert p.control(ego(*pose), 0.4, 0.01) is None and p.following == "none"


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault,scenario,at_s",
    [
        ("camera_stall", "curvy_road", 5.0),  # the run: left the road 3.5 m right of the route
        ("odometry_stall", "curvy_road", 9.0),  # pose dead-reckoned from CAN feedback
        ("model_nan", "junction_left", 8.0),  # in the turn
        ("route_lost", "junction_right", 4.0),  # the route withdrawn: the model's trajectories go on
    ],
)
def test_mrm_stops_in_lane(fault, scenario, at_s):
    row = mrm_row(fault, scenario, at_s)
    assert row["final_state"] == "STOPPED" and row["final_speed_mps"] == 0.0, row
    assert row["off_road_events"] == 0 and row["lane_invasions"] == 0 and row["collisions"] == 0, row
    assert row["mrm_lateral_max_m"] is not None and row["mrm_lateral_max_m"] <= LANE_HALF_M, row


def test_another_route_starts_the_model_afresh_and_the_same_route_again_does_not():
    """A latched route is published again and again: only a route with other points (a new mission, a
    restarted simulator) resets the model's history and the validator's reference (see test_validator)."""
    p = Pipeline(_Silent(), TrajectoryTracker(CFG.vehicle, CFG.tracker), TrajectoryValidator(CFG.validator))
    straight = np.stack((np.arange(0, 100) * 1.0, np.zeros(100)), axis=1)
    reference = PolicyOutput(0.0, Pose2D(0, 0, 0), straight[1:11], 0.5, np.full(10, 2.0))
    p.set_route(Route(0.0, straight), 0.0)
    p.validator.last_valid = p.latest = reference
    p.set_route(Route(1.0, straight.copy()), 1.0)  # the same route, republished
    assert p.policy.resets == 0 and p.validator.last_valid is reference
    p.set_route(Route(2.0, straight + [0.0, 3.5]), 2.0)  # the next lane: another route
    assert p.policy.resets == 1 and p.validator.last_valid is None
    assert p.latest is reference  # followed until the first plan for the new route is accepted
    p.set_route(Route(3.0, np.zeros((0, 2))), 3.0)  # withdrawn: nothing to start afresh for
    p.set_route(Route(4.0, straight + [0.0, 3.5]), 4.0)  # and restored: the same route
    assert p.policy.resets == 1
    p.set_route(Route(5.0, np.zeros((0, 2))), 5.0)
    p.set_route(Route(6.0, straight), 6.0)  # withdrawn, then another one
    assert p.policy.resets == 2
