"""The vehicle profile: geometry and actuator limits of one car model (config/vehicles/*.param.yaml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VehicleProfile:
    name: str
    wheelbase_m: float
    steering_ratio: float  # steering-wheel angle / road-wheel angle
    max_steer_rad: float  # road-wheel angle
    max_steer_rate_radps: float
    max_accel_mps2: float
    max_decel_mps2: float  # positive number
    width_m: float
    length_m: float
    steer_time_constant_s: float  # first-order actuator lag (for the simulator)
    accel_time_constant_s: float
