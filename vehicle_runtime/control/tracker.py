"""Pure pursuit on the trajectory for steering, PI on the speed profile for acceleration.

The trajectory is in the ego frame of the observation it came from. Before tracking it is moved
into the current ego frame with the odometry pose change since then (age compensation), and the
speed target is read at the trajectory's age plus a preview time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, cast

import numpy as np

from ..geometry import ego_to_world, world_to_ego
from ..types import ActuatorRequest, EgoState, PolicyOutput
from .profile import VehicleProfile


@dataclass(frozen=True)
class TrackerParams:
    lookahead_min_m: float
    lookahead_time_s: float  # look-ahead distance = max(min, speed * time)
    speed_preview_s: float  # read the speed profile this far ahead (actuator lag)
    speed_kp: float  # (m/s²) per (m/s)
    speed_ki: float
    integral_limit_mps: float


class TrajectoryTracker:
    def __init__(self, profile: VehicleProfile, params: TrackerParams):
        self.profile = profile
        self.params = params
        self._integral = 0.0

    def reset(self) -> None:
        self._integral = 0.0

    def step(self, policy: PolicyOutput, ego: EgoState, now_s: float, dt_s: float) -> ActuatorRequest:
        traj = self.trajectory_now(policy, ego)
        age_s = max(0.0, now_s - policy.stamp_s)
        steer = self._pure_pursuit(traj, ego.speed_mps)
        v_target, accel_ff = self._speed_target(policy, age_s)
        error = v_target - ego.speed_mps
        p = self.params
        self._integral = float(np.clip(self._integral + error * dt_s, -p.integral_limit_mps, p.integral_limit_mps))
        accel = accel_ff + p.speed_kp * error + p.speed_ki * self._integral
        accel = float(np.clip(accel, -self.profile.max_decel_mps2, self.profile.max_accel_mps2))
        steer = float(np.clip(steer, -self.profile.max_steer_rad, self.profile.max_steer_rad))
        return ActuatorRequest(stamp_s=now_s, steer_rad=steer, accel_mps2=accel, source_stamp_s=policy.stamp_s)

    @staticmethod
    def trajectory_now(policy: PolicyOutput, ego: EgoState) -> np.ndarray:
        """The trajectory in the current ego frame (the car moved since the observation)."""
        world = ego_to_world(policy.trajectory_ego_xy_m, policy.ego_pose_at_stamp)
        return world_to_ego(world, ego.pose)

    def _pure_pursuit(self, traj: np.ndarray, speed_mps: float) -> float:
        p = self.params
        lookahead = max(p.lookahead_min_m, speed_mps * p.lookahead_time_s)
        target = _point_at_range(traj, lookahead)
        if target is None:
            return 0.0
        x, y = target
        d2 = x * x + y * y
        if d2 < 1e-6:
            return 0.0
        curvature = 2.0 * y / d2
        return math.atan(self.profile.wheelbase_m * curvature)

    def _speed_target(self, policy: PolicyOutput, age_s: float) -> tuple[float, float]:
        """(speed, acceleration feed-forward) of the profile at the trajectory's age + preview."""
        p = policy
        t = age_s + self.params.speed_preview_s
        times = np.arange(1, len(p.trajectory_ego_xy_m) + 1) * p.dt_s
        if p.speed_profile_mps is not None:
            speeds = p.speed_profile_mps
        else:  # from the spacing of the trajectory points
            pts = np.vstack(([0.0, 0.0], p.trajectory_ego_xy_m))
            speeds = np.linalg.norm(np.diff(pts, axis=0), axis=1) / p.dt_s
        slopes = np.diff(speeds) / p.dt_s
        accel_ff = float(np.interp(t, 0.5 * (times[:-1] + times[1:]), slopes)) if len(slopes) else 0.0
        return float(max(0.0, np.interp(t, times, speeds))), accel_ff


def _point_at_range(traj: np.ndarray, range_m: float) -> Optional[np.ndarray]:
    """First point along the trajectory at `range_m` from the ego (interpolated between points),
    searched from the point nearest the ego on (an old trajectory followed for long, as during an
    MRM, lies partly behind the car); the last point when the rest is closer; None when empty."""
    if len(traj) == 0:
        return None
    dist = np.hypot(traj[:, 0], traj[:, 1])
    nearest = int(np.argmin(dist))
    traj, dist = traj[nearest:], dist[nearest:]
    beyond = np.nonzero(dist >= range_m)[0]
    # casts: numpy types a row of an untyped array as Any; each is an (x, y) row
    if len(beyond) == 0:
        return cast(np.ndarray, traj[-1])
    i = int(beyond[0])
    if i == 0:
        return cast(np.ndarray, traj[0])
    d0, d1 = dist[i - 1], dist[i]
    w = (range_m - d0) / max(d1 - d0, 1e-9)
    return cast(np.ndarray, traj[i - 1] + w * (traj[i] - traj[i - 1]))
