"""Fusion node: matches camera stamps (from camera_info, published with every frame) with odometry
and the route, publishes the derived navigation state for observability — the target point
(geometry_msgs/PoseStamped in base_link) and the road option (CARLA RoadOption name) — and checks
each camera's intrinsics against the model manifest's field of view and its measured frame rate against
the rate the model's history was trained at. The policy node runs the same
fusion code in-process on the images themselves."""

from __future__ import annotations

import functools
from typing import Dict, Optional

from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.frame_rate import FrameRateCheck
from vehicle_runtime.fusion import Fusion
from vehicle_runtime.student.contract import FOV_TOLERANCE_DEG
from vehicle_runtime.transport import convert, msgs
from vehicle_runtime.transport.msgs import stamp_to_s
from vehicle_runtime.transport.node import NodeHandle
from vehicle_runtime.types import CameraFrame


class FusionNode:
    def __init__(
        self,
        node: NodeHandle,
        cfg: RuntimeConfig,
        cameras: Optional[Dict[str, Optional[float]]] = None,
        rates_hz: Optional[Dict[str, Optional[float]]] = None,
    ):
        """`cameras`: name → the model's field of view in degrees (None: not checked), in the manifest's order;
        `rates_hz`: name → the frame rate the model's history was trained at (None or absent: not checked)."""
        cameras = cameras or {"front": None}
        self.node, self.expected_fov_deg = node, dict(cameras)
        self.fusion = Fusion(tuple(cameras), cfg.fusion, cfg.route_corridor_m)
        self.fov_mismatch: Dict[str, str] = {}
        self.rate_checks = {c: FrameRateCheck(hz) for c, hz in (rates_hz or {}).items() if hz is not None}
        self.rate_mismatch: Dict[str, str] = {}
        self.pub_target = node.publisher("geometry_msgs/msg/PoseStamped", "navigation/target", "default")
        self.pub_option = node.publisher("std_msgs/msg/String", "navigation/road_option", "default")
        self.pub_diag = node.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", "default")
        for camera, (_image, info_topic) in convert.camera_topics(cameras).items():
            node.subscribe(
                "sensor_msgs/msg/CameraInfo",
                info_topic,
                functools.partial(self.on_camera_info, camera=camera),
                "sensor",
            )
        node.subscribe(
            "nav_msgs/msg/Path",
            "navigation/route",
            lambda m: self.fusion.set_route(convert.path_to_route(m), node.now_s()),
            "latched",
        )
        node.subscribe(
            "nav_msgs/msg/Odometry",
            "navigation/odometry",
            lambda m: self.fusion.add_odometry(convert.odometry_to_ego(m), node.now_s()),
            "sensor",
        )
        node.timer(1.0, self.on_diagnostics)

    def on_camera_info(self, info, camera: str = "front") -> None:
        expected = self.expected_fov_deg.get(camera)
        if expected is not None:
            fov = convert.horizontal_fov_deg(info)
            mismatch = not abs(fov - expected) <= FOV_TOLERANCE_DEG  # a NaN fov (fx <= 0) is a mismatch too
            if mismatch and camera not in self.fov_mismatch:
                self.node.log().error("camera '%s' fov %.1f° differs from the model's %.1f°", camera, fov, expected)
            if mismatch:
                self.fov_mismatch[camera] = f"camera fov {fov:.1f} deg, model {expected:.1f} deg"
            else:
                self.fov_mismatch.pop(camera, None)
        now = self.node.now_s()
        stamp = stamp_to_s(info.header.stamp)
        self._check_rate(camera, stamp)
        self.fusion.add_frame(CameraFrame(camera, stamp, "rgb8", b"", info.width, info.height), now)
        obs = self.fusion.observe(now)
        if obs is None:
            return
        x, y = obs.nav.target_point_ego_m
        h = convert.header(obs.stamp_s, "base_link")
        self.pub_target.publish(
            msgs.new(
                "geometry_msgs/msg/PoseStamped",
                header=h,
                pose=msgs.new("geometry_msgs/msg/Pose", position=msgs.new("geometry_msgs/msg/Point", x=x, y=y)),
            )
        )
        self.pub_option.publish(convert.text(obs.nav.road_option.name))

    def _check_rate(self, camera: str, stamp_s: float) -> None:
        check = self.rate_checks.get(camera)
        if check is None:
            return
        check.add(stamp_s)
        mismatch = check.mismatch()
        if mismatch and camera not in self.rate_mismatch:
            self.node.log().error("camera '%s': %s (the model's frame history spans another time)", camera, mismatch)
        if mismatch:
            self.rate_mismatch[camera] = mismatch
        elif check.measured_hz is not None:
            self.rate_mismatch.pop(camera, None)

    def on_diagnostics(self) -> None:
        now = self.node.now_s()
        extra: Dict[str, object] = {f"age_{k}_s": f"{v:.3f}" for k, v in self.fusion.ages_s(now).items()}
        extra.update({f"rejected_{k}": v for k, v in self.fusion.rejected.items()})
        extra["waiting_for"] = self.fusion.waiting_for
        for camera, mismatch in self.fov_mismatch.items():
            extra[f"camera_info_{camera}"] = mismatch
        for camera, mismatch in self.rate_mismatch.items():
            extra[f"camera_rate_{camera}"] = mismatch
        self.pub_diag.publish(convert.diagnostics(now, "fusion", None, {}, extra))
