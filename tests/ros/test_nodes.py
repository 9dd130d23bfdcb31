"""Node code on the ROS-free transport in one process, and the rclpy adapter where rclpy exists."""

import dataclasses
import queue
import time

import numpy as np
import pytest

pytest.importorskip("cyclonedds", reason="cyclonedds (extra 'dds') not installed")

from vehicle_runtime.transport import (
    convert,  # noqa: E402
    msgs,  # noqa: E402
)
from vehicle_runtime.types import ActuatorRequest, EgoState, Pose2D, Route  # noqa: E402


def test_conversions_round_trip():
    ego = EgoState(12.25, Pose2D(3.0, -4.0, 0.7), 8.5, 0.1)
    back = convert.odometry_to_ego(convert.ego_to_odometry(ego))
    assert back.stamp_s == pytest.approx(12.25) and back.pose.yaw_rad == pytest.approx(0.7)
    assert back.speed_mps == 8.5 and back.pose.x_m == 3.0
    route = Route(5.0, np.array([[0.0, 0.0], [1.0, 2.0]]))
    assert np.array_equal(convert.path_to_route(convert.route_to_path(route)).points_xy_m, route.points_xy_m)
    req = ActuatorRequest(1.0, 0.125, -1.5, source_stamp_s=0.95)
    got = convert.ackermann_to_request(convert.request_to_ackermann(req), 2.0)
    assert (got.steer_rad, got.accel_mps2, got.source_stamp_s) == (0.125, -1.5, pytest.approx(0.95))
    info = convert.camera_info(0.0, 1280, 720, 640.0)
    assert convert.horizontal_fov_deg(info) == pytest.approx(90.0)
    bad = msgs.new("nav_msgs/msg/Path", poses=[msgs.new("geometry_msgs/msg/PoseStamped")])
    bad.poses[0].pose.position.x = float("nan")
    assert not convert.path_is_finite(bad) and not convert.path_is_finite(msgs.new("nav_msgs/msg/Path"))


def test_policy_node_publishes_trajectory_reasoning_and_sends_requests_on_the_command_channel(policy_on_channel):
    """Real policy node + real student on Cyclone DDS, fed by a publisher in the same process; requests,
    output heartbeats and route checks reach a command-channel server (the vehicle interface's end)."""
    from vehicle_runtime import synthetic
    from vehicle_runtime.transport import command_channel

    policy = policy_on_channel(23)
    participant, executor, server = policy.participant, policy.executor, policy.server
    out = queue.Queue()
    for typename, topic in (
        ("nav_msgs/msg/Path", "t/policy/trajectory"),
        ("std_msgs/msg/String", "t/policy/reasoning"),
        ("diagnostic_msgs/msg/DiagnosticArray", "diagnostics"),
    ):
        participant.subscribe(typename, topic, lambda m, k=topic: out.put((k, m)), "default")
    cam = participant.publisher("sensor_msgs/msg/Image", "t/camera/image_raw", "sensor")
    odom = participant.publisher("nav_msgs/msg/Odometry", "t/navigation/odometry", "sensor")
    route_pub = participant.publisher("nav_msgs/msg/Path", "t/navigation/route", "latched")
    route = synthetic.curved_route()
    route_pub.publish(convert.route_to_path(Route(time.time(), route.points_xy_m)))
    seen, records = {}, {}
    frames = synthetic.frames("front", 1280, 720, 200, 20.0)
    deadline = time.monotonic() + 60
    while (len(seen) < 3 or len(records) < 3) and time.monotonic() < deadline:
        now = time.time()
        frame = next(frames)
        odom.publish(convert.ego_to_odometry(EgoState(now, synthetic.odometry_along(route, 1.0, 8.0).pose, 8.0)))
        cam.publish(convert.frame_to_image(type(frame)("front", now, "rgb8", frame.data, 1280, 720)))
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            executor.spin_once(0.01)
        while not out.empty():
            topic, m = out.get()
            seen.setdefault(topic, m)
        for r in server.poll():
            records.setdefault(r.kind, r)
    assert set(seen) == {"t/policy/trajectory", "t/policy/reasoning", "diagnostics"}, list(seen)
    values = {kv.key: kv.value for st in seen["diagnostics"].status for kv in st.values}
    assert values["provider"] == "CPUExecutionProvider" and "session_run_p99_ms" in values
    assert len(seen["t/policy/trajectory"].poses) == 10
    assert seen["t/policy/reasoning"].data.startswith(("following the lane", "turning left at the junction"))
    kinds = command_channel.Kind
    assert set(records) == {kinds.REQUEST, kinds.OUTPUT, kinds.ROUTE}, records
    assert np.isfinite(records[kinds.REQUEST].c) and records[kinds.OUTPUT].b == 1.0


