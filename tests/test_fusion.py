"""Fusion: matching by stamp, stale / out-of-order / future inputs, route handling, road options."""

import math

import numpy as np
import pytest

from vehicle_runtime.fusion import Fusion, FusionParams
from vehicle_runtime.types import CameraFrame, EgoState, Pose2D, RoadOption, Route

PARAMS = FusionParams(
    sync_slop_s=0.02,
    max_future_s=0.05,
    buffer_size=10,
    lookahead_min_m=8.0,
    lookahead_time_s=1.0,
    road_option_horizon_m=30.0,
    turn_threshold_rad=0.5,
    lane_change_offset_m=2.0,
    route_points=5,
    route_spacing_m=2.0,
)


def frame(cam, t):
    return CameraFrame(cam, t, "rgb8", b"\0" * 12, width=2, height=2)


def odom(t, x=0.0, y=0.0, yaw=0.0, v=5.0):
    return EgoState(stamp_s=t, pose=Pose2D(x, y, yaw), speed_mps=v)


def straight_route(t=0.0):
    return Route(t, np.array([[float(x), 0.0] for x in range(0, 200, 5)]))


def ready(cameras=("front",)):
    f = Fusion(cameras, PARAMS)
    f.set_route(straight_route(), 0.0)
    return f


def test_matches_cameras_and_odometry_and_reports_ages():
    f = ready(("front", "left"))
    f.add_frame(frame("front", 1.00), 1.0)
    f.add_frame(frame("left", 1.012), 1.02)
    f.add_odometry(odom(0.995), 1.02)
    obs = f.observe(1.03)
    assert obs is not None and obs.stamp_s == 1.00
    assert obs.frames["left"].stamp_s == 1.012
    assert obs.ages_s["front"] == pytest.approx(0.03)
    assert obs.ages_s["left"] == pytest.approx(0.018)
    assert obs.ages_s["odometry"] == pytest.approx(0.035)
    assert obs.ages_s["route"] == pytest.approx(1.03)
    assert f.observe(1.04) is None and f.waiting_for == "no new frame"


def test_second_camera_outside_slop_is_not_matched_and_older_pair_is_used():
    f = ready(("front", "left"))
    f.add_frame(frame("front", 1.00), 1.0)
    f.add_frame(frame("left", 1.005), 1.0)
    f.add_frame(frame("front", 1.05), 1.05)  # left frame for 1.05 is missing
    f.add_odometry(odom(1.0), 1.05)
    obs = f.observe(1.06)
    assert obs is not None and obs.stamp_s == 1.00  # the newest complete set
    f2 = ready(("front", "left"))
    f2.add_frame(frame("front", 1.05), 1.05)
    f2.add_frame(frame("left", 1.00), 1.05)
    f2.add_odometry(odom(1.05), 1.05)
    assert f2.observe(1.06) is None
    assert "camera 'left' within 0.02 s" in f2.waiting_for


def test_missing_route_blocks_observation():
    f = Fusion(("front",), PARAMS)
    f.add_frame(frame("front", 1.0), 1.0)
    f.add_odometry(odom(1.0), 1.0)
    assert f.observe(1.0) is None and f.waiting_for == "no route"


def test_stale_odometry_is_not_matched():
    f = ready()
    f.add_odometry(odom(0.5), 1.0)
    f.add_frame(frame("front", 1.0), 1.0)
    assert f.observe(1.0) is None
    assert "no odometry within" in f.waiting_for
    assert f.ages_s(1.0)["odometry"] == pytest.approx(0.5)


def test_out_of_order_and_duplicate_stamps_rejected():
    f = ready()
    assert f.add_frame(frame("front", 1.0), 1.0) is None
    assert "out of order" in f.add_frame(frame("front", 0.9), 1.0)
    assert "out of order" in f.add_frame(frame("front", 1.0), 1.0)
    assert f.add_odometry(odom(2.0), 2.0) is None
    assert "out of order" in f.add_odometry(odom(1.5), 2.0)
    assert f.rejected["camera 'front'"] == 2 and f.rejected["odometry"] == 1


def test_future_and_non_finite_stamps_rejected():
    f = ready()
    assert "in the future" in f.add_frame(frame("front", 1.2), 1.0)
    assert f.add_frame(frame("front", 1.04), 1.0) is None  # within max_future_s
    assert "not finite" in f.add_odometry(odom(math.nan), 1.0)
    assert "in the future" in f.set_route(straight_route(5.0), 1.0)
    assert "unknown camera" in f.add_frame(frame("rear", 1.0), 1.0)


