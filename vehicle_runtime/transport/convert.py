"""Standard ROS 2 messages ↔ vehicle_runtime types, for the nodes, the simulators and the recorder. No custom
message packages.

The builders take the seconds → builtin_interfaces/Time conversion as `stamp`: the nodes use msgs.s_to_stamp,
the recorder (record/convert.py) its exact-nanosecond conversion; everything else is the same message.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from vehicle_runtime.safety.gate import GateStatus
from vehicle_runtime.safety.severity import ERROR, OK, WARN, state_level, watchdog_level  # noqa: F401 (levels)
from vehicle_runtime.transport import msgs
from vehicle_runtime.transport.msgs import Msg, s_to_stamp, stamp_to_s
from vehicle_runtime.types import ActuatorCommand, ActuatorRequest, CameraFrame, EgoState, PolicyOutput, Pose2D, Route


def camera_topics(cameras) -> dict:
    """{camera: (image topic, camera_info topic)}: the first (the fusion's reference) on camera/image_raw and
    camera/camera_info as a single-camera driver publishes them, every other one under camera/<name>/."""
    names = list(cameras)
    return {
        n: ("camera/image_raw", "camera/camera_info")
        if i == 0
        else (f"camera/{n}/image_raw", f"camera/{n}/camera_info")
        for i, n in enumerate(names)
    }


Stamp = Callable[[float], Msg]  # seconds → builtin_interfaces/msg/Time


def header(t_s: float, frame_id: str, stamp: Stamp = s_to_stamp) -> Msg:
    return msgs.new("std_msgs/msg/Header", stamp=stamp(t_s), frame_id=frame_id)


def image_to_frame(m: Msg, camera: str) -> CameraFrame:
    return CameraFrame(
        camera=camera,
        stamp_s=stamp_to_s(m.header.stamp),
        encoding=m.encoding,
        data=m.data,
        width=m.width,
        height=m.height,
        step=m.step,
    )


def compressed_to_frame(m: Msg, camera: str) -> CameraFrame:
    fmt = m.format.lower()
    encoding = "png" if "png" in fmt else "jpeg" if ("jpeg" in fmt or "jpg" in fmt) else fmt
    return CameraFrame(camera=camera, stamp_s=stamp_to_s(m.header.stamp), encoding=encoding, data=m.data)


def frame_to_image(frame: CameraFrame, frame_id: str = "camera", stamp: Stamp = s_to_stamp) -> Msg:
    step = frame.step or frame.width * (1 if frame.encoding == "mono8" else 3)
    return msgs.new(
        "sensor_msgs/msg/Image",
        header=header(frame.stamp_s, frame_id, stamp),
        height=frame.height,
        width=frame.width,
        encoding=frame.encoding,
        step=step,
        data=frame.data,
    )


def camera_info(
    t_s: float, width: int, height: int, fx: float, frame_id: str = "camera", stamp: Stamp = s_to_stamp
) -> Msg:
    cx, cy = width / 2, height / 2
    return msgs.new(
        "sensor_msgs/msg/CameraInfo",
        header=header(t_s, frame_id, stamp),
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def horizontal_fov_deg(info: Msg) -> float:
    fx = info.k[0]
    return math.degrees(2 * math.atan(info.width / (2 * fx))) if fx > 0 else float("nan")


def gnss(t_s: float, lat_deg: float, lon_deg: float, alt_m: float, variance_m2: float) -> Msg:
    return msgs.new(
        "sensor_msgs/msg/NavSatFix",
        header=header(t_s, "gnss"),
        status=msgs.new("sensor_msgs/msg/NavSatStatus", status=0, service=1),
        latitude=lat_deg,
        longitude=lon_deg,
        altitude=alt_m,
        position_covariance=[variance_m2, 0, 0, 0, variance_m2, 0, 0, 0, 4 * variance_m2],
        position_covariance_type=2,
    )


def path_xy(m: Msg) -> np.ndarray:
    """The poses' (x, y) of a nav_msgs/Path, (N, 2) float64."""
    return np.array([[p.pose.position.x, p.pose.position.y] for p in m.poses], float).reshape(-1, 2)


def path_to_route(m: Msg) -> Route:
    return Route(stamp_s=stamp_to_s(m.header.stamp), points_xy_m=path_xy(m))


def route_to_path(route: Route, frame_id: str = "map", stamp: Stamp = s_to_stamp) -> Msg:
    h = header(route.stamp_s, frame_id, stamp)
    return msgs.new(
        "nav_msgs/msg/Path",
        header=h,
        poses=[
            msgs.new("geometry_msgs/msg/PoseStamped", header=h, pose=_pose(float(x), float(y), 0.0))
            for x, y in route.points_xy_m
        ],
    )


def _pose(x: float, y: float, yaw: float) -> Msg:
    return msgs.new(
        "geometry_msgs/msg/Pose",
        position=msgs.new("geometry_msgs/msg/Point", x=float(x), y=float(y)),
        orientation=msgs.new("geometry_msgs/msg/Quaternion", z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
    )


def yaw_of(q: Msg) -> float:
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def odometry_to_ego(m: Msg) -> EgoState:
    p = m.pose.pose
    return EgoState(
        stamp_s=stamp_to_s(m.header.stamp),
        pose=Pose2D(p.position.x, p.position.y, yaw_of(p.orientation)),
        speed_mps=m.twist.twist.linear.x,
        yaw_rate_radps=m.twist.twist.angular.z,
    )


def ego_to_odometry(ego: EgoState, frame_id: str = "map", stamp: Stamp = s_to_stamp) -> Msg:
    twist = msgs.new(
        "geometry_msgs/msg/Twist",
        linear=msgs.new("geometry_msgs/msg/Vector3", x=ego.speed_mps),
        angular=msgs.new("geometry_msgs/msg/Vector3", z=ego.yaw_rate_radps),
    )
    return msgs.new(
        "nav_msgs/msg/Odometry",
        header=header(ego.stamp_s, frame_id, stamp),
        child_frame_id="base_link",
        pose=msgs.new("geometry_msgs/msg/PoseWithCovariance", pose=_pose(ego.pose.x_m, ego.pose.y_m, ego.pose.yaw_rad)),
        twist=msgs.new("geometry_msgs/msg/TwistWithCovariance", twist=twist),
    )


def policy_to_path(out: PolicyOutput, stamp: Stamp = s_to_stamp) -> Msg:
    """The trajectory in the ego frame ("base_link") at the observation's stamp."""
    h = header(out.stamp_s, "base_link", stamp)
    return msgs.new(
        "nav_msgs/msg/Path",
        header=h,
        poses=[
            msgs.new(
                "geometry_msgs/msg/PoseStamped",
                header=header(out.stamp_s + (i + 1) * out.dt_s, "base_link", stamp),
                pose=_pose(float(x), float(y), 0.0),
            )
            for i, (x, y) in enumerate(out.trajectory_ego_xy_m)
        ],
    )


def path_is_finite(m: Msg) -> bool:
    return bool(m.poses) and all(math.isfinite(p.pose.position.x) and math.isfinite(p.pose.position.y) for p in m.poses)


def request_to_ackermann(req: ActuatorRequest, stamp: Stamp = s_to_stamp) -> Msg:
    """Stamped with the observation the request came from; steering angle and acceleration only."""
    return msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(req.source_stamp_s, "base_link", stamp),
        drive=msgs.new("ackermann_msgs/msg/AckermannDrive", steering_angle=req.steer_rad, acceleration=req.accel_mps2),
    )


def ackermann_to_request(m: Msg, now_s: float) -> ActuatorRequest:
    return ActuatorRequest(
        stamp_s=now_s,
        steer_rad=m.drive.steering_angle,
        accel_mps2=m.drive.acceleration,
        source_stamp_s=stamp_to_s(m.header.stamp),
    )


def command_to_ackermann(cmd: ActuatorCommand, t_s: float, speed_mps: float, stamp: Stamp = s_to_stamp) -> Msg:
    return msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(t_s, "base_link", stamp),
        drive=msgs.new(
            "ackermann_msgs/msg/AckermannDrive",
            steering_angle=cmd.steer_rad,
            acceleration=cmd.accel_mps2,
            speed=speed_mps,
        ),
    )


