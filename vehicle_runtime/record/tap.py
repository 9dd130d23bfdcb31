"""RecordingRuntime: an OnboardRuntime that records what goes in and what comes out, as it runs.

Wrap once (`runtime = RecordingRuntime(runtime, recorder)`); every other attribute is the runtime's.
Inputs are recorded as they are handed over, outputs as they are produced, the CAN frames as the
vehicle interface reads and sends them, and one `/vehicle_runtime/tick` per control period (replay
runs the policy and the gate on those, in the same order as here).

Validator hook: when the runtime or its pipeline carries a trajectory validator with a `last_verdict`
(a dataclass such as validation.Verdict{valid, failed, ratios}, or a dict), each verdict given to a
new model output is recorded on /policy/validation as JSON with the output's `stamp_s`; replay
compares them. Without a validator, nothing is recorded there.
"""

from __future__ import annotations

import dataclasses
import json
import math

from . import canframe, convert
from .recorder import Recorder

INFO_EVERY_S = 1.0
DIAGNOSTICS_EVERY = 10  # ticks: 10 Hz


class _RecordingBus:
    """The vehicle interface's bus, recording every frame read (/can/rx) and sent (/can/tx)."""

    def __init__(self, bus, tap: "RecordingRuntime"):
        self._bus, self._tap = bus, tap

    def recv(self, timeout=None):
        frame = self._bus.recv(timeout=timeout)
        if frame is not None:
            self._tap.rec.record("/can/rx", canframe.to_msg(frame, self._tap.now_s), self._tap.now_s)
        return frame

    def send(self, msg, timeout=None):
        self._bus.send(msg, timeout=timeout) if timeout is not None else self._bus.send(msg)
        self._tap.rec.record("/can/tx", canframe.to_msg(msg, self._tap.now_s), self._tap.now_s)

    def __getattr__(self, name):
        return getattr(self._bus, name)


class RecordingRuntime:
    def __init__(self, runtime, recorder: Recorder):
        self._rt = runtime
        self.rec = recorder
        self.now_s = 0.0
        self._ticks = 0
        self._last_info_s = -math.inf
        self._state = None
        self._last_transition = None
        self._last_verdict = None
        runtime.vi.bus = _RecordingBus(runtime.vi.bus, self)
        control = runtime.pipeline.control

        def recorded_control(ego, now_s, dt_s):
            req = control(ego, now_s, dt_s)
            if req is not None:
                self.rec.record("/control/request", convert.request(req), now_s)
            return req

        runtime.pipeline.control = recorded_control  # this instance only

    def __getattr__(self, name):
        return getattr(self._rt, name)

    # --- inputs ----------------------------------------------------------------------------------
    def on_camera(self, frame, now_s: float) -> None:
        self.now_s = now_s
        self.rec.camera(frame, now_s)
        if self.rec.camera_info and now_s - self._last_info_s >= INFO_EVERY_S - 1e-9:
            self.rec.record("/camera/camera_info", convert.camera_info(frame.stamp_s, *self.rec.camera_info), now_s)
            self._last_info_s = now_s
        self._rt.on_camera(frame, now_s)

    def on_odometry(self, ego, now_s: float) -> None:
        self.now_s = now_s
        self.rec.record("/navigation/odometry", convert.odometry(ego), now_s)
        self.rec.record("/vehicle/status/drive", convert.drive_status(ego), now_s)
        self._rt.on_odometry(ego, now_s)

    def on_route(self, route, now_s: float) -> None:
        self.now_s = now_s
        self.rec.record("/navigation/route", convert.route(route), now_s)
        self._rt.on_route(route, now_s)

    # --- outputs ---------------------------------------------------------------------------------
    def step_policy(self, now_s: float):
        self.now_s = now_s
        out = self._rt.step_policy(now_s)
        if out is not None:
            self.rec.record("/policy/trajectory", convert.trajectory(out), now_s)
            if out.reasoning_text:
                self.rec.record("/policy/reasoning", convert.text(out.reasoning_text), now_s)
            verdict = _validator_verdict(self._rt)
            if verdict is not None and verdict is not self._last_verdict:
                self._last_verdict = verdict
                doc = {"stamp_s": out.stamp_s, **_as_dict(verdict)}
                self.rec.record("/policy/validation", convert.text(json.dumps(doc, default=str)), now_s)
        return out

    def tick(self, now_s: float, dt_s: float):
        self.now_s = now_s
        self.rec.record("/vehicle_runtime/tick", convert.tick(now_s), now_s)
        status = self._rt.tick(now_s, dt_s)
        self._outputs(status, now_s)
        return status

    def shutdown(self, now_s: float) -> None:
        self.now_s = now_s
        self._rt.shutdown(now_s)

    def _outputs(self, status, now_s: float) -> None:
        rec = self.rec
        rec.record("/vehicle/command", convert.command(status.command, now_s), now_s)
        if status.state is not self._state:
            rec.record("/vehicle/safety_state", convert.text(status.state.name), now_s)
            self._state = status.state
        transitions = self._rt.gate.sm.transitions
        new = transitions[_after(transitions, self._last_transition) :]
        for tr in new:
            rec.record("/vehicle/safety_transition", convert.transition(tr), now_s)
        if new:
            self._last_transition = new[-1]
        if self._ticks % DIAGNOSTICS_EVERY == 0:
            rec.record("/diagnostics", convert.diagnostics(now_s, status), now_s)
        self._ticks += 1


def _after(transitions, last) -> int:
    if last is None:
        return 0
    for i in range(len(transitions) - 1, -1, -1):
        if transitions[i] is last:
            return i + 1
    return 0


def _validator_verdict(runtime):
    for owner in (runtime, getattr(runtime, "pipeline", None)):
        validator = getattr(owner, "validator", None)
        if validator is not None:
            return getattr(validator, "last_verdict", None)
    return None


def _as_dict(verdict) -> dict:
    if isinstance(verdict, dict):
        return verdict
    if dataclasses.is_dataclass(verdict) and not isinstance(verdict, type):
        return dataclasses.asdict(verdict)
    return {k: v for k, v in vars(verdict).items() if not k.startswith("_")}
