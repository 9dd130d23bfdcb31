"""Embedded simulator parts: scenarios, route planner, renderer geometry, dynamics, metrics."""

import math

import numpy as np
import pytest

from sim_bridge.embedded.dynamics import BicycleState, KinematicBicycle
from sim_bridge.embedded.metrics import DriveMetrics
from sim_bridge.embedded.renderer import MARK, CameraModel, Renderer
from sim_bridge.embedded.road import build_centreline, build_lanes, project
from sim_bridge.embedded.route_planner import plan_route
from sim_bridge.embedded.scenario import ScenarioError, available, load_scenario
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.types import Pose2D, RoadOption

PROFILE = load_runtime_config().vehicle


def test_shipped_scenarios_load_and_cover_the_required_situations():
    names = available()
    assert {
        "curvy_road",
        "junction_left",
        "junction_right",
        "junction_straight",
        "lane_change",
        "lead_braking",
        "cut_in",
    } <= set(names)
    options = set()
    for n in names:
        options |= set(plan_route(load_scenario(n)).options.tolist())
    assert {
        RoadOption.LEFT,
        RoadOption.RIGHT,
        RoadOption.STRAIGHT,
        RoadOption.LANEFOLLOW,
        RoadOption.CHANGELANELEFT,
    } <= options


def test_bad_scenarios_are_named(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nduration_s: -1\ntarget_speed_mps: 5\nmap: {lanes: []}\nroute: []\nego: {}\n")
    with pytest.raises(ScenarioError, match="field 'duration_s'"):
        load_scenario(str(p))
    with pytest.raises(ScenarioError, match="no scenario 'nowhere'"):
        load_scenario("nowhere")
    p.write_text("""name: x
duration_s: 5
target_speed_mps: 5
map: {lanes: [{id: a, start: [0, 0, 0], shape: [[straight, 10]]}]}
route: [{lane: b}]
ego: {lane: a, s_m: 0, speed_mps: 0}
""")
    with pytest.raises(ScenarioError, match="unknown lane 'b'"):
        load_scenario(str(p))


def test_arc_primitive_geometry():
    pts = build_centreline((0, 0, 0), [["arc", 10.0, 90.0]])
    assert np.allclose(pts[-1], [10.0, 10.0], atol=1e-9)  # quarter circle to the left
    assert np.allclose(np.linalg.norm(pts - [0.0, 10.0], axis=1), 10.0)
    right = build_centreline((0, 0, 0), [["straight", 5.0], ["arc", 5.0, -90.0]])
    assert np.allclose(right[-1], [10.0, -5.0], atol=1e-9)


def test_projection_and_on_road():
    net = build_lanes([{"id": "a", "start": [0, 0, 0], "shape": [["straight", 50]], "width_m": 3.5}])
    lane = net.lanes["a"]
    s, d = project(lane.centre_xy_m, lane.s_m, np.array([[10.0, 1.0], [20.0, -1.5]]))
    assert np.allclose(s, [10.0, 20.0]) and np.allclose(d, [1.0, -1.5])
    assert net.on_road(np.array([[10.0, 1.7], [10.0, 1.8], [25.0, -1.7]])).tolist() == [True, False, True]


def test_route_through_lane_change_blends_and_announces():
    sc = load_scenario("lane_change")
    plan = plan_route(sc)
    s_change = plan.s_m[np.argmax(plan.lane_change)]
    assert plan.option_at(s_change) is RoadOption.CHANGELANELEFT
    assert plan.option_at(s_change - 5.0) is RoadOption.CHANGELANELEFT  # announced ahead
    assert plan.option_at(10.0) is RoadOption.LANEFOLLOW
    y = plan.points_xy_m[:, 1]
    assert y[0] == pytest.approx(0.0) and y[-1] == pytest.approx(3.5)
    assert np.all(np.abs(np.diff(y)) < 0.3)  # a smooth blend, no jump


def test_junction_route_road_options():
    plan = plan_route(load_scenario("junction_left"))
    lanes = plan.lanes
    first_turn = lanes.index("jl")
    assert plan.options[first_turn] == RoadOption.LEFT
    assert plan.option_at(plan.s_m[first_turn] - 20.0) is RoadOption.LEFT  # announced 25 m ahead
    assert plan.option_at(5.0) is RoadOption.LANEFOLLOW


CAM = CameraModel(width=640, height=360, hfov_deg=90.0, mount_x_m=0.0, mount_height_m=1.5, pitch_deg=0.0, rate_hz=20)


def test_projection_of_known_points():
    px, front = CAM.project(np.array([[20.0, -2.0, 0.0], [20.0, 0.0, 1.5], [-5.0, 0.0, 0.0]]))
    f = 320.0  # 640 / 2 / tan(45°)
    assert front.tolist() == [True, True, False]
    assert px[0] == pytest.approx([320 + f * 2.0 / 20.0, 180 + f * 1.5 / 20.0])
    assert px[1] == pytest.approx([320.0, 180.0])  # at camera height: on the horizon


def test_rendered_lane_line_lands_on_the_expected_pixel():
    """A straight road, right edge line 1.75 m to the right: at 15 m ahead it is at the column and
    row the pinhole model gives; the sky is above the horizon row."""
    net = build_lanes([{"id": "a", "start": [-10, 0, 0], "shape": [["straight", 200]], "width_m": 3.5}])
    img = Renderer(CAM, net).render(Pose2D(0.0, 0.0, 0.0), [])
    f = 320.0
    u, v = 320 + f * 1.75 / 15.0, 180 + f * 1.5 / 15.0
    assert tuple(img[int(round(v)), int(round(u))]) == MARK
    assert tuple(img[int(round(v)), 320]) != MARK  # lane centre is road, not paint
    assert img[100, 320, 2] > img[100, 320, 1] > img[100, 320, 0]  # sky blue above the horizon
    left = 320 - f * 1.75 / 15.0
    assert tuple(img[int(round(v)), int(round(left))]) == MARK


def test_bicycle_follows_a_circle_and_brakes_to_a_stop():
    car = KinematicBicycle(PROFILE, BicycleState(speed_mps=5.0))
    steer = math.atan(PROFILE.wheelbase_m / 20.0)
    for _ in range(500):  # the steering settles (actuator lag and rate limit)
        car.step(0.01, steer, 0.0)
    xy = []
    for _ in range(2513):  # one lap of a 20 m circle at 5 m/s (2π·20 / 5 = 25.13 s)
        car.step(0.01, steer, 0.0)
        xy.append((car.state.x_m, car.state.y_m))
    xy = np.array(xy)
    assert car.state.steer_rad == pytest.approx(steer)
    assert np.linalg.norm(xy - xy.mean(axis=0), axis=1) == pytest.approx(np.full(len(xy), 20.0), abs=0.2)
    for _ in range(500):
        car.step(0.01, 0.0, -3.0)
    assert car.state.speed_mps == 0.0
    car.step(0.01, 0.0, -3.0)
    assert car.state.speed_mps == 0.0  # brakes never reverse the car


def test_metrics_on_hand_made_trajectories():
    m = DriveMetrics(route_length_m=100.0)
    for i in range(101):
        s = float(i)
        touching = [("lead", "vehicle")] if 40 <= i < 45 else []
        touching += [("cone", "static")] if i == 60 else []
        m.update(
            s,
            0.3 if i % 2 else -0.3,
            touching,
            off_road=20 <= i < 30,
            lane_invasion=20 <= i < 30,
            lead_gap_m=50.0 - i / 2,
            accel_mps2=0.0,
        )
    out = m.summary()
    assert out["collisions_vehicle"] == 1 and out["collisions_static"] == 1  # each contact counted once
    assert out["infraction_penalty"] == pytest.approx(0.60 * 0.65)
    assert out["route_completion"] == pytest.approx(0.90, abs=0.011)  # 10 m off the road
    assert out["driving_score"] == pytest.approx(out["route_completion"] * 0.39)
    assert out["off_road_events"] == 1 and out["lane_invasions"] == 1
    assert out["lateral_rms_m"] == pytest.approx(0.3) and out["min_gap_m"] == pytest.approx(0.0)
    short = DriveMetrics(route_length_m=100.0)
    short.update(40.0, 0.0, [], False, False, None, 0.0)
    assert short.summary()["route_completion"] == pytest.approx(0.4) and short.summary()["min_gap_m"] is None


def test_gnss_and_brightness_schedule():
    from sim_bridge.embedded.sensors import ORIGIN, brightness_at, enu_to_geodetic

    lat, lon, _ = enu_to_geodetic(0.0, 1000.0)
    assert lat - ORIGIN[0] == pytest.approx(1000.0 / 111_319.5, rel=1e-3) and lon == ORIGIN[1]
    lat, lon, _ = enu_to_geodetic(1000.0, 0.0)
    assert (lon - ORIGIN[1]) * 111_319.5 * math.cos(math.radians(ORIGIN[0])) == pytest.approx(1000.0, rel=1e-3)
    assert brightness_at(5.0, 1.0, []) == 1.0
    assert brightness_at(5.0, 1.0, [[0, 1.0], [10, 0.5]]) == pytest.approx(0.75)


def test_darker_frames_when_the_scenario_dims_the_light():
    net = build_lanes([{"id": "a", "start": [-10, 0, 0], "shape": [["straight", 200]], "width_m": 3.5}])
    r = Renderer(CAM, net)
    bright = r.render(Pose2D(0.0, 0.0, 0.0), []).astype(float).mean()
    dim = r.render(Pose2D(0.0, 0.0, 0.0), [], brightness=0.4).astype(float).mean()
    assert dim == pytest.approx(0.4 * bright, rel=0.02)