def ego_to_drive_status(ego: EgoState, stamp: Stamp = s_to_stamp) -> Msg:
    """The measured steering angle, speed and acceleration (CAN feedback), which nav_msgs/Odometry cannot carry."""
    return msgs.new(
        "ackermann_msgs/msg/AckermannDriveStamped",
        header=header(ego.stamp_s, "base_link", stamp),
        drive=msgs.new(
            "ackermann_msgs/msg/AckermannDrive",
            steering_angle=ego.steer_rad,
            speed=ego.speed_mps,
            acceleration=ego.accel_mps2,
        ),
    )


def text(value: str) -> Msg:
    return msgs.new("std_msgs/msg/String", data=value)


def diagnostics(t_s: float, node: str, status: Optional[GateStatus], timeouts: dict, extra: dict) -> Msg:
    """Every watchdog, the safety state and the given key/values (provider, latencies, counters)."""
    kv = lambda k, v: msgs.new("diagnostic_msgs/msg/KeyValue", key=str(k), value=str(v))  # noqa: E731
    statuses = []
    if status is not None:
        level = state_level(status.state)
        statuses.append(
            msgs.new(
                "diagnostic_msgs/msg/DiagnosticStatus",
                level=level,
                name=f"{node}: safety state",
                message=status.state.name,
                hardware_id=node,
                values=[kv("reason", status.reason)],
            )
        )
        for name, age in status.ages_s.items():
            expired = name in status.expired
            statuses.append(
                msgs.new(
                    "diagnostic_msgs/msg/DiagnosticStatus",
                    level=watchdog_level(expired),
                    name=f"{node}: watchdog {name}",
                    message="expired" if expired else "fresh",
                    hardware_id=node,
                    values=[kv("age_s", f"{age:.3f}"), kv("timeout_s", timeouts.get(name, ""))],
                )
            )
    statuses.append(
        msgs.new(
            "diagnostic_msgs/msg/DiagnosticStatus",
            level=OK,
            name=f"{node}: runtime",
            message="ok",
            hardware_id=node,
            values=[kv(k, v) for k, v in extra.items()],
        )
    )
    return msgs.new("diagnostic_msgs/msg/DiagnosticArray", header=header(t_s, ""), status=statuses)
