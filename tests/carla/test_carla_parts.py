"""CARLA bridge parts with the real `carla` client types (no server needed): conversions, the control
mapping, the route builder on a hand-made OpenDRIVE junction, the one-line error without a server."""

import math
from pathlib import Path

import numpy as np
import pytest

carla = pytest.importorskip("carla", reason="the CARLA client wheel (carla==0.9.16) is not installed")

from sim_bridge.carla import control, convert  # noqa: E402
from sim_bridge.carla.connection import CarlaUnavailable, Endpoint, connect, version_problem  # noqa: E402
from sim_bridge.carla.route import TopologyPlanner  # noqa: E402
from vehicle_runtime.types import RoadOption  # noqa: E402

XODR = Path(__file__).with_name("three_way.xodr")


def test_pose_conversion_flips_y_and_yaw():
    p = convert.pose_from_transform(carla.Transform(carla.Location(3, 4, 0), carla.Rotation(yaw=90)))
    assert (p.x_m, p.y_m) == (3.0, -4.0) and p.yaw_rad == pytest.approx(-math.pi / 2)
    t = carla.Transform(carla.Location(0, 0, 0), carla.Rotation(yaw=0))
    assert convert.speed_mps(carla.Vector3D(5, 0, 0), t) == pytest.approx(5.0)
    assert convert.speed_mps(carla.Vector3D(-2, 0, 0), t) == pytest.approx(-2.0)
    rear = convert.rear_axle_pose(t, 1.4)
    assert rear.x_m == pytest.approx(-1.4)


def test_image_conversion_bgra_to_rgb():
    class Image:  # carla.Image has no public constructor; its fields, as the server fills them
        width, height = 4, 2
        bgra = np.zeros((2, 4, 4), np.uint8)
        bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 10, 20, 30, 255
        raw_data = memoryview(bgra.tobytes())

    frame = convert.image_to_frame(Image, "front", 1.0)
    assert frame.encoding == "rgb8" and frame.width == 4 and frame.height == 2
    assert tuple(np.asarray(frame.data)[0, 0]) == (30, 20, 10)
    assert convert.focal_length_px(1280, 90.0) == pytest.approx(640.0)


def test_control_mapping_steer_sign_pedals_and_lag():
    physics = carla.VehiclePhysicsControl()
    wheel = carla.WheelPhysicsControl()
    wheel.max_steer_angle = 70.0
    physics.wheels = [wheel, wheel, wheel, wheel]
    max_steer = control.max_steer_rad(physics)
    assert max_steer == pytest.approx(math.radians(70))
    m = control.ControlMapper(max_steer)
    c = m.control(0.5 * max_steer, 1.0, 0.01)
    assert isinstance(c, carla.VehicleControl)
    assert c.steer == pytest.approx(-0.5) and c.throttle > 0 and c.brake == 0  # left in REP 103 = negative in CARLA
    c = m.control(10.0, -4.0, 0.01)
    assert c.steer == pytest.approx(-1.0) and c.throttle == 0 and c.brake == pytest.approx(0.4)
    assert m.control(0.0, -0.1, 0.01).brake == 0.0  # coasting band
    lagged = control.ControlMapper(max_steer, steer_lag_s=0.1)
    first = lagged.control(0.5, 0.0, 0.01).steer
    assert -0.5 / max_steer < first < 0  # moves towards the target, not at once
    with pytest.raises(ValueError, match="increase"):
        control.Calibration(throttle_accel_mps2=(0.0, 0.0), throttle=(0.0, 1.0))


@pytest.mark.parametrize(
    "goal, option, end_xy",
    [
        ((100, 1.75), RoadOption.STRAIGHT, (98, -1.75)),
        ((71.75, -40), RoadOption.LEFT, (71.75, 38)),
        ((68.25, 40), RoadOption.RIGHT, (68.25, -38)),
    ],
)
def test_route_through_the_junction(goal, option, end_xy):
    m = carla.Map("three_way", XODR.read_text())
    r = TopologyPlanner(m).plan(carla.Location(5, 1.75, 0), carla.Location(goal[0], goal[1], 0))
    assert option in r.options and RoadOption.LANEFOLLOW in r.options
    np.testing.assert_allclose(r.points_xy_m[0], (5, -1.75), atol=0.01)
    np.testing.assert_allclose(r.points_xy_m[-1], end_xy, atol=2.1)
    steps = np.linalg.norm(np.diff(r.points_xy_m, axis=0), axis=1)
    assert steps.max() < 2.5  # sampled every 2 m, no jumps


def test_version_check_explains_a_mismatch():
    assert version_problem("0.9.16", "0.9.16") == ""
    assert version_problem("0.9.16", "0.9.16-dirty") == ""
    assert "0.9.15" in version_problem("0.9.16", "0.9.15")


def test_no_server_is_one_clear_error():
    with pytest.raises(CarlaUnavailable, match="no CARLA server answered at 127.0.0.1:1"):
        connect(Endpoint("127.0.0.1", 1, 0.5))
