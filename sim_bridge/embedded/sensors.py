"""Sensor models besides the camera: odometry (the same in the embedded drive and on the node graph), GNSS
from the local east-north frame (WGS-84, small-area approximation), and the camera brightness schedule of a
scenario."""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

from vehicle_runtime.types import EgoState, Pose2D

from .dynamics import BicycleState

EARTH_RADIUS_M = 6378137.0
ORIGIN = (48.137, 11.575, 520.0)  # lat, lon, alt of the map origin (any fixed place will do)


# localisation and wheel-speed noise: one model for both simulators, so a student meets on the node graph the
# odometry it met in the embedded drive (the graph's ran without speed and heading noise, and a candidate that
# drove every embedded seed hesitated there)
ODOM_POSITION_STD_M = 0.02
ODOM_YAW_STD_RAD = 0.002
ODOM_SPEED_STD_MPS = 0.05


def measured_odometry(stamp_s: float, ego: BicycleState, rng: np.random.Generator, scale: float = 1.0) -> EgoState:
    """The ego's odometry as a box measures it: position, heading and speed with noise (`scale` times the
    standard deviations; 0: ground truth, the same numbers drawn either way) and speed never below 0; yaw rate,
    acceleration and steering as they are (the runtime reads the last two from CAN on the graph)."""
    pose = Pose2D(
        ego.x_m + rng.normal(0, scale * ODOM_POSITION_STD_M),
        ego.y_m + rng.normal(0, scale * ODOM_POSITION_STD_M),
        ego.yaw_rad + rng.normal(0, scale * ODOM_YAW_STD_RAD),
    )
    speed_mps = max(0.0, ego.speed_mps + rng.normal(0, scale * ODOM_SPEED_STD_MPS))
    return EgoState(stamp_s, pose, speed_mps, ego.yaw_rate_radps, ego.accel_mps2, ego.steer_rad)


def enu_to_geodetic(x_east_m: float, y_north_m: float, origin: Tuple[float, float, float] = ORIGIN):
    """(lat_deg, lon_deg, alt_m) of a point given in metres east / north of the origin."""
    lat0, lon0, alt0 = origin
    lat = lat0 + math.degrees(y_north_m / EARTH_RADIUS_M)
    lon = lon0 + math.degrees(x_east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return lat, lon, alt0


def brightness_at(t_s: float, base: float, schedule: Sequence[Sequence[float]]) -> float:
    """`schedule` = [[t, brightness], ...] (linear in between, held outside); `base` without one."""
    if not schedule:
        return base
    ts, bs = zip(*schedule)
    return float(np.interp(t_s, ts, bs))
