"""Applies the faults of `sim_bridge.faults` to a running loop (the safety rig or `drive`).

The loop asks the injector what to do: which inputs to withhold, how to shift stamps, what the
model does, whether the control loop runs. Bus-level faults act on the real buses and the gateway.
"""

from __future__ import annotations

import math
from typing import Optional, Set

import can

from .faults import FAULTS, PLAUSIBILITY_FAULTS
from .gateway import ByWireGateway

EXTRA_FAULTS = (
    "gate_killed",  # no safe heartbeat: the gateway's fallback is the reaction
    "route_stall",
)  # the route stops being republished: harmless, a latched route stays valid
STALLS = {"camera_stall": "camera", "route_stall": "route", "route_lost": "route", "odometry_stall": "odometry"}


class TamperingBus:
    """Wraps the compute side's bus: corrupts the checksum of outgoing frames while active."""

    def __init__(self, bus: can.BusABC):
        self.bus = bus
        self.corrupt = False

    def send(self, msg: can.Message, timeout=None):
        if self.corrupt:
            msg = can.Message(
                arbitration_id=msg.arbitration_id,
                data=bytes(msg.data[:7]) + bytes([msg.data[7] ^ 0xA5]),
                is_extended_id=False,
                timestamp=msg.timestamp,
            )
        self.bus.send(msg, timeout)

    def recv(self, timeout=None):
        return self.bus.recv(timeout)

    def shutdown(self):
        self.bus.shutdown()


def parse_injection(text: str) -> tuple[str, float]:
    """'camera_stall@12.5' → ('camera_stall', 12.5), with a clear error for anything else."""
    name, sep, when = text.partition("@")
    known = sorted([*FAULTS, *EXTRA_FAULTS, *PLAUSIBILITY_FAULTS])
    if not sep or name not in known:
        raise ValueError(f"--inject '{text}': expected FAULT@SECONDS with FAULT one of {', '.join(known)}")
    try:
        t = float(when)
    except ValueError:
        raise ValueError(f"--inject '{text}': '{when}' is not a time in seconds") from None
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"--inject '{text}': time must be >= 0")
    return name, t


# longer than timeout_control_loop_s (80 ms), shorter than the gateway's 100 ms command timeout less a period:
# the box's own MRM must come first
CONTROL_LOOP_STALL_S = 0.085


class FaultInjector:
    def __init__(self, gateway: ByWireGateway, tx: TamperingBus, injector_bus: Optional[can.BusABC]):
        self.gateway = gateway
        self.tx = tx
        self.injector_bus = injector_bus
        self.active: Set[str] = set()
        self.clock_offset_s = 0.0
        self._stall_until_s: Optional[float] = None

    def activate(self, fault: str, now_s: float) -> None:
        """Called once, at the fault's time."""
        if fault not in FAULTS and fault not in EXTRA_FAULTS and fault not in PLAUSIBILITY_FAULTS:
            raise ValueError(f"unknown fault '{fault}'")
        self.active.add(fault)
        gw = self.gateway
        if fault == "feedback_loss":
            gw.reports_enabled = False
        elif fault == "bad_counter":
            gw.report_tamper = "counter"
        elif fault == "bad_checksum":
            gw.report_tamper = "checksum"
        elif fault == "command_corruption":
            self.tx.corrupt = True
        elif fault == "driver_override":
            gw.driver.steering_torque_nm = 6.0
        elif fault == "clock_jump":
            self.clock_offset_s += 10.0
        elif fault == "control_loop_stall":
            self._stall_until_s = now_s + CONTROL_LOOP_STALL_S
        elif fault == "error_frames":
            for _ in range(12):  # SocketCAN controller-problem error frames
                self._inject(can.Message(arbitration_id=0x004, is_error_frame=True, data=bytes(8)))
        elif fault == "bus_off":
            self._inject(can.Message(arbitration_id=0x040, is_error_frame=True, data=bytes(8)))

    def _inject(self, frame: can.Message) -> None:
        if self.injector_bus is None:
            raise RuntimeError("error-frame faults need the injector's own bus (none was given)")
        self.injector_bus.send(frame)

    @property
    def route_withdrawn(self) -> bool:
        """route_lost: the navigation stack clears the route (an empty route is delivered)."""
        return "route_lost" in self.active

    def withholds(self, source: str) -> bool:
        """True when the input `source` (camera, route, odometry) must not be delivered."""
        return any(STALLS.get(f) == source for f in self.active)

    @property
    def model_mode(self) -> str:
        """'ok' | 'hang' | 'nan' | 'exception' | 'out_of_envelope' | a plausibility fault's name."""
        for fault, mode in (
            ("model_hang", "hang"),
            ("model_nan", "nan"),
            ("model_exception", "exception"),
            ("out_of_envelope", "out_of_envelope"),
        ):
            if fault in self.active:
                return mode
        for fault in PLAUSIBILITY_FAULTS:
            if fault in self.active:
                return fault
        return "ok"

    def control_runs(self, now_s: float) -> bool:
        if "gate_killed" in self.active:
            return False
        return not (self._stall_until_s is not None and now_s < self._stall_until_s - 1e-9)
