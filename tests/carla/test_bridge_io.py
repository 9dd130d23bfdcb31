"""The bridge's other ends: the HIL sink on real Cyclone DDS (the topics a compute box subscribes to),
the parameter file, and `drive --sim carla` with no server (one line, no traceback)."""

import queue
import subprocess
import sys

import numpy as np
import pytest

from vehicle_runtime.config import ConfigError
from vehicle_runtime.types import CameraFrame, EgoState, Pose2D, Route

DOMAIN = 19  # a domain of its own


def test_dds_sink_publishes_the_runtimes_topics():
    pytest.importorskip("cyclonedds", reason="cyclonedds (extra 'dds') not installed")
    from sim_bridge.carla.convert import focal_length_px
    from sim_bridge.carla.sinks import DdsTopics
    from vehicle_runtime.transport.convert import horizontal_fov_deg, path_to_route
    from vehicle_runtime.transport.dds import DdsParticipant

    participant = DdsParticipant(DOMAIN)
    got = queue.Queue()
    ns = "hil/"
    participant.subscribe(
        "sensor_msgs/msg/Image",
        ns + "camera/image_raw",
        lambda m: got.put(("image", m.width, m.height, m.encoding, bytes(m.data[:3]))),
        "sensor",
    )
    participant.subscribe(
        "sensor_msgs/msg/CameraInfo",
        ns + "camera/camera_info",
        lambda m: got.put(("info", round(horizontal_fov_deg(m), 3))),
        "sensor",
    )
    participant.subscribe(
        "nav_msgs/msg/Odometry",
        ns + "navigation/odometry",
        lambda m: got.put(("odom", m.pose.pose.position.x, m.twist.twist.linear.x)),
        "sensor",
    )
    participant.subscribe(
        "nav_msgs/msg/Path",
        ns + "navigation/route",
        lambda m: got.put(("route", path_to_route(m).points_xy_m.shape)),
        "latched",
    )
    participant.subscribe(
        "sensor_msgs/msg/NavSatFix",
        ns + "navigation/gnss",
        lambda m: got.put(("gnss", m.latitude, m.position_covariance[0])),
        "sensor",
    )
    participant.subscribe(
        "sensor_msgs/msg/CameraInfo",
        ns + "camera/front_narrow/camera_info",
        lambda m: got.put(("info_narrow", round(horizontal_fov_deg(m), 3))),
        "sensor",
    )
    sink = DdsTopics(
        "/hil/", {"front": focal_length_px(640, 90.0), "front_narrow": focal_length_px(320, 50.0)}, participant
    )
    img = np.zeros((360, 640, 3), np.uint8)
    img[0, 0] = (1, 2, 3)
    seen = {}
    for k in range(50):  # best-effort sensor topics: publish until each has arrived once
        sink.on_camera(CameraFrame("front", 1.0 + k, "rgb8", img, 640, 360), 1.0)
        sink.on_camera(CameraFrame("front_narrow", 1.0 + k, "rgb8", img[:180, :320].copy(), 320, 180), 1.0)
        sink.on_odometry(EgoState(1.0 + k, Pose2D(12.5, -3.0, 0.1), 4.0), 1.0)
        sink.on_route(Route(1.0, np.stack((np.arange(30.0), np.zeros(30)), axis=1)), 1.0)
        sink.on_gnss(1.0, 48.1, 11.5, 500.0, 0.5)
        try:
            while True:
                item = got.get(timeout=0.2)
                seen.setdefault(item[0], item)
        except queue.Empty:
            pass
        if len(seen) == 6:
            break
    sink.shutdown(2.0)
    assert seen["image"] == ("image", 640, 360, "rgb8", b"\x01\x02\x03")
    assert seen["info"] == ("info", 90.0)  # the intrinsics the model manifest expects
    assert seen["info_narrow"] == ("info_narrow", 50.0)  # one topic pair per camera
    assert seen["odom"] == ("odom", 12.5, 4.0)
    assert seen["route"] == ("route", (30, 2))
    assert seen["gnss"][1] == pytest.approx(48.1) and seen["gnss"][2] == pytest.approx(0.25)


def test_bridge_parameters_load_and_bad_ones_are_named(tmp_path):
    from sim_bridge.carla.params import load_bridge_params

    p = load_bridge_params(port=2010)
    assert p.port == 2010 and p.substeps == 5 and p.calibration.pedals(1.0)[0] == pytest.approx(0.45)
    text = tmp_path / "ok.yaml"
    base = (
        "/**:\n  ros__parameters:\n    host: h\n    town: Town01\n    fixed_delta_s: 0.05\n    spawn_index: 0\n"
        "    goal_index: 3\n"
    )
    text.write_text(base + "    port: 2000\n")
    assert load_bridge_params(text).goal_index == 3
    text.write_text(base + "    port: 2000\n    camera_width: 640\n")  # cameras live in the camera rig now
    with pytest.raises(ConfigError, match="'camera_width' was unexpected"):
        load_bridge_params(text)
    text.write_text(base + "    port: seventy\n")
    with pytest.raises(ConfigError, match="port"):
        load_bridge_params(text)
    text.write_text(base + "    port: 2000\n    brake: [0.5, 0.1]\n    brake_decel_mps2: [0.0, 1.0]\n")
    with pytest.raises(ConfigError, match="brake"):
        load_bridge_params(text)
    text.write_text(base + "    port: 2000\n    fixed_delta_s: 0.5\n")
    with pytest.raises(ConfigError, match="fixed_delta_s"):
        load_bridge_params(text)


def test_drive_on_carla_without_a_server_is_one_line():
    pytest.importorskip("carla", reason="the CARLA client wheel (carla==0.9.16) is not installed")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vehicle_runtime.cli",
            "drive",
            "--sim",
            "carla",
            "--carla-host",
            "127.0.0.1",
            "--carla-port",
            "2",
            "--carla-timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CARLA server answered at 127.0.0.1:2" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
