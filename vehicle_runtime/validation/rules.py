"""The trajectory rules, after Autoware's planning_validator: each rule measures one quantity of a
trajectory and compares it with its limit as a ratio (measured / allowed; above 1 breaks the rule).

A trajectory is T points in the ego frame at its observation (x forward, y left), one every dt_s,
with a speed per point; the ego itself is point 0 (origin, heading 0, the measured speed). The
same ratios feed the online validator (any ratio > 1: invalid) and the penalty score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..types import PolicyOutput

# rule name → unit of its measured quantity (docs/safety.md lists each with its limit and weight)
RULES: Dict[str, str] = {
    "non_finite": "count",
    "point_spacing": "m",
    "relative_angle": "rad",
    "curvature": "1/m",
    "lateral_accel": "m/s²",
    "lateral_jerk": "m/s³",
    "longitudinal_accel": "m/s²",
    "steering_angle": "rad",
    "steering_rate": "rad/s",
    "speed_deviation": "m/s",
    "position_deviation": "m",
    "forward_length": "m",
    "time_to_collision": "s",
    "plan_shift": "m",
    "speed_shift": "m/s",
}
_MIN_SEGMENT_M = 1.0  # shorter segments (a stopping car) carry no usable heading or curvature


@dataclass(frozen=True)
class ValidatorParams:
    wheelbase_m: float  # from the vehicle profile
    max_steer_rad: float  # vehicle profile
    max_steer_rate_radps: float  # vehicle profile
    max_accel_mps2: float  # vehicle profile
    max_decel_mps2: float  # vehicle profile (positive)
    max_point_spacing_m: float
    max_relative_angle_rad: float
    max_curvature_1pm: float
    max_lateral_accel_mps2: float
    max_lateral_jerk_mps3: float
    longitudinal_accel_margin_mps2: float  # over the vehicle's max accel / decel
    max_speed_deviation_mps: float
    max_position_deviation_m: float
    forward_length_decel_mps2: float  # the trajectory must reach the stop at this deceleration ...
    forward_length_margin_m: float  # ... plus this margin
    min_ttc_s: float
    plan_shift_base_m: float  # tolerance against the previous valid plan: base + ½·a·t²
    plan_shift_accel_mps2: float
    speed_shift_base_mps: float  # base + a·t
    speed_shift_accel_mps2: float
    shift_horizon_s: float  # compare with the previous plan this far ahead
    action: str  # "keep_last": keep the last valid trajectory (at most hold_max_s, its horizon), then MRM; "mrm"
    hold_max_s: float
    standstill_speed_mps: float  # below: a refused plan holds the car where it stands (no MRM: it is stopped)
    min_confidence: float  # below: degrade (speed cap), then MRM
    low_confidence_speed_cap_mps: float
    low_confidence_mrm_after_s: float

    def __post_init__(self):
        bad = {k: v for k, v in vars(self).items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:  # a NaN limit passes every comparison: the rule would be off
            raise ValueError(f"validator limits must be finite: {bad}")


@dataclass(frozen=True)
class Lead:
    """A lead vehicle on the ego's path from fused inputs: gap along the path and its speed."""

    gap_m: float
    speed_mps: float


def speeds_of(out: PolicyOutput) -> np.ndarray:
    if out.speed_profile_mps is not None:
        return np.asarray(out.speed_profile_mps, dtype=np.float64)
    seg = np.asarray(out.trajectory_ego_xy_m, dtype=np.float64).copy()
    seg[1:] -= seg[:-1].copy()
    return np.hypot(seg[:, 0], seg[:, 1]) / out.dt_s


