"""The trajectory validator: each rule rejects what it is for and passes a plain plan; the configured
action (keep the last valid plan, then MRM); the confidence rule; the same rules as a penalty."""

import math
from dataclasses import replace

import numpy as np
import pytest

from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.safety.state_machine import SafetyState
from vehicle_runtime.types import PolicyOutput, Pose2D
from vehicle_runtime.validation import RULES, Lead, TrajectoryValidator
from vehicle_runtime.validation.score import WEIGHTS, penalty, rule_penalties

CFG = load_runtime_config()
P = CFG.validator
DT = 0.5
T = np.arange(1, 11) * DT


def plan(speed_mps=10.0, stamp_s=0.0, pose=None, y=None, speeds=None, confidence=0.9):
    """A straight plan; the ego at stamp_s is where driving speed_mps since 0 took it."""
    pose = pose or Pose2D(speed_mps * stamp_s, 0.0, 0.0)
    speeds = np.full(len(T), speed_mps) if speeds is None else np.asarray(speeds, dtype=float)
    x = np.cumsum(speeds * DT)
    pts = np.stack((x, np.zeros_like(x) if y is None else np.asarray(y, dtype=float)), axis=1)
    return PolicyOutput(
        stamp_s=stamp_s,
        ego_pose_at_stamp=pose,
        trajectory_ego_xy_m=pts,
        dt_s=DT,
        speed_profile_mps=speeds,
        confidence=confidence,
    )


def failed(out, ego_speed=10.0, previous=None, lead=None):
    v = TrajectoryValidator(P)
    if previous is not None:
        assert v.accept(previous, ego_speed) is not None
    return set(v.check(out, ego_speed, lead).failed)


def arc(radius_m, speed_mps):
    """A left circular arc at constant speed."""
    s = speed_mps * T
    return np.stack((radius_m * np.sin(s / radius_m), radius_m * (1 - np.cos(s / radius_m))), axis=1)


def test_a_plain_plan_keeps_every_rule():
    v = TrajectoryValidator(P).check(plan(), 10.0, Lead(gap_m=80.0, speed_mps=10.0))
    assert v.valid and set(v.ratios) == set(RULES) and max(v.ratios.values()) < 1.0
    assert penalty(v.ratios) < 0.05


def test_a_gentle_curve_passes():
    out = replace(plan(), trajectory_ego_xy_m=arc(150.0, 10.0))
    assert failed(out) == set()


@pytest.mark.parametrize(
    "rule,make",
    [
        ("non_finite", lambda: replace(plan(), trajectory_ego_xy_m=np.full((10, 2), np.nan))),
        ("non_finite", lambda: replace(plan(), speed_profile_mps=np.full(10, np.inf))),
        ("point_spacing", lambda: plan(speeds=[10] * 5 + [60] + [10] * 4)),
        ("relative_angle", lambda: replace(plan(), trajectory_ego_xy_m=-plan().trajectory_ego_xy_m)),
        ("curvature", lambda: replace(plan(speed_mps=4.0), trajectory_ego_xy_m=arc(3.0, 4.0))),
        ("steering_angle", lambda: replace(plan(speed_mps=4.0), trajectory_ego_xy_m=arc(3.0, 4.0))),
        ("lateral_accel", lambda: replace(plan(speed_mps=12.0), trajectory_ego_xy_m=arc(15.0, 12.0))),
        ("lateral_jerk", lambda: plan(y=[0, 0, 0, 0, 3, 0, 3, 0, 3, 0])),
        ("steering_rate", lambda: plan(speed_mps=5.0, y=[0, 0, 0, 0, 2, 0, 2, 0, 2, 0])),
        ("longitudinal_accel", lambda: plan(speeds=[10, 13, 16, 19, 22, 25, 25, 25, 25, 25])),
        ("speed_deviation", lambda: plan(speed_mps=16.0)),
        ("position_deviation", lambda: plan(y=np.full(10, 2.0))),
        ("forward_length", lambda: plan(speeds=[3.0] * 10)),
    ],
)
def test_each_rule_catches_its_fault(rule, make):
    ego_speed = make().speed_profile_mps[0] if rule not in ("speed_deviation", "forward_length") else 10.0
    if rule == "forward_length":
        ego_speed = 20.0  # 50 m to stop at 4 m/s², the plan covers 15 m and does not stop
    assert rule in failed(make(), ego_speed)


