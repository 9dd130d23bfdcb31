"""Vehicle interface node: safety gate + CAN sender / feedback receiver + decoded vehicle status.

The gate watches camera_info (published with every camera frame, so no image crosses into this
process), route, odometry, the policy's trajectories and the actuator requests. Its clock is
monotonic; message stamps only serve the clock-jump check. On shutdown it sends MRM / disengage
frames before the process exits.
"""
from __future__ import annotations

import time

from vehicle_runtime.can import Codec, load_dbc, open_bus
from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.realtime import set_realtime_priority
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.sd_notify import notify
from vehicle_runtime.transport.msgs import stamp_to_s
from vehicle_runtime.transport.node import NodeHandle
from vehicle_runtime.types import EgoState, Pose2D
from vehicle_runtime.vehicle_interface import VehicleInterface

from . import convert

ENGAGE_WORDS = ("engage", "disengage", "reset")


class VehicleInterfaceNode:
    def __init__(self, node: NodeHandle, cfg: RuntimeConfig, bus=None, safety=None):
        self.node, self.cfg = node, cfg
        refused = set_realtime_priority(cfg.realtime_priority)
        if refused:
            node.log().warning(refused)
        self.bus = bus or open_bus(cfg.bus)
        self.gate = SafetyGate(safety or cfg.safety, clock_s=time.monotonic())
        self.vi = VehicleInterface(self.bus, self.gate, Codec(load_dbc(cfg.dbc_path)), cfg.max_command_age_s)
        self._tick = 0
        self.pub_cmd = node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/command", "command")
        self.pub_status = node.publisher("nav_msgs/msg/Odometry", "vehicle/status", "default")
        self.pub_drive = node.publisher("ackermann_msgs/msg/AckermannDriveStamped", "vehicle/status/drive", "default")
        self.pub_diag = node.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", "default")
        feed = self.gate.feed
        node.subscribe("sensor_msgs/msg/CameraInfo", "camera/camera_info",
                       lambda m: feed("camera", time.monotonic(), stamp_to_s(m.header.stamp)), "sensor", header_only=True)
        node.subscribe("nav_msgs/msg/Path", "navigation/route",
                       lambda m: feed("route", time.monotonic(), stamp_to_s(m.header.stamp)), "latched", header_only=True)
        node.subscribe("nav_msgs/msg/Odometry", "navigation/odometry",
                       lambda m: feed("odometry", time.monotonic(), stamp_to_s(m.header.stamp)), "sensor",
                       header_only=True)
        node.subscribe("nav_msgs/msg/Path", "policy/trajectory", self.on_trajectory, "default")
        node.subscribe("ackermann_msgs/msg/AckermannDriveStamped", "control/request", self.on_request, "command")
        node.subscribe("std_msgs/msg/String", "vehicle/engage", self.on_engage, "default")
        node.timer(1.0 / cfg.control_rate_hz, self.on_tick)
        node.timer(1.0, self.on_diagnostics)

    def on_trajectory(self, m) -> None:
        self.gate.policy_output(convert.path_is_finite(m), time.monotonic(), stamp_to_s(m.header.stamp))

    def on_request(self, m) -> None:
        self.gate.set_request(convert.ackermann_to_request(m, time.monotonic()), time.monotonic())

    def on_engage(self, m) -> None:
        word = m.data.strip().lower()
        if word == "engage":
            self.gate.request_engage()
        elif word == "disengage":
            self.gate.request_disengage()
        elif word == "reset":
            self.gate.reset()
        else:
            self.node.log().warning("vehicle/engage: '%s' is not one of %s", m.data, ENGAGE_WORDS)

    def on_tick(self) -> None:
        seen = len(self.gate.sm.transitions)
        status = self.vi.tick(time.monotonic())
        for t in self.gate.sm.transitions[seen:]:
            self.node.log().info("safety state %s -> %s: %s", t.before.name, t.after.name, t.reason)
        fb = self.gate.feedback
        t = self.node.now_s()
        self.pub_cmd.publish(convert.command_to_ackermann(status.command, t, fb.speed_mps))
        self._tick += 1
        if self._tick == 1:
            notify("READY=1")
        if self._tick % 10 == 0:  # 10 Hz from the control loop itself: a hung loop stops the pings
            notify(f"WATCHDOG=1\nSTATUS={status.state.name}")
        if self._tick % 2 == 0 and fb.valid:
            ego = EgoState(t, Pose2D(0.0, 0.0, 0.0), fb.speed_mps, self.vi.parser.yaw_rate_radps(), fb.accel_mps2,
                           fb.steer_rad)
            self.pub_status.publish(convert.ego_to_odometry(ego, "base_link"))
            self.pub_drive.publish(convert.ego_to_drive_status(ego))

    def on_diagnostics(self) -> None:
        status = self.vi.last_status
        if status is None:
            return
        extra = {"can_frames_sent": self.vi.frames_sent, "can_feedback_errors": dict(self.vi.parser.errors),
                 "can_error_frames": self.vi.health.error_frames, "filters_active": ",".join(self.gate.last_filters)}
        self.pub_diag.publish(convert.diagnostics(self.node.now_s(), "vehicle_interface", status,
                                                  dict(self.cfg.safety.timeouts_s), extra))

    def shutdown(self) -> None:
        self.vi.shutdown(time.monotonic())
        self.bus.shutdown()
