"""Brake lamps in the embedded simulator: a vehicle that brakes (or stands on its brake) shows two lit lamps on
its rear, as a real one does; the student sees a lead's braking in one frame instead of guessing it from how
fast the lead grows over its history. The lamps must survive the student's preprocessing at every camera size."""

import itertools

import cv2
import numpy as np
import pytest

from sim_bridge.embedded.actors import ActorState
from sim_bridge.embedded.renderer import (
    BRAKE_LAMP_ACCEL_MPS2,
    BRAKE_LAMP_STANDING_MPS,
    CameraModel,
    Renderer,
    brake_lamps_lit,
)
from sim_bridge.embedded.road import build_lanes
from tools.distill import spec
from vehicle_runtime.camera_rig import load_camera_rig
from vehicle_runtime.preprocess import Preprocessor
from vehicle_runtime.types import CameraFrame, Pose2D

NET = build_lanes([{"id": "a", "start": [-100, 0, 0], "shape": [["straight", 300]], "width_m": 3.5}])
EGO = Pose2D(0.0, 0.0, 0.0)


def _car(x_m, speed_mps, accel_mps2, kind="vehicle"):
    return ActorState("car", kind, x_m, 0.0, 0.0, speed_mps, accel_mps2, 4.5, 1.9)


def _lamp_mask(img):
    """Pixels of a lit lamp: saturated red channel, clearly warmer than white markings (sky is blue, the body
    and its shade are darker)."""
    r, b = img[..., 0].astype(int), img[..., 2].astype(int)
    return (r >= 245) & (r - b >= 40)


def _front(width=1280, height=720):
    rig = load_camera_rig()
    model = CameraModel.from_spec(rig["front"])
    return Renderer(CameraModel(**{**model.__dict__, "width": width, "height": height}), NET)


@pytest.mark.parametrize(
    "speed_mps, accel_mps2, lit",
    [
        (10.0, 0.0, False),  # cruising
        (10.0, -0.5, False),  # lifting off: not braking
        (10.0, BRAKE_LAMP_ACCEL_MPS2 + 1e-3, False),
        (10.0, BRAKE_LAMP_ACCEL_MPS2 - 1e-3, True),
        (10.0, -6.0, True),  # braking hard
        (0.0, 0.0, True),  # standing, held on the brake
        (BRAKE_LAMP_STANDING_MPS + 1e-3, 0.0, False),  # creeping
        (5.0, 2.0, False),  # pulling away
    ],
)
def test_a_lead_shows_lit_lamps_exactly_while_it_brakes_or_stands(speed_mps, accel_mps2, lit):
    img = _front().render(EGO, [_car(20.0, speed_mps, accel_mps2)])
    assert _lamp_mask(img).any() == lit


def test_the_lamp_rule_over_a_grid_of_speeds_and_accelerations():
    speeds = [0.0, 0.05, 0.1, 0.2, 1.0, 5.0, 30.0]
    accels = [-8.0, -2.0, -1.01, -1.0, -0.99, 0.0, 3.0]
    for v, a in itertools.product(speeds, accels):
        expected = a < BRAKE_LAMP_ACCEL_MPS2 or v < BRAKE_LAMP_STANDING_MPS
        assert brake_lamps_lit(_car(10.0, v, a)) == expected, (v, a)
        assert not brake_lamps_lit(_car(10.0, v, a, kind="static")), (v, a)  # an obstacle has no lamps


def test_two_lamps_at_the_rear_corners_of_the_car():
    img = _front().render(EGO, [_car(15.0, 8.0, -5.0)])
    mask = _lamp_mask(img).astype(np.uint8)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(mask)
    blobs = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 4]
    assert len(blobs) == 2
    left, right = sorted(centroids[i][0] for i in blobs)
    centre = img.shape[1] / 2
    assert left < centre < right  # one each side of the car's (and the image's) centre
    assert abs((centre - left) - (right - centre)) < 3.0  # symmetric about the car seen from straight behind


def test_a_braking_car_seen_from_the_front_shows_no_lamps():
    """The rear camera looks back at a follower: its front faces the camera, its rear lamps are hidden."""
    rig = load_camera_rig()
    rear = Renderer(CameraModel.from_spec(rig["rear"]), NET)
    follower = _car(-12.0, 8.0, -5.0)
    assert not _lamp_mask(rear.render(EGO, [follower])).any()
    ahead = _car(15.0, 8.0, -5.0)
    assert _lamp_mask(_front().render(EGO, [ahead])).any()


@pytest.mark.parametrize("size", [(1280, 720), (640, 360)])
def test_the_lamps_survive_the_students_preprocessing_of_a_lead_25_m_ahead(size):
    """At 25 m a lamp is a few input pixels wide: it must still stand out of the car's body after the crop and
    the area downscale, at the box's camera size as at the training size."""
    renderer = _front(*size)
    pre = Preprocessor(spec.IMAGE)
    out = np.zeros((3, spec.IMAGE.height, spec.IMAGE.width), np.float32)
    lit = renderer.render(EGO, [_car(25.0, 8.0, -5.0)]).copy()
    dark = renderer.render(EGO, [_car(25.0, 8.0, 0.0)]).copy()
    w, h = size
    pre.process(CameraFrame("front", 0.0, "rgb8", lit, w, h), out)
    lit_in = out.copy()
    pre.process(CameraFrame("front", 0.0, "rgb8", dark, w, h), out)
    blue_gain = (lit_in[2] - out[2]) * 255.0  # the lamps whiten the red body: blue (and green) rise
    assert blue_gain.max() > 60.0
    assert (blue_gain > 20.0).sum() >= 2  # both lamps


def test_a_drive_with_dark_lamps_draws_none(tmp_path):
    """`DriveOptions(brake_lamps=False)`: training runs among cars whose lamps are broken (tools/distill
    `--dark-lamps-every`), so a student also learns to read braking from the lead's growth."""
    import yaml

    from sim_bridge.embedded.drive import DriveOptions, run_drive

    doc = {
        "name": "standing_lead",
        "duration_s": 0.2,
        "target_speed_mps": 5.0,
        "map": {"lanes": [{"id": "main", "start": [0, 0, 0], "width_m": 3.5, "shape": [["straight", 200]]}]},
        "route": [{"lane": "main"}],
        "ego": {"lane": "main", "s_m": 5.0, "speed_mps": 0.0},
        "actors": [{"id": "lead", "kind": "vehicle", "lane": "main", "s_m": 17.0, "speed_mps": 0.0}],
    }
    path = tmp_path / "standing_lead.yaml"
    path.write_text(yaml.safe_dump(doc))
    lit = {}
    for lamps in (True, False):
        result = run_drive(DriveOptions(scenario=str(path), policy="expert", brake_lamps=lamps))
        lit[lamps] = int(_lamp_mask(result.snapshots[0][1]).sum())
    assert lit[True] >= 8 and lit[False] == 0, lit  # the standing lead's lamps, drawn only when they work
