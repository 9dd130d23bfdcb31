"""The onboard runtime in one process: fusion → policy → tracker → safety gate → CAN.

This is the ROS-free composition of the three nodes (fusion, policy, vehicle interface). Inputs
arrive through `on_camera / on_odometry / on_route`; `step_policy(now)` runs the model on the newest
matched observation (camera rate); `tick(now)` is one 10 ms control period. Model failures never
reach the bus: they become watchdog and model-fault events for the gate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import can

from .can.codec import Codec
from .config import RuntimeConfig
from .fusion import Fusion
from .pipeline import Pipeline
from .preprocess import PreprocessError
from .safety.gate import GateStatus, SafetyGate
from .types import CameraFrame, EgoState, PolicyOutput, Route
from .vehicle_interface import VehicleInterface


@dataclass
class RuntimeEvents:
    reasoning: List[Tuple[float, str]] = field(default_factory=list)  # (observation stamp, text)
    rejected_inputs: int = 0
    preprocess_errors: int = 0
    model_errors: int = 0
    policy_outputs: int = 0


class OnboardRuntime:
    def __init__(self, cfg: RuntimeConfig, pipeline: Pipeline, bus: can.BusABC, codec: Optional[Codec] = None,
                 safety=None, clock_s: float = 0.0, secoc=None):
        self.cfg = cfg
        self.pipeline = pipeline
        self.fusion = Fusion(pipeline.cameras, cfg.fusion)
        self.gate = SafetyGate(safety or cfg.safety, clock_s=clock_s)
        self.vi = VehicleInterface(bus, self.gate, codec or Codec(), cfg.max_command_age_s, secoc=secoc)
        self.events = RuntimeEvents()
        self._ego: Optional[EgoState] = None
        self.last_output: Optional[PolicyOutput] = None

    # --- inputs (camera 20–30 Hz, odometry 50–100 Hz, route on change / 1 Hz) -------------------
    def on_camera(self, frame: CameraFrame, now_s: float) -> None:
        if self.fusion.add_frame(frame, now_s) is None:
            self.gate.feed("camera", now_s, frame.stamp_s)
        else:
            self.events.rejected_inputs += 1

    def on_odometry(self, ego: EgoState, now_s: float) -> None:
        if self.fusion.add_odometry(ego, now_s) is None:
            self.gate.feed("odometry", now_s, ego.stamp_s)
            self._ego = ego
        else:
            self.events.rejected_inputs += 1

    def on_route(self, route: Route, now_s: float) -> None:
        if self.fusion.set_route(route, now_s) is None:
            self.gate.feed("route", now_s, route.stamp_s)
        else:
            self.events.rejected_inputs += 1

    # --- the model, at camera rate -----------------------------------------------------------
    def step_policy(self, now_s: float) -> Optional[PolicyOutput]:
        obs = self.fusion.observe(now_s)
        if obs is None:
            return None
        try:
            out = self.pipeline.infer(obs)
        except PreprocessError:
            self.events.preprocess_errors += 1  # a bad frame: no output, the camera watchdog decides
            return None
        except Exception as exc:  # the model itself failed: a fault for the gate, never a crash
            self.events.model_errors += 1
            self.gate.model_fault(f"{type(exc).__name__}: {exc}")
            return None
        finite = out.is_finite()
        self.gate.policy_output(finite, now_s, obs.stamp_s)
        if finite:
            self.last_output = out
            self.events.policy_outputs += 1
            if out.reasoning_text:
                self.events.reasoning.append((obs.stamp_s, out.reasoning_text))
        return out

    # --- one control period ------------------------------------------------------------------
    def tick(self, now_s: float, dt_s: float) -> GateStatus:
        if self._ego is not None and self.pipeline.latest is not None and self.pipeline.latest.is_finite():
            req = self.pipeline.control(self._ego, now_s, dt_s)
            if req is not None and math.isfinite(req.steer_rad) and math.isfinite(req.accel_mps2):
                self.gate.set_request(req, now_s)
        return self.vi.tick(now_s)

    def shutdown(self, now_s: float) -> None:
        self.vi.shutdown(now_s)
