"""The safety state machine: one explicit transition table, every transition recorded with its reason.

    DISENGAGED ⇄ READY → ENGAGED → MRM → STOPPED
    any state → FAULT on a critical fault (latched until an explicit reset)
    driver override → DISENGAGED at once (the driver always wins; FAULT stays latched)

Values match the HEARTBEAT.STATE signal of the DBC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


class SafetyState(enum.IntEnum):
    DISENGAGED = 0
    READY = 1
    ENGAGED = 2
    MRM = 3
    STOPPED = 4
    FAULT = 5


class Event(enum.Enum):
    READY = "ready"  # every input fresh, model healthy, CAN feedback valid
    NOT_READY = "not_ready"
    ENGAGE = "engage"  # driver button on CAN, software request, or auto-engage
    DISENGAGE = "disengage"  # driver button or software request
    DRIVER_OVERRIDE = "driver_override"  # steering torque or brake pedal
    DEGRADED = "degraded"  # an input or the model went stale / bad while engaged
    STANDSTILL = "standstill"
    CRITICAL = "critical"  # CAN bus-off, feedback invalid, gateway fault
    RESET = "reset"  # explicit operator reset


S, E = SafetyState, Event

# (state, event) → next state. Pairs not listed leave the state unchanged (and are recorded as ignored).
TRANSITIONS: Dict[Tuple[SafetyState, Event], SafetyState] = {
    (S.DISENGAGED, E.READY): S.READY,
    (S.DISENGAGED, E.CRITICAL): S.FAULT,
    (S.READY, E.NOT_READY): S.DISENGAGED,
    (S.READY, E.ENGAGE): S.ENGAGED,
    (S.READY, E.CRITICAL): S.FAULT,
    (S.READY, E.DRIVER_OVERRIDE): S.DISENGAGED,
    (S.ENGAGED, E.DISENGAGE): S.DISENGAGED,
    (S.ENGAGED, E.DRIVER_OVERRIDE): S.DISENGAGED,
    (S.ENGAGED, E.DEGRADED): S.MRM,
    (S.ENGAGED, E.NOT_READY): S.MRM,
    (S.ENGAGED, E.CRITICAL): S.FAULT,
    (S.MRM, E.STANDSTILL): S.STOPPED,
    (S.MRM, E.DRIVER_OVERRIDE): S.DISENGAGED,
    (S.MRM, E.CRITICAL): S.FAULT,
    (S.STOPPED, E.RESET): S.DISENGAGED,
    (S.STOPPED, E.DRIVER_OVERRIDE): S.DISENGAGED,
    (S.STOPPED, E.CRITICAL): S.FAULT,
    (S.FAULT, E.RESET): S.DISENGAGED,
}


@dataclass(frozen=True)
class Transition:
    stamp_s: float
    before: SafetyState
    after: SafetyState
    event: Event
    reason: str


class SafetyStateMachine:
    def __init__(self, history: int = 1000):
        self.state = SafetyState.DISENGAGED
        self.transitions: List[Transition] = []
        self.ignored: Dict[Tuple[SafetyState, Event], int] = {}
        self._history = history
        self.fault_reason: Optional[str] = None
        self.driver_override_in_fault = False
        self._fault_while_commanding = False  # a FAULT from DISENGAGED must not start braking

    def handle(self, event: Event, stamp_s: float, reason: str = "") -> bool:
        """Apply `event`; True when the state changed."""
        after = TRANSITIONS.get((self.state, event))
        if event is Event.DRIVER_OVERRIDE and self.state is SafetyState.FAULT:
            self.driver_override_in_fault = True  # FAULT stays latched, but the driver has control
        if after is None:
            key = (self.state, event)
            self.ignored[key] = self.ignored.get(key, 0) + 1
            return False
        if after is SafetyState.FAULT:
            self.fault_reason = reason or event.value
            self._fault_while_commanding = self.commanding
        if self.state is SafetyState.FAULT:
            self.fault_reason = None
            self.driver_override_in_fault = False
        self.transitions.append(Transition(stamp_s, self.state, after, event, reason or event.value))
        if len(self.transitions) > self._history:
            del self.transitions[0]
        self.state = after
        return True

    @property
    def last_reason(self) -> str:
        return self.transitions[-1].reason if self.transitions else ""

    @property
    def commanding(self) -> bool:
        """Whether the gate puts ENABLE=1 commands on the bus in this state."""
        if self.state is SafetyState.FAULT:
            return self._fault_while_commanding and not self.driver_override_in_fault
        return self.state in (SafetyState.ENGAGED, SafetyState.MRM, SafetyState.STOPPED)
