"""Kinematic bicycle with first-order actuator lag and steering-rate / acceleration limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vehicle_runtime.control import VehicleProfile


@dataclass
class BicycleState:
    x_m: float = 0.0
    y_m: float = 0.0
    yaw_rad: float = 0.0
    speed_mps: float = 0.0
    steer_rad: float = 0.0  # actual road-wheel angle
    accel_mps2: float = 0.0  # actual longitudinal acceleration
    yaw_rate_radps: float = 0.0


class KinematicBicycle:
    def __init__(self, profile: VehicleProfile, state: BicycleState | None = None):
        self.profile = profile
        self.state = state or BicycleState()

    def step(self, dt_s: float, steer_cmd_rad: float, accel_cmd_mps2: float) -> BicycleState:
        p, s = self.profile, self.state
        steer_cmd = min(max(steer_cmd_rad, -p.max_steer_rad), p.max_steer_rad)
        accel_cmd = min(max(accel_cmd_mps2, -p.max_decel_mps2), p.max_accel_mps2)
        # first-order lag, then the actuator's rate limit
        d_steer = (steer_cmd - s.steer_rad) * _lag_gain(dt_s, p.steer_time_constant_s)
        max_d = p.max_steer_rate_radps * dt_s
        s.steer_rad += min(max(d_steer, -max_d), max_d)
        s.accel_mps2 += (accel_cmd - s.accel_mps2) * _lag_gain(dt_s, p.accel_time_constant_s)
        v0 = s.speed_mps
        v1 = max(0.0, v0 + s.accel_mps2 * dt_s)  # brakes stop the car, they do not reverse it
        if v1 == 0.0:  # standing: the brake force has nothing left to decelerate
            s.accel_mps2 = max(s.accel_mps2, 0.0)
        v_mid = 0.5 * (v0 + v1)
        s.yaw_rate_radps = v_mid * math.tan(s.steer_rad) / p.wheelbase_m
        s.yaw_rad += s.yaw_rate_radps * dt_s
        s.x_m += v_mid * math.cos(s.yaw_rad) * dt_s
        s.y_m += v_mid * math.sin(s.yaw_rad) * dt_s
        s.speed_mps = v1
        return s


def _lag_gain(dt_s: float, tau_s: float) -> float:
    return 1.0 if tau_s <= 0.0 else 1.0 - math.exp(-dt_s / tau_s)
