"""Minimum risk manoeuvre: a jerk-limited stop (Autoware's emergency stop operator),
`a ← max(a + j·dt, a_target)`, hazard lights requested; at standstill the brake holds.

Laterally the stop keeps its lane (a minimal-risk condition is reached in lane): the gate hands
`step` the steering of a fresh lane-keeping request (the last valid trajectory moved into the
current ego frame, then the route's geometry). Only when there is none is the wheel held at the
last angle it was given."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class MrmParams:
    target_decel_mps2: float  # e.g. 2.5 (positive number)
    jerk_mps3: float  # e.g. 1.5 (positive number)
    standstill_speed_mps: float  # below this the car counts as stopped
    hold_decel_mps2: float  # brake command while holding at standstill
    release_jerk_mps3: float  # how fast a positive acceleration is cut (the envelope's jerk limit)

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"MRM {name} must be positive and finite: {value}")


class MrmOperator:
    def __init__(self, params: MrmParams):
        self.p = params
        self.accel_mps2 = 0.0
        self.steer_rad = 0.0

    def start(self, accel_mps2: float, steer_rad: float) -> None:
        """Start from the last sent command: no step in either axis."""
        self.accel_mps2 = accel_mps2
        self.steer_rad = steer_rad

    def step(self, dt_s: float, steer_rad: Optional[float] = None) -> tuple[float, float]:
        """One period of the stop; `steer_rad`: the lane-keeping steering to follow (None: hold)."""
        if steer_rad is not None and math.isfinite(steer_rad):
            self.steer_rad = steer_rad
        a = self.accel_mps2
        if a > 0.0:  # cut throttle first, as fast as the envelope allows
            a = max(a - self.p.release_jerk_mps3 * dt_s, 0.0)
        elif a < -self.p.target_decel_mps2:  # braking harder already: ease to the target
            a = min(a + self.p.jerk_mps3 * dt_s, -self.p.target_decel_mps2)
        else:
            a = max(a - self.p.jerk_mps3 * dt_s, -self.p.target_decel_mps2)
        self.accel_mps2 = a
        return self.steer_rad, a

    def hold(self) -> tuple[float, float]:
        return self.steer_rad, -self.p.hold_decel_mps2
