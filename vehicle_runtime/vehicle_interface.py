"""The vehicle interface: safety gate + CAN feedback parser + command frames on one bus.

`tick(now_s)` is one control period: read every frame that arrived, update the gate, put the
three command frames on the bus. The gate and the writer share this process on purpose.

With `secoc` (a can.secoc.ComputeEnd) the commands are sealed (AES-CMAC + freshness), GATEWAY_STATUS
must be authentic, and SECOC_SYNC goes out at start, at 1 Hz, and when the gateway asks for it.
"""

from __future__ import annotations

from typing import Any, Dict

import can

from .can.bus import FrameBus
from .can.codec import Codec, Packer
from .can.feedback import FeedbackParser
from .can.framer import command_frames
from .can.health import BusHealth
from .can.secoc import SYNC
from .safety.engage_authority import EngageAuthority
from .safety.gate import GateStatus, SafetyGate
from .safety.state_machine import SafetyState
from .types import ActuatorCommand


class VehicleInterface:
    SYNC_PERIOD_S = 1.0
    MIN_TRIP_RAISE_INTERVAL_S = 0.5  # SYNC_REQUEST is read unauthenticated: a spoofed one only costs a file write

    def __init__(
        self,
        bus: FrameBus,
        gate: SafetyGate,
        codec: Codec,
        max_command_age_s: float = 0.02,
        health: BusHealth | None = None,
        secoc=None,
        engage_authority: EngageAuthority | None = None,
    ):
        self.bus = bus
        self.gate = gate
        self.secoc = secoc
        self.engage_authority = engage_authority  # None: no software request is executed
        self.packer = Packer(codec, secoc.sender if secoc else None)
        self.parser = FeedbackParser(codec, secoc=secoc.receiver if secoc else None)
        self._sync_sent_s: float | None = None
        self._trip_raised_s = -1e9
        self.health = health or BusHealth()
        self.max_command_age_s = max_command_age_s
        self.frames_sent = 0
        self.requests_refused = 0
        self.stale_commands_dropped = 0
        self.last_status: GateStatus | None = None

    def poll(self, now_s: float) -> None:
        while True:
            try:
                frame = self.bus.recv(timeout=0.0)
            except can.CanError as exc:
                self.gate.critical_fault(f"CAN receive failed: {exc}")
                break
            if frame is None:
                break
            if frame.is_error_frame:
                reason = self.health.on_error_frame(frame, now_s)
                if reason:
                    self.gate.critical_fault(reason)
                continue
            self.parser.update(frame, now_s)
        feedback = self.parser.status(now_s)
        if self.engage_authority is not None:  # counted for diagnostics; the gate acts on the same edge
            self.engage_authority.driver_edge(feedback.engage_button, feedback.valid)
        self.gate.set_feedback(feedback, now_s)

    def request(self, text: str, now_s: float) -> str | None:
        """A software engage / disengage / reset request (a signed line, safety/engage_authority.py):
        executed only where the configuration allows software engage and the request is authentic,
        fresh and not a replay. Returns the executed word, or None (refused and counted)."""
        if self.engage_authority is None:
            self.requests_refused += 1
            return None
        word = self.engage_authority.software_request(text, now_s)
        if word is None:
            self.requests_refused += 1
            return None
        {"engage": self.gate.request_engage, "disengage": self.gate.request_disengage, "reset": self.gate.reset}[word]()
        return word

    def tick(self, now_s: float) -> GateStatus:
        self.poll(now_s)
        if self.secoc is not None:
            self._freshness_sync(now_s)
        status = self.gate.tick(now_s)
        self.last_status = status
        self.send(status.state, status.command, now_s)
        return status

    def send(self, state: SafetyState, command: ActuatorCommand, now_s: float) -> None:
        if now_s - command.stamp_s > self.max_command_age_s:  # never put an old command on the bus
            self.stale_commands_dropped += 1
            return
        for frame in command_frames(self.packer, state, command):
            self._send(frame)

    def security_report(self) -> dict:
        """For /diagnostics: SecOC trip and refusals (feedback frames that failed authentication), the
        engage authority's accepted / refused requests."""
        out: Dict[str, Any] = {"secoc": self.secoc is not None, "requests_refused": self.requests_refused}
        if self.secoc is not None:
            out["secoc_trip"] = self.secoc.sender.trip
            out["secoc_refused"] = dict(self.secoc.receiver.rejected)
        if self.engage_authority is not None:
            out["engage"] = self.engage_authority.report()
        return out

    def _freshness_sync(self, now_s: float) -> None:
        last_sync_s = self._sync_sent_s
        raise_trip = last_sync_s is None or (
            self.parser.sync_requested and now_s - self._trip_raised_s >= self.MIN_TRIP_RAISE_INTERVAL_S
        )
        if raise_trip:  # a start, or the gateway restarted: a trip above every one it has seen
            self.secoc.start()
            self._trip_raised_s = now_s
        if raise_trip or last_sync_s is None or now_s - last_sync_s >= self.SYNC_PERIOD_S:
            self._sync_sent_s = now_s
            self._send(self.packer.pack(SYNC, {"TRIP_COUNTER": self.secoc.sender.trip}, now_s))

    def _send(self, frame: can.Message) -> None:
        try:
            self.bus.send(frame)
            self.frames_sent += 1
            reason = self.health.on_send(None)
        except can.CanError as exc:
            reason = self.health.on_send(exc)
        if reason:
            self.gate.critical_fault(reason)

    def shutdown(self, now_s: float, frames: int = 3) -> None:
        """Before the process exits: if commanding, say MRM and brake (the gateway's own fallback
        takes over when the frames stop); otherwise say DISENGAGED with ENABLE=0."""
        gate = self.gate
        commanding = gate.sm.commanding
        state = SafetyState.MRM if commanding and gate.sm.state is SafetyState.ENGAGED else gate.sm.state
        for i in range(frames):
            t = now_s + i * 1e-3
            if commanding:
                steer, accel = gate.mrm.step(0.01)
                cmd = ActuatorCommand(t, steer, accel, engaged=True, hazard=True)
            else:
                cmd = ActuatorCommand(t, gate.envelope.prev_steer_rad, 0.0, engaged=False)
            self.send(state, cmd, t)
