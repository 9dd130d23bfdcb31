"""Cameras of the rig in the embedded simulator: mounted anywhere and aimed any way, each rendering its
own view; the set a drive renders is the model's."""

import math

import numpy as np
import pytest

from sim_bridge.embedded.actors import ActorState
from sim_bridge.embedded.cameras import CameraSet
from sim_bridge.embedded.renderer import CameraModel, Renderer
from sim_bridge.embedded.road import build_lanes
from vehicle_runtime.camera_rig import CameraRigError, load_camera_rig
from vehicle_runtime.types import Pose2D

NET = build_lanes([{"id": "a", "start": [-100, 0, 0], "shape": [["straight", 300]], "width_m": 3.5}])


def _car(x_m, y_m=0.0):
    return ActorState("car", "vehicle", x_m, y_m, 0.0, 0.0, 0.0, 4.5, 1.9)


def _red_share(img):
    """Share of pixels in the vehicle's body colour or its shade (sky, grass and road are never red)."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return float(((r > 120) & (g < 60) & (b < 60)).mean())


def test_rear_camera_sees_behind_and_front_camera_ahead():
    rig = load_camera_rig()
    front, rear = (Renderer(CameraModel.from_spec(rig[n]), NET) for n in ("front", "rear"))
    ego = Pose2D(0.0, 0.0, 0.0)
    behind, ahead = [_car(-12.0)], [_car(15.0)]
    assert _red_share(rear.render(ego, behind)) > 0.002 and _red_share(front.render(ego, behind)) == 0.0
    assert _red_share(front.render(ego, ahead)) > 0.002 and _red_share(rear.render(ego, ahead)) == 0.0


def test_mounting_moves_the_view():
    """A camera mounted 1 m left on a car 1 m right of the centre line sees what a centred camera on the
    centre line sees; so does a camera looking right (yaw -90 deg) on a car turned 90 deg left."""
    base = dict(width=320, height=180, hfov_deg=60.0, mount_x_m=1.0, mount_height_m=1.4, pitch_deg=0.0, rate_hz=20.0)
    cars = [_car(20.0), _car(35.0, 3.5)]
    centred = Renderer(CameraModel(**base), NET).render(Pose2D(0.0, 0.0, 0.0), cars)
    left = Renderer(CameraModel(**base, mount_y_m=1.0), NET).render(Pose2D(0.0, -1.0, 0.0), cars)
    np.testing.assert_array_equal(centred, left)
    turned = Renderer(CameraModel(**base, yaw_deg=-90.0), NET).render(Pose2D(1.0, -1.0, math.pi / 2), cars)
    assert np.abs(turned.astype(int) - centred.astype(int)).mean() < 0.5  # float rounding of the turn only
    assert (
        np.abs(
            left.astype(int) - Renderer(CameraModel(**base), NET).render(Pose2D(0.0, -1.0, 0.0), cars).astype(int)
        ).mean()
        > 2.0
    )  # and the mount does move the view


def test_camera_set_is_the_models_and_refuses_a_camera_the_rig_lacks():
    cams = CameraSet(["front_narrow", "front"], NET, 0.01)
    assert cams.reference == "front_narrow" and list(cams.renderers) == ["front_narrow", "front"]
    assert cams.models["front_narrow"].hfov_deg == 50.0 and cams.renderers["front"].camera.width == 1280
    assert cams.policy_every == 5 and [n for n, _ in cams.due(5)] == ["front_narrow", "front"] and not list(cams.due(3))
    with pytest.raises(CameraRigError, match=r"has no camera \['roof'\]"):
        CameraSet(["front", "roof"], NET, 0.01)


def test_rig_file_is_validated(tmp_path):
    bad = tmp_path / "rig.yaml"
    bad.write_text(
        "cameras:\n  front: {width: 640, height: 360, hfov_deg: 200, mount_x_m: 1, mount_height_m: 1, "
        "pitch_deg: 0, rate_hz: 20}\n"
    )
    with pytest.raises(CameraRigError, match="field 'cameras/front/hfov_deg': 200 is greater than or equal"):
        load_camera_rig(bad)
    with pytest.raises(CameraRigError, match="no such camera rig file"):
        load_camera_rig(tmp_path / "missing.yaml")


def test_a_resized_camera_set_keeps_each_cameras_view_exposure_and_noise():
    """The graph's simulator renders smaller frames than the rig's: the scenario's exposure and sensor noise
    (varied per seed) must survive the resize, or the node graph sees cleaner images than the embedded drive."""
    cams = CameraSet(["front", "rear"], NET, 0.01, brightness=0.9, noise_std=2.0, seed=7)
    fov = {n: m.hfov_deg for n, m in cams.models.items()}
    cams.resize_reference(640, 360)
    assert (cams.models["front"].width, cams.models["front"].height) == (640, 360)
    assert (cams.models["rear"].width, cams.models["rear"].height) == (320, 240)  # 640x480 scaled alike
    assert {n: m.hfov_deg for n, m in cams.models.items()} == fov
    for i, name in enumerate(("front", "rear")):
        r = cams.renderers[name]
        assert r.camera is cams.models[name] and (r.brightness, r.noise_std, r.seed) == (0.9, 2.0, 7 + i)
    noisy = cams.renderers["front"].render(Pose2D(0.0, 0.0, 0.0), [])
    clean = Renderer(cams.models["front"], NET).render(Pose2D(0.0, 0.0, 0.0), [])
    assert 0.85 < noisy.mean() / clean.mean() < 0.95  # exposure 0.9
    assert np.std(noisy.astype(float) - 0.9 * clean) > 1.0  # and the sensor noise
