"""Trajectory tracking: pure pursuit geometry, age compensation, speed PI."""

import math

import numpy as np
import pytest

from vehicle_runtime.control import TrackerParams, TrajectoryTracker, VehicleProfile
from vehicle_runtime.types import EgoState, PolicyOutput, Pose2D

PROFILE = VehicleProfile("t", 2.8, 15.0, 0.55, 0.6, 3.0, 8.0, 1.8, 4.6, 0.1, 0.3)
PARAMS = TrackerParams(
    lookahead_min_m=5.0, lookahead_time_s=1.0, speed_preview_s=0.0, speed_kp=1.0, speed_ki=0.0, integral_limit_mps=1.0
)


def arc(radius_m, n=40, step_m=1.0):
    s = np.arange(1, n + 1) * step_m
    return np.stack([radius_m * np.sin(s / radius_m), radius_m * (1 - np.cos(s / radius_m))], 1)


def policy(traj, stamp=0.0, pose=Pose2D(0, 0, 0), speeds=None, dt=0.1):
    return PolicyOutput(
        stamp_s=stamp, ego_pose_at_stamp=pose, trajectory_ego_xy_m=traj, dt_s=dt, speed_profile_mps=speeds
    )


def ego(v, pose=Pose2D(0, 0, 0), t=0.0):
    return EgoState(stamp_s=t, pose=pose, speed_mps=v)


@pytest.mark.parametrize("radius", [20.0, -30.0, 60.0])
def test_pure_pursuit_on_a_circle_gives_the_circle_steering(radius):
    tracker = TrajectoryTracker(PROFILE, PARAMS)
    req = tracker.step(policy(arc(radius), speeds=np.full(40, 5.0)), ego(5.0), 0.0, 0.01)
    assert req.steer_rad == pytest.approx(math.atan(PROFILE.wheelbase_m / radius), rel=1e-3)


def test_straight_trajectory_gives_zero_steering_and_speed_from_spacing():
    tracker = TrajectoryTracker(PROFILE, PARAMS)
    traj = np.stack([np.arange(1, 21) * 0.8, np.zeros(20)], 1)  # 8 m/s at dt = 0.1 s
    req = tracker.step(policy(traj), ego(6.0), 0.0, 0.01)
    assert req.steer_rad == 0.0
    assert req.accel_mps2 == pytest.approx(2.0)  # kp * (8 - 6)


def test_age_compensation_uses_the_pose_change():
    """The car moved 1 m to the left since the observation: a straight path is now to the right."""
    tracker = TrajectoryTracker(PROFILE, PARAMS)
    traj = np.stack([np.arange(1, 41) * 1.0, np.zeros(40)], 1)
    moved = Pose2D(0.5, 1.0, 0.0)
    req = tracker.step(policy(traj, stamp=0.0), ego(5.0, moved, t=0.1), 0.1, 0.01)
    assert req.steer_rad < -0.05
    now = TrajectoryTracker.trajectory_now(policy(traj), ego(5.0, moved))
    np.testing.assert_allclose(now[:, 1], -1.0)
    np.testing.assert_allclose(now[:, 0], traj[:, 0] - 0.5)


def test_speed_target_read_at_trajectory_age_with_feed_forward():
    tracker = TrajectoryTracker(PROFILE, PARAMS)
    speeds = np.linspace(1.0, 2.0, 10)  # at t = 0.1 .. 1.0 s: +1.11 m/s²
    traj = np.stack([np.cumsum(speeds) * 0.1, np.zeros(10)], 1)
    on_profile = 1.0 + 0.3 / 0.9  # the profile's speed at the trajectory's age of 0.4 s
    req = tracker.step(policy(traj, stamp=0.0, speeds=speeds), ego(on_profile, t=0.4), 0.4, 0.01)
    assert req.accel_mps2 == pytest.approx(1.0 / 0.9)  # feed-forward only: no speed error
    req = tracker.step(policy(traj, stamp=0.0, speeds=speeds), ego(on_profile - 1.0, t=0.4), 0.4, 0.01)
    assert req.accel_mps2 == pytest.approx(1.0 / 0.9 + 1.0)  # plus kp * error
    braking = np.linspace(10.0, 1.0, 10)  # -10 m/s²: the request is clipped to the profile's limit
    req = tracker.step(policy(traj, speeds=braking), ego(10.0), 0.0, 0.01)
    assert req.accel_mps2 == -PROFILE.max_decel_mps2


def test_outputs_within_profile_limits():
    tracker = TrajectoryTracker(PROFILE, PARAMS)
    sharp = arc(3.0, n=10, step_m=0.5)
    req = tracker.step(policy(sharp, speeds=np.zeros(10)), ego(20.0), 0.0, 0.01)
    assert abs(req.steer_rad) <= PROFILE.max_steer_rad
    assert req.accel_mps2 == -PROFILE.max_decel_mps2
