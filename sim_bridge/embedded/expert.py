"""The privileged expert (the "teacher"): it sees the world's ground truth, follows the route with
a speed plan (curves, turns, the route's end) and IDM car following, and says why in a short text.

It answers the same call as the student (`infer(observation) → PolicyOutput`), so the runtime's
tracker, safety gate and CAN path are the same whichever drives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from vehicle_runtime.geometry import world_to_ego
from vehicle_runtime.types import Observation, PolicyOutput, RoadOption

from .world import Lead, World


@dataclass(frozen=True)
class ExpertParams:
    points: int = 10
    dt_s: float = 0.5
    accel_max_mps2: float = 1.5
    decel_comfort_mps2: float = 2.0  # IDM's b and the speed plan's braking
    decel_max_mps2: float = 3.4  # within the safety envelope's 3.5
    min_gap_m: float = 4.0  # IDM s0
    time_headway_s: float = 1.5  # IDM T
    lat_accel_mps2: float = 1.8  # speed through curves
    turn_speed_mps: float = 6.0  # through a junction
    speed_gain: float = 0.8  # (m/s²)/(m/s) towards the planned speed
    stop_before_end_m: float = 5.0  # rear axle: the front bumper stays on the route
    # "slowing down for the lead vehicle": the plan's first second brakes at least this hard (about 0.1 g, a
    # clear brake application). Milder speed matching behind a lead is "following" it: at 0.5 m/s² over the
    # first 0.5 s the phrase came and went with the student's own few-tenths-of-a-m/s speed error behind a
    # lead (the expert itself never said it on those seeds), a difference no camera frame can show
    slowing_for_lead_mps2: float = 1.0


TURN_WORD = {RoadOption.LEFT: "turn left", RoadOption.RIGHT: "turn right", RoadOption.STRAIGHT: "go straight"}


class Expert:
    def __init__(self, world: World, params: ExpertParams = ExpertParams()):
        self.world = world
        self.p = params
        self.target_speed_mps = world.scenario.target_speed_mps
        self._v_plan = self._speed_limits()
        # the curves' and turns' part of the plan alone: the reason names a curve only where one slows the car
        self._v_curves = self._speed_limits(target_mps=math.inf, stop_at_end=False)
        self.last_reason = ""
        self.last_lead: Optional[Lead] = None  # the lead of the last plan (training's auxiliary labels)

    def _speed_limits(self, target_mps: Optional[float] = None, stop_at_end: bool = True) -> np.ndarray:
        """Planned speed per route point: target, curves, junction turns, stop at the end;
        a backward pass makes every slow-down reachable at comfortable braking."""
        r, p = self.world.route, self.p
        pts, s = r.points_xy_m, r.s_m
        heading = np.unwrap(np.arctan2(np.gradient(pts[:, 1]), np.gradient(pts[:, 0])))
        kappa = np.abs(np.gradient(heading) / np.maximum(np.gradient(s), 1e-6))
        kappa = np.convolve(kappa, np.ones(5) / 5, mode="same")
        target = self.target_speed_mps if target_mps is None else target_mps
        v = np.minimum(target, np.sqrt(p.lat_accel_mps2 / np.maximum(kappa, 1e-4)))
        turning = np.array([self.world.scenario.network.lanes[lane].turn is not None for lane in r.lanes])
        v = np.where(turning, np.minimum(v, p.turn_speed_mps), v)
        if stop_at_end:
            v = np.where(s >= s[-1] - p.stop_before_end_m, 0.0, v)
        for i in range(len(v) - 2, -1, -1):
            v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2 * p.decel_comfort_mps2 * (s[i + 1] - s[i])))
        return v

    def planned_speed(self, s_m: float) -> float:
        return float(np.interp(s_m, self.world.route.s_m, self._v_plan))

    def _curve_speed(self, s_m: float) -> float:
        return float(np.interp(s_m, self.world.route.s_m, self._v_curves))

    # --- the policy call ---------------------------------------------------------------------
    def infer(self, obs: Observation) -> PolicyOutput:
        return self.output(obs, self.plan())

    def output(self, obs: Observation, plan: Tuple[np.ndarray, np.ndarray, str]) -> PolicyOutput:
        traj_world, speeds, reason = plan
        self.last_reason = reason
        # expressed in the frame of the pose the runtime saw (odometry), as a model's output is
        traj = world_to_ego(traj_world, obs.ego.pose)
        return PolicyOutput(
            stamp_s=obs.stamp_s,
            ego_pose_at_stamp=obs.ego.pose,
            trajectory_ego_xy_m=traj,
            dt_s=self.p.dt_s,
            speed_profile_mps=speeds,
            reasoning_text=reason,
        )

    def plan(self) -> Tuple[np.ndarray, np.ndarray, str]:
        w, p = self.world, self.p
        state = w.ego.state
        hint = w.route_s_hint_m
        s_rear, _ = w.route.locate((state.x_m, state.y_m), None if hint is None else hint - w.centre_offset_m)
        s_centre = s_rear + w.centre_offset_m
        lead = self.last_lead = w.lead(s_centre)
        v, s = state.speed_mps, 0.0
        sub = 0.1
        speeds, dists = [], []
        steps_per_point = int(round(p.dt_s / sub))
        lead_binds = False  # the lead, not the road's speed plan, sets the first acceleration
        for k in range(1, p.points * steps_per_point + 1):
            t = k * sub
            cruise, behind_lead = self._accel_terms(v, s_rear + s, lead, t, s)
            lead_binds = lead_binds or (k == 1 and behind_lead < cruise)
            a = float(np.clip(min(cruise, behind_lead), -p.decel_max_mps2, p.accel_max_mps2))
            v = max(0.0, v + a * sub)
            s += v * sub
            if k % steps_per_point == 0:
                speeds.append(v)
                dists.append(s)
        # the path extends at least 1 m per point so that steering stays defined while stopping
        along = np.maximum(np.asarray(dists), np.arange(1, p.points + 1) * 1.0)
        route = w.route
        at = s_rear + along
        traj = np.stack(
            (np.interp(at, route.s_m, route.points_xy_m[:, 0]), np.interp(at, route.s_m, route.points_xy_m[:, 1])),
            axis=1,
        )
        first_accel = (speeds[0] - state.speed_mps) / p.dt_s
        k = min(max(int(round(1.0 / p.dt_s)), 1), len(speeds)) - 1  # the point at 1 s
        first_second_accel = (speeds[k] - state.speed_mps) / ((k + 1) * p.dt_s)
        reason = self._reason(s_centre, state.speed_mps, lead, first_accel, lead_binds, first_second_accel)
        return traj, np.asarray(speeds), reason

    def _accel_terms(
        self, v: float, s_route: float, lead: Optional[Lead], t: float, travelled: float
    ) -> Tuple[float, float]:
        """(towards the road's planned speed, behind the lead: IDM, inf without one); the car takes the lower."""
        p = self.p
        cruise = p.speed_gain * (self.planned_speed(s_route) - v)
        behind_lead = math.inf
        if lead is not None:
            la = lead.actor
            v_lead_now = max(0.0, la.speed_mps + la.accel_mps2 * t) if la.kind == "vehicle" else 0.0
            lead_travel = (la.speed_mps * t + 0.5 * la.accel_mps2 * t * t) if la.kind == "vehicle" else 0.0
            if la.kind == "vehicle" and la.accel_mps2 < 0 and la.speed_mps + la.accel_mps2 * t < 0:
                lead_travel = la.speed_mps**2 / (2 * -la.accel_mps2)  # it stops and stays
            gap = max(lead.gap_m + lead_travel - travelled, 0.1)
            s_star = (
                p.min_gap_m
                + v * p.time_headway_s
                + v * (v - v_lead_now) / (2 * math.sqrt(p.accel_max_mps2 * p.decel_comfort_mps2))
            )
            behind_lead = p.accel_max_mps2 * (1 - (max(s_star, 0.0) / gap) ** 2)
        return cruise, behind_lead

    def _reason(
        self, s_m: float, v: float, lead: Optional[Lead], accel: float, lead_binds: bool, first_second_accel: float
    ) -> str:
        r = self.world.route
        remaining = r.length_m - s_m
        if lead is not None and lead.gap_m < 45.0:
            gap = _round5(lead.gap_m)
            la = lead.actor
            _, lateral = r.locate((la.x_m, la.y_m))
            if la.kind == "static":
                return (
                    f"obstacle {gap} m ahead in our lane: stopping"
                    if accel < -0.3
                    else f"obstacle {gap} m ahead in our lane"
                )
            if abs(lateral) > 0.8:
                return f"vehicle cutting in {gap} m ahead: slowing down"
            if la.accel_mps2 < -2.0:
                return f"lead vehicle braking {gap} m ahead: slowing down"
            if la.speed_mps < 0.5:
                return f"lead vehicle stopped {gap} m ahead: waiting"
            # slowing to its target speed or for a curve with a lead ahead is not slowing for the lead
            if first_second_accel < -self.p.slowing_for_lead_mps2 and lead_binds:
                return f"slowing down for the lead vehicle {gap} m ahead"
            return f"following the lead vehicle {gap} m ahead"
        option = r.option_at(s_m)
        lane = self.world.scenario.network.lanes[r.lane_at(s_m)]
        if option in TURN_WORD:
            if lane.turn:
                return (
                    "turning left at the junction"
                    if option is RoadOption.LEFT
                    else "turning right at the junction"
                    if option is RoadOption.RIGHT
                    else "going straight through the junction"
                )
            return f"approaching the junction: preparing to {TURN_WORD[option]}"
        if option is RoadOption.CHANGELANELEFT:
            return "changing lanes to the left"
        if option is RoadOption.CHANGELANERIGHT:
            return "changing lanes to the right"
        if remaining < 30.0:
            return "approaching the destination: stopping"
        # a car above its target speed on a straight slows down too, but there is no curve to name (and
        # the target speed is not among the model's inputs)
        if self.planned_speed(s_m + 25.0) < v - 1.0 and self._curve_speed(s_m + 25.0) < v - 1.0:
            return "slowing down for the curve ahead"
        return f"following the lane at {int(round(v))} m/s"


def _round5(x: float) -> int:
    return int(5 * round(max(x, 0.0) / 5))
