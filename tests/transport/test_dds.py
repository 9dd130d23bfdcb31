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
    route.publish(
        msgs.new("nav_msgs/msg/Path", poses=[msgs.new("geometry_msgs/msg/PoseStamped")] * 3)
    )  # before the reader exists
    ready.set()
    go.wait(30)
    pixels = np.arange(720 * 1280 * 3, dtype=np.uint32).astype(np.uint8)
    for i in range(40):
        if done.is_set():
            break
        img.publish(
            msgs.new(
                "sensor_msgs/msg/Image",
                header=msgs.new("std_msgs/msg/Header", stamp=msgs.s_to_stamp(i), frame_id="camera"),
                height=720,
                width=1280,
                encoding="rgb8",
                step=3840,
                data=pixels,
            )
        )
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
        p.subscribe(
            "sensor_msgs/msg/Image",
            "test/camera/image_raw",
            lambda m: got.put(("image", m.header.stamp.sec, m.width, bytes(m.data[:6]), len(m.data))),
            "sensor",
        )
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


def test_endpoints_announce_ros_type_hashes_and_the_participant_its_enclave(monkeypatch):
    """What rmw_cyclonedds (Iron and newer) reads from discovery: `typehash=RIHS01_…;` on every
    endpoint (here compared with rosbags' REP 2016 hash) and `enclave=/;` on the participant."""
    rosbags_typesys = pytest.importorskip("rosbags.typesys", reason="rosbags not installed")
    from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsParticipant, BuiltinTopicDcpsPublication
    from cyclonedds.core import Policy

    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    p = DdsParticipant(DOMAIN + 1)
    p.register_node("", "hasher")  # creates the ros_discovery_info writer
    p.publisher("sensor_msgs/msg/Image", "hash/image", "sensor")
    want = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_JAZZY).hash_rihs01("sensor_msgs/msg/Image")
    pubs = BuiltinDataReader(p.participant, BuiltinTopicDcpsPublication)
    parts = BuiltinDataReader(p.participant, BuiltinTopicDcpsParticipant)
    user_data = lambda sample: next((q.data for q in sample.qos if isinstance(q, Policy.Userdata)), b"")  # noqa: E731
    endpoint = next(s for s in pubs.take(N=100) if s.topic_name == "rt/hash/image")
    # `key=value;` pairs as rmw parses them: the type hash, and our shared-memory tag (rmw ignores it)
    pairs = dict(kv.split("=", 1) for kv in user_data(endpoint).decode().split(";") if kv)
    assert pairs["typehash"] == want and set(pairs) <= {"typehash", "vrshm"}
    assert any(user_data(s) == b"enclave=/;" for s in parts.take(N=100))
    # every other endpoint too, non-ROS topics included (rmw_cyclonedds warns for each one without a hash):
    # the shared-memory image descriptors and ros_discovery_info
    others = [s for s in pubs.take(N=100) if s.topic_name != "rt/hash/image"] + [
        s for s in BuiltinDataReader(p.participant, BuiltinTopicDcpsPublication).take(N=100)
    ]
    names = {s.topic_name for s in others}
    assert {"vehicle_runtime/shm/hash/image", "ros_discovery_info"} <= names, names
    for sample in others:
        assert b"typehash=RIHS01_" in user_data(sample), sample.topic_name
    p.close()