def test_policy_node_gives_the_model_the_measured_steering_and_acceleration(policy_on_channel):
    """nav_msgs/Odometry has no steering angle or acceleration, but the student reads both: the vehicle
    interface sends them from CAN feedback on the command channel and the policy node merges them."""
    from vehicle_runtime.transport import command_channel

    policy = policy_on_channel(24)
    node, server = policy.node, policy.server
    node.on_control()  # connects
    server.poll()  # accepts
    server.send(command_channel.Record(command_channel.Kind.DRIVE, 7.0, 0.08, -1.25))
    node.on_control()
    node.on_odometry(convert.ego_to_odometry(EgoState(time.time(), Pose2D(3.0, 1.0, 0.2), 7.0, 0.1)))
    assert node._ego.steer_rad == pytest.approx(0.08) and node._ego.accel_mps2 == pytest.approx(-1.25)
    assert node._ego.pose.x_m == 3.0 and node._ego.speed_mps == 7.0


def test_a_route_published_once_keeps_the_route_watchdog_fed_while_the_car_is_on_it(policy_on_channel):
    """Autoware's mission planner and Nav2 publish the route once (transient local): its age means nothing.
    The policy vouches for the route while the ego is on its corridor and before its end."""
    from vehicle_runtime import synthetic
    from vehicle_runtime.transport import command_channel

    policy = policy_on_channel(26)
    node, server = policy.node, policy.server
    route = synthetic.curved_route()
    node.on_route(convert.route_to_path(Route(100.0, route.points_xy_m)))  # once, stamped long ago
    on_route = [synthetic.odometry_along(route, t, 8.0) for t in np.arange(0.0, 10.0, 0.5)]
    stamps = [time.time() - 1.0 + 0.01 * i for i in range(len(on_route))]
    for ego, stamp in zip(on_route, stamps):
        node.on_odometry(convert.ego_to_odometry(EgoState(stamp, ego.pose, 8.0)))
    fed = [r for r in server.poll() if r.kind is command_channel.Kind.ROUTE]
    # stamped with the odometry the check used, not the route's old stamp (the gate's clock-jump check
    # would refuse a stamp whose offset to the arrival time keeps growing)
    assert [r.a for r in fed] == pytest.approx(stamps)
    off = on_route[-1].pose
    node.on_odometry(convert.ego_to_odometry(EgoState(stamps[-1] + 0.01, Pose2D(off.x_m, off.y_m + 20.0, 0.0), 8.0)))
    assert not [r for r in server.poll() if r.kind is command_channel.Kind.ROUTE]
    assert "from the route" in node.route_problem


def test_gate_diagnostics_list_every_watchdog_and_the_state():
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.safety.gate import INPUT_WATCHDOGS, SafetyGate

    cfg = load_runtime_config()
    gate = SafetyGate(cfg.safety)
    gate.feed("camera", 1.0, 1.0)
    status = gate.tick(1.05)
    d = convert.diagnostics(1.05, "vehicle_interface", status, dict(cfg.safety.timeouts_s), {"can_frames_sent": 3})
    names = {s.name: s for s in d.status}
    assert names["vehicle_interface: safety state"].message == "DISENGAGED"
    for w in INPUT_WATCHDOGS:
        st = names[f"vehicle_interface: watchdog {w}"]
        assert st.level == (convert.OK if w == "camera" else convert.ERROR)
    assert any(kv.key == "can_frames_sent" for kv in names["vehicle_interface: runtime"].values)


