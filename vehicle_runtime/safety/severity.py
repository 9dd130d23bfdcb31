"""How serious each safety state and watchdog is, judged here beside the states (not in a message
conversion): the levels of diagnostic_msgs/DiagnosticStatus, for /diagnostics, the recorder and reports."""

from __future__ import annotations

from .state_machine import SafetyState

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels

STATE_LEVEL = {
    SafetyState.DISENGAGED: OK,  # a driver drives: nothing wrong
    SafetyState.READY: OK,
    SafetyState.ENGAGED: OK,
    SafetyState.MRM: ERROR,  # something failed and the car is stopping itself
    SafetyState.STOPPED: ERROR,  # stopped after an MRM: needs a reset
    SafetyState.FAULT: ERROR,  # latched until an explicit reset
}


def state_level(state: SafetyState) -> int:
    return STATE_LEVEL[state]


def watchdog_level(expired: bool) -> int:
    return ERROR if expired else OK
