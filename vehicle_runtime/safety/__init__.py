"""Safety: state machine, watchdogs, envelope limiter, MRM, and the gate that combines them."""

from .envelope import EnvelopeLimiter, EnvelopeParams
from .gate import GateStatus, SafetyGate, SafetyParams
from .mrm import MrmOperator, MrmParams
from .state_machine import TRANSITIONS, Event, SafetyState, SafetyStateMachine
from .watchdog import Watchdog, WatchdogSet

__all__ = [
    "EnvelopeLimiter",
    "EnvelopeParams",
    "GateStatus",
    "SafetyGate",
    "SafetyParams",
    "MrmOperator",
    "MrmParams",
    "Event",
    "SafetyState",
    "SafetyStateMachine",
    "TRANSITIONS",
    "Watchdog",
    "WatchdogSet",
]
