"""Our CDR against PyPI `rosbags` (an independent implementation), ROS 2 Humble and Jazzy type
stores: same bytes up to 0–3 bytes of trailing padding, and both decode back to equal values."""

import numpy as np
import pytest

from vehicle_runtime.transport import cdr, msgs

rosbags_typesys = pytest.importorskip("rosbags.typesys", reason="rosbags (dev extra) not installed")
Stores, get_typestore, get_types_from_msg = (
    rosbags_typesys.Stores,
    rosbags_typesys.get_typestore,
    rosbags_typesys.get_types_from_msg,
)

ACKERMANN = {  # not in rosbags' stores: registered from the ackermann_msgs definitions
    "ackermann_msgs/msg/AckermannDrive": "float32 steering_angle\nfloat32 steering_angle_velocity\nfloat32 speed\n"
    "float32 acceleration\nfloat32 jerk\n",
    "ackermann_msgs/msg/AckermannDriveStamped": "std_msgs/Header header\nAckermannDrive drive\n",
}


def typestore(store):
    ts = get_typestore(store)
    for name, text in ACKERMANN.items():
        if name not in ts.types:
            ts.register(get_types_from_msg(text, name))
    return ts


def header(t=12.5, frame="base_link"):
    return msgs.new("std_msgs/msg/Header", stamp=msgs.s_to_stamp(t), frame_id=frame)


def pose(x, y, yaw):
    return msgs.new(
        "geometry_msgs/msg/Pose",
        position=msgs.new("geometry_msgs/msg/Point", x=x, y=y, z=0.0),
        orientation=msgs.new("geometry_msgs/msg/Quaternion", z=np.sin(yaw / 2), w=np.cos(yaw / 2)),
    )


RNG = np.random.default_rng(0)
SAMPLES = {
    "sensor_msgs/msg/Image": msgs.new(
        "sensor_msgs/msg/Image",
        header=header(),
        height=3,
        width=5,
        encoding="rgb8",
        step=15,
        data=RNG.integers(0, 256, 45, dtype=np.uint8).tobytes(),
    ),
    "sensor_msgs/msg/CompressedImage": msgs.new(
        "sensor_msgs/msg/CompressedImage", header=header(frame="cam"), format="jpeg", data=b"\xff\xd8abc\xff\xd9"
    ),
    "sensor_msgs/msg/CameraInfo": msgs.new(
        "sensor_msgs/msg/CameraInfo",
        header=header(),
        height=720,
        width=1280,
        distortion_model="plumb_bob",
        d=[0.1, -0.2, 0.0, 0.0, 0.01],
        k=[640.0, 0, 640, 0, 640, 360, 0, 0, 1],
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        p=[640.0, 0, 640, 0, 0, 640, 360, 0, 0, 0, 1, 0],
        binning_x=1,
        roi=msgs.new("sensor_msgs/msg/RegionOfInterest", width=10, do_rectify=True),
    ),
    "nav_msgs/msg/Path": msgs.new(
        "nav_msgs/msg/Path",
        header=header(frame="map"),
        poses=[
            msgs.new("geometry_msgs/msg/PoseStamped", header=header(frame="map"), pose=pose(i * 2.0, 0.5 * i, 0.1 * i))
            for i in range(4)
        ],
    ),
    "nav_msgs/msg/Odometry": msgs.new(
        "nav_msgs/msg/Odometry",
        header=header(frame="odom"),
        child_frame_id="base_link",
        pose=msgs.new(
            "geometry_msgs/msg/PoseWithCovariance", pose=pose(1.0, 2.0, 0.3), covariance=[float(i) for i in range(36)]
        ),
    ),
    "sensor_msgs/msg/NavSatFix": msgs.new(
        "sensor_msgs/msg/NavSatFix",
        header=header(frame="gnss"),
        status=msgs.new("sensor_msgs/msg/NavSatStatus", status=-1, service=1),
        latitude=48.1,
        longitude=11.5,
        altitude=520.0,
        position_covariance=[0.25] * 9,
        position_covariance_type=2,
    ),
    "std_msgs/msg/String": msgs.new("std_msgs/msg/String", data="lead vehicle braking 20 m ahead: slowing down"),
    "ackermann_msgs/msg/AckermannDriveStamped": msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(),
        drive=msgs.new("ackermann_msgs/msg/AckermannDrive", steering_angle=0.125, speed=10.0, acceleration=-2.5),
    ),
    "diagnostic_msgs/msg/DiagnosticArray": msgs.new(
        "diagnostic_msgs/msg/DiagnosticArray",
        header=header(),
        status=[
            msgs.new(
                "diagnostic_msgs/msg/DiagnosticStatus",
                level=b"\x00"[0],
                name="vehicle_runtime: safety",
                message="ENGAGED",
                hardware_id="box",
                values=[msgs.new("diagnostic_msgs/msg/KeyValue", key="camera age s", value="0.012")],
            ),
            msgs.new("diagnostic_msgs/msg/DiagnosticStatus", level=2, name="watchdog: odometry", message="expired"),
        ],
    ),
}


