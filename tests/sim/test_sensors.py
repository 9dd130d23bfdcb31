"""The odometry both simulators publish: one sensor model, so a student meets on the node graph the odometry
it met in the embedded drive."""

import inspect

import numpy as np

from sim_bridge.embedded import dds_sim, drive
from sim_bridge.embedded.dynamics import BicycleState
from sim_bridge.embedded.sensors import (
    ODOM_POSITION_STD_M,
    ODOM_SPEED_STD_MPS,
    ODOM_YAW_STD_RAD,
    measured_odometry,
)


def _draws(state: BicycleState, n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    return [measured_odometry(float(k), state, rng) for k in range(n)]


def test_odometry_carries_the_noise_of_a_real_box_around_the_truth():
    truth = BicycleState(x_m=10.0, y_m=-4.0, yaw_rad=0.3, speed_mps=8.0, steer_rad=0.02, accel_mps2=-1.5)
    truth.yaw_rate_radps = 0.12
    out = _draws(truth, 4000)
    x = np.array([o.pose.x_m for o in out])
    yaw = np.array([o.pose.yaw_rad for o in out])
    v = np.array([o.speed_mps for o in out])
    for values, centre, std in (
        (x, 10.0, ODOM_POSITION_STD_M),
        (yaw, 0.3, ODOM_YAW_STD_RAD),
        (v, 8.0, ODOM_SPEED_STD_MPS),
    ):
        assert abs(values.mean() - centre) < 4 * std / np.sqrt(len(values))
        assert 0.9 * std < values.std() < 1.1 * std
    # what the box reads from elsewhere (gyro, CAN) comes through as it is
    assert {(o.yaw_rate_radps, o.accel_mps2, o.steer_rad) for o in out} == {(0.12, -1.5, 0.02)}
    assert [o.stamp_s for o in out[:3]] == [0.0, 1.0, 2.0]


def test_a_standing_car_never_measures_a_negative_speed():
    out = _draws(BicycleState(speed_mps=0.0), 500)
    speeds = np.array([o.speed_mps for o in out])
    assert speeds.min() == 0.0 and (speeds > 0).any()  # noise, floored at zero


def test_the_same_seed_measures_the_same_odometry():
    state = BicycleState(x_m=1.0, speed_mps=5.0)
    assert _draws(state, 20, seed=7) == _draws(state, 20, seed=7)
    assert _draws(state, 20, seed=7) != _draws(state, 20, seed=8)


def test_both_simulators_measure_odometry_with_this_model():
    """The node graph's simulator published speed and heading without noise while the embedded drive added it:
    a student passed one and hesitated on the other. Both now call the one model."""
    for module in (drive, dds_sim):
        assert "measured_odometry(" in inspect.getsource(module)
        assert "rng.normal(0, 0.002)" not in inspect.getsource(module)


def test_noise_scale_zero_is_ground_truth_and_draws_the_same_numbers():
    """A drive with noise off (`drive --odometry-noise 0`) keeps every other random draw of the run (GNSS, the
    scenario's variation) where it was: only the odometry changes."""
    truth = BicycleState(x_m=3.0, y_m=2.0, yaw_rad=0.1, speed_mps=7.0)
    rng_off, rng_on = np.random.default_rng(5), np.random.default_rng(5)
    off = measured_odometry(0.0, truth, rng_off, scale=0.0)
    on = measured_odometry(0.0, truth, rng_on, scale=1.0)
    assert (off.pose.x_m, off.pose.y_m, off.pose.yaw_rad, off.speed_mps) == (3.0, 2.0, 0.1, 7.0)
    assert on.speed_mps != 7.0
    assert rng_off.normal() == rng_on.normal()
    doubled = measured_odometry(0.0, truth, np.random.default_rng(5), scale=2.0)
    assert abs((doubled.speed_mps - 7.0) - 2 * (on.speed_mps - 7.0)) < 1e-12