def test_software_engage_request_reaches_the_gate(tmp_path):
    """`vehicle-runtime request engage` (another process) → the vehicle interface node's gate."""
    import subprocess
    import sys

    from ros_nodes.vehicle_interface_node import VehicleInterfaceNode
    from vehicle_runtime.can import BusConfig, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.safety.state_machine import Event, SafetyState
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    cfg = dataclasses.replace(load_runtime_config(), realtime_priority=0, lock_memory=False)
    participant, executor = DdsParticipant(), Executor()
    node = VehicleInterfaceNode(
        DdsNode("vehicle_interface", participant, executor, "req"),
        cfg,
        bus=open_bus(BusConfig("virtual", "engage-test")),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "vehicle_runtime.cli", "request", "engage", "--namespace", "req"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    key = (SafetyState.DISENGAGED, Event.ENGAGE)
    deadline = time.monotonic() + 30
    while node.gate.sm.ignored.get(key, 0) == 0 and time.monotonic() < deadline:
        executor.spin_once(0.01)
    out, err = proc.communicate(timeout=30)
    node.shutdown()
    participant.close()
    assert proc.returncode == 0, err
    # not READY (no inputs here), so the request is refused and recorded, as the state machine says
    assert node.gate.sm.ignored.get(key) == 1 and node.gate.sm.state is SafetyState.DISENGAGED


def test_vehicle_interface_pings_the_systemd_watchdog_from_its_loop(tmp_path, monkeypatch):
    import socket

    from ros_nodes.vehicle_interface_node import VehicleInterfaceNode
    from vehicle_runtime.can import BusConfig, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    cfg = dataclasses.replace(load_runtime_config(), realtime_priority=0, lock_memory=False)
    participant, executor = DdsParticipant(), Executor()
    node = VehicleInterfaceNode(
        DdsNode("vehicle_interface", participant, executor, "wd"),
        cfg,
        bus=open_bus(BusConfig("virtual", "watchdog-test")),
    )
    got = []
    deadline = time.monotonic() + 10
    while not any(m.startswith(b"WATCHDOG=1") for m in got) and time.monotonic() < deadline:
        executor.spin_once(0.01)
        try:
            got.append(server.recv(128))
        except BlockingIOError:
            pass
    node.shutdown()
    participant.close()
    server.close()
    assert got[0] == b"READY=1" and any(m.startswith(b"WATCHDOG=1\nSTATUS=") for m in got)


def test_a_node_behind_on_a_sensor_topic_gets_the_newest_messages_only():
    """KeepLast as rclpy takes from the reader's history: an executor that fell behind sees the newest
    `depth` (5 for sensor data) messages, not a growing backlog of stale frames."""
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    participant, executor = DdsParticipant(25), Executor()
    try:
        got = []
        DdsNode("listener", participant, executor).subscribe(
            "std_msgs/msg/String", "t/keep_last", lambda m: got.append(m.data), "sensor"
        )
        pub = participant.publisher("std_msgs/msg/String", "t/keep_last", "sensor")
        deadline = time.monotonic() + 10
        while not pub.writer.get_matched_subscriptions() and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(12):
            pub.publish(msgs.new("std_msgs/msg/String", data=str(i)))
        while executor._queue.qsize() < 12 and time.monotonic() < deadline:  # all delivered, none handled yet
            time.sleep(0.01)
        while not executor._queue.empty():
            executor.spin_once(0.0)
        assert got == [str(i) for i in range(7, 12)]
    finally:
        participant.close()


def test_the_control_loop_runs_on_its_own_thread_while_the_executor_is_stuck():
    """The executor never spins here (as if a 400-pose route or an image held it): the control thread still
    puts heartbeats on the bus at the control rate and applies requests from the command channel."""
    import cantools

    from ros_nodes.vehicle_interface_node import VehicleInterfaceNode
    from vehicle_runtime.can import BusConfig, default_dbc_path, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.transport import command_channel
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    cfg = dataclasses.replace(load_runtime_config(), realtime_priority=0, lock_memory=False)
    heartbeat = cantools.database.load_file(str(default_dbc_path())).get_message_by_name("HEARTBEAT").frame_id
    listener = open_bus(BusConfig("virtual", "loop-thread-test"))
    participant = DdsParticipant(27)
    server = command_channel.CommandServer(command_channel.address("loop", 27))
    node = VehicleInterfaceNode(
        DdsNode("vehicle_interface", participant, Executor(), "loop"),
        cfg,
        bus=open_bus(BusConfig("virtual", "loop-thread-test")),
        channel=server,
    )
    client = command_channel.CommandClient(command_channel.address("loop", 27))
    try:
        client.send(command_channel.Record(command_channel.Kind.REQUEST, 5.0, 0.02, 0.5))
        beats, start = 0, time.monotonic()
        while time.monotonic() - start < 1.0:
            frame = listener.recv(timeout=0.05)
            beats += frame is not None and frame.arbitration_id == heartbeat
        with node.lock:
            request = node.gate._request
        assert beats >= 50, beats  # 100 expected; a stuck loop would send none
        assert request is not None and (request.steer_rad, request.accel_mps2, request.source_stamp_s) == (
            0.02,
            0.5,
            5.0,
        )
    finally:
        node.shutdown()
        client.close()
        listener.shutdown()
        participant.close()


def test_the_camera_watchdog_waits_for_every_camera_of_the_model():
    from ros_nodes.vehicle_interface_node import VehicleInterfaceNode
    from vehicle_runtime.can import BusConfig, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.transport import command_channel
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    cfg = dataclasses.replace(load_runtime_config(), realtime_priority=0, lock_memory=False)
    participant = DdsParticipant(28)
    node = VehicleInterfaceNode(
        DdsNode("vehicle_interface", participant, Executor(), "cams"),
        cfg,
        bus=open_bus(BusConfig("virtual", "cams-test")),
        cameras=["front", "rear"],
        channel=command_channel.CommandServer(command_channel.address("cams", 28)),
    )
    try:
        dog = node.gate.watchdogs["camera"]
        for i in range(5):  # the rear camera is silent: the watchdog is never fed
            node._camera("front", 100.0 + 0.05 * i)
        assert dog.last_feed_s == float("-inf")
        node._camera("rear", 100.21)
        assert dog.last_feed_s > 0 and dog._offset_s is not None
        fed = dog.last_feed_s
        node._camera("rear", 100.26)  # again only one camera: not fed until the front one comes back
        assert dog.last_feed_s == fed
    finally:
        node.shutdown()
        participant.close()


def test_a_foreign_participant_can_neither_engage_nor_command_the_car():
    """Anyone on the ROS domain can publish: an unsigned engage, a forged signature, a replayed signed request
    and actuator requests on the old control/request topic. Each engage is refused and counted (in
    /diagnostics too); the requests reach nothing, since commands travel only on the local channel."""
    from ros_nodes.vehicle_interface_node import VehicleInterfaceNode
    from vehicle_runtime.can import BusConfig, open_bus
    from vehicle_runtime.config import load_runtime_config
    from vehicle_runtime.paths import share_dir
    from vehicle_runtime.safety.state_machine import SafetyState
    from vehicle_runtime.security import security_config, signed_request
    from vehicle_runtime.transport import command_channel
    from vehicle_runtime.transport.dds import DdsParticipant
    from vehicle_runtime.transport.node import DdsNode, Executor

    cfg = dataclasses.replace(load_runtime_config(), realtime_priority=0, lock_memory=False)
    participant, executor = DdsParticipant(29), Executor()
    node = VehicleInterfaceNode(
        DdsNode("vehicle_interface", participant, executor, "foreign"),
        cfg,
        bus=open_bus(BusConfig("virtual", "foreign-test")),
        channel=command_channel.CommandServer(command_channel.address("foreign", 29)),
    )
    foreign = DdsParticipant(29)  # another process on the domain, as far as DDS can tell
    try:
        engage = foreign.publisher("std_msgs/msg/String", "foreign/vehicle/engage", "default")
        request = foreign.publisher("ackermann_msgs/msg/AckermannDriveStamped", "foreign/control/request", "command")
        deadline = time.monotonic() + 20
        while not engage.writer.get_matched_subscriptions() and time.monotonic() < deadline:
            executor.spin_once(0.01)
        signed = signed_request(security_config(share_dir() / "config"), "engage")
        word, counter, stamp, mac = signed.split(":")
        forged = ":".join([word, counter, stamp, ("0" if mac[0] != "0" else "1") + mac[1:]])
        for line in ("engage", forged, signed, signed):  # the last: the same signed line again (a replay)
            engage.publish(msgs.new("std_msgs/msg/String", data=line))
        request.publish(convert.request_to_ackermann(ActuatorRequest(time.time(), 0.4, 2.0, time.time())))
        while node.engage_refusals < 3 and time.monotonic() < deadline:
            executor.spin_once(0.01)
        assert node.engage_refusals == 3  # unsigned, forged, replayed; the first signed one was authentic
        with node.lock:
            assert node.gate._request is None  # nothing reached the gate through DDS
            report = node.vi.security_report()
        assert sum(report["engage"]["refused"].values()) == 3, report
        assert node.gate.sm.state is SafetyState.DISENGAGED  # not READY here: the one authentic engage is ignored
        diag = convert.diagnostics(
            0.0,
            "vehicle_interface",
            node.vi.last_status or node.gate.tick(time.monotonic()),
            {},
            {f"security_{k}": v for k, v in report.items()},
        )
        assert any(kv.key == "security_engage" for st in diag.status for kv in st.values)
    finally:
        node.shutdown()
        participant.close()
        foreign.close()
