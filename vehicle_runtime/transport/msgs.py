"""The standard ROS 2 message types the runtime uses, described once as field lists.

The same description drives the CDR codec (`cdr.py`), the Cyclone DDS topic types (`dds.py`) and the
conversion to rclpy messages (`ros.py`). Field types: ROS primitive names, `string`, a message type
name, `T[N]` (fixed array) or `T[]` (sequence). No custom message packages: standard types only (plus one
transport-internal descriptor that never appears as a ROS topic).
"""

from __future__ import annotations

import os
import re
from types import SimpleNamespace
from typing import Dict, List, Tuple

Field = Tuple[str, str]
# rmw_dds_common/Gid: 24 bytes up to Humble, 16 from Iron on; the sourced ROS distribution decides
GID_SIZE = 24 if os.environ.get("ROS_DISTRO", "").lower() in ("foxy", "galactic", "humble") else 16

TYPES: Dict[str, List[Field]] = {
    "builtin_interfaces/msg/Time": [("sec", "int32"), ("nanosec", "uint32")],
    "std_msgs/msg/Header": [("stamp", "builtin_interfaces/msg/Time"), ("frame_id", "string")],
    "std_msgs/msg/String": [("data", "string")],
    "rosgraph_msgs/msg/Clock": [("clock", "builtin_interfaces/msg/Time")],
    "geometry_msgs/msg/Point": [("x", "float64"), ("y", "float64"), ("z", "float64")],
    "geometry_msgs/msg/Vector3": [("x", "float64"), ("y", "float64"), ("z", "float64")],
    "geometry_msgs/msg/Quaternion": [("x", "float64"), ("y", "float64"), ("z", "float64"), ("w", "float64")],
    "geometry_msgs/msg/Pose": [
        ("position", "geometry_msgs/msg/Point"),
        ("orientation", "geometry_msgs/msg/Quaternion"),
    ],
    "geometry_msgs/msg/PoseStamped": [("header", "std_msgs/msg/Header"), ("pose", "geometry_msgs/msg/Pose")],
    "geometry_msgs/msg/PoseWithCovariance": [("pose", "geometry_msgs/msg/Pose"), ("covariance", "float64[36]")],
    "geometry_msgs/msg/Twist": [("linear", "geometry_msgs/msg/Vector3"), ("angular", "geometry_msgs/msg/Vector3")],
    "geometry_msgs/msg/TwistWithCovariance": [("twist", "geometry_msgs/msg/Twist"), ("covariance", "float64[36]")],
    "sensor_msgs/msg/Image": [
        ("header", "std_msgs/msg/Header"),
        ("height", "uint32"),
        ("width", "uint32"),
        ("encoding", "string"),
        ("is_bigendian", "uint8"),
        ("step", "uint32"),
        ("data", "uint8[]"),
    ],
    "sensor_msgs/msg/CompressedImage": [("header", "std_msgs/msg/Header"), ("format", "string"), ("data", "uint8[]")],
    "sensor_msgs/msg/RegionOfInterest": [
        ("x_offset", "uint32"),
        ("y_offset", "uint32"),
        ("height", "uint32"),
        ("width", "uint32"),
        ("do_rectify", "bool"),
    ],
    "sensor_msgs/msg/CameraInfo": [
        ("header", "std_msgs/msg/Header"),
        ("height", "uint32"),
        ("width", "uint32"),
        ("distortion_model", "string"),
        ("d", "float64[]"),
        ("k", "float64[9]"),
        ("r", "float64[9]"),
        ("p", "float64[12]"),
        ("binning_x", "uint32"),
        ("binning_y", "uint32"),
        ("roi", "sensor_msgs/msg/RegionOfInterest"),
    ],
    "sensor_msgs/msg/NavSatStatus": [("status", "int8"), ("service", "uint16")],
    "sensor_msgs/msg/NavSatFix": [
        ("header", "std_msgs/msg/Header"),
        ("status", "sensor_msgs/msg/NavSatStatus"),
        ("latitude", "float64"),
        ("longitude", "float64"),
        ("altitude", "float64"),
        ("position_covariance", "float64[9]"),
        ("position_covariance_type", "uint8"),
    ],
    "nav_msgs/msg/Path": [("header", "std_msgs/msg/Header"), ("poses", "geometry_msgs/msg/PoseStamped[]")],
    "nav_msgs/msg/Odometry": [
        ("header", "std_msgs/msg/Header"),
        ("child_frame_id", "string"),
        ("pose", "geometry_msgs/msg/PoseWithCovariance"),
        ("twist", "geometry_msgs/msg/TwistWithCovariance"),
    ],
    "ackermann_msgs/msg/AckermannDrive": [
        ("steering_angle", "float32"),
        ("steering_angle_velocity", "float32"),
        ("speed", "float32"),
        ("acceleration", "float32"),
        ("jerk", "float32"),
    ],
    "ackermann_msgs/msg/AckermannDriveStamped": [
        ("header", "std_msgs/msg/Header"),
        ("drive", "ackermann_msgs/msg/AckermannDrive"),
    ],
    "diagnostic_msgs/msg/KeyValue": [("key", "string"), ("value", "string")],
    "diagnostic_msgs/msg/DiagnosticStatus": [
        ("level", "byte"),
        ("name", "string"),
        ("message", "string"),
        ("hardware_id", "string"),
        ("values", "diagnostic_msgs/msg/KeyValue[]"),
    ],
    "diagnostic_msgs/msg/DiagnosticArray": [
        ("header", "std_msgs/msg/Header"),
        ("status", "diagnostic_msgs/msg/DiagnosticStatus[]"),
    ],
    # ros_discovery_info: how `ros2 node list` learns which nodes own which endpoints
    "rmw_dds_common/msg/Gid": [("data", f"char[{GID_SIZE}]")],
    "rmw_dds_common/msg/NodeEntitiesInfo": [
        ("node_namespace", "string"),
        ("node_name", "string"),
        ("reader_gid_seq", "rmw_dds_common/msg/Gid[]"),
        ("writer_gid_seq", "rmw_dds_common/msg/Gid[]"),
    ],
    "rmw_dds_common/msg/ParticipantEntitiesInfo": [
        ("gid", "rmw_dds_common/msg/Gid"),
        ("node_entities_info_seq", "rmw_dds_common/msg/NodeEntitiesInfo[]"),
    ],
}

