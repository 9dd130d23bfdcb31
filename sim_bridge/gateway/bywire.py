"""The vehicle side of the by-wire link, as a real by-wire ECU behaves (OSCC / Dataspeed style).

It validates counter, checksum, range and rate of every command frame and watches the heartbeat.
Commands are applied only while the heartbeat says the compute box is in control and both
commands carry ENABLE. Without a valid command for `command_timeout_s`, or after repeated invalid
frames, it applies its own fallback brake and reports the fault; the fallback is latched until the
car stands still and the compute box says it is no longer in control. Driver override (steering
torque, brake pedal) hands control to the driver at once. Feedback reports go out every step.

With `secoc` (a can.secoc.GatewayEnd, keyed from the same provisioned key file as the compute box)
every command must also carry a valid truncated AES-CMAC over a fresh freshness value. A frame that
passes CRC and counter but fails authentication is a foreign sender, a replay or a stale frame: it is
never executed, FAULT_AUTH is raised at once (no "3 in a row": a CRC-valid frame with a bad MAC does
not happen by accident) and, if in control, the fallback brakes. Until a SECOC_SYNC gives it a trip
above the last one it adopted (after its own restart), it executes nothing and sets SYNC_REQUEST.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

import can

from vehicle_runtime.can.checksum import frame_checksum
from vehicle_runtime.can.codec import Codec, CounterCheck, FrameError, Packer
from vehicle_runtime.can.secoc import SYNC
from vehicle_runtime.safety.state_machine import SafetyState

COMMANDS = ("STEERING_CMD", "LONGITUDINAL_CMD", "HEARTBEAT")
IN_CONTROL = (SafetyState.ENGAGED, SafetyState.MRM, SafetyState.STOPPED, SafetyState.FAULT)


@dataclass(frozen=True)
class GatewayParams:
    command_timeout_s: float = 0.1
    fallback_decel_mps2: float = 3.0
    max_bad_frames: int = 3  # consecutive invalid frames of one message → fault + fallback
    rate_window_s: float = 0.1  # FAULT_RATE when one message arrives more than max_frames_per_window
    max_frames_per_window: int = 20  # times within this window (10 expected at 100 Hz): a babbling sender,
    # while a late step's backlog of a few frames is not
    rate_from_arrival: bool = False  # judge the rate by the frames' receive stamps (real-time buses)
    override_torque_nm: float = 3.0
    max_steer_rad: float = 0.6  # commands outside the physical range: FAULT_RANGE
    max_abs_accel_mps2: float = 8.0


@dataclass
class VehicleMeasurement:
    speed_mps: float
    accel_mps2: float
    yaw_rate_radps: float
    steer_rad: float


@dataclass(frozen=True)
class Actuation:
    mode: str  # "command" | "fallback" | "manual"
    steer_rad: float
    accel_mps2: float
    brake_hold: bool = False
    hazard: bool = False


@dataclass
class DriverInputs:
    """What the (simulated) driver does; fault injectors set these."""

    steering_torque_nm: float = 0.0
    brake_pedal: bool = False
    engage_button: bool = False
    disengage_button: bool = False


@dataclass
class _Rx:
    signals: Mapping[str, float] = field(default_factory=dict)  # read only while fresh (arrival_s set with it)
    arrival_s: float = -math.inf


@dataclass
class GatewayFaults:
    timeout: bool = False
    counter: bool = False
    checksum: bool = False
    rate: bool = False
    range: bool = False
    auth: bool = False

    def any(self) -> bool:
        return self.timeout or self.counter or self.checksum or self.rate or self.range or self.auth


class ByWireGateway:
    def __init__(
        self, bus: can.BusABC, codec: Optional[Codec] = None, params: GatewayParams = GatewayParams(), secoc=None
    ):
        self.bus = bus
        self.codec = codec or Codec()
        self.secoc = secoc
        self.packer = Packer(self.codec, secoc.sender if secoc else None)
        self._sync_id = self.codec.message(SYNC).frame_id if SYNC in {m.name for m in self.codec.db.messages} else None
        self.p = params
        self.driver = DriverInputs()
        self.faults = GatewayFaults()
        self.fallback = False
        self.reports_enabled = True  # fault injection: "CAN feedback loss"
        self.report_tamper: Optional[str] = None  # fault injection: "counter" | "checksum"
        self._rx: Dict[str, _Rx] = {n: _Rx() for n in COMMANDS}
        self._command_ids = {self.codec.message(n).frame_id for n in COMMANDS}
        self._recent: Dict[str, collections.deque] = {n: collections.deque() for n in COMMANDS}
        self._counters = CounterCheck()
        self._bad_in_a_row: Dict[int, int] = {}  # per message: consecutive invalid frames
        self._was_in_control = False
        self.rejected: Dict[str, int] = {}
        self.frames_ok = 0
        self.last_actuation = Actuation("manual", 0.0, 0.0)

    # --- one 10 ms step ----------------------------------------------------------------------
    def step(self, now_s: float, vehicle: VehicleMeasurement) -> Actuation:
        self._receive(now_s)
        act = self._decide(now_s, vehicle)
        self.last_actuation = act
        if self.reports_enabled:
            self._report(now_s, vehicle)
        return act

    def _receive(self, now_s: float) -> None:
        while True:
            frame = self.bus.recv(timeout=0.0)
            if frame is None:
                return
            if frame.is_error_frame:
                continue
            if self.secoc is not None and frame.arbitration_id == self._sync_id and not frame.is_extended_id:
                self._on_sync(frame)
                continue
            if frame.arbitration_id not in self._command_ids or frame.is_extended_id:
                continue  # feedback from other gateways, other ECUs: not ours to judge
            try:
                decoded = self.codec.decode(frame)
                self._counters.check(decoded)
            except FrameError as exc:
                self._bad(exc.reason, frame.arbitration_id)
                continue
            if self.secoc is not None:
                reason = self.secoc.receiver.verify(decoded.name, frame.arbitration_id, frame.data)
                if reason == "unsynced":  # after a restart: nothing is executed until a SECOC_SYNC
                    self.rejected["secoc_unsynced"] = self.rejected.get("secoc_unsynced", 0) + 1
                    continue
                if reason:
                    self._bad(f"secoc_{reason}", frame.arbitration_id)
                    continue
            rx = self._rx[decoded.name]
            recent = self._recent[decoded.name]
            # when the frame arrived, not when this step reads it: a late step drains a backlog of frames at
            # once, which is no babbling sender (real-time buses only; lockstep runs use the step's time)
            arrived_s = frame.timestamp if self.p.rate_from_arrival and frame.timestamp else now_s
            recent.append(arrived_s)
            while recent and recent[0] <= arrived_s - self.p.rate_window_s:
                recent.popleft()
            if len(recent) > self.p.max_frames_per_window:
                self._bad("bad_rate", frame.arbitration_id)
                continue
            if not self._in_range(decoded.name, decoded.signals):
                self._bad("bad_range", frame.arbitration_id)
                continue
            self._bad_in_a_row[frame.arbitration_id] = 0
            self.frames_ok += 1
            rx.signals, rx.arrival_s = decoded.signals, now_s

    def _on_sync(self, frame: can.Message) -> None:
        try:
            self.codec.decode(frame)
        except FrameError as exc:
            self.rejected[f"sync_{exc.reason}"] = self.rejected.get(f"sync_{exc.reason}", 0) + 1
            return
        reason = self.secoc.on_sync(frame.arbitration_id, frame.data)
        if reason:
            self.rejected[f"sync_{reason}"] = self.rejected.get(f"sync_{reason}", 0) + 1
        else:
            self._counters.reset()  # a new trip may follow a restart of the compute box

    def _bad(self, reason: str, frame_id: int) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self._bad_in_a_row[frame_id] = self._bad_in_a_row.get(frame_id, 0) + 1
        if reason.startswith("secoc_"):  # authentic CRC, forged or replayed content: an attack, at once
            self.faults.auth = True
            if self._was_in_control:
                self.fallback = True
            return
        if self._bad_in_a_row[frame_id] >= self.p.max_bad_frames:
            flag = {"bad_counter": "counter", "bad_checksum": "checksum", "bad_rate": "rate", "bad_range": "range"}.get(
                reason
            )
            if flag:
                setattr(self.faults, flag, True)
            if self._was_in_control:
                self.fallback = True

    def _in_range(self, name: str, s: Mapping[str, float]) -> bool:
        if name == "STEERING_CMD":
            return abs(s["STEER_ANGLE_CMD"]) <= self.p.max_steer_rad
        if name == "LONGITUDINAL_CMD":
            return abs(s["ACCEL_CMD"]) <= self.p.max_abs_accel_mps2
        return True

    def _decide(self, now_s: float, vehicle: VehicleMeasurement) -> Actuation:
        d = self.driver
        overriding = abs(d.steering_torque_nm) > self.p.override_torque_nm or d.brake_pedal
        steer_rx, lon_rx, hb_rx = (self._rx[n] for n in COMMANDS)
        fresh = all(now_s - r.arrival_s <= self.p.command_timeout_s for r in (steer_rx, lon_rx, hb_rx))
        in_control = (
            fresh
            and hb_rx.signals["STATE"] in IN_CONTROL
            and steer_rx.signals["ENABLE"] == 1
            and lon_rx.signals["ENABLE"] == 1
        )
        if self._was_in_control and not fresh:
            self.faults.timeout = True
            self.fallback = True
        if self.fallback:
            # latched until standstill and the compute box says it is no longer in control
            released = fresh and hb_rx.signals["STATE"] not in IN_CONTROL and vehicle.speed_mps < 0.05
            if not released and not overriding:
                return Actuation(
                    "fallback",
                    vehicle.steer_rad,
                    -self.p.fallback_decel_mps2,
                    brake_hold=vehicle.speed_mps < 0.05,
                    hazard=True,
                )
            self.fallback = False
            self.faults = GatewayFaults()
            self._was_in_control = False
        if self.faults.any():  # detected while not in control: no control until the compute box
            if fresh and hb_rx.signals["STATE"] not in IN_CONTROL:  # says it is not in control
                self.faults = GatewayFaults()
            self._was_in_control = False
            return Actuation("manual", vehicle.steer_rad, 0.0)
        if overriding:
            self._was_in_control = False
            return Actuation("manual", vehicle.steer_rad, 0.0)
        if in_control:
            self._was_in_control = True
            return Actuation(
                "command",
                steer_rx.signals["STEER_ANGLE_CMD"],
                lon_rx.signals["ACCEL_CMD"],
                brake_hold=bool(lon_rx.signals["BRAKE_HOLD"]),
                hazard=bool(hb_rx.signals["HAZARD_REQUEST"]),
            )
        self._was_in_control = False
        return Actuation("manual", vehicle.steer_rad, 0.0)

    def _report(self, now_s: float, v: VehicleMeasurement) -> None:
        d = self.driver
        overriding = abs(d.steering_torque_nm) > self.p.override_torque_nm
        frames = [
            self.packer.pack(
                "SPEED_REPORT",
                {
                    "VEHICLE_SPEED": min(max(v.speed_mps, 0.0), 655.0),
                    "LONG_ACCEL": min(max(v.accel_mps2, -32.0), 32.0),
                    "YAW_RATE": min(max(v.yaw_rate_radps, -3.2), 3.2),
                },
                now_s,
            ),
            self.packer.pack(
                "STEERING_REPORT",
                {
                    "STEER_ANGLE": min(max(v.steer_rad, -3.2), 3.2),
                    "DRIVER_TORQUE": min(max(d.steering_torque_nm, -300.0), 300.0),
                    "DRIVER_OVERRIDE": int(overriding),
                },
                now_s,
            ),
            self.packer.pack(
                "GATEWAY_STATUS",
                {
                    "ACTIVE": int(self.last_actuation.mode == "command"),
                    "ENGAGE_BUTTON": int(d.engage_button),
                    "DISENGAGE_BUTTON": int(d.disengage_button),
                    "BRAKE_PEDAL": int(d.brake_pedal),
                    "FALLBACK_ACTIVE": int(self.fallback),
                    "FAULT_TIMEOUT": int(self.faults.timeout),
                    "FAULT_COUNTER": int(self.faults.counter),
                    "FAULT_CHECKSUM": int(self.faults.checksum),
                    "FAULT_RATE": int(self.faults.rate),
                    "FAULT_RANGE": int(self.faults.range),
                    "FAULT_AUTH": int(self.faults.auth),
                    "SYNC_REQUEST": int(self.secoc is not None and self.secoc.receiver.trip is None),
                },
                now_s,
            ),
        ]
        for frame in frames:
            if self.report_tamper == "checksum":
                frame.data[7] ^= 0x5A
            elif self.report_tamper == "counter":
                frame.data[6] ^= 0x30  # two counter bits flipped: out of sequence, checksum recomputed
                frame.data[7] = frame_checksum(frame.arbitration_id, frame.data)
            self.bus.send(frame)
