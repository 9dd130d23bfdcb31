"""Runtime types → the standard ROS 2 messages a bag holds, and back for replay.

The same mapping as the ROS nodes use on the wire (transport/convert.py, with exact nanosecond stamps here),
so a bag from the embedded drive and one from `vehicle-runtime record` beside the node graph look alike.
Exactness: poses and stamps are float64 (stamps at 1 ns); the yaw goes through a quaternion and the
measured steering angle and acceleration through AckermannDrive's float32 — the resolution replay sees.
"""

from __future__ import annotations

import json
import math
from typing import Optional

import numpy as np

from ..transport import msgs
from ..transport.msgs import Msg, stamp_to_s
from ..types import ActuatorCommand, ActuatorRequest, CameraFrame, EgoState, PolicyOutput, Pose2D, Route


def stamp(t_s: float) -> Msg:
    """To the nearest nanosecond, carried into the seconds (2.9999999999999996 s → 3 s, not 2 s)."""
    sec, nanosec = divmod(int(round(t_s * 1e9)), 1_000_000_000)
    return msgs.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def stamp_ns(st: Msg) -> int:
    return st.sec * 1_000_000_000 + st.nanosec


def header(t_s: float, frame_id: str) -> Msg:
    return msgs.new("std_msgs/msg/Header", stamp=stamp(t_s), frame_id=frame_id)


def _pose(x: float, y: float, yaw: float) -> Msg:
    return msgs.new(
        "geometry_msgs/msg/Pose",
        position=msgs.new("geometry_msgs/msg/Point", x=float(x), y=float(y)),
        orientation=msgs.new("geometry_msgs/msg/Quaternion", z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
    )


def yaw_of(q: Msg) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def image(frame: CameraFrame) -> Msg:
    step = frame.step or frame.width * (1 if frame.encoding == "mono8" else 3)
    data = frame.data if not isinstance(frame.data, np.ndarray) else np.ascontiguousarray(frame.data).data.cast("B")
    return msgs.new(
        "sensor_msgs/msg/Image",
        header=header(frame.stamp_s, frame.camera),
        height=frame.height,
        width=frame.width,
        encoding=frame.encoding,
        step=step,
        data=data,
    )


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
    cx, cy = width / 2, height / 2
    return msgs.new(
        "sensor_msgs/msg/CameraInfo",
        header=header(t_s, camera),
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def route(r: Route) -> Msg:
    h = header(r.stamp_s, "map")
    return msgs.new(
        "nav_msgs/msg/Path",
        header=h,
        poses=[msgs.new("geometry_msgs/msg/PoseStamped", header=h, pose=_pose(x, y, 0.0)) for x, y in r.points_xy_m],
    )


def route_of(m: Msg, clock) -> Route:
    pts = np.array([[p.pose.position.x, p.pose.position.y] for p in m.poses], float).reshape(-1, 2)
    return Route(clock(stamp_ns(m.header.stamp)), pts)


def odometry(ego: EgoState) -> Msg:
    twist = msgs.new(
        "geometry_msgs/msg/Twist",
        linear=msgs.new("geometry_msgs/msg/Vector3", x=ego.speed_mps),
        angular=msgs.new("geometry_msgs/msg/Vector3", z=ego.yaw_rate_radps),
    )
    return msgs.new(
        "nav_msgs/msg/Odometry",
        header=header(ego.stamp_s, "map"),
        child_frame_id="base_link",
        pose=msgs.new("geometry_msgs/msg/PoseWithCovariance", pose=_pose(ego.pose.x_m, ego.pose.y_m, ego.pose.yaw_rad)),
        twist=msgs.new("geometry_msgs/msg/TwistWithCovariance", twist=twist),
    )


def drive_status(ego: EgoState) -> Msg:
    return msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(ego.stamp_s, "base_link"),
        drive=msgs.new(
            "ackermann_msgs/msg/AckermannDrive",
            steering_angle=ego.steer_rad,
            speed=ego.speed_mps,
            acceleration=ego.accel_mps2,
        ),
    )


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
    h = header(out.stamp_s, "base_link")
    return msgs.new(
        "nav_msgs/msg/Path",
        header=h,
        poses=[
            msgs.new(
                "geometry_msgs/msg/PoseStamped",
                header=header(out.stamp_s + (i + 1) * out.dt_s, "base_link"),
                pose=_pose(x, y, 0.0),
            )
            for i, (x, y) in enumerate(out.trajectory_ego_xy_m)
        ],
    )


def path_xy(m: Msg) -> np.ndarray:
    return np.array([[p.pose.position.x, p.pose.position.y] for p in m.poses], float).reshape(-1, 2)


def request(req: ActuatorRequest) -> Msg:
    return msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(req.source_stamp_s, "base_link"),
        drive=msgs.new("ackermann_msgs/msg/AckermannDrive", steering_angle=req.steer_rad, acceleration=req.accel_mps2),
    )


def command(cmd: ActuatorCommand, t_s: float) -> Msg:
    return msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(t_s, "base_link"),
        drive=msgs.new("ackermann_msgs/msg/AckermannDrive", steering_angle=cmd.steer_rad, acceleration=cmd.accel_mps2),
    )


def text(value: str) -> Msg:
    return msgs.new("std_msgs/msg/String", data=value)


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
