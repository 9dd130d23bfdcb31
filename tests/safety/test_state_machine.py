"""Every state × event pair of the safety state machine: the listed ones move, the rest are ignored."""

import itertools

import pytest

from vehicle_runtime.safety.state_machine import TRANSITIONS, Event, SafetyState, SafetyStateMachine

S, E = SafetyState, Event

EXPECTED = {  # written out independently of TRANSITIONS, so a changed table fails here
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


def machine_in(state: SafetyState) -> SafetyStateMachine:
    sm = SafetyStateMachine()
    path = {
        S.DISENGAGED: [],
        S.READY: [E.READY],
        S.ENGAGED: [E.READY, E.ENGAGE],
        S.MRM: [E.READY, E.ENGAGE, E.DEGRADED],
        S.STOPPED: [E.READY, E.ENGAGE, E.DEGRADED, E.STANDSTILL],
        S.FAULT: [E.READY, E.ENGAGE, E.CRITICAL],
    }[state]
    for ev in path:
        assert sm.handle(ev, 0.0)
    assert sm.state is state
    return sm


def test_table_is_the_specified_one():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize("state,event", list(itertools.product(SafetyState, Event)))
def test_every_state_event_pair(state, event):
    sm = machine_in(state)
    before = len(sm.transitions)
    changed = sm.handle(event, 1.0, "because")
    want = EXPECTED.get((state, event))
    if want is None:
        assert not changed and sm.state is state and sm.ignored[(state, event)] == 1
        assert len(sm.transitions) == before
    else:
        assert changed and sm.state is want
        t = sm.transitions[-1]
        assert (t.before, t.after, t.event, t.reason, t.stamp_s) == (state, want, event, "because", 1.0)


def test_engage_only_from_ready():
    for state in SafetyState:
        if state is not S.READY:
            sm = machine_in(state)
            sm.handle(E.ENGAGE, 0.0)
            assert sm.state is not S.ENGAGED or state is S.ENGAGED


def test_commanding_per_state():
    assert [machine_in(s).commanding for s in SafetyState] == [False, False, True, True, True, True]


def test_fault_latched_and_override_hands_control_to_driver():
    sm = machine_in(S.FAULT)
    assert sm.fault_reason == "critical" and sm.commanding
    for ev in Event:
        if ev is not E.RESET:
            sm.handle(ev, 0.0)
            assert sm.state is S.FAULT
    assert sm.driver_override_in_fault and not sm.commanding  # DRIVER_OVERRIDE was among the events
    sm.handle(E.RESET, 0.0)
    assert sm.state is S.DISENGAGED and sm.fault_reason is None and not sm.driver_override_in_fault


def test_fault_from_disengaged_never_commands():
    sm = SafetyStateMachine()
    sm.handle(E.CRITICAL, 0.0, "CAN bus-off")
    assert sm.state is S.FAULT and sm.fault_reason == "CAN bus-off" and not sm.commanding