def test_time_to_collision_with_a_known_lead():
    assert "time_to_collision" in failed(plan(), 10.0, lead=Lead(gap_m=8.0, speed_mps=2.0))
    assert "time_to_collision" not in failed(plan(), 10.0, lead=Lead(gap_m=60.0, speed_mps=10.0))


def test_a_plan_that_jumps_from_the_last_valid_one_is_refused():
    prev = plan()
    swerve = plan(stamp_s=0.05, pose=Pose2D(0.5, 0.0, 0.0), y=-1.25 * T**2)
    assert "plan_shift" in failed(swerve, previous=prev)
    faster = plan(stamp_s=0.05, pose=Pose2D(0.5, 0.0, 0.0), speeds=10.0 + 2.0 * T)
    assert "speed_shift" in failed(faster, previous=prev)
    same = plan(stamp_s=0.05, pose=Pose2D(0.5, 0.0, 0.0))
    assert failed(same, previous=prev) == set()


def test_a_plan_for_another_route_is_no_reference_but_the_refusal_time_and_the_latch_stay():
    """Pipeline.set_route calls forget_reference when the route changes: the next plan is judged alone, a
    refusal streak goes on counting from its first refused plan, and a requested MRM stays latched."""
    prev, swerve = plan(), plan(stamp_s=0.05, pose=Pose2D(0.5, 0.0, 0.0), y=-1.25 * T**2)
    v = TrajectoryValidator(P)
    assert v.accept(prev, 10.0) is prev
    v.forget_reference()
    assert v.accept(swerve, 10.0) is swerve and v.last_valid is swerve

    v = TrajectoryValidator(P)
    bad = lambda t: plan(stamp_s=t, y=np.full(10, 3.0))  # noqa: E731
    assert v.accept(plan(), 10.0) is not None and v.accept(bad(0.05), 10.0) is None
    v.forget_reference()
    assert v.accept(bad(P.hold_max_s), 10.0) is None and v.take_fault() == ""
    assert v.accept(bad(0.05 + P.hold_max_s + 0.05), 10.0) is None
    assert "no valid trajectory for" in v.take_fault() and v.status.latched
    v.forget_reference()
    assert v.status.latched and v.accept(plan(stamp_s=1.5), 10.0) is None


def test_keep_last_for_at_most_hold_max_then_mrm_and_latch():
    v = TrajectoryValidator(P)
    good = plan()
    assert v.accept(good, 10.0) is good
    bad = lambda t: plan(stamp_s=t, y=np.full(10, 3.0))  # noqa: E731
    assert v.accept(bad(0.05), 10.0) is None and v.take_fault() == ""
    assert v.accept(bad(P.hold_max_s), 10.0) is None and v.take_fault() == ""
    assert v.accept(bad(P.hold_max_s + 0.05), 10.0) is None
    fault = v.take_fault()
    assert "trajectory invalid for" in fault and "position_deviation" in fault
    assert v.status.rejected == 3 and v.status.rejected_by_rule["position_deviation"] == 3 and v.status.latched
    assert v.accept(plan(stamp_s=1.2), 10.0) is None  # latched: nothing accepted until reset
    v.reset()
    assert v.accept(plan(stamp_s=1.3), 10.0) is not None


def test_first_plans_get_hold_max_to_become_valid_without_an_mrm_request():
    """Start-up (or after a reset): no valid plan to hold, nothing followed. A refused first plan must not
    latch the validator before the car is engaged; only a model that stays invalid longer than hold_max_s
    asks for the MRM."""
    bad = lambda t: plan(stamp_s=t, y=np.full(10, 3.0))  # noqa: E731
    for start_s in (0.0, 5.0):  # a fresh validator, then one that was reset after driving
        v = TrajectoryValidator(P)
        if start_s:
            assert v.accept(plan(), 10.0) is not None
            v.reset()
        assert v.accept(bad(start_s), 10.0) is None and v.take_fault() == "" and not v.status.latched
        assert v.accept(bad(start_s + P.hold_max_s), 10.0) is None and v.take_fault() == ""
        good = plan(stamp_s=start_s + P.hold_max_s + 0.05)
        assert v.accept(good, 10.0) is good and v.status.rejected == 2 and v.status.mrm_requests == 0
        # the wait starts again from the next refused plan: a valid one in between ended it
        assert v.accept(bad(start_s + P.hold_max_s + 0.1), 10.0) is None and v.take_fault() == ""


