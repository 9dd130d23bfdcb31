"""Policy node: camera + route + odometry → student → trajectory, reasoning, actuator requests.

Fusion runs inside this node: the model needs the image itself, and standard messages cannot carry
a composite observation without sending every image twice. One image topic per camera of the model
(camera/image_raw for the first, camera/<name>/image_raw for the others), matched by approximate sync.
Requests (at the control rate), the model's output heartbeat and the route check go to the vehicle
interface on the local command channel, never on a network topic; the measured steering angle and
acceleration (CAN feedback, which nav_msgs/Odometry cannot carry) come back on it.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import replace
from typing import Dict, Optional

from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.fusion import Fusion
from vehicle_runtime.pipeline import Pipeline
from vehicle_runtime.preprocess import PreprocessError
from vehicle_runtime.realtime import set_realtime_priority
from vehicle_runtime.route_check import route_problem
from vehicle_runtime.transport import command_channel, convert
from vehicle_runtime.transport.command_channel import CommandClient, Kind, Record
from vehicle_runtime.transport.node import NodeHandle
from vehicle_runtime.types import EgoState, Route


class PolicyNode:
    def __init__(self, node: NodeHandle, cfg: RuntimeConfig, pipeline: Pipeline, channel: CommandClient | None = None):
        self.node, self.cfg, self.pipeline = node, cfg, pipeline
        refused = set_realtime_priority(cfg.policy_realtime_priority)
        if refused:
            node.log().warning(refused)
        self.channel = channel or CommandClient(command_channel.address(node.namespace))
        self.fusion = Fusion(pipeline.cameras, cfg.fusion, cfg.route_corridor_m)
        self._ego: Optional[EgoState] = None
        self._route: Optional[Route] = None
        self._last_obs_stamp_s = math.inf  # no observation yet: nothing to reset
        self.route_problem = "no route yet"  # '' while the ego is on the route
        self.errors = {"preprocess": 0, "model": 0, "rejected": 0}
        # kind → message: a repeated failure is logged once, counted in /diagnostics
        self._last_error: Dict[str, str] = {}
        self.pub_traj = node.publisher("nav_msgs/msg/Path", "policy/trajectory", "default")
        self.pub_reason = node.publisher("std_msgs/msg/String", "policy/reasoning", "default")
        self.pub_diag = node.publisher("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", "default")
        self.pub_validation = node.publisher("std_msgs/msg/String", "policy/validation", "default")  # JSON verdicts
        for camera, (image_topic, _info) in convert.camera_topics(pipeline.cameras).items():  # one per camera
            node.subscribe(
                "sensor_msgs/msg/Image", image_topic, functools.partial(self.on_image, camera=camera), "sensor"
            )
        node.subscribe("nav_msgs/msg/Path", "navigation/route", self.on_route, "latched")
        node.subscribe("nav_msgs/msg/Odometry", "navigation/odometry", self.on_odometry, "sensor")
        self._measured = (0.0, 0.0)  # (accel_mps2, steer_rad) from the vehicle's CAN feedback
        node.timer(1.0 / cfg.control_rate_hz, self.on_control)
        node.timer(1.0, self.on_diagnostics)

    def on_route(self, m) -> None:
        route = convert.path_to_route(m)
        if len(route.points_xy_m) == 0:  # the navigation stack cleared the route: the car is on none
            self._route, self.route_problem = None, "route withdrawn"
            self.pipeline.set_route(route, self.node.now_s())
            return
        if self.fusion.set_route(route, self.node.now_s()):
            self.errors["rejected"] += 1
        else:
            self._route = route
            self.pipeline.set_route(route, self.node.now_s())  # the MRM's lane keeping falls back on it

    def on_odometry(self, m) -> None:
        accel_mps2, steer_rad = self._measured
        ego = replace(convert.odometry_to_ego(m), accel_mps2=accel_mps2, steer_rad=steer_rad)
        if self.fusion.add_odometry(ego, self.node.now_s()) is not None:
            self.errors["rejected"] += 1
            return
        self._ego = ego
        if self._route is not None:
            problem = route_problem(self._route.points_xy_m, ego.pose.x_m, ego.pose.y_m, self.cfg.route_corridor_m)
            if bool(problem) != bool(self.route_problem):  # logged on change: off / on the route, not every metre
                self.node.log().info("route: %s", problem or "the ego is on it")
            self.route_problem = problem or ""
            if not problem:  # the gate's route watchdog: fed while the car is on the route, stamped with the
                self.channel.send(Record(Kind.ROUTE, ego.stamp_s))  # odometry the check used (a live clock)

    def _failed(self, kind: str, message: str, level: str = "warning") -> None:
        self.errors[kind] += 1
        if self._last_error.get(kind) != message:
            self._last_error[kind] = message
            getattr(self.node.log(), level)("%s (repeats are counted in /diagnostics: %s_errors)", message, kind)

    def on_image(self, m, camera: str) -> None:
        now = self.node.now_s()
        if self.fusion.add_frame(convert.image_to_frame(m, camera), now):
            self.errors["rejected"] += 1
            return
        obs = self.fusion.observe(now)
        if obs is None:
            return
        if obs.stamp_s - self._last_obs_stamp_s > self.cfg.safety.timeouts_s["camera"]:
            # after a stall (a camera or simulator restart): frame history, recurrent state, the validator and
            # the last plan start afresh, as in the embedded runtime (model contract); an old plan is no plan
            self.pipeline.reset()
        self._last_obs_stamp_s = obs.stamp_s
        try:
            out = self.pipeline.infer(obs)
        except PreprocessError as exc:
            self._failed("preprocess", f"bad camera frame: {exc}")
            return
        except Exception as exc:  # the vehicle interface's policy watchdog handles the silence
            self._failed("model", f"model failed: {exc}", "error")
            return
        self._last_error.pop("preprocess", None)
        self.channel.send(Record(Kind.OUTPUT, obs.stamp_s, 1.0 if out.is_finite() else 0.0))
        fault = self.pipeline.take_fault()
        if fault:  # the validator kept the last valid plan as long as allowed: MRM (the gate decides)
            self.channel.send(Record(Kind.FAULT, obs.stamp_s))
            self.node.log().error("trajectory validator: %s", fault)
        validator = self.pipeline.validator
        if validator is not None and validator.last_verdict is not None:
            verdict = validator.last_verdict
            doc = {
                "stamp_s": obs.stamp_s,
                "valid": verdict.valid,
                "failed": list(verdict.failed),
                "ratios": {k: round(float(v), 4) for k, v in verdict.ratios.items()},
            }
            self.pub_validation.publish(convert.text(json.dumps(doc)))
        self.pub_traj.publish(convert.policy_to_path(out))
        if out.reasoning_text:
            self.pub_reason.publish(convert.text(out.reasoning_text))

    def on_control(self) -> None:
        for record in self.channel.poll():
            if record.kind is Kind.DRIVE:
                self._measured = (record.c, record.b)
        if self._ego is None:
            return
        # as the embedded runtime's tick: the last valid plan, else the route (braking to a stop along it) while
        # the car is on it; with no valid plan yet (start-up, or the reset after a simulator or camera restart)
        # the route keeps the requests flowing, so an engagement is not followed by a stale-request MRM
        req = self.pipeline.control(self._ego, self.node.now_s(), 1.0 / self.cfg.control_rate_hz)
        if req is not None and math.isfinite(req.steer_rad) and math.isfinite(req.accel_mps2):
            self.channel.send(Record(Kind.REQUEST, req.source_stamp_s, req.steer_rad, req.accel_mps2))

    def on_diagnostics(self) -> None:
        extra = {
            "provider": getattr(getattr(self.pipeline.policy, "student", None), "provider", "n/a"),
            **{f"{k}_errors": v for k, v in self.errors.items()},
            "waiting_for": self.fusion.waiting_for,
            "route": self.route_problem or "ok",
            "command_channel_dropped": self.channel.dropped,
        }
        if self.pipeline.validator is not None:
            extra.update({f"validator_{k}": v for k, v in self.pipeline.validator.status.as_dict().items()})
        for stage, stats in self.pipeline.latency.items():
            if stats.count:
                extra[f"{stage}_p50_ms"] = f"{stats.percentile_ms(50):.3f}"
                extra[f"{stage}_p99_ms"] = f"{stats.percentile_ms(99):.3f}"
        self.pub_diag.publish(convert.diagnostics(self.node.now_s(), "policy", None, {}, extra))