def test_bad_route_rejected():
    f = Fusion(("front",), PARAMS)
    assert "at least 2" in f.set_route(Route(0.0, np.array([[0.0, 0.0]])), 1.0)
    assert "finite" in f.set_route(Route(0.0, np.array([[0.0, 0.0], [np.nan, 1.0]])), 1.0)


def test_route_in_ego_frame_and_target_point():
    f = ready()
    f.add_frame(frame("front", 1.0), 1.0)
    f.add_odometry(odom(1.0, x=20.0, y=1.0, yaw=0.0, v=10.0), 1.0)  # 1 m left of the route
    obs = f.observe(1.0)
    tx, ty = obs.nav.target_point_ego_m
    assert tx == pytest.approx(10.0) and ty == pytest.approx(-1.0)  # look-ahead = 10 m/s * 1 s
    np.testing.assert_allclose(obs.nav.route_ego_xy_m[:, 0], [2, 4, 6, 8, 10])
    np.testing.assert_allclose(obs.nav.route_ego_xy_m[:, 1], -1.0)
    assert obs.nav.distance_to_route_end_m == pytest.approx(195.0 - 20.0)
    assert obs.nav.road_option == RoadOption.LANEFOLLOW


def test_rotated_ego_pose():
    f = ready()
    f.add_frame(frame("front", 1.0), 1.0)
    f.add_odometry(odom(1.0, x=20.0, y=0.0, yaw=math.pi / 2, v=0.0), 1.0)  # facing +y, route goes to +x
    tx, ty = f.observe(1.0).nav.target_point_ego_m
    assert tx == pytest.approx(0.0, abs=1e-9) and ty == pytest.approx(-8.0)  # route is to the right


def _turn_route(sign):
    pts = [(float(x), 0.0) for x in range(0, 20)]
    pts += [(20.0 + 10 * math.sin(a), sign * 10 * (1 - math.cos(a))) for a in np.linspace(0.05, math.pi / 2, 20)]
    pts += [(30.0, sign * (10.0 + d)) for d in range(1, 30)]
    return Route(0.0, np.array(pts))


@pytest.mark.parametrize("sign,option", [(1, RoadOption.LEFT), (-1, RoadOption.RIGHT)])
def test_road_option_turns(sign, option):
    f = Fusion(("front",), PARAMS)
    f.set_route(_turn_route(sign), 0.0)
    f.add_frame(frame("front", 1.0), 1.0)
    f.add_odometry(odom(1.0, x=5.0), 1.0)
    assert f.observe(1.0).nav.road_option == option


@pytest.mark.parametrize("sign,option", [(1, RoadOption.CHANGELANELEFT), (-1, RoadOption.CHANGELANERIGHT)])
def test_road_option_lane_change(sign, option):
    xs = np.arange(0.0, 120.0, 1.0)
    ys = sign * 3.5 / (1 + np.exp(-(xs - 20.0) / 3.0))  # smooth 3.5 m shift around x = 20 m
    f = Fusion(("front",), PARAMS)
    f.set_route(Route(0.0, np.stack([xs, ys], 1)), 0.0)
    f.add_frame(frame("front", 1.0), 1.0)
    f.add_odometry(odom(1.0, x=5.0), 1.0)
    assert f.observe(1.0).nav.road_option == option


def test_windowed_route_matches_whole_route_computation_on_a_long_drive():
    from vehicle_runtime import synthetic
    from vehicle_runtime.geometry import closest_arc_length, cumulative_length, point_at_distance, world_to_ego

    route = synthetic.curved_route(length_m=3000.0, radius_m=800.0)  # no lap over itself
    f = Fusion(("front",), PARAMS)
    f.set_route(route, 0.0)
    s_all = cumulative_length(route.points_xy_m)
    for i, t in enumerate(np.arange(0.0, 300.0, 2.5)):
        ego = synthetic.odometry_along(route, t, 9.0)
        ego = EgoState(t, Pose2D(ego.pose.x_m + 0.7 * math.sin(i), ego.pose.y_m, ego.pose.yaw_rad), 9.0)
        f.add_frame(frame("front", t), t)
        f.add_odometry(ego, t)
        obs = f.observe(t)
        full = world_to_ego(route.points_xy_m, ego.pose)
        s0 = closest_arc_length(full, s_all, np.zeros(2))
        want = point_at_distance(full, s_all, s0 + 9.0)
        np.testing.assert_allclose(obs.nav.target_point_ego_m, want, atol=1e-9)
        assert obs.nav.distance_to_route_end_m == pytest.approx(s_all[-1] - s0)
    # a jump far along the route (relocalisation) is found again
    ego = synthetic.odometry_along(route, 250.0, 9.0)
    f.add_frame(frame("front", 400.0), 400.0)
    f.add_odometry(EgoState(400.0, ego.pose, 9.0), 400.0)
    assert f.observe(400.0).nav.distance_to_route_end_m == pytest.approx(s_all[-1] - 2250.0, abs=0.5)