def test_no_valid_first_plan_within_hold_max_asks_for_the_mrm_and_latches():
    v = TrajectoryValidator(P)
    bad = lambda t: plan(stamp_s=t, y=np.full(10, 3.0))  # noqa: E731
    for t in np.arange(0.0, P.hold_max_s + 0.01, 0.05):
        assert v.accept(bad(t), 10.0) is None and v.take_fault() == ""
    assert v.accept(bad(P.hold_max_s + 0.05), 10.0) is None
    fault = v.take_fault()
    assert fault.startswith("no valid trajectory for 1.05 s > 1.00 s") and "position_deviation" in fault
    assert v.status.latched and v.accept(plan(stamp_s=1.2), 10.0) is None
    nan = TrajectoryValidator(P)  # a stamp that cannot be compared never extends the wait
    nan.accept(bad(0.0), 10.0)
    nan.accept(bad(float("nan")), 10.0)
    assert "no valid trajectory" in nan.take_fault()


STOP_SPEEDS = np.maximum(0.0, 2.0 - T)  # 1.5, 1.0, 0.5, then standing: a plan that comes to a stop
START_SPEEDS = 1.5 * T  # drives off at 1.5 m/s²: more than speed_shift allows right after a stop plan


def stopping_then_start(v):
    """The last valid plan brings the car to a stop 1.5 m ahead; the plans after it want to drive off."""
    stop = plan(stamp_s=0.0, pose=Pose2D(0.0, 0.0, 0.0), speeds=STOP_SPEEDS)
    assert v.accept(stop, 2.0) is stop
    start = lambda t, y=None: plan(stamp_s=t, pose=Pose2D(1.5, 0.0, 0.0), speeds=START_SPEEDS, y=y)  # noqa: E731
    return stop, start


def test_refused_plans_after_a_stop_plan_hold_the_car_at_its_stop_instead_of_an_mrm():
    """A refused plan after a last valid plan that stops: the car follows that plan to its stop (as an MRM
    would), is held there on its path at speed 0, and the start is judged alone once the stop plan no longer
    covers it (its horizon), as at start-up: delayed, neither let through nor turned into an MRM."""
    v = TrajectoryValidator(P)
    stop, start = stopping_then_start(v)
    assert "speed_shift" in v.check(start(0.5), 1.0).failed
    assert v.accept(start(0.5), 1.0) is None  # still rolling: keep following the stop plan
    assert v.accept(start(P.hold_max_s + 0.5), 0.5) is None and v.take_fault() == ""  # past hold_max, stopping
    for t in (P.hold_max_s + 1.0, 2.0, 2.5):  # standing: held on the stop plan's path, at speed 0
        held = v.accept(start(t), 0.0)
        assert held is not None and not held.speed_profile_mps.any(), t
        assert np.array_equal(held.trajectory_ego_xy_m, stop.trajectory_ego_xy_m) and held.stamp_s == stop.stamp_s
        assert v.take_fault() == "" and not v.status.latched
    assert v.status.standstill_holds == 3 and v.status.mrm_requests == 0
    # the stop plan covers less and less of the start (its horizon): the start is taken by then, without an MRM
    for t in np.arange(2.55, len(T) * DT + 0.1, 0.05):
        followed = v.accept(start(t), 0.0)
        if followed is not None and followed.speed_profile_mps.any():
            break
    assert followed is not None and np.array_equal(followed.speed_profile_mps, START_SPEEDS), t
    assert v.status.consecutive_rejected == 0 and v.take_fault() == "" and v.status.mrm_requests == 0


def test_a_standing_car_whose_plans_stay_refused_asks_for_the_mrm_after_horizon_plus_hold_max():
    v = TrajectoryValidator(P)
    _, start = stopping_then_start(v)
    off_lane = lambda t: start(t, y=np.full(10, 3.0))  # noqa: E731 - fails position_deviation on its own
    limit_s = len(T) * DT + P.hold_max_s
    for t in (1.0, 3.0, limit_s):
        assert v.accept(off_lane(t), 0.0) is not None and v.take_fault() == ""
    assert v.accept(off_lane(limit_s + 0.05), 0.0) is None
    assert v.take_fault().startswith(f"trajectory invalid for {limit_s + 0.05:.2f} s > {limit_s:.2f} s")
    assert v.status.latched


def test_a_car_still_rolling_past_its_stop_plans_stop_time_plus_hold_max_asks_for_the_mrm():
    """The stop plan rests from 2.0 s on: followed to its stop and hold_max_s beyond, no longer while moving."""
    v = TrajectoryValidator(P)
    _, start = stopping_then_start(v)
    assert v.accept(start(2.0 + P.hold_max_s), 0.5) is None and v.take_fault() == ""
    assert v.accept(start(2.0 + P.hold_max_s + 0.05), 0.5) is None
    assert v.take_fault().startswith("trajectory invalid for 3.05 s > 3.00 s") and v.status.standstill_holds == 0


