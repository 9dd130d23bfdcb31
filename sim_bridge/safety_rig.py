"""A closed loop in lockstep at 100 Hz for the safety layer: scripted upstream inputs → safety gate →
CAN frames on a python-can `virtual` bus → by-wire gateway → bicycle model → feedback frames back.

Every frame on the bus is also taken by a listening bus handle, stamped with the loop's clock and
written with python-can's Logger, so a run can be audited from its log alone. Faults from
`sim_bridge.faults` are injected at a given time; the result reports the time from the fault to the
first safe frame on the bus and the end state.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import List, Optional

import can

from vehicle_runtime.can import BusConfig, Codec, load_dbc, open_bus
from vehicle_runtime.can.codec import decode_signals
from vehicle_runtime.config import RuntimeConfig
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.safety.state_machine import SafetyState
from vehicle_runtime.types import ActuatorRequest
from vehicle_runtime.vehicle_interface import VehicleInterface

from .embedded.dynamics import BicycleState, KinematicBicycle
from .envelope_audit import audit, records_from_log
from .faults import CONTROL_PERIOD_S, FAULTS
from .gateway import ByWireGateway, GatewayParams, VehicleMeasurement
from .injector import FaultInjector, TamperingBus

_channels = itertools.count()


@dataclass
class RigResult:
    fault: Optional[str]
    fault_at_s: Optional[float]
    safe_frame_s: Optional[float]
    reaction_s: Optional[float]
    deadline_s: Optional[float]
    end_state: SafetyState
    final_speed_mps: float
    engaged_at_s: Optional[float]
    envelope_violations: list
    transitions: list = field(default_factory=list)
    gateway_modes: dict = field(default_factory=dict)
    filters_seen: set = field(default_factory=set)
    log_path: Optional[Path] = None


class SafetyRig:
    def __init__(
        self, cfg: RuntimeConfig, log_path: Path, initial_speed_mps: float = 10.0, target_speed_mps: float = 12.0
    ):
        self.cfg = cfg
        self.log_path = Path(log_path)
        channel = f"safety-rig-{id(self)}-{next(_channels)}"
        self._buses = [open_bus(BusConfig("virtual", channel)) for _ in range(4)]
        compute, vehicle, self._tap, self._injector_bus = self._buses
        codec = Codec(load_dbc(cfg.dbc_path))
        self.gate = SafetyGate(replace(cfg.safety, auto_engage=True), clock_s=0.0)
        self.tx = TamperingBus(compute)
        self.vi = VehicleInterface(self.tx, self.gate, codec, cfg.max_command_age_s)
        self.gateway = ByWireGateway(vehicle, codec, GatewayParams(max_steer_rad=cfg.vehicle.max_steer_rad + 0.05))
        self.plant = KinematicBicycle(cfg.vehicle, BicycleState(speed_mps=initial_speed_mps))
        self.injector = FaultInjector(self.gateway, self.tx, self._injector_bus)
        self.target_speed_mps = target_speed_mps
        self._db = load_dbc(cfg.dbc_path)
        self._heartbeat_id = self._db.get_message_by_name("HEARTBEAT").frame_id
        self._status_id = self._db.get_message_by_name("GATEWAY_STATUS").frame_id

    def run(self, duration_s: float, fault: Optional[str] = None, fault_at_s: float = 3.0) -> RigResult:
        spec = FAULTS.get(fault) if fault else None
        dt = CONTROL_PERIOD_S
        engaged_at = None
        modes: dict = {}
        filters: set = set()
        heartbeats: List[tuple] = []  # (t, state) as decoded from the bus
        fallbacks: List[float] = []
        inj = self.injector
        with can.Logger(str(self.log_path)) as logger:
            for k in range(int(round(duration_s / dt)) + 1):
                t = k * dt
                if fault is not None and not inj.active and t >= fault_at_s - 1e-9:
                    inj.activate(fault, t)
                self._upstream(k, t)
                if inj.control_runs(t):
                    status = self.vi.tick(t)
                    filters.update(status.command.filters_active)
                    if engaged_at is None and status.state is SafetyState.ENGAGED:
                        engaged_at = t
                s = self.plant.state
                act = self.gateway.step(t, VehicleMeasurement(s.speed_mps, s.accel_mps2, s.yaw_rate_radps, s.steer_rad))
                modes[act.mode] = modes.get(act.mode, 0) + 1
                self.plant.step(dt, act.steer_rad, act.accel_mps2)
                self._record(logger, t, heartbeats, fallbacks)
        return self._result(spec, fault, fault_at_s, heartbeats, fallbacks, engaged_at, modes, filters)

    # --- the scripted upstream: camera 20 Hz, odometry 50 Hz, route 1 Hz, model 20 Hz, control 100 Hz
    def _upstream(self, k: int, t: float) -> None:
        g, inj = self.gate, self.injector
        stamp = t + inj.clock_offset_s
        for source, every in (("camera", 5), ("odometry", 2), ("route", 100)):
            if k % every == 0 and not inj.withholds(source):
                g.feed(source, t, stamp)
        mode = inj.model_mode
        if k % 5 == 0 and mode in ("ok", "out_of_envelope", "nan"):
            g.policy_output(finite=mode != "nan", arrival_s=t, stamp_s=stamp)
        if k % 5 == 0 and mode == "exception":
            g.model_fault("RuntimeError: onnxruntime session.run failed (injected)")
        speed = g.feedback.speed_mps
        steer = 0.05 * math.sin(0.4 * t)
        accel = min(max(0.5 * (self.target_speed_mps - speed), -2.0), 1.5)
        if mode == "out_of_envelope":
            steer, accel = 1.4 * (1 if (k // 50) % 2 else -1), 9.0
        if mode == "nan":
            steer = math.nan
        g.set_request(ActuatorRequest(t, steer, accel, source_stamp_s=stamp), t)

    def _record(self, logger, t, heartbeats, fallbacks) -> None:
        while True:
            msg = self._tap.recv(timeout=0.0)
            if msg is None:
                return
            msg.timestamp = t
            msg.channel = 0
            logger.on_message_received(msg)
            if msg.is_error_frame:
                continue
            if msg.arbitration_id == self._heartbeat_id:
                state = decode_signals(self._db, msg.arbitration_id, bytes(msg.data))["STATE"]
                heartbeats.append((t, SafetyState(int(state))))
            elif msg.arbitration_id == self._status_id:
                if decode_signals(self._db, msg.arbitration_id, bytes(msg.data))["FALLBACK_ACTIVE"]:
                    fallbacks.append(t)

    def _result(self, spec, fault, fault_at, heartbeats, fallbacks, engaged_at, modes, filters) -> RigResult:
        safe_s = deadline = None
        if spec is not None:
            deadline = spec.deadline_s(dict(self.cfg.safety.timeouts_s))
            after = [(t, s) for t, s in heartbeats if t >= fault_at - 1e-9]
            safe_s = next((t for t, s in after if s in spec.safe_states), None)
        elif fault == "gate_killed":
            deadline = self.gateway.p.command_timeout_s + CONTROL_PERIOD_S
            safe_s = next((t for t in fallbacks if t >= fault_at), None)
        violations = audit(records_from_log(self.log_path, self.cfg.dbc_path), self.cfg.safety.envelope)
        return RigResult(
            fault=fault,
            fault_at_s=fault_at if fault else None,
            safe_frame_s=safe_s,
            reaction_s=None if safe_s is None else safe_s - fault_at,
            deadline_s=deadline,
            end_state=self.gate.sm.state,
            final_speed_mps=self.plant.state.speed_mps,
            engaged_at_s=engaged_at,
            envelope_violations=violations,
            transitions=list(self.gate.sm.transitions),
            gateway_modes=modes,
            filters_seen=filters,
            log_path=self.log_path,
        )

    def close(self) -> None:
        for bus in self._buses:
            bus.shutdown()
