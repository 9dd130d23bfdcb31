"""Runtime types → the standard ROS 2 messages a bag holds, and back for replay.

The builders are the ROS nodes' own (transport/convert.py), given exact nanosecond stamps here, so a bag
from the embedded drive and one from `vehicle-runtime record` beside the node graph look alike.
Exactness: poses and stamps are float64 (stamps at 1 ns); the yaw goes through a quaternion and the
measured steering angle and acceleration through AckermannDrive's float32 — the resolution replay sees.
"""

from __future__ import annotations

import json
from typing import Optional

from ..transport import convert as wire
from ..transport import msgs
from ..transport.convert import path_xy, text, yaw_of
from ..transport.msgs import Msg, stamp_to_s
from ..types import ActuatorCommand, ActuatorRequest, CameraFrame, EgoState, PolicyOutput, Pose2D, Route


def stamp(t_s: float) -> Msg:
    """To the nearest nanosecond, carried into the seconds (2.9999999999999996 s → 3 s, not 2 s)."""
    sec, nanosec = divmod(int(round(t_s * 1e9)), 1_000_000_000)
    return msgs.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def stamp_ns(st: Msg) -> int:
    return st.sec * 1_000_000_000 + st.nanosec


def header(t_s: float, frame_id: str) -> Msg:
    return wire.header(t_s, frame_id, stamp)


def image(frame: CameraFrame) -> Msg:
    return wire.frame_to_image(frame, frame.camera, stamp)


def compressed(frame_stamp_s: float, camera: str, fmt: str, data: bytes) -> Msg:
    return msgs.new("sensor_msgs/msg/CompressedImage", header=header(frame_stamp_s, camera), format=fmt, data=data)


def frame_of(m: Msg, camera: str, clock) -> CameraFrame:
    stamp = clock(stamp_ns(m.header.stamp))
    if m._type == "sensor_msgs/msg/CompressedImage":
        fmt = m.format.lower()
        enc = "png" if "png" in fmt else "jpeg"
        return CameraFrame(camera, stamp, enc, bytes(m.data))
    return CameraFrame(camera, stamp, m.encoding, bytes(m.data), m.width, m.height, m.step)


def camera_info(t_s: float, width: int, height: int, fx: float, camera: str = "front") -> Msg:
    return wire.camera_info(t_s, width, height, fx, camera, stamp)


def route(r: Route) -> Msg:
    return wire.route_to_path(r, "map", stamp)


def route_of(m: Msg, clock) -> Route:
    return Route(clock(stamp_ns(m.header.stamp)), path_xy(m))


def odometry(ego: EgoState) -> Msg:
    return wire.ego_to_odometry(ego, "map", stamp)


def drive_status(ego: EgoState) -> Msg:
    return wire.ego_to_drive_status(ego, stamp)


def ego_of(odom: Msg, drive: Optional[Msg], clock) -> EgoState:
    p = odom.pose.pose
    return EgoState(
        clock(stamp_ns(odom.header.stamp)),
        Pose2D(p.position.x, p.position.y, yaw_of(p.orientation)),
        odom.twist.twist.linear.x,
        odom.twist.twist.angular.z,
        drive.drive.acceleration if drive else 0.0,
        drive.drive.steering_angle if drive else 0.0,
    )


def trajectory(out: PolicyOutput) -> Msg:
    return wire.policy_to_path(out, stamp)


def request(req: ActuatorRequest) -> Msg:
    return wire.request_to_ackermann(req, stamp)


def command(cmd: ActuatorCommand, t_s: float) -> Msg:
    """What the gate let through; the speed is measured, not decided: left 0 (replay ignores it)."""
    return wire.command_to_ackermann(cmd, t_s, 0.0, stamp)


def transition(tr) -> Msg:
    return text(
        json.dumps(
            {
                "stamp_s": tr.stamp_s,
                "from": tr.before.name,
                "to": tr.after.name,
                "event": tr.event.value,
                "reason": tr.reason,
            }
        )
    )


def tick(t_s: float) -> Msg:
    return msgs.new("rosgraph_msgs/msg/Clock", clock=stamp(t_s))


def diagnostics(t_s: float, status) -> Msg:
    kv = lambda k, v: msgs.new("diagnostic_msgs/msg/KeyValue", key=str(k), value=str(v))  # noqa: E731
    ok = status.state.name in ("ENGAGED", "READY", "DISENGAGED")
    statuses = [
        msgs.new(
            "diagnostic_msgs/msg/DiagnosticStatus",
            level=0 if ok else 2,
            name="runtime: safety state",
            message=status.state.name,
            hardware_id="runtime",
            values=[kv("reason", status.reason)],
        )
    ]
    for name, age in status.ages_s.items():
        expired = name in status.expired
        statuses.append(
            msgs.new(
                "diagnostic_msgs/msg/DiagnosticStatus",
                level=2 if expired else 0,
                name=f"runtime: watchdog {name}",
                message="expired" if expired else "fresh",
                hardware_id="runtime",
                values=[kv("age_s", f"{age:.3f}")],
            )
        )
    return msgs.new("diagnostic_msgs/msg/DiagnosticArray", header=header(t_s, ""), status=statuses)


def seconds(stamp: Msg) -> float:
    return stamp_to_s(stamp)