def test_a_moving_car_is_never_held_standing_and_a_plan_that_does_not_stop_keeps_hold_max():
    v = TrajectoryValidator(P)
    assert v.accept(plan(), 10.0) is not None  # cruising at 10 m/s: no stop in it
    bad = lambda t: plan(stamp_s=t, y=np.full(10, 3.0))  # noqa: E731
    assert v.accept(bad(0.5), 0.0) is None  # even a (wrongly) measured standstill does not hold a moving plan
    assert v.accept(bad(P.hold_max_s + 0.05), 0.0) is None and "trajectory invalid for" in v.take_fault()
    assert v.status.standstill_holds == 0


def test_hold_never_outlasts_the_last_plan_horizon():
    v = TrajectoryValidator(replace(P, hold_max_s=10.0))
    short = plan(speed_mps=3.0)
    short = replace(
        short, trajectory_ego_xy_m=short.trajectory_ego_xy_m[:3], speed_profile_mps=short.speed_profile_mps[:3]
    )
    assert v.accept(short, 3.0) is not None
    v.accept(plan(3.0, stamp_s=1.4, y=np.full(10, 3.0)), 3.0)
    assert v.take_fault() == ""
    v.accept(plan(3.0, stamp_s=1.6, y=np.full(10, 3.0)), 3.0)  # past its 1.5 s horizon
    assert "1.50 s" in v.take_fault()


def test_action_mrm_asks_at_once():
    v = TrajectoryValidator(replace(P, action="mrm"))
    v.accept(plan(), 10.0)
    assert v.accept(plan(stamp_s=0.05, y=np.full(10, 3.0)), 10.0) is None
    assert "trajectory invalid" in v.take_fault()
    first = TrajectoryValidator(replace(P, action="mrm"))  # also on a first plan: the configured action wins
    assert first.accept(plan(y=np.full(10, 3.0)), 10.0) is None and "trajectory invalid" in first.take_fault()


def test_low_confidence_caps_speed_then_mrm_through_the_gate():
    v = TrajectoryValidator(P)
    gate = SafetyGate(replace(CFG.safety, auto_engage=True))
    low = P.min_confidence / 2
    followed = v.accept(plan(confidence=low), 10.0)
    assert followed is not None and followed.speed_profile_mps.max() <= P.low_confidence_speed_cap_mps
    assert v.take_fault() == "" and v.status.low_confidence == 1
    assert (
        v.accept(plan(stamp_s=P.low_confidence_mrm_after_s / 2, confidence=0.9), 10.0).speed_profile_mps.max() == 10.0
    )
    t = 0.0
    fault = ""
    while not fault:  # low confidence from now on
        t += 0.05
        v.accept(plan(stamp_s=P.low_confidence_mrm_after_s + t, confidence=low), 10.0)
        fault = v.take_fault()
    assert t >= P.low_confidence_mrm_after_s - 1e-9 and "confidence" in fault
    # the reaction: the gate, engaged, goes to MRM on it
    _engage(gate)
    gate.model_fault(fault)
    assert gate.tick(2.0).state is SafetyState.MRM and "confidence" in gate.sm.last_reason


def _engage(gate):
    from vehicle_runtime.types import ActuatorRequest, VehicleFeedback

    for k in range(30):
        now = 1.0 + k * 0.01
        for name in ("camera", "route", "odometry", "policy"):
            gate.feed(name, now)
        gate.set_feedback(VehicleFeedback(valid=True, speed_mps=10.0), now)
        gate.set_request(ActuatorRequest(now, 0.0, 0.0), now)
        gate.tick(now)
    assert gate.sm.state is SafetyState.ENGAGED


def test_penalty_is_bounded_and_weighted():
    assert abs(sum(WEIGHTS.values()) - 1.0) < 1e-12
    assert penalty(dict.fromkeys(RULES, 0.0)) == 0.0
    assert penalty(dict.fromkeys(RULES, math.inf)) == pytest.approx(1.0)
    assert penalty(dict.fromkeys(RULES, 50.0)) == pytest.approx(1.0)
    at_limit = rule_penalties({"plan_shift": 1.0})
    assert at_limit["plan_shift"] == pytest.approx(WEIGHTS["plan_shift"] / 2)
    assert rule_penalties({"plan_shift": 0.4})["plan_shift"] == 0.0