def to_rosbags(ts, typename, msg):
    cls = ts.types[typename]
    kwargs = {}
    for name, t in msgs.TYPES[typename]:
        value = getattr(msg, name)
        base, kind, _ = msgs.parse_type(t)
        if kind != "one":
            if base in ("uint8", "byte"):
                kwargs[name] = np.frombuffer(bytes(value), np.uint8)
            elif base in msgs.PRIMITIVES:
                kwargs[name] = np.array(value, dtype={"float64": np.float64, "float32": np.float32}.get(base, np.int64))
            else:
                kwargs[name] = [to_rosbags(ts, base, v) for v in value]
        elif base in msgs.TYPES:
            kwargs[name] = to_rosbags(ts, base, value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def same(a, b):
    if isinstance(a, msgs.Msg):
        return all(same(getattr(a, n), getattr(b, n)) for n, _ in msgs.TYPES[a._type])
    if isinstance(a, (bytes, bytearray, memoryview)) or isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(a) == bytes(b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return np.float32(a) == np.float32(b) if abs(a) < 1e30 else a == b
    return a == b


@pytest.mark.parametrize("store", [Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY], ids=["humble", "jazzy"])
@pytest.mark.parametrize("typename", sorted(SAMPLES))
def test_cdr_matches_rosbags(store, typename):
    ts = typestore(store)
    ours = bytes(cdr.serialize(typename, SAMPLES[typename]))
    theirs = bytes(ts.serialize_cdr(to_rosbags(ts, typename, SAMPLES[typename]), typename))
    n = min(len(ours), len(theirs))
    assert ours[:n] == theirs[:n]
    assert abs(len(ours) - len(theirs)) <= 3 and not any(ours[n:]) and not any(theirs[n:])
    assert same(SAMPLES[typename], cdr.deserialize(typename, ours))
    assert same(SAMPLES[typename], cdr.deserialize(typename, theirs))  # theirs decodes with our reader too
    back = ts.deserialize_cdr(ours, typename)
    assert bytes(ts.serialize_cdr(back, typename)) == theirs  # and ours with theirs


def test_image_payload_is_a_view_not_a_copy():
    img = np.arange(1280 * 720 * 3, dtype=np.uint32).astype(np.uint8)
    m = msgs.new("sensor_msgs/msg/Image", height=720, width=1280, encoding="rgb8", step=3840, data=img)
    data = bytes(cdr.serialize("sensor_msgs/msg/Image", m))
    back = cdr.deserialize("sensor_msgs/msg/Image", data)
    assert isinstance(back.data, memoryview) and back.data.obj is data
    assert np.array_equal(np.frombuffer(back.data, np.uint8), img)


@pytest.mark.parametrize("cut", [3, 10, 30])
def test_truncated_data_is_a_clear_error(cut):
    data = bytes(cdr.serialize("sensor_msgs/msg/CameraInfo", SAMPLES["sensor_msgs/msg/CameraInfo"]))
    with pytest.raises(cdr.CdrError):
        cdr.deserialize("sensor_msgs/msg/CameraInfo", data[:cut])


def test_unknown_fields_and_types_rejected():
    with pytest.raises(TypeError, match="no field"):
        msgs.new("std_msgs/msg/String", text="x")
    with pytest.raises(KeyError, match="unknown message type"):
        msgs.new("my_msgs/msg/Custom")
    assert msgs.dds_type_name("sensor_msgs/msg/Image") == "sensor_msgs::msg::dds_::Image_"


def test_publisher_writer_reuses_its_buffer_and_writes_the_same_bytes():
    """The DDS publisher's CdrWriter keeps one allocation across messages of any size and order; each
    encoding equals serialize()'s (checked against rosbags above), zero-padded to 4 bytes."""
    image = msgs.new(
        "sensor_msgs/msg/Image",
        header=msgs.new("std_msgs/msg/Header", frame_id="camera"),
        height=720,
        width=1280,
        encoding="rgb8",
        step=3840,
        data=np.arange(720 * 3840, dtype=np.uint32).astype(np.uint8),
    )
    samples = [("sensor_msgs/msg/Image", image), *sorted(SAMPLES.items())] * 2
    w = cdr.CdrWriter()
    capacity = None
    for typename, msg in samples:
        ref = bytes(cdr.serialize(typename, msg))
        ref += b"\x00" * ((-len(ref)) % 4)
        assert bytes(w.encode(typename, msg, align_to=4)) == ref, typename
        capacity = capacity or len(w.data)
        assert len(w.data) == capacity  # the image's allocation is kept, never shrunk or grown again
