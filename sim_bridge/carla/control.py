"""What the by-wire gateway accepted (steering angle, acceleration) → carla.VehicleControl.

Steering is normalised by the vehicle's own maximum front-wheel angle (its physics control), and its
sign flips (CARLA steers right for positive values). Acceleration goes through a calibration table to
throttle or brake, as a real by-wire ECU's pedal maps do. CARLA turns the wheels almost at once, so an
optional first-order lag gives the steering the rack dynamics the controllers were tuned for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Calibration:
    """Piecewise-linear pedal maps. Between `coast_band_mps2` and 0 the car coasts (drag decelerates it)."""

    throttle_accel_mps2: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)
    throttle: Sequence[float] = (0.0, 0.35, 0.45, 0.6, 0.75, 0.9)
    brake_decel_mps2: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    brake: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
    coast_band_mps2: float = -0.3

    def __post_init__(self):
        for xs, ys, name in (
            (self.throttle_accel_mps2, self.throttle, "throttle"),
            (self.brake_decel_mps2, self.brake, "brake"),
        ):
            if len(xs) != len(ys) or len(xs) < 2:
                raise ValueError(f"calibration '{name}': the two columns need the same length (>= 2)")
            if any(b <= a for a, b in zip(xs, xs[1:])):
                raise ValueError(f"calibration '{name}': accelerations must increase strictly")
            if any(not 0.0 <= y <= 1.0 for y in ys) or any(b < a for a, b in zip(ys, ys[1:])):
                raise ValueError(f"calibration '{name}': pedal values must rise within [0, 1]")

    def pedals(self, accel_mps2: float) -> tuple[float, float]:
        """(throttle, brake) for an acceleration request; never both."""
        if accel_mps2 >= 0.0:
            return float(np.interp(accel_mps2, self.throttle_accel_mps2, self.throttle)), 0.0
        if accel_mps2 >= self.coast_band_mps2:
            return 0.0, 0.0
        return 0.0, float(np.interp(-accel_mps2, self.brake_decel_mps2, self.brake))


def max_steer_rad(physics_control) -> float:
    """The largest front-wheel angle of a carla.VehiclePhysicsControl (its wheels list, degrees)."""
    wheels = list(physics_control.wheels)
    front = [w.max_steer_angle for w in wheels[:2]] or [w.max_steer_angle for w in wheels]
    angle = max(front, default=0.0)
    if angle <= 0.0:
        raise ValueError("the vehicle's physics control reports no steerable wheel")
    return math.radians(angle)


class ControlMapper:
    def __init__(self, max_steer_rad: float, calibration: Calibration = Calibration(), steer_lag_s: float = 0.0):
        if max_steer_rad <= 0:
            raise ValueError("max_steer_rad must be positive")
        self.max_steer_rad = max_steer_rad
        self.calibration = calibration
        self.steer_lag_s = steer_lag_s
        self.steer_rad = 0.0  # what the wheels are at (after the lag)

    def control(self, steer_rad: float, accel_mps2: float, dt_s: float, hand_brake: bool = False):
        import carla  # the client's types; only on the CARLA path

        if self.steer_lag_s > 0.0:
            self.steer_rad += (steer_rad - self.steer_rad) * dt_s / (self.steer_lag_s + dt_s)
        else:
            self.steer_rad = steer_rad
        throttle, brake = self.calibration.pedals(accel_mps2)
        steer = float(np.clip(-self.steer_rad / self.max_steer_rad, -1.0, 1.0))
        return carla.VehicleControl(throttle=throttle, steer=steer, brake=brake, hand_brake=hand_brake)
