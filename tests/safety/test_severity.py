"""Every safety state has a diagnostics level, decided beside the states."""

from vehicle_runtime.safety.severity import ERROR, OK, STATE_LEVEL, state_level, watchdog_level
from vehicle_runtime.safety.state_machine import SafetyState


def test_every_state_has_a_level_and_only_the_stopping_ones_are_errors():
    assert set(STATE_LEVEL) == set(SafetyState)
    assert {s for s in SafetyState if state_level(s) == ERROR} == {
        SafetyState.MRM,
        SafetyState.STOPPED,
        SafetyState.FAULT,
    }
    assert watchdog_level(True) == ERROR and watchdog_level(False) == OK
