"""The expert's reason names the cause of what it does: the student learns these phrases as its reasoning,
so a phrase that names something the student cannot see (a target speed) teaches it to guess."""

import math
from dataclasses import replace
from typing import Optional

import numpy as np

from sim_bridge.embedded.dynamics import BicycleState
from sim_bridge.embedded.expert import Expert
from sim_bridge.embedded.scenario import load_scenario
from sim_bridge.embedded.world import World
from vehicle_runtime.config import load_runtime_config

PROFILE = load_runtime_config().vehicle


def _expert_at(scenario: str, s_m: float, speed_mps: float, lead_s_m: Optional[float] = None) -> Expert:
    """The expert of a fresh world whose ego (centre) stands on the route at s_m, heading along it; the road
    alone, or with the scenario's first actor moved to lead_s_m on its lane."""
    sc = load_scenario(scenario)
    actors = [] if lead_s_m is None else [{**sc.actors[0], "s_m": lead_s_m}]
    world = World(replace(sc, actors=actors), PROFILE)
    r = world.route
    x, y = (float(np.interp(s_m, r.s_m, r.points_xy_m[:, k])) for k in (0, 1))
    i = int(np.clip(np.searchsorted(r.s_m, s_m), 1, len(r.s_m) - 1))
    yaw = math.atan2(*(r.points_xy_m[i] - r.points_xy_m[i - 1])[::-1])
    back = world.centre_offset_m
    world.ego.state = BicycleState(x - back * math.cos(yaw), y - back * math.sin(yaw), yaw, speed_mps)
    return Expert(world)


def _first_accel(expert: Expert) -> float:
    _, speeds, _ = expert.plan()
    return (speeds[0] - expert.world.ego.state.speed_mps) / expert.p.dt_s


def _first_second_accel(expert: Expert) -> float:
    _, speeds, _ = expert.plan()
    k = int(round(1.0 / expert.p.dt_s)) - 1
    return (speeds[k] - expert.world.ego.state.speed_mps) / ((k + 1) * expert.p.dt_s)


def test_above_the_target_speed_on_a_straight_the_expert_slows_down_but_names_no_curve():
    target = _expert_at("lane_change", 20.0, 0.0).target_speed_mps
    expert = _expert_at("lane_change", 20.0, target + 3.0)
    assert _first_accel(expert) < -0.5  # it does slow down, towards its target
    assert expert.plan()[2] == f"following the lane at {int(round(target + 3.0))} m/s"


def test_before_a_curve_slower_than_the_car_the_expert_names_the_curve():
    expert = _expert_at("curvy_road", 0.0, 1.0)
    v = expert.target_speed_mps
    curve_speeds = expert._v_curves
    # the first stretch of route whose curve speed is under the target by more than 1 m/s, approached 25 m ahead
    s_curve = float(expert.world.route.s_m[np.argmax(curve_speeds < v - 1.5)])
    assert s_curve > 30.0
    expert = _expert_at("curvy_road", s_curve - 25.0, v)
    assert expert.plan()[2] == "slowing down for the curve ahead"
    # on the straight start, at the target speed, nothing to slow down for
    assert _expert_at("curvy_road", 5.0, v).plan()[2].startswith("following the lane at")


def test_above_the_target_speed_behind_a_distant_lead_the_expert_is_following_it_not_slowing_for_it():
    """'slowing down for the lead vehicle' only where the lead sets the deceleration; slowing to the target
    speed with a lead far ahead is following it (the phrase named the lead for what the target speed did)."""
    target = _expert_at("lead_braking", 10.0, 0.0).target_speed_mps
    far = _expert_at("lead_braking", 10.0, target + 1.5, lead_s_m=58.0)
    _, _, reason = far.plan()
    assert _first_accel(far) < -0.5 and 40.0 < far.last_lead.gap_m < 45.0
    assert reason == "following the lead vehicle 45 m ahead", reason
    near = _expert_at("lead_braking", 10.0, target + 1.5, lead_s_m=35.0)
    _, _, reason = near.plan()
    assert _first_second_accel(near) < -near.p.slowing_for_lead_mps2
    assert reason.startswith("slowing down for the lead vehicle"), reason


def test_matching_a_slower_lead_gently_is_following_it_braking_for_it_is_slowing_down():
    """At the target speed behind a slower lead, the IDM's mild deceleration (between 0.5 m/s² and the
    phrase's 1 m/s² over the first second) is following; the same lead 5 m closer takes a clear brake."""
    target = _expert_at("lead_braking", 10.0, 0.0).target_speed_mps
    mild = _expert_at("lead_braking", 10.0, target, lead_s_m=40.0)
    _, _, reason = mild.plan()
    assert mild.last_lead.actor.speed_mps < target - 1.0  # the lead is slower: it sets the deceleration
    assert -mild.p.slowing_for_lead_mps2 < _first_second_accel(mild) < -0.5
    assert reason.startswith("following the lead vehicle"), reason
    firm = _expert_at("lead_braking", 10.0, target, lead_s_m=35.0)
    _, _, reason = firm.plan()
    assert _first_second_accel(firm) < -firm.p.slowing_for_lead_mps2
    assert reason.startswith("slowing down for the lead vehicle"), reason
