"""Recording beside nodes on the rclpy transport (real rclpy, PyPI's ROS 2 Jazzy wheels): the runtime's topics
published through the project's rclpy transport, recorded from raw CDR bytes, and read back by rosbags
independently of our writer (topics, types, counts, the very bytes published). And `vehicle-runtime record
--transport rclpy` as a process: SIGTERM closes a split bag cleanly, with every acknowledged sample in it."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy", reason="rclpy not installed (extra 'ros': ROS 2 Jazzy wheels)")

from vehicle_runtime.paths import share_dir  # noqa: E402
from vehicle_runtime.record.writer import WriterOptions, typestore  # noqa: E402
from vehicle_runtime.transport import convert  # noqa: E402
from vehicle_runtime.types import CameraFrame, EgoState, PolicyOutput, Pose2D, Route  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
W, H = 1280, 720
FRAMES = 6


@pytest.fixture
def domain(monkeypatch):
    """A domain of its own, discovery on this host, the project's Fast DDS profile (large socket buffers)."""
    domain_id = random.randint(201, 230)  # tests/ros take 100..200
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain_id))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("FASTRTPS_DEFAULT_PROFILES_FILE", str(share_dir() / "config" / "fastdds.xml"))
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    return domain_id


@pytest.fixture
def runtime_node(domain):
    """The project's rclpy transport in a context of its own: the nodes' side of the graph."""
    import rclpy
    from rclpy.context import Context

    from vehicle_runtime.transport.ros import RclpyNode

    ctx = Context()
    rclpy.init(context=ctx)
    node = RclpyNode("runtime_topics", context=ctx)
    yield node
    node.node.destroy_node()
    ctx.try_shutdown()


def wait_until(done, what: str, timeout_s: float = 30.0, each=None, each_s: float = 1.0) -> None:
    """Poll `done`; `each` (a best-effort sample sent again) runs every `each_s` while it is not."""
    deadline = time.monotonic() + timeout_s
    next_each = time.monotonic() + each_s
    while not done():
        now = time.monotonic()
        assert now < deadline, f"timed out waiting for {what}"
        if each and now >= next_each:
            each()
            next_each = now + each_s
        time.sleep(0.01)


def messages(i: int) -> dict:
    """{topic: (type, profile, message)} for step i: what the nodes publish, built by transport/convert.py."""
    pixels = np.zeros((H, W, 3), np.uint8)
    pixels.reshape(-1)[:8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)  # the frame number
    t = 100.0 + i * 0.05
    ego = EgoState(t, Pose2D(3.0 * i, 0.5, 0.1 * i), 8.0, 0.01)
    out = PolicyOutput(t, ego.pose, np.array([[1.0 * k, 0.1 * i] for k in range(1, 21)]), 0.1)
    return {
        "/camera/image_raw": (
            "sensor_msgs/msg/Image",
            "sensor",
            convert.frame_to_image(CameraFrame("front", t, "rgb8", pixels, W, H), "front"),
        ),
        "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", "latched", convert.camera_info(t, W, H, 900.0 + i)),
        "/navigation/route": (
            "nav_msgs/msg/Path",
            "latched",
            convert.route_to_path(Route(t, np.array([[float(k), 0.2 * i] for k in range(300)]))),
        ),
        "/navigation/odometry": ("nav_msgs/msg/Odometry", "sensor", convert.ego_to_odometry(ego)),
        "/policy/trajectory": ("nav_msgs/msg/Path", "default", convert.policy_to_path(out)),
        "/policy/reasoning": ("std_msgs/msg/String", "default", convert.text(f"keep lane, step {i}")),
        "/diagnostics": (
            "diagnostic_msgs/msg/DiagnosticArray",
            "default",
            convert.diagnostics(t, "policy", None, {}, {"step": i}),
        ),
    }


