"""The onboard runtime in one process: fusion → policy → tracker → safety gate → CAN.

This is the ROS-free composition of the three nodes (fusion, policy, vehicle interface). Inputs
arrive through `on_camera / on_odometry / on_route`; `step_policy(now)` runs the model on the newest
matched observation (camera rate); `tick(now)` is one 10 ms control period. Model failures never
reach the bus: they become watchdog and model-fault events for the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import List, Optional, Tuple

from .can.bus import FrameBus
from .can.codec import Codec
from .config import RuntimeConfig
from .fusion import Fusion
from .pipeline import Pipeline
from .preprocess import PreprocessError
from .route_check import route_problem
from .safety.gate import GateStatus, SafetyGate
from .types import CameraFrame, EgoState, PolicyOutput, Pose2D, Route
from .vehicle_interface import VehicleInterface


@dataclass
class RuntimeEvents:
    reasoning: List[Tuple[float, str]] = field(default_factory=list)  # (observation stamp, text)
    rejected_inputs: int = 0
    preprocess_errors: int = 0
    last_preprocess_error: str = ""  # the reason of the last one (a crop or size the model cannot use)
    model_errors: int = 0
    policy_outputs: int = 0


class OnboardRuntime:
    def __init__(
        self,
        cfg: RuntimeConfig,
        pipeline: Pipeline,
        bus: FrameBus,
        codec: Optional[Codec] = None,
        safety=None,
        clock_s: float = 0.0,
        secoc=None,
    ):
        self.cfg = cfg
        self.pipeline = pipeline
        self.fusion = Fusion(pipeline.cameras, cfg.fusion, cfg.route_corridor_m)
        self.gate = SafetyGate(safety or cfg.safety, clock_s=clock_s)
        self.vi = VehicleInterface(bus, self.gate, codec or Codec(), cfg.max_command_age_s, secoc=secoc)
        self.events = RuntimeEvents()
        self._ego: Optional[EgoState] = None
        self._route: Optional[Route] = None
        self._ego_arrival_s = 0.0
        self.last_output: Optional[PolicyOutput] = None
        self._last_obs_stamp_s = math.inf  # no observation yet: nothing to reset

    # --- inputs (camera 20–30 Hz, odometry 50–100 Hz, route on change / 1 Hz) -------------------
    def on_camera(self, frame: CameraFrame, now_s: float) -> None:
        if self.fusion.add_frame(frame, now_s) is None:
            self.gate.feed("camera", now_s, frame.stamp_s)
        else:
            self.events.rejected_inputs += 1

    def on_odometry(self, ego: EgoState, now_s: float) -> None:
        if self.fusion.add_odometry(ego, now_s) is None:
            self.gate.feed("odometry", now_s, ego.stamp_s)
            self._ego, self._ego_arrival_s = ego, now_s
            # the route watchdog: fed while the ego is on the route's corridor and before its end, whatever
            # the route message's age (a route is published once and latched); as the policy node does
            if (
                self._route is not None
                and route_problem(self._route.points_xy_m, ego.pose.x_m, ego.pose.y_m, self.cfg.route_corridor_m)
                is None
            ):
                self.gate.feed("route", now_s, ego.stamp_s)
        else:
            self.events.rejected_inputs += 1

    def on_route(self, route: Route, now_s: float) -> None:
        if len(route.points_xy_m) == 0:  # the navigation stack cleared the route: the car is on none
            self._route = None
            self.pipeline.set_route(route, now_s)
            return
        if self.fusion.set_route(route, now_s) is None:
            self._route = route
            self.pipeline.set_route(route, now_s)  # lane keeping once the last trajectory is used up
        else:
            self.events.rejected_inputs += 1

    # --- the model, at camera rate -----------------------------------------------------------
    def step_policy(self, now_s: float) -> Optional[PolicyOutput]:
        obs = self.fusion.observe(now_s)
        if obs is None:
            return None
        if obs.stamp_s - self._last_obs_stamp_s > self.cfg.safety.timeouts_s["camera"]:
            self.pipeline.reset()  # after a stall: frame history and recurrent state start afresh (model contract)
        self._last_obs_stamp_s = obs.stamp_s
        try:
            out = self.pipeline.infer(obs)
        except PreprocessError as exc:
            self.events.preprocess_errors += 1  # a bad frame: no output, the camera watchdog decides
            self.events.last_preprocess_error = str(exc)
            return None
        except Exception as exc:  # the model itself failed: a fault for the gate, never a crash
            self.events.model_errors += 1
            self.gate.model_fault(f"{type(exc).__name__}: {exc}")
            return None
        finite = out.is_finite()
        self.gate.policy_output(finite, now_s, obs.stamp_s)
        fault = self.pipeline.take_fault()  # the validator's: invalid too long, or low confidence
        if fault:
            self.gate.model_fault(fault)
        if finite:
            self.last_output = out
            self.events.policy_outputs += 1
            if out.reasoning_text:
                self.events.reasoning.append((obs.stamp_s, out.reasoning_text))
        return out

    # --- one control period ------------------------------------------------------------------
    def tick(self, now_s: float, dt_s: float) -> GateStatus:
        if self._ego is not None:  # the pipeline tracks only valid trajectories, then the route
            if self.gate.watchdogs["odometry"].expired(now_s):  # from the last pose's arrival on
                self._ego = self._dead_reckon(self._ego, now_s - self._ego_arrival_s)
                self._ego_arrival_s = now_s
            req = self.pipeline.control(self._ego, now_s, dt_s)
            if req is not None and math.isfinite(req.steer_rad) and math.isfinite(req.accel_mps2):
                self.gate.set_request(req, now_s)
        return self.vi.tick(now_s)

    def _dead_reckon(self, ego: EgoState, dt_s: float) -> EgoState:
        """Odometry stopped: move the last pose on with the speed and steering angle the car reports
        on CAN (kinematic bicycle), so an MRM can still keep its lane."""
        fb = self.gate.feedback
        if not fb.valid:
            return ego
        p, v = ego.pose, fb.speed_mps
        yaw_rate = v * math.tan(fb.steer_rad) / self.cfg.vehicle.wheelbase_m
        yaw = p.yaw_rad + 0.5 * yaw_rate * dt_s
        pose = Pose2D(p.x_m + v * math.cos(yaw) * dt_s, p.y_m + v * math.sin(yaw) * dt_s, p.yaw_rad + yaw_rate * dt_s)
        return replace(ego, stamp_s=ego.stamp_s + dt_s, pose=pose, speed_mps=v, yaw_rate_radps=yaw_rate)

    def shutdown(self, now_s: float) -> None:
        self.vi.shutdown(now_s)