def test_three_cameras_at_their_own_rates_and_jitter_are_matched_approximately():
    """front 20 Hz (reference), front_narrow 20 Hz with ±8 ms jitter, rear 10 Hz: every front frame whose
    rear frame is within the slop gives one observation with the nearest frame of each camera."""
    f = ready(("front", "front_narrow", "rear"))
    rng = np.random.default_rng(1)
    emitted = []
    for k in range(40):
        t = 1.0 + 0.05 * k
        f.add_odometry(odom(t), t)
        f.add_frame(frame("front_narrow", t + rng.uniform(-0.008, 0.008)), t + 0.01)
        if k % 2 == 0:
            f.add_frame(frame("rear", t + 0.015), t + 0.02)
        f.add_frame(frame("front", t), t + 0.02)
        obs = f.observe(t + 0.02)
        if obs is not None:
            emitted.append(obs)
            assert set(obs.frames) == {"front", "front_narrow", "rear"}
            for cam in ("front_narrow", "rear"):
                assert abs(obs.frames[cam].stamp_s - obs.stamp_s) <= PARAMS.sync_slop_s
    # rear at 10 Hz, 15 ms late: it matches the front frame it was taken with, not the one between
    assert len(emitted) == 20 and f.observations == 20
    assert [round(o.stamp_s, 3) for o in emitted] == [round(1.0 + 0.1 * i, 3) for i in range(20)]


def test_a_route_that_does_not_pass_the_ego_is_not_observed_until_its_successor_arrives():
    # a simulator restart: the new drive's odometry and frames arrive before its route, the old one still held
    f = Fusion(("front",), PARAMS, route_corridor_m=5.0)
    f.set_route(straight_route(), 0.0)
    f.add_frame(frame("front", 10.0), 10.0)
    f.add_odometry(odom(10.0, x=50.0, y=40.0, yaw=math.pi / 2), 10.0)
    assert f.observe(10.01) is None
    assert "passes the ego" in f.waiting_for and "40.0 m from the route" in f.waiting_for
    assert f.observations == 0
    new_route = Route(10.02, np.array([[50.0, float(y)] for y in range(30, 200, 5)]))  # north, through the ego
    assert f.set_route(new_route, 10.02) is None
    obs = f.observe(10.03)
    assert obs is not None and obs.stamp_s == 10.0  # the frame waited, it was not dropped
    np.testing.assert_allclose(obs.nav.route_ego_xy_m[:, 0], [2, 4, 6, 8, 10])  # straight ahead: the new route
    np.testing.assert_allclose(obs.nav.route_ego_xy_m[:, 1], 0.0, atol=1e-9)


@pytest.mark.parametrize(
    "x_m, y_m, observed",
    [
        (100.0, 4.9, True),  # inside the corridor, beside the route
        (100.0, -5.5, False),  # outside it
        (0.0, 0.0, True),  # at the start
        (-6.0, 0.0, False),  # behind the start: not on the route yet
        (230.0, 0.5, True),  # past the end (195 m) on its road: a car that stopped after its destination
        (230.0, 6.0, False),  # past the end and beside it
    ],
)
def test_the_corridor_is_sideways_distance_and_the_route_end_does_not_end_observation(x_m, y_m, observed):
    f = Fusion(("front",), PARAMS, route_corridor_m=5.0)
    f.set_route(straight_route(), 0.0)
    f.add_frame(frame("front", 1.0), 1.0)
    f.add_odometry(odom(1.0, x=x_m, y=y_m), 1.0)
    obs = f.observe(1.01)
    assert (obs is not None) == observed, f.waiting_for
    if not observed:
        assert f"{math.hypot(max(0.0, -x_m), y_m) if x_m < 195 else abs(y_m):.1f} m from the route" in f.waiting_for
