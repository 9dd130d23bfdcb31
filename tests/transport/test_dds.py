"""The ROS-free transport on real Cyclone DDS (loopback, the shipped configuration), across two
processes: what one publishes the other receives, field for field, for each QoS profile."""
import multiprocessing as mp
import queue

import numpy as np
import pytest

pytest.importorskip("cyclonedds", reason="cyclonedds (extra 'dds') not installed")

from vehicle_runtime.transport import msgs  # noqa: E402
from vehicle_runtime.transport.dds import DdsParticipant, idl_type  # noqa: E402

DOMAIN = 17  # a domain of its own, away from anything else on the machine


def _publisher(ready, go, done):
    p = DdsParticipant(DOMAIN)
    img = p.publisher("sensor_msgs/msg/Image", "test/camera/image_raw", "sensor")
    route = p.publisher("nav_msgs/msg/Path", "test/navigation/route", "latched")
    text = p.publisher("std_msgs/msg/String", "test/policy/reasoning", "default")
    route.publish(msgs.new("nav_msgs/msg/Path", poses=[msgs.new("geometry_msgs/msg/PoseStamped")] * 3))  # before the reader exists
    ready.set()
    go.wait(30)
    pixels = np.arange(720 * 1280 * 3, dtype=np.uint32).astype(np.uint8)
    for i in range(40):
        if done.is_set():
            break
        img.publish(msgs.new("sensor_msgs/msg/Image", header=msgs.new("std_msgs/msg/Header", stamp=msgs.s_to_stamp(i),
                                                                       frame_id="camera"),
                             height=720, width=1280, encoding="rgb8", step=3840, data=pixels))
        text.publish(msgs.new("std_msgs/msg/String", data=f"reason {i}"))
        done.wait(0.05)


def test_two_processes_exchange_images_latched_route_and_text():
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_publisher, args=(ready, go, done))
    proc.start()
    try:
        assert ready.wait(30)
        got = queue.Queue()
        p = DdsParticipant(DOMAIN)
        p.subscribe("sensor_msgs/msg/Image", "test/camera/image_raw",
                    lambda m: got.put(("image", m.header.stamp.sec, m.width, bytes(m.data[:6]), len(m.data))), "sensor")
        p.subscribe("nav_msgs/msg/Path", "test/navigation/route", lambda m: got.put(("route", len(m.poses))), "latched")
        p.subscribe("std_msgs/msg/String", "test/policy/reasoning", lambda m: got.put(("text", m.data)), "default")
        go.set()
        seen = {}
        while set(seen) != {"image", "route", "text"}:
            item = got.get(timeout=30)
            seen.setdefault(item[0], item)
        assert seen["route"] == ("route", 3)  # transient local: delivered to a late joiner
        _, sec, width, head, size = seen["image"]
        assert width == 1280 and size == 720 * 1280 * 3 and head == bytes(range(6))
        assert seen["text"][1].startswith("reason ")
    finally:
        done.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()


def test_topic_types_carry_ros_names():
    assert idl_type("sensor_msgs/msg/Image").__idl_typename__ == "sensor_msgs::msg::dds_::Image_"
    assert idl_type("nav_msgs/msg/Path").__idl_typename__ == "nav_msgs::msg::dds_::Path_"