def test_ros_discovery_info_names_the_nodes_and_their_endpoints():
    """ParticipantEntitiesInfo on `ros_discovery_info` (reliable, transient local), as rmw_dds_common
    publishes it: the node and the GUIDs of the endpoints it created."""
    from vehicle_runtime.transport.node import DdsNode, Executor

    p = DdsParticipant(DOMAIN + 2)
    node = DdsNode("policy", p, Executor(), namespace="car1")
    writer = node.publisher("std_msgs/msg/String", "policy/reasoning")
    node.subscribe("nav_msgs/msg/Path", "navigation/route", lambda m: None, "latched")
    got = queue.Queue()
    listener = DdsParticipant(DOMAIN + 2)
    listener.subscribe(
        "rmw_dds_common/msg/ParticipantEntitiesInfo", "ros_discovery_info", got.put, "latched", ros_topic=False
    )
    info = got.get(timeout=20)
    while info.node_entities_info_seq and not info.node_entities_info_seq[0].reader_gid_seq:
        info = got.get(timeout=20)  # the latest announcement lists every endpoint
    assert bytes(info.gid.data[:16]) == p.participant.guid.bytes
    (entry,) = info.node_entities_info_seq
    assert (entry.node_namespace, entry.node_name) == ("/car1", "policy")
    assert bytes(entry.writer_gid_seq[0].data[:16]) == writer.writer.guid.bytes
    assert len(entry.reader_gid_seq) == 1
    p.close()
    listener.close()


def test_discovery_info_cdr_matches_rosbags_jazzy():
    rosbags_typesys = pytest.importorskip("rosbags.typesys", reason="rosbags not installed")
    import numpy as np

    from vehicle_runtime.transport import cdr

    ts = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_JAZZY)
    gid = list(range(16))
    ours = msgs.new(
        "rmw_dds_common/msg/ParticipantEntitiesInfo",
        gid=msgs.new("rmw_dds_common/msg/Gid", data=gid),
        node_entities_info_seq=[
            msgs.new(
                "rmw_dds_common/msg/NodeEntitiesInfo",
                node_namespace="/",
                node_name="policy",
                writer_gid_seq=[msgs.new("rmw_dds_common/msg/Gid", data=gid)],
            )
        ],
    )
    T = ts.types
    G = lambda: T["rmw_dds_common/msg/Gid"](data=np.array(gid, np.uint8))  # noqa: E731
    theirs = T["rmw_dds_common/msg/ParticipantEntitiesInfo"](
        gid=G(),
        node_entities_info_seq=[
            T["rmw_dds_common/msg/NodeEntitiesInfo"](
                node_namespace="/", node_name="policy", reader_gid_seq=[], writer_gid_seq=[G()]
            )
        ],
    )
    a = bytes(cdr.serialize("rmw_dds_common/msg/ParticipantEntitiesInfo", ours))
    b = bytes(ts.serialize_cdr(theirs, "rmw_dds_common/msg/ParticipantEntitiesInfo"))
    assert a[: min(len(a), len(b))] == b[: min(len(a), len(b))] and abs(len(a) - len(b)) <= 3


def test_a_restamped_message_arrives_whole_with_each_new_stamp():
    """The simulator's route is encoded once and re-sent every second with only the stamp new."""
    from vehicle_runtime.transport.dds import Restamped

    p = DdsParticipant(DOMAIN + 3)
    try:
        got = queue.Queue()
        p.subscribe("nav_msgs/msg/Path", "t/route", got.put, "latched")
        poses = [
            msgs.new(
                "geometry_msgs/msg/PoseStamped",
                pose=msgs.new(
                    "geometry_msgs/msg/Pose", position=msgs.new("geometry_msgs/msg/Point", x=float(i), y=-2.0 * i)
                ),
            )
            for i in range(400)
        ]
        path = msgs.new("nav_msgs/msg/Path", header=msgs.new("std_msgs/msg/Header", frame_id="map"), poses=poses)
        route = Restamped(p.publisher("nav_msgs/msg/Path", "t/route", "latched"), path)
        for t in (12.25, 13.5):
            route.publish(t)
            m = got.get(timeout=10)
            assert msgs.stamp_to_s(m.header.stamp) == t and m.header.frame_id == "map"
            assert len(m.poses) == 400 and (m.poses[399].pose.position.x, m.poses[399].pose.position.y) == (
                399.0,
                -798.0,
            )
        with pytest.raises(ValueError, match="Header"):
            Restamped(p.publisher("std_msgs/msg/String", "t/text"), msgs.new("std_msgs/msg/String"))
    finally:
        p.close()