def test_rclpy_topics_are_recorded_byte_for_byte_and_read_back_by_rosbags(tmp_path, domain, runtime_node):
    from rosbags.rosbag2 import Reader

    from vehicle_runtime.record.live import LiveRecorder
    from vehicle_runtime.transport.ros import message_class

    topics = list(messages(0)) + ["/vehicle/command"]
    bag = tmp_path / "rclpy_bag"
    # 720p frames (2.76 MB) against 4 MB files: the bag splits
    rec = LiveRecorder(bag, topics, WriterOptions(split_size_bytes=4_000_000), domain, transport="rclpy")
    published = {name: [] for name in messages(0)}
    try:
        ackermann = message_class("ackermann_msgs/msg/AckermannDriveStamped") is not None
        assert rec.left_out == ([] if ackermann else ["/vehicle/command"])
        pubs = {name: runtime_node.publisher(typ, name, profile) for name, (typ, profile, _) in messages(0).items()}
        for name, pub in pubs.items():
            wait_until(lambda pub=pub: pub._pub.get_subscription_count() > 0, f"the recorder matching {name}")
        for i in range(FRAMES):
            for name, (_, profile, msg) in messages(i).items():
                data = pubs[name].encode(msg)
                pubs[name].publish(msg)
                # one sample at a time: none can be overwritten in a keep-last history before it is taken;
                # a best-effort sample lost on the way is sent again
                again = (lambda pub=pubs[name], msg=msg: pub.publish(msg)) if profile == "sensor" else None
                before = len(published[name])
                wait_until(lambda name=name, n=before: rec.received[name] > n, f"{name} #{i}", each=again)
                published[name].append(data)
    finally:
        rec.close()
    assert rec.error is None and sum(rec.dropped.values()) == 0
    assert rec.stats()["files"] > 1

    recorded = {}
    with Reader(bag) as r:  # rosbags, independently of our writer
        types = {c.topic: c.msgtype for c in r.connections}
        counts = {c.topic: c.msgcount for c in r.connections}
        for conn, _, raw in r.messages():
            recorded.setdefault(conn.topic, []).append(bytes(raw))
    assert types == {name: typ for name, (typ, _, _) in messages(0).items()}
    custom = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]["custom_data"]
    assert custom["source"] == "rclpy" and custom["dropped_samples"] == "0"
    for name, sent in published.items():
        got = recorded[name]
        if len(got) != len(sent):  # a best-effort sample sent twice and both copies arrived
            got = [d for k, d in enumerate(got) if k == 0 or d != got[k - 1]]
        assert got == sent, name  # the bytes the publisher sent, not a re-encoding
        assert counts[name] == len(recorded[name]) == rec.received[name]
    ts = typestore()
    frames = [ts.deserialize_cdr(d, "sensor_msgs/msg/Image") for d in published["/camera/image_raw"]]
    assert [int(np.frombuffer(f.data[:8].tobytes(), np.int64)[0]) for f in frames] == list(range(FRAMES))
    assert (frames[-1].width, frames[-1].height, frames[-1].encoding) == (W, H, "rgb8")
    route = ts.deserialize_cdr(recorded["/navigation/route"][-1], "nav_msgs/msg/Path")
    assert len(route.poses) == 300 and route.poses[-1].pose.position.y == pytest.approx(0.2 * (FRAMES - 1))


def test_a_stalled_disk_drops_and_counts_instead_of_growing(tmp_path, domain, runtime_node):
    """The queue between the rclpy executor and the bag is bounded in bytes: with the writer stalled, images
    beyond it are dropped and counted; what was queued reaches the bag once the disk is back."""
    import threading

    from rosbags.rosbag2 import Reader

    from vehicle_runtime.record.live import LiveRecorder

    frame_bytes = W * H * 3 + 100  # a 720p rgb8 image in CDR
    rec = LiveRecorder(tmp_path / "stalled", ["/camera/image_raw"], domain_id=domain, queue_bytes=3 * frame_bytes)
    disk = threading.Event()
    write = rec.writer.write
    rec.writer.write = lambda *a: (disk.wait(60), write(*a))  # the writer thread waits: a stalled disk
    peak = 0
    try:
        pub = runtime_node.publisher("sensor_msgs/msg/Image", "/camera/image_raw", "sensor")
        wait_until(lambda: pub._pub.get_subscription_count() > 0, "the recorder matching")
        for i in range(10):
            msg = messages(i)["/camera/image_raw"][2]
            pub.publish(msg)
            wait_until(
                lambda n=i: rec.received["/camera/image_raw"] > n, f"image #{i}", each=lambda m=msg: pub.publish(m)
            )
            peak = max(peak, rec._bytes)
        assert peak <= rec.queue_bytes
        received, dropped = rec.received["/camera/image_raw"], rec.dropped["/camera/image_raw"]
        assert dropped >= received - 4  # three queued, one in the stalled writer's hands
    finally:
        disk.set()
        rec.close()
    with Reader(tmp_path / "stalled") as r:
        assert r.message_count == received - dropped
    custom = yaml.safe_load((tmp_path / "stalled" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert custom["custom_data"]["dropped_samples"] == str(dropped)


def test_the_record_command_on_rclpy_closes_a_split_bag_on_sigterm(tmp_path, domain, runtime_node):
    from rclpy.duration import Duration
    from rosbags.rosbag2 import Reader

    from vehicle_runtime.transport.ros import message_class

    bag = tmp_path / "cli_bag"
    p = subprocess.Popen(
        [sys.executable, "-m", "vehicle_runtime.cli", "record", str(bag), "--transport", "rclpy"]
        + ["--split-size", "1", "--topics", "/policy/reasoning", "/vehicle/command"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=REPO,
    )
    # 196 kB each, 5.9 MB in all: more than one 4 MB chunk, so the 1 MB split happens
    texts = [f"{i:04d} " + "reason " * 28_000 for i in range(30)]
    try:
        line = p.stdout.readline()  # printed once every subscription exists
        assert line.startswith("recording") and " on rclpy " in line, line + p.stderr.read()
        if message_class("ackermann_msgs/msg/AckermannDriveStamped") is None:
            assert "left out (message package not installed): /vehicle/command" in line
        pub = runtime_node.publisher("std_msgs/msg/String", "/policy/reasoning")
        wait_until(lambda: pub._pub.get_subscription_count() > 0, "the recorder process matching")
        for text in texts:
            pub.publish(convert.text(text))
            assert pub._pub.wait_for_all_acked(Duration(seconds=30))  # reliable: the recorder holds it
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "closed" in out
    with Reader(bag) as r:  # readable as it is: no repair
        got = [bytes(raw) for _, _, raw in r.messages()]
    assert len(list(bag.glob("*.mcap"))) > 1  # split at 1 MB
    ts = typestore()
    assert [ts.deserialize_cdr(d, "std_msgs/msg/String").data for d in got] == texts
