"""Fusion node: matches camera stamps (from camera_info, published with every frame) with odometry
and the route, publishes the derived navigation state for observability — the target point
(geometry_msgs/PoseStamped in base_link) and the road option (CARLA RoadOption name) — and checks
the camera intrinsics against the model manifest's field of view. The policy node runs the same
fusion code in-process on the images themselves."""
from __future__ import annotations

from typing import Optional

from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.fusion import Fusion
from vehicle_runtime.transport import msgs
from vehicle_runtime.transport.msgs import stamp_to_s
from vehicle_runtime.transport.node import NodeHandle
from vehicle_runtime.types import CameraFrame

from vehicle_runtime.transport import convert

FOV_TOLERANCE_DEG = 2.0


class FusionNode:
    def __init__(self, node: NodeHandle, cfg: RuntimeConfig, camera: str = "front", expected_fov_deg: Optional[float] = None):
        self.node, self.camera, self.expected_fov_deg = node, camera, expected_fov_deg
        self.fusion = Fusion((camera,), cfg.fusion)
        self.fov_mismatch: Optional[str] = None
        self.pub_target = node.publisher("geometry_msgs/msg/PoseStamped", "navigation/target", "default")
        self.pub_option = node.publisher("std_msgs/msg/String", "navigation/road_option", "default")
        self.pub_diag = node.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", "default")
        node.subscribe("sensor_msgs/msg/CameraInfo", "camera/camera_info", self.on_camera_info, "sensor")
        node.subscribe("nav_msgs/msg/Path", "navigation/route",
                       lambda m: self.fusion.set_route(convert.path_to_route(m), node.now_s()), "latched")
        node.subscribe("nav_msgs/msg/Odometry", "navigation/odometry",
                       lambda m: self.fusion.add_odometry(convert.odometry_to_ego(m), node.now_s()), "sensor")
        node.timer(1.0, self.on_diagnostics)

    def on_camera_info(self, info) -> None:
        if self.expected_fov_deg is not None:
            fov = convert.horizontal_fov_deg(info)
            mismatch = abs(fov - self.expected_fov_deg) > FOV_TOLERANCE_DEG
            if mismatch and self.fov_mismatch is None:
                self.node.log().error("camera fov %.1f° differs from the model's %.1f°", fov, self.expected_fov_deg)
            self.fov_mismatch = f"camera fov {fov:.1f} deg, model {self.expected_fov_deg:.1f} deg" if mismatch else None
        now = self.node.now_s()
        stamp = stamp_to_s(info.header.stamp)
        self.fusion.add_frame(CameraFrame(self.camera, stamp, "rgb8", b"", info.width, info.height), now)
        obs = self.fusion.observe(now)
        if obs is None:
            return
        x, y = obs.nav.target_point_ego_m
        h = convert.header(obs.stamp_s, "base_link")
        self.pub_target.publish(msgs.new("geometry_msgs/msg/PoseStamped", header=h,
                                         pose=msgs.new("geometry_msgs/msg/Pose",
                                                       position=msgs.new("geometry_msgs/msg/Point", x=x, y=y))))
        self.pub_option.publish(convert.text(obs.nav.road_option.name))

    def on_diagnostics(self) -> None:
        now = self.node.now_s()
        extra = {f"age_{k}_s": f"{v:.3f}" for k, v in self.fusion.ages_s(now).items()}
        extra.update({f"rejected_{k}": v for k, v in self.fusion.rejected.items()})
        extra["waiting_for"] = self.fusion.waiting_for
        if self.fov_mismatch:
            extra["camera_info"] = self.fov_mismatch
        self.pub_diag.publish(convert.diagnostics(now, "fusion", None, {}, extra))
