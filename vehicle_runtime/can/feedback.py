"""Feedback parser in the style of opendbc's CANParser: per message an expected period, counter and
checksum checks, a timeout of 10 periods, and an invalid flag after 5 net bad frames."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, cast

import can

from ..types import VehicleFeedback
from .codec import Codec, CounterCheck, FrameError

if TYPE_CHECKING:
    from .secoc import Receiver

FEEDBACK_MESSAGES = ("SPEED_REPORT", "STEERING_REPORT", "GATEWAY_STATUS")
GATEWAY_FAULTS = ("FAULT_TIMEOUT", "FAULT_COUNTER", "FAULT_CHECKSUM", "FAULT_RATE", "FAULT_RANGE", "FAULT_AUTH")


@dataclass
class _MessageState:
    period_s: float
    timeout_s: float
    last_valid_s: float = -math.inf
    bad: int = 0  # +1 per bad frame, -1 per good one (not below 0)
    signals: Optional[Dict[str, float]] = None


class FeedbackParser:
    def __init__(self, codec: Codec, timeout_periods: float = 10.0, max_bad: int = 5, secoc: Optional[Receiver] = None):
        self.codec = codec
        self.secoc = secoc  # a secoc.Receiver: GATEWAY_STATUS (engage button, faults) must be authentic
        self.sync_requested = False  # the gateway's SYNC_REQUEST, read before authentication (it has no trip yet)
        self.max_bad = max_bad
        self.counters = CounterCheck()
        self.msgs: Dict[str, _MessageState] = {}
        for name in FEEDBACK_MESSAGES:
            period = (codec.message(name).cycle_time or 10) / 1000.0
            self.msgs[name] = _MessageState(period, timeout_periods * period)
        self._ids = {codec.message(n).frame_id: n for n in FEEDBACK_MESSAGES}
        self.errors: collections.Counter[str] = collections.Counter()  # reason → count, reported in diagnostics
        self.frames_ok = 0

    def update(self, frame: can.Message, arrival_s: float) -> Optional[str]:
        """Parse one received frame; returns the reason when it was refused."""
        name = self._ids.get(frame.arbitration_id) if not frame.is_extended_id else None
        if name is None:
            return None  # not feedback (our own commands, other ECUs): not ours to judge
        state = self.msgs[name]
        try:
            decoded = self.codec.decode(frame)
            self.counters.check(decoded)
            if "SYNC_REQUEST" in decoded.signals:
                self.sync_requested = bool(decoded.signals["SYNC_REQUEST"])
            if self.secoc is not None and name in self.secoc.names:
                reason = self.secoc.verify(name, frame.arbitration_id, frame.data)
                if reason:
                    raise FrameError(f"secoc_{reason}", f"{name}: not authentic ({reason})")
        except FrameError as exc:
            self.errors[exc.reason] += 1
            state.bad += 1
            return str(exc)
        state.bad = max(0, state.bad - 1)
        state.last_valid_s = arrival_s
        state.signals = dict(decoded.signals)
        self.frames_ok += 1
        return None

    def status(self, now_s: float) -> VehicleFeedback:
        for name, st in self.msgs.items():
            if st.signals is None:
                return VehicleFeedback(valid=False, reason=f"{name}: nothing received")
            if now_s - st.last_valid_s > st.timeout_s:
                return VehicleFeedback(
                    valid=False, reason=f"{name}: timeout ({(now_s - st.last_valid_s) * 1e3:.0f} ms)"
                )
            if st.bad >= self.max_bad:
                return VehicleFeedback(valid=False, reason=f"{name}: {st.bad} bad frames (counter/checksum)")
        # cast: the loop above returned for any message with nothing received
        speed, steer, status = (cast(Dict[str, float], self.msgs[n].signals) for n in FEEDBACK_MESSAGES)
        faults = [f for f in GATEWAY_FAULTS if status[f]] + (["FALLBACK_ACTIVE"] if status["FALLBACK_ACTIVE"] else [])
        return VehicleFeedback(
            valid=True,
            speed_mps=speed["VEHICLE_SPEED"],
            accel_mps2=speed["LONG_ACCEL"],
            steer_rad=steer["STEER_ANGLE"],
            driver_override=bool(steer["DRIVER_OVERRIDE"]),
            brake_pedal=bool(status["BRAKE_PEDAL"]),
            engage_button=bool(status["ENGAGE_BUTTON"]),
            disengage_button=bool(status["DISENGAGE_BUTTON"]),
            gateway_fault=",".join(faults),
        )

    def yaw_rate_radps(self) -> float:
        s = self.msgs["SPEED_REPORT"].signals
        return s["YAW_RATE"] if s else 0.0