def ratios(
    out: PolicyOutput,
    ego_speed_mps: float,
    p: ValidatorParams,
    previous: Optional[PolicyOutput] = None,
    lead: Optional[Lead] = None,
) -> Dict[str, float]:
    """measured / allowed for every rule (0 where a rule has nothing to measure)."""
    traj = np.asarray(out.trajectory_ego_xy_m, dtype=np.float64)
    v = speeds_of(out)
    r = dict.fromkeys(RULES, 0.0)
    if not (np.isfinite(traj).all() and np.isfinite(v).all() and math.isfinite(ego_speed_mps)) or len(traj) < 2:
        r["non_finite"] = math.inf
        return r
    dt = out.dt_s
    seg = traj.copy()  # segments from the ego (point 0) on; slicing, not np.diff: this runs per output
    seg[1:] -= traj[:-1]
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    r["point_spacing"] = float(seg_len.max()) / p.max_point_spacing_m
    heading = np.arctan2(seg[:, 1], seg[:, 0])
    usable = seg_len >= _MIN_SEGMENT_M
    # heading changes: from the ego's own heading (0) to the first usable segment, then segment to segment
    h = np.concatenate(([0.0], heading[usable]))
    if len(h) > 1:
        r["relative_angle"] = float(np.abs(_wrap(h[1:] - h[:-1])).max()) / p.max_relative_angle_rad
    # curvature at the inner points (turn angle over the mean of the two segments), where both are usable
    both = usable[:-1] & usable[1:]
    turn = _wrap(heading[1:] - heading[:-1])
    kappa = np.where(both, turn / np.maximum(0.5 * (seg_len[:-1] + seg_len[1:]), 1e-9), 0.0)
    if len(kappa):
        r["curvature"] = float(np.abs(kappa).max()) / p.max_curvature_1pm
        lat = v[:-1] ** 2 * kappa  # at points 1..T-1
        r["lateral_accel"] = float(np.abs(lat).max()) / p.max_lateral_accel_mps2
        if len(lat) > 1:
            r["lateral_jerk"] = float(np.abs(lat[1:] - lat[:-1]).max()) / dt / p.max_lateral_jerk_mps3
        steer = np.arctan(p.wheelbase_m * kappa)
        r["steering_angle"] = float(np.abs(steer).max()) / p.max_steer_rad
        if len(steer) > 1:
            r["steering_rate"] = float(np.abs(steer[1:] - steer[:-1]).max()) / dt / p.max_steer_rate_radps
    acc = (v[1:] - v[:-1]) / dt
    if len(acc):
        m = p.longitudinal_accel_margin_mps2
        r["longitudinal_accel"] = max(
            float(acc.max()) / (p.max_accel_mps2 + m), float(-acc.min()) / (p.max_decel_mps2 + m), 0.0
        )
    r["speed_deviation"] = abs(float(v[0]) - ego_speed_mps) / (p.max_speed_deviation_mps + p.max_accel_mps2 * dt)
    r["position_deviation"] = abs(float(traj[0, 1])) / p.max_position_deviation_m
    required = ego_speed_mps**2 / (2.0 * p.forward_length_decel_mps2) + p.forward_length_margin_m
    ends_stopped = float(v[-1]) < 0.5  # a plan that stops may be as short as its stop
    length = float(seg_len.sum())
    r["forward_length"] = 0.0 if ends_stopped or length <= 0 and required <= 0 else required / max(length, 1e-6)
    if lead is not None:
        r["time_to_collision"] = p.min_ttc_s / time_to_collision(seg_len, dt, lead)
    if previous is not None:
        r["plan_shift"], r["speed_shift"] = _shift(out, traj, v, previous, p)
    return r


def _wrap(angle_rad: np.ndarray) -> np.ndarray:
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


def time_to_collision(seg_len: np.ndarray, dt_s: float, lead: Lead) -> float:
    """First time along the plan at which the ego's travelled distance reaches the lead's position
    (the lead at constant speed); inf when it never does within the horizon."""
    travelled = np.cumsum(seg_len)
    t = np.arange(1, len(travelled) + 1) * dt_s
    hit = np.nonzero(travelled >= lead.gap_m + lead.speed_mps * t)[0]
    if len(hit) == 0:
        return math.inf
    i = int(hit[0])
    return max(float(t[i]) - dt_s, 1e-3) if i > 0 else max(dt_s * lead.gap_m / max(travelled[0], 1e-6), 1e-3)


def _shift(
    out: PolicyOutput, traj: np.ndarray, v: np.ndarray, prev: PolicyOutput, p: ValidatorParams
) -> Tuple[float, float]:
    """How far the plan left the path of the previous valid one (m), and how much faster than it it
    wants to be at the same instants (m/s), each over the tolerance a real re-plan stays inside.
    Braking harder or going slower along the same path is never a shift: an emergency stop must pass."""
    lag = out.stamp_s - prev.stamp_s
    # the previous plan, from its ego (point 0) on, in the new plan's frame: one rotation + shift
    a, b = prev.ego_pose_at_stamp, out.ego_pose_at_stamp
    c0, s0 = math.cos(b.yaw_rad), math.sin(b.yaw_rad)
    dx, dy = a.x_m - b.x_m, a.y_m - b.y_m
    ox, oy = c0 * dx + s0 * dy, -s0 * dx + c0 * dy
    dyaw = a.yaw_rad - b.yaw_rad
    c, s = math.cos(dyaw), math.sin(dyaw)
    raw = np.asarray(prev.trajectory_ego_xy_m, dtype=np.float64)
    px = np.concatenate(([ox], ox + c * raw[:, 0] - s * raw[:, 1]))
    py = np.concatenate(([oy], oy + s * raw[:, 0] + c * raw[:, 1]))
    t = np.arange(1, len(traj) + 1) * out.dt_s
    keep = t <= p.shift_horizon_s + 1e-9
    if lag < 0 or not keep.any():
        return 0.0, 0.0
    t, q = t[keep], traj[keep]
    # distance of each new point to the previous path (its segments)
    ax, ay, ex, ey = px[:-1], py[:-1], px[1:] - px[:-1], py[1:] - py[:-1]
    qx, qy = q[:, :1] - ax, q[:, 1:] - ay
    u = np.clip((qx * ex + qy * ey) / np.maximum(ex * ex + ey * ey, 1e-12), 0.0, 1.0)
    d = np.hypot(qx - u * ex, qy - u * ey).min(axis=1)
    shift = float((d / (p.plan_shift_base_m + 0.5 * p.plan_shift_accel_mps2 * t**2)).max())
    prev_t = np.arange(len(px)) * prev.dt_s
    tau = t + lag
    on = tau <= prev_t[-1] + 1e-9
    if not on.any():
        return shift, 0.0
    pv = speeds_of(prev)
    faster = v[keep][on] - np.interp(tau[on], prev_t, np.concatenate((pv[:1], pv)))
    vtol = p.speed_shift_base_mps + p.speed_shift_accel_mps2 * t[on]
    return shift, max(float((faster / vtol).max()), 0.0)
