"""Envelope limiter in the style of Autoware's vehicle_cmd_gate: every limit is a table linearly
interpolated over the *measured* speed at `reference_speeds_mps` (held constant outside).

Filter order: non-finite → steer angle → steer rate → longitudinal jerk → longitudinal accel →
maximum speed → lateral jerk → lateral accel. Rate limits act against the last *sent* command.
When a speed-dependent bound shrinks faster than a rate limit allows, the bound wins: staying
inside the envelope beats smoothness (the step then always goes towards zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

FILTERS = ("non_finite", "steer_lim", "steer_rate", "lon_jerk", "lon_acc", "velocity", "lat_jerk", "lat_acc")


@dataclass(frozen=True)
class EnvelopeParams:
    wheelbase_m: float
    reference_speeds_mps: Sequence[float]
    steer_lim_rad: Sequence[float]
    steer_rate_lim_radps: Sequence[float]
    accel_lim_mps2: Sequence[float]  # largest positive acceleration
    decel_lim_mps2: Sequence[float]  # largest braking, as a positive number
    lon_jerk_lim_mps3: Sequence[float]
    lat_acc_lim_mps2: Sequence[float]
    lat_jerk_lim_mps3: Sequence[float]
    max_speed_mps: float

    def __post_init__(self) -> None:
        n = len(self.reference_speeds_mps)
        for name in (
            "steer_lim_rad",
            "steer_rate_lim_radps",
            "accel_lim_mps2",
            "decel_lim_mps2",
            "lon_jerk_lim_mps3",
            "lat_acc_lim_mps2",
            "lat_jerk_lim_mps3",
        ):
            table = getattr(self, name)
            if len(table) != n:
                raise ValueError(f"{name} has {len(table)} values, reference_speeds_mps has {n}")
            if any(not (v > 0 and math.isfinite(v)) for v in table):
                raise ValueError(f"{name} must be positive and finite: {list(table)}")
        for name in ("wheelbase_m", "max_speed_mps"):  # a NaN here would switch its guard off
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be positive and finite: {getattr(self, name)}")
        if not all(math.isfinite(v) for v in self.reference_speeds_mps):
            raise ValueError(f"reference_speeds_mps must be finite: {list(self.reference_speeds_mps)}")
        if list(self.reference_speeds_mps) != sorted(self.reference_speeds_mps):
            raise ValueError("reference_speeds_mps must be increasing")

    def at(self, name: str, speed_mps: float) -> float:
        return float(np.interp(abs(speed_mps), self.reference_speeds_mps, getattr(self, name)))


@dataclass(frozen=True)
class Limited:
    steer_rad: float
    accel_mps2: float
    filters: Tuple[str, ...]


class EnvelopeLimiter:
    def __init__(self, params: EnvelopeParams):
        self.p = params
        self.prev_steer_rad = 0.0
        self.prev_accel_mps2 = 0.0

    def seed(self, steer_rad: float, accel_mps2: float) -> None:
        """Re-seed from the measured vehicle state while not engaged: no jump on engage."""
        if math.isfinite(steer_rad):
            self.prev_steer_rad = steer_rad
        if math.isfinite(accel_mps2):
            self.prev_accel_mps2 = accel_mps2

    def limit(self, steer_rad: float, accel_mps2: float, speed_mps: float, dt_s: float) -> Limited:
        p = self.p
        v = abs(speed_mps) if math.isfinite(speed_mps) else p.max_speed_mps  # unknown speed: tightest limits
        active = []
        if not (math.isfinite(steer_rad) and math.isfinite(accel_mps2)):
            active.append("non_finite")
            steer_rad = steer_rad if math.isfinite(steer_rad) else self.prev_steer_rad
            accel_mps2 = accel_mps2 if math.isfinite(accel_mps2) else min(self.prev_accel_mps2, 0.0)
        # steering angle, then its rate against the last sent command
        steer = _clip(steer_rad, p.at("steer_lim_rad", v), "steer_lim", active)
        max_step = p.at("steer_rate_lim_radps", v) * dt_s
        steer = _step_toward(self.prev_steer_rad, steer, max_step, "steer_rate", active)
        # longitudinal: jerk, accel, speed
        accel = _step_toward(self.prev_accel_mps2, accel_mps2, p.at("lon_jerk_lim_mps3", v) * dt_s, "lon_jerk", active)
        lo, hi = -p.at("decel_lim_mps2", v), p.at("accel_lim_mps2", v)
        if accel > hi or accel < lo:
            accel = min(max(accel, lo), hi)
            active.append("lon_acc")
        if v >= p.max_speed_mps and accel > 0.0:
            accel = 0.0
            active.append("velocity")
        # lateral jerk and acceleration from v²·tan(δ)/L at the measured speed
        L = p.wheelbase_m
        v2 = max(v * v, 1e-3)
        max_dtan = p.at("lat_jerk_lim_mps3", v) * L * dt_s / v2
        tan_prev, tan_now = math.tan(self.prev_steer_rad), math.tan(steer)
        if abs(tan_now - tan_prev) > max_dtan:
            steer = math.atan(tan_prev + math.copysign(max_dtan, tan_now - tan_prev))
            active.append("lat_jerk")
        # absolute bounds last, so they hold even when a rate limit started outside them
        steer = _clip(steer, p.at("steer_lim_rad", v), "steer_lim", active)
        max_tan = p.at("lat_acc_lim_mps2", v) * L / v2
        if abs(math.tan(steer)) > max_tan:
            steer = math.copysign(math.atan(max_tan), steer)
            active.append("lat_acc")
        self.prev_steer_rad, self.prev_accel_mps2 = steer, accel
        return Limited(steer, accel, tuple(dict.fromkeys(active)))

    def lateral_accel_mps2(self, steer_rad: float, speed_mps: float) -> float:
        return speed_mps * speed_mps * math.tan(steer_rad) / self.p.wheelbase_m


def _clip(value: float, bound: float, name: str, active: list[str]) -> float:
    if abs(value) > bound:
        active.append(name)
        return math.copysign(bound, value)
    return value


def _step_toward(prev: float, target: float, max_step: float, name: str, active: list[str]) -> float:
    if abs(target - prev) > max_step:
        active.append(name)
        return prev + math.copysign(max_step, target - prev)
    return target
