"""Policy node: camera + route + odometry → student → trajectory, reasoning, actuator request.

Fusion runs inside this node: the model needs the image itself, and standard messages cannot carry
a composite observation without sending every image twice. Requests go out at the control rate.
"""
from __future__ import annotations

from dataclasses import replace

from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.fusion import Fusion
from vehicle_runtime.pipeline import Pipeline
from vehicle_runtime.preprocess import PreprocessError
from vehicle_runtime.realtime import set_realtime_priority
from vehicle_runtime.transport.node import NodeHandle

from . import convert


class PolicyNode:
    def __init__(self, node: NodeHandle, cfg: RuntimeConfig, pipeline: Pipeline, camera_topic: str = "camera/image_raw"):
        self.node, self.cfg, self.pipeline = node, cfg, pipeline
        refused = set_realtime_priority(cfg.policy_realtime_priority)
        if refused:
            node.log().warning(refused)
        self.fusion = Fusion(pipeline.cameras, cfg.fusion)
        self.camera = pipeline.cameras[0]
        self._ego = None
        self.errors = {"preprocess": 0, "model": 0, "rejected": 0}
        self.pub_traj = node.publisher("nav_msgs/msg/Path", "policy/trajectory", "default")
        self.pub_reason = node.publisher("std_msgs/msg/String", "policy/reasoning", "default")
        self.pub_request = node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "control/request", "command")
        self.pub_diag = node.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", "default")
        node.subscribe("sensor_msgs/msg/Image", camera_topic, self.on_image, "sensor")
        node.subscribe("nav_msgs/msg/Path", "navigation/route", self.on_route, "latched")
        node.subscribe("nav_msgs/msg/Odometry", "navigation/odometry", self.on_odometry, "sensor")
        # steering angle and acceleration: odometry has no field for them; the model reads both
        node.subscribe("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/status/drive", self.on_drive_status, "default")
        self._measured = (0.0, 0.0)  # (accel_mps2, steer_rad) from the vehicle's CAN feedback
        node.timer(1.0 / cfg.control_rate_hz, self.on_control)
        node.timer(1.0, self.on_diagnostics)

    def on_route(self, m) -> None:
        if self.fusion.set_route(convert.path_to_route(m), self.node.now_s()):
            self.errors["rejected"] += 1

    def on_drive_status(self, m) -> None:
        self._measured = (float(m.drive.acceleration), float(m.drive.steering_angle))

    def on_odometry(self, m) -> None:
        accel_mps2, steer_rad = self._measured
        ego = replace(convert.odometry_to_ego(m), accel_mps2=accel_mps2, steer_rad=steer_rad)
        if self.fusion.add_odometry(ego, self.node.now_s()) is None:
            self._ego = ego

    def on_image(self, m) -> None:
        now = self.node.now_s()
        if self.fusion.add_frame(convert.image_to_frame(m, self.camera), now):
            self.errors["rejected"] += 1
            return
        obs = self.fusion.observe(now)
        if obs is None:
            return
        try:
            out = self.pipeline.infer(obs)
        except PreprocessError as exc:
            self.errors["preprocess"] += 1
            self.node.log().warning("bad camera frame: %s", exc)
            return
        except Exception as exc:  # the vehicle interface's policy watchdog handles the silence
            self.errors["model"] += 1
            self.node.log().error("model failed: %s", exc)
            return
        self.pub_traj.publish(convert.policy_to_path(out))  # a NaN trajectory is for the gate to judge
        if out.reasoning_text:
            self.pub_reason.publish(convert.text(out.reasoning_text))

    def on_control(self) -> None:
        out = self.pipeline.latest
        if self._ego is None or out is None or not out.is_finite():
            return
        req = self.pipeline.control(self._ego, self.node.now_s(), 1.0 / self.cfg.control_rate_hz)
        if req is not None:
            self.pub_request.publish(convert.request_to_ackermann(req))

    def on_diagnostics(self) -> None:
        extra = {"provider": getattr(getattr(self.pipeline.policy, "student", None), "provider", "n/a"),
                 **{f"{k}_errors": v for k, v in self.errors.items()},
                 "waiting_for": self.fusion.waiting_for}
        for stage, stats in self.pipeline.latency.items():
            if stats.count:
                extra[f"{stage}_p50_ms"] = f"{stats.percentile_ms(50):.3f}"
                extra[f"{stage}_p99_ms"] = f"{stats.percentile_ms(99):.3f}"
        self.pub_diag.publish(convert.diagnostics(self.node.now_s(), "policy", None, {}, extra))

