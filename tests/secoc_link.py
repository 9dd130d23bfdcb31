"""A closed loop in lockstep for the SecOC and engage-authority tests: the real vehicle interface
(safety gate + CAN writer) and the real by-wire gateway on a python-can `virtual` bus, both with SecOC
keyed from a key file generated in a tmp dir, and a bicycle model."""

import itertools
import math
from dataclasses import replace

from sim_bridge.embedded.dynamics import BicycleState, KinematicBicycle
from sim_bridge.gateway import ByWireGateway, GatewayParams, VehicleMeasurement
from vehicle_runtime import keys
from vehicle_runtime.can import BusConfig, Codec, open_bus
from vehicle_runtime.can.secoc import KEY_BYTES, ComputeEnd, GatewayEnd
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.safety.state_machine import SafetyState
from vehicle_runtime.types import ActuatorRequest
from vehicle_runtime.vehicle_interface import VehicleInterface

CFG = load_runtime_config()
DT = 0.01
DEADLINE_S = 2 * DT  # the frame arrives within a period; the gateway's next step brakes
_n = itertools.count()
STEER_ID = Codec().message("STEERING_CMD").frame_id


class Link:
    """Upstream script → gate → VehicleInterface(SecOC) → bus → gateway(SecOC) → bicycle model."""

    def __init__(self, tmp_path, speed_mps=10.0, auto_engage=True, engage_authority=None):
        self.auto_engage, self.engage_authority = auto_engage, engage_authority
        self.tmp = tmp_path
        self.key = keys.write_key(tmp_path / "secoc.key", KEY_BYTES)
        ch = f"secoc-{next(_n)}"
        self.buses = [open_bus(BusConfig("virtual", ch)) for _ in range(4)]
        self.compute_bus, self.vehicle_bus, self.attacker, self.tap = self.buses
        self.plant = KinematicBicycle(CFG.vehicle, BicycleState(speed_mps=speed_mps))
        self.start_compute()
        self.start_gateway()
        self.t, self.k = 0.0, 0
        self.recorded = []  # (t, frame) of every command frame, as an attacker would log them

    def start_compute(self):
        self.gate = SafetyGate(
            replace(CFG.safety, auto_engage=self.auto_engage), clock_s=self.k * DT if hasattr(self, "k") else 0.0
        )
        self.vi = VehicleInterface(
            self.compute_bus,
            self.gate,
            Codec(),
            CFG.max_command_age_s,
            secoc=ComputeEnd(self.key, self.tmp / "compute.trip"),
            engage_authority=self.engage_authority,
        )

    def start_gateway(self, persist_trip=True):
        """persist_trip False: a simulated gateway that keeps its trip in memory (it forgets it on a restart)."""
        self.gw = ByWireGateway(
            self.vehicle_bus,
            Codec(),
            GatewayParams(max_steer_rad=CFG.vehicle.max_steer_rad + 0.05),
            secoc=GatewayEnd(self.key, self.tmp / "gateway.trip" if persist_trip else None),
        )

    def step(self, n=1, before_gateway=None):
        acts = []
        for _ in range(n):
            self.k += 1
            t = self.t = round(self.k * DT, 6)
            g = self.gate
            for source, every in (("camera", 5), ("odometry", 2), ("route", 100)):
                if self.k % every == 0 or self.k == 1:
                    g.feed(source, t, t)
            if self.k % 5 == 0 or self.k == 1:
                g.policy_output(finite=True, arrival_s=t, stamp_s=t)
            accel = min(max(0.5 * (12.0 - g.feedback.speed_mps), -2.0), 1.5)
            g.set_request(ActuatorRequest(t, 0.02 * math.sin(0.4 * t), accel, source_stamp_s=t), t)
            self.vi.tick(t)
            if before_gateway:
                before_gateway(t)
            s = self.plant.state
            act = self.gw.step(t, VehicleMeasurement(s.speed_mps, s.accel_mps2, s.yaw_rate_radps, s.steer_rad))
            self.plant.step(DT, act.steer_rad, act.accel_mps2)
            while (m := self.tap.recv(timeout=0.0)) is not None:
                if m.arbitration_id < 0x200:
                    self.recorded.append((t, m))
            acts.append(act)
        return acts

    def engaged(self):
        acts = self.step(60)
        assert acts[-1].mode == "command" and self.gate.sm.state is SafetyState.ENGAGED, (acts[-1], self.gw.rejected)
        return acts

    def close(self):
        for b in self.buses:
            b.shutdown()