# Transport-internal, never a ROS topic (no `rt/` prefix, so ROS tools do not see it): the descriptor of
# an image that crossed through shared memory (shm.py). The pixels' metadata as in sensor_msgs/Image.
SHM_IMAGE = "vehicle_runtime/msg/ShmImage"
TYPES[SHM_IMAGE] = [
    ("header", "std_msgs/msg/Header"),
    ("height", "uint32"),
    ("width", "uint32"),
    ("encoding", "string"),
    ("is_bigendian", "uint8"),
    ("step", "uint32"),
    ("segment", "string"),
    ("slot", "uint32"),
    ("sequence", "uint64"),
    ("size", "uint32"),
]

# Definitions (.msg text) of the types above that are not in every ROS distribution's core set, for
# tools that derive type descriptions from text (the RIHS01 type hash via rosbags).
DEFINITIONS = {
    "ackermann_msgs/msg/AckermannDrive": "float32 steering_angle\nfloat32 steering_angle_velocity\nfloat32 speed\n"
    "float32 acceleration\nfloat32 jerk\n",
    "ackermann_msgs/msg/AckermannDriveStamped": "std_msgs/Header header\nAckermannDrive drive\n",
    # ours: rmw_cyclonedds parses a type hash from every endpoint it discovers, ROS topic or not
    SHM_IMAGE: "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\n"
    "uint32 step\nstring segment\nuint32 slot\nuint64 sequence\nuint32 size\n",
}

PRIMITIVES = {  # name → (struct format, size)
    "bool": ("?", 1),
    "byte": ("B", 1),
    "char": ("B", 1),
    "int8": ("b", 1),
    "uint8": ("B", 1),
    "int16": ("h", 2),
    "uint16": ("H", 2),
    "int32": ("i", 4),
    "uint32": ("I", 4),
    "int64": ("q", 8),
    "uint64": ("Q", 8),
    "float32": ("f", 4),
    "float64": ("d", 8),
}
_ARRAY = re.compile(r"^(?P<base>[\w/]+)\[(?P<n>\d*)\]$")


def parse_type(t: str) -> Tuple[str, str, int]:
    """'float64[9]' → ('float64', 'array', 9); 'uint8[]' → ('uint8', 'sequence', 0); 'string' → ('string', 'one', 0)."""
    m = _ARRAY.match(t)
    if not m:
        return t, "one", 0
    return m["base"], ("array" if m["n"] else "sequence"), int(m["n"] or 0)


class Msg(SimpleNamespace):
    """A message: attributes as in the ROS definition, plus `_type`."""


def new(typename: str, **values) -> Msg:
    """A message with every field at its default (0, '', [], nested defaults) unless given."""
    if typename not in TYPES:
        raise KeyError(f"unknown message type '{typename}'")
    fields = {}
    for name, t in TYPES[typename]:
        if name in values:
            fields[name] = values.pop(name)
            continue
        base, kind, n = parse_type(t)
        if kind == "sequence":
            fields[name] = b"" if base in ("uint8", "byte") else []
        elif kind == "array":
            fields[name] = [_default(base) for _ in range(n)]
        else:
            fields[name] = _default(base)
    if values:
        raise TypeError(f"{typename} has no field(s) {sorted(values)}")
    return Msg(_type=typename, **fields)


def _default(base: str):
    if base == "string":
        return ""
    if base == "bool":
        return False
    if base in PRIMITIVES:
        return 0.0 if base.startswith("float") else 0
    return new(base)


def starts_with_header(typename: str) -> bool:
    """Whether the type's first field is a std_msgs/Header (its stamp then sits right after the CDR header)."""
    return TYPES[typename][0] == ("header", "std_msgs/msg/Header")


def stamp_to_s(stamp: Msg) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def s_to_stamp(t_s: float) -> Msg:
    sec = int(t_s // 1)
    return new("builtin_interfaces/msg/Time", sec=sec, nanosec=int(round((t_s - sec) * 1e9)) % 1_000_000_000)


def dds_type_name(typename: str) -> str:
    """'sensor_msgs/msg/Image' → 'sensor_msgs::msg::dds_::Image_' (the ROS 2 DDS naming)."""
    pkg, sub, name = typename.split("/")
    return f"{pkg}::{sub}::dds_::{name}_"
