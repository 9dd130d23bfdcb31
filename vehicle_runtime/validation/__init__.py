"""Trajectory validation: the rules (after Autoware's planning_validator), the online validator
between the student and the tracker, and the same rules as a bounded penalty score."""

from .rules import RULES, Lead, ValidatorParams, ratios
from .validator import TrajectoryValidator, ValidatorStatus, Verdict, params_from

__all__ = [
    "RULES",
    "Lead",
    "ValidatorParams",
    "ratios",
    "TrajectoryValidator",
    "ValidatorStatus",
    "Verdict",
    "params_from",
]
