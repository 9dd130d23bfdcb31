"""The node API on real rclpy (PyPI's ROS 2 Jazzy wheels): what our nodes publish is read correctly by a plain
rclpy subscriber with the generated classes, and what a plain rclpy publisher sends reaches our callbacks,
decoded by our codec (header only where asked)."""

import math
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy not installed (extra 'ros': ROS 2 Jazzy wheels)")

from vehicle_runtime.transport import (
    convert,  # noqa: E402
    msgs,  # noqa: E402
)


@pytest.fixture
def ros(monkeypatch):
    import random

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    monkeypatch.setenv("ROS_DOMAIN_ID", str(random.randint(100, 200)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    executor = SingleThreadedExecutor()
    yield executor
    executor.shutdown()
    rclpy.shutdown()


def spin_until(executor, done, timeout_s=20.0, each=None):
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        if each:
            each()
        executor.spin_once(timeout_sec=0.05)
    return done()


def test_diagnostic_levels_reach_a_plain_rclpy_subscriber_as_bytes(ros):
    """DiagnosticStatus.level is a `byte`: our nodes sent garbage (b'\\xd1', b'x') through the old conversion."""
    from diagnostic_msgs.msg import DiagnosticArray

    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.safety.gate import SafetyGate
    from vehicle_runtime.transport.ros import RclpyNode

    ours = RclpyNode("diag_pub")
    plain = RclpyNode("diag_sub").node
    ros.add_node(ours.node)
    ros.add_node(plain)
    cfg = load_runtime_config()
    gate = SafetyGate(cfg.safety)
    gate.feed("camera", 1.0, 1.0)
    status = gate.tick(1.05)  # camera fresh, every other watchdog expired
    got = []
    plain.create_subscription(DiagnosticArray, "/diagnostics", got.append, 10)
    pub = ours.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics")
    message = convert.diagnostics(1.05, "vehicle_interface", status, dict(cfg.safety.timeouts_s), {"k": 1})
    assert spin_until(ros, lambda: got, each=lambda: pub.publish(message))
    levels = {s.name: s.level for s in got[0].status}
    assert levels["vehicle_interface: watchdog camera"] == b"\x00"
    assert levels["vehicle_interface: watchdog route"] == b"\x02"
    assert levels["vehicle_interface: safety state"] == b"\x00"


def test_a_plain_rclpy_route_reaches_our_callbacks_whole_and_header_only(ros):
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Path
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from vehicle_runtime.transport.ros import RclpyNode

    plain = RclpyNode("route_pub").node
    ours = RclpyNode("route_sub")
    ros.add_node(plain)
    ros.add_node(ours.node)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub = plain.create_publisher(Path, "navigation/route", latched)
    path = Path()
    path.header.stamp = Time(sec=7, nanosec=250_000_000)
    path.header.frame_id = "map"
    for i in range(400):
        pose = PoseStamped()
        pose.pose.position.x, pose.pose.position.y = float(i), math.sin(i / 50.0)
        path.poses.append(pose)
    pub.publish(path)  # once, as Autoware's mission planner and Nav2 do: transient local brings it to late joiners
    whole, headers = [], []
    ours.subscribe("nav_msgs/msg/Path", "navigation/route", whole.append, "latched")
    ours.subscribe("nav_msgs/msg/Path", "navigation/route", headers.append, "latched", header_only=True)
    assert spin_until(ros, lambda: whole and headers)
    route = convert.path_to_route(whole[0])
    assert route.points_xy_m.shape == (400, 2) and route.points_xy_m[399, 0] == 399.0
    assert route.stamp_s == 7.25 and whole[0].header.frame_id == "map"
    assert msgs.stamp_to_s(headers[0].header.stamp) == 7.25 and not hasattr(headers[0], "poses")


def test_a_type_whose_package_is_missing_is_left_out_with_one_warning(ros, caplog):
    from vehicle_runtime.transport.ros import RclpyNode, message_class

    if message_class("ackermann_msgs/msg/AckermannDriveStamped") is not None:
        pytest.skip("ackermann_msgs is installed here")
    node = RclpyNode("no_ackermann")
    pub = node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/command")
    node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/status/drive")
    pub.publish(msgs.new("ackermann_msgs/msg/AckermannDriveStamped"))
    assert pub.dropped == 1 and node.missing_types == ["ackermann_msgs/msg/AckermannDriveStamped"]
    node.node.destroy_node()
