"""The safety gate: last line of defence, in the same process as the CAN writer (like a panda).

Called once per control period with the current monotonic time. It watches every input, runs the
state machine, limits the request to the envelope, drives the MRM itself when the policy stream
stops, and returns the command to put on the bus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, cast

from ..types import ActuatorCommand, ActuatorRequest, VehicleFeedback
from .envelope import EnvelopeLimiter, EnvelopeParams
from .mrm import MrmOperator, MrmParams
from .state_machine import Event, SafetyState, SafetyStateMachine
from .watchdog import WatchdogSet

INPUT_WATCHDOGS = ("camera", "route", "odometry", "can_feedback", "policy")


@dataclass(frozen=True)
class SafetyParams:
    timeouts_s: Mapping[str, float]  # per watchdog in INPUT_WATCHDOGS, plus "control_loop"
    max_clock_jump_s: float
    max_request_age_s: float  # a request older than this is never used: MRM instead
    auto_engage: bool
    envelope: EnvelopeParams
    mrm: MrmParams


@dataclass
class GateStatus:
    state: SafetyState
    command: ActuatorCommand
    reason: str
    expired: List[str] = field(default_factory=list)
    ages_s: Dict[str, float] = field(default_factory=dict)


class SafetyGate:
    def __init__(self, params: SafetyParams, clock_s: float = 0.0):
        missing = [n for n in (*INPUT_WATCHDOGS, "control_loop") if n not in params.timeouts_s]
        if missing:
            raise ValueError(f"no timeout configured for watchdog(s) {missing}")
        numbers = {
            **{f"timeout {n}": t for n, t in params.timeouts_s.items()},
            "max_clock_jump_s": params.max_clock_jump_s,
            "max_request_age_s": params.max_request_age_s,
        }
        bad = {n: v for n, v in numbers.items() if not (math.isfinite(v) and v > 0)}
        if bad:  # a NaN timeout never expires: the watchdog would be off
            raise ValueError(f"safety parameters must be positive and finite: {bad}")
        self.p = params
        self.sm = SafetyStateMachine()
        self.watchdogs = WatchdogSet({n: params.timeouts_s[n] for n in INPUT_WATCHDOGS}, params.max_clock_jump_s)
        self.envelope = EnvelopeLimiter(params.envelope)
        self.mrm = MrmOperator(params.mrm)
        self.feedback = VehicleFeedback(valid=False, reason="no feedback yet")
        self._request: Optional[ActuatorRequest] = None
        self._request_arrival_s = -math.inf
        self._model_fault: Optional[str] = None
        self._critical: Optional[str] = None
        self._software: List[Event] = []
        self._last_tick_s = clock_s
        self._prev_buttons = (False, False)
        self.last_filters: tuple[str, ...] = ()
        self.mrm_lane_keeping_periods = 0  # MRM periods that followed a lane-keeping request

    # --- inputs ------------------------------------------------------------------------------
    def feed(self, name: str, arrival_s: float, stamp_s: Optional[float] = None) -> bool:
        return self.watchdogs.feed(name, arrival_s, stamp_s)

    def policy_output(self, finite: bool, arrival_s: float, stamp_s: Optional[float] = None) -> None:
        """A new model output arrived (feeds the policy watchdog); a non-finite one is a model fault."""
        if not finite:
            self.model_fault("policy output is not finite (NaN/inf)")
        else:
            self.watchdogs.feed("policy", arrival_s, stamp_s)

    def set_request(self, request: ActuatorRequest, arrival_s: float) -> None:
        """A request from the controller (100 Hz, on the latest trajectory)."""
        if not (math.isfinite(request.steer_rad) and math.isfinite(request.accel_mps2)):
            self.model_fault("actuator request is not finite (NaN/inf)")
            return
        self._request, self._request_arrival_s = request, arrival_s

    def model_fault(self, reason: str) -> None:
        self._model_fault = reason

    def set_feedback(self, feedback: VehicleFeedback, arrival_s: float) -> None:
        self.feedback = feedback
        if feedback.valid:
            self.watchdogs.feed("can_feedback", arrival_s)

    def critical_fault(self, reason: str) -> None:
        """CAN bus-off, a burst of error frames, failed sends: FAULT, latched."""
        self._critical = reason

    def request_engage(self) -> None:
        self._software.append(Event.ENGAGE)

    def request_disengage(self) -> None:
        self._software.append(Event.DISENGAGE)

    def reset(self) -> None:
        self._software.append(Event.RESET)

    # --- one control period ------------------------------------------------------------------
    def tick(self, now_s: float) -> GateStatus:
        dt = now_s - self._last_tick_s
        self._last_tick_s = now_s
        self._events(now_s, dt)
        command = self._command(now_s, max(dt, 0.0))
        return GateStatus(
            self.sm.state, command, self.sm.last_reason, self.watchdogs.expired(now_s), self.watchdogs.ages_s(now_s)
        )

    def _events(self, now_s: float, dt: float) -> None:
        sm, fb = self.sm, self.feedback
        if self._critical:
            sm.handle(Event.CRITICAL, now_s, self._critical)
            self._critical = None
        if sm.commanding and not fb.valid:  # the parser already applied the timeouts and bad-frame counts
            sm.handle(Event.CRITICAL, now_s, f"CAN feedback lost while commanding: {fb.reason}")
        if fb.gateway_fault and sm.state in (SafetyState.ENGAGED, SafetyState.MRM):
            sm.handle(Event.CRITICAL, now_s, f"gateway fault: {fb.gateway_fault}")
        if fb.driver_override or fb.brake_pedal:
            sm.handle(
                Event.DRIVER_OVERRIDE, now_s, "driver override: " + ("brake pedal" if fb.brake_pedal else "steering")
            )
        for event in self._software:
            sm.handle(event, now_s, f"software {event.value} request")
        self._software.clear()
        engage, disengage = fb.engage_button, fb.disengage_button
        if disengage and not self._prev_buttons[1]:
            sm.handle(Event.DISENGAGE, now_s, "driver disengage button")
        if engage and not self._prev_buttons[0]:
            sm.handle(Event.ENGAGE, now_s, "driver engage button")
        self._prev_buttons = (engage, disengage)

        problem = self._problem(now_s, dt)
        if sm.state is SafetyState.ENGAGED and problem:
            sm.handle(Event.DEGRADED, now_s, problem)
        elif sm.state is SafetyState.DISENGAGED and not problem and self._ready_extra():
            sm.handle(Event.READY, now_s, "all inputs fresh, model healthy, CAN feedback valid")
        elif sm.state is SafetyState.READY and (problem or not self._ready_extra()):
            sm.handle(Event.NOT_READY, now_s, problem or "driver override or gateway not ready")
        if sm.state is SafetyState.READY and self.p.auto_engage:
            sm.handle(Event.ENGAGE, now_s, "auto-engage")
        if sm.state is SafetyState.MRM and fb.valid and abs(fb.speed_mps) < self.p.mrm.standstill_speed_mps:
            sm.handle(Event.STANDSTILL, now_s, f"standstill ({fb.speed_mps:.2f} m/s)")

    def _problem(self, now_s: float, dt: float) -> str:
        """Why the system may not drive now ('' when it may)."""
        if self._model_fault:
            reason, self._model_fault = f"model fault: {self._model_fault}", None
            return reason
        loop_timeout = self.p.timeouts_s["control_loop"]
        if dt > loop_timeout:
            return f"control loop stalled ({dt * 1e3:.0f} ms > {loop_timeout * 1e3:.0f} ms)"
        for name in INPUT_WATCHDOGS:
            dog = self.watchdogs[name]
            if dog.expired(now_s):
                age = dog.age_s(now_s)
                return (
                    f"{name} watchdog expired (age {age:.3f} s > {dog.timeout_s:.3f} s)"
                    if math.isfinite(age)
                    else f"{name}: nothing received yet"
                )
        if self._request is None:
            return "no actuator request yet"
        # in every state, not only ENGAGED: a request left from before an input gap (a simulator or camera
        # restart) must not make the gate READY, or an auto-engage would be followed at once by an MRM
        if now_s - self._request_arrival_s > self.p.max_request_age_s:
            return f"actuator request older than {self.p.max_request_age_s:.3f} s"
        return ""

    def _lane_keeping_steer(self, now_s: float) -> Optional[float]:
        """The steering of the latest request while it is fresh (as while engaged). Upstream keeps
        tracking the last valid trajectory, then the route, during an MRM (on odometry, or on the
        pose dead-reckoned from CAN feedback when odometry stops) and stops sending requests when
        nothing is left to follow: then None, and the wheel is held."""
        req = self._request
        if req is None or now_s - self._request_arrival_s > self.p.max_request_age_s:
            return None
        self.mrm_lane_keeping_periods += 1
        return req.steer_rad

    def _ready_extra(self) -> bool:
        fb = self.feedback
        return fb.valid and not (fb.driver_override or fb.brake_pedal or fb.gateway_fault)

    def _command(self, now_s: float, dt: float) -> ActuatorCommand:
        sm, fb = self.sm, self.feedback
        state = sm.state
        if not sm.commanding:
            self.envelope.seed(fb.steer_rad, fb.accel_mps2 if fb.valid else 0.0)
            self.watchdogs.relearn_clock()
            self.last_filters = ()
            # ENABLE=0 frames carry the values an engagement would start from (no jump on engage)
            return ActuatorCommand(
                now_s,
                self.envelope.prev_steer_rad,
                self.envelope.prev_accel_mps2,
                engaged=False,
                hazard=state is SafetyState.FAULT,
            )
        speed = fb.speed_mps if fb.valid else self.p.envelope.max_speed_mps  # unknown speed: tightest limits
        if state is SafetyState.ENGAGED:
            # cast: READY (so ENGAGED) needs a request (_problem), and it is never cleared
            req = cast(ActuatorRequest, self._request)
            limited = self.envelope.limit(req.steer_rad, req.accel_mps2, speed, dt)
            self.mrm.start(limited.accel_mps2, limited.steer_rad)
            self.last_filters = limited.filters
            return ActuatorCommand(
                now_s, limited.steer_rad, limited.accel_mps2, engaged=True, filters_active=limited.filters
            )
        standstill = fb.valid and abs(fb.speed_mps) < self.p.mrm.standstill_speed_mps
        if state is SafetyState.STOPPED or (state is SafetyState.FAULT and standstill):
            steer, accel = self.mrm.hold()
            hold = True
        else:  # MRM, or FAULT while (possibly) moving: brake in lane
            steer, accel = self.mrm.step(dt, self._lane_keeping_steer(now_s))
            hold = False
        limited = self.envelope.limit(steer, accel, speed, dt)
        self.last_filters = limited.filters
        return ActuatorCommand(
            now_s,
            limited.steer_rad,
            limited.accel_mps2,
            engaged=True,
            hazard=True,
            brake_hold=hold,
            filters_active=limited.filters,
        )
