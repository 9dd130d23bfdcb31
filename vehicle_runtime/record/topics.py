"""What a bag holds: every input of the runtime, every output, the CAN frames both ways, and the tick.

Names are the runtime's default topics (DESIGN.md) with ROS 2's leading slash. `role` decides what
replay feeds (input, tick) and what it compares (output). QoS profiles are those of transport/dds.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


@dataclass(frozen=True)
class Topic:
    name: str
    type: str
    qos: str  # sensor | default | latched | command
    role: str  # input | tick | output | can
    doc: str


_ROWS = (
    Topic("/camera/image_raw", IMAGE, "sensor", "input", "front camera as the runtime received it (lossless)"),
    Topic(
        "/camera/image_raw/compressed",
        COMPRESSED,
        "sensor",
        "input",
        "front camera, JPEG on request (`--record-jpeg Q`): lossy, PSNR in the bag metadata",
    ),
    Topic("/camera/camera_info", "sensor_msgs/msg/CameraInfo", "latched", "input", "intrinsics, once per second"),
    Topic("/navigation/route", "nav_msgs/msg/Path", "latched", "input", "planned route, world frame"),
    Topic("/navigation/odometry", "nav_msgs/msg/Odometry", "sensor", "input", "ego pose and speed"),
    Topic(
        "/vehicle/status/drive",
        "ackermann_msgs/msg/AckermannDriveStamped",
        "default",
        "input",
        "measured steering angle, speed, acceleration (what Odometry cannot carry)",
    ),
    Topic("/can/rx", "can_msgs/msg/Frame", "default", "can", "every frame the runtime read (feedback)"),
    Topic(
        "/vehicle_runtime/tick",
        "rosgraph_msgs/msg/Clock",
        "default",
        "tick",
        "one control period (10 ms): replay runs the policy and the gate on these",
    ),
    Topic("/policy/trajectory", "nav_msgs/msg/Path", "default", "output", "student trajectory, ego frame"),
    Topic("/policy/reasoning", "std_msgs/msg/String", "default", "output", "reasoning text"),
    Topic(
        "/policy/validation",
        "std_msgs/msg/String",
        "default",
        "output",
        "trajectory validator verdict as JSON {stamp_s, valid, failed, ratios} (when a validator exists)",
    ),
    Topic(
        "/control/request",
        "ackermann_msgs/msg/AckermannDriveStamped",
        "command",
        "output",
        "tracker request before the gate",
    ),
    Topic(
        "/vehicle/command",
        "ackermann_msgs/msg/AckermannDriveStamped",
        "command",
        "output",
        "what the safety gate let through",
    ),
    Topic("/vehicle/safety_state", "std_msgs/msg/String", "latched", "output", "safety state, on change"),
    Topic(
        "/vehicle/safety_transition",
        "std_msgs/msg/String",
        "default",
        "output",
        "every state machine transition as JSON {stamp_s, from, to, event, reason}",
    ),
    Topic("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "default", "output", "safety state, watchdogs, 10 Hz"),
    Topic("/can/tx", "can_msgs/msg/Frame", "default", "can", "every frame the runtime sent (commands, heartbeat)"),
)
TOPICS: Dict[str, Topic] = {t.name: t for t in _ROWS}
INPUTS = tuple(t.name for t in _ROWS if t.role in ("input", "tick") or t.name == "/can/rx")
OUTPUTS = tuple(t.name for t in _ROWS if t.role == "output" or t.name == "/can/tx")


def camera_topic(camera: str, compressed: bool = False) -> str:
    base = "/camera/image_raw" if camera == "front" else f"/camera/{camera}/image_raw"
    return base + "/compressed" if compressed else base


def camera_of(topic: str) -> str:
    parts = topic.strip("/").split("/")
    return "front" if parts[1] == "image_raw" else parts[1]


def topic_info(name: str) -> Topic:
    """The row of `name`; extra cameras take the rows of the front camera's topics."""
    if name in TOPICS:
        return TOPICS[name]
    if name.startswith("/camera/") and "/image_raw" in name:
        row = TOPICS[camera_topic("front", name.endswith("/compressed"))]
        return Topic(name, row.type, row.qos, row.role, row.doc)
    raise KeyError(f"'{name}' is not a recorded topic (see vehicle_runtime/record/topics.py)")


# The replay gate, one row per compared output (openpilot process_replay's table): what is compared,
# what is ignored, and which threshold key bounds it. Safety transitions have no tolerance.
GATE_TABLE = (
    (
        "/policy/trajectory",
        "point distance per matched observation stamp",
        "header stamps of the poses",
        "trajectory_max_m, trajectory_p99_m",
    ),
    ("/policy/reasoning", "token agreement (whitespace tokens, by position)", "—", "reasoning_agreement_min"),
    (
        "/vehicle/command",
        "steering angle, acceleration per control period",
        "speed (measured, not decided)",
        "steer_max_rad, accel_max_mps2",
    ),
    ("/control/request", "steering angle, acceleration per control period", "—", "steer_max_rad, accel_max_mps2"),
    ("/vehicle/safety_transition", "(stamp, from, to) of every transition", "reason text", "none: any change fails"),
    ("/policy/validation", "valid and the failed rules, per output stamp", "ratios", "validation_changes_max"),
)
