"""The online trajectory validator between the student and the tracker (Autoware's planning_validator).

Every model output is checked against the rules of `rules.py`. A valid one becomes the trajectory
the tracker follows. On an invalid one the configured action applies: `keep_last` keeps following
the last valid trajectory for at most `hold_max_s` (never beyond its own horizon), then asks for
an MRM; `mrm` asks at once. With no valid plan yet (start-up, or after a reset) there is nothing to hold:
invalid plans are refused without an MRM request for at most `hold_max_s` from the first of them (no plan is
followed meanwhile: the pipeline follows the route to a stop where the car is on one, else no request reaches
the gate), then MRM. A last valid plan that comes to rest (below `standstill_speed_mps` to its end)
takes the car where an MRM would: refused plans keep it following that plan to its stop (`hold_max_s` beyond
the plan's stop time, for the car to get there) and, once the car stands, hold it there (the plan's path at
speed 0) instead of asking for an MRM, until the plan no longer covers the new ones (its horizon: then they are
judged alone, as at start-up) and at most `hold_max_s` beyond. A start that jumps from a stop is delayed,
neither let through nor turned into an MRM.
A model confidence below `min_confidence` degrades: the speed profile is
capped at `low_confidence_speed_cap_mps`, and after `low_confidence_mrm_after_s` of it, MRM.
Once it has asked for an MRM because of invalid plans it accepts none until `reset` (a new plan
could no longer be compared with a recent valid one). Durations are measured on the outputs' own
stamps. `status` is what nodes publish.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Dict, Optional, Tuple

import numpy as np

from ..types import PolicyOutput
from .rules import RULES, Lead, ValidatorParams, ratios, speeds_of

ACTIONS = ("keep_last", "mrm")


@dataclass
class ValidatorStatus:
    checked: int = 0
    rejected: int = 0
    rejected_by_rule: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    consecutive_rejected: int = 0
    last_failed: Tuple[str, ...] = ()
    low_confidence: int = 0  # outputs below min_confidence (speed capped)
    standstill_holds: int = 0  # refused plans while the car stood: it was held where it stands
    mrm_requests: int = 0
    fault: str = ""  # set while the validator asks for an MRM
    latched: bool = False  # invalid for too long: nothing is accepted until reset

    def as_dict(self) -> dict:
        return {
            "checked": self.checked,
            "rejected": self.rejected,
            "consecutive_rejected": self.consecutive_rejected,
            "rejected_by_rule": {k: v for k, v in self.rejected_by_rule.items() if v},
            "last_failed": list(self.last_failed),
            "low_confidence": self.low_confidence,
            "standstill_holds": self.standstill_holds,
            "mrm_requests": self.mrm_requests,
            "fault": self.fault,
            "latched": self.latched,
        }


@dataclass(frozen=True)
class Verdict:
    valid: bool
    failed: Tuple[str, ...]
    ratios: Dict[str, float]


class TrajectoryValidator:
    def __init__(self, params: ValidatorParams):
        if params.action not in ACTIONS:
            raise ValueError(f"validator action '{params.action}' is not one of {ACTIONS}")
        self.p = params
        self.status = ValidatorStatus()
        self.last_valid: Optional[PolicyOutput] = None
        self.last_verdict: Optional[Verdict] = None
        self._low_confidence_since_s: Optional[float] = None
        self._refused_since_s: Optional[float] = None  # stamp of the first refused plan since the last valid one

    def reset(self) -> None:
        self.status = ValidatorStatus()
        self.last_valid = None
        self.last_verdict = None
        self._low_confidence_since_s = None
        self._refused_since_s = None

    def forget_reference(self) -> None:
        """The last valid plan is no reference for the next (it was made for another route). The time since
        the first refused plan and a requested MRM stay: a route change neither restarts nor lifts them."""
        self.last_valid = None

    def check(self, out: PolicyOutput, ego_speed_mps: float, lead: Optional[Lead] = None) -> Verdict:
        """Rules only, no state change (also what the offline score uses)."""
        r = ratios(out, ego_speed_mps, self.p, self._reference(out), lead)
        failed = tuple(k for k, v in r.items() if not v <= 1.0)  # NaN ratios fail too
        return Verdict(not failed, failed, r)

    def accept(self, out: PolicyOutput, ego_speed_mps: float, lead: Optional[Lead] = None) -> Optional[PolicyOutput]:
        """The trajectory to follow now (speed-capped on low confidence; the last valid path at speed 0 while a
        standing car's plans are refused), or None: keep the last valid."""
        s = self.status
        s.checked += 1
        verdict = self.last_verdict = self.check(out, ego_speed_mps, lead)
        s.last_failed = verdict.failed
        if not verdict.valid or s.latched:
            s.rejected += 1
            s.consecutive_rejected += 1
            for rule in verdict.failed:
                s.rejected_by_rule[rule] += 1
            return self._invalid(out, ego_speed_mps) if not s.latched else None
        s.consecutive_rejected = 0
        self._refused_since_s = None
        followed = self._confidence(out)
        self.last_valid = out  # the reference for the next plan is what the model said, not the cap
        return followed

    def _reference(self, out: PolicyOutput) -> Optional[PolicyOutput]:
        """The last valid plan, while it still covers the new one's start."""
        lv = self.last_valid
        if lv is None or out.stamp_s - lv.stamp_s > self._horizon_s(lv):
            return None
        return lv

    def _horizon_s(self, out: PolicyOutput) -> float:
        return len(out.trajectory_ego_xy_m) * out.dt_s

    def _invalid(self, out: PolicyOutput, ego_speed_mps: float) -> Optional[PolicyOutput]:
        """None: keep following the last valid plan; or the plan to follow instead (a standstill hold)."""
        if self._refused_since_s is None:
            self._refused_since_s = out.stamp_s
        lv = self.last_valid
        if self.p.action == "mrm":
            self._fault(f"trajectory invalid ({', '.join(self.status.last_failed)})")
            self.status.latched = True
            return None
        if lv is None:  # nothing to hold, nothing followed: a model's first plans get hold_max_s to become valid
            waited_s = out.stamp_s - self._refused_since_s
            if not waited_s <= self.p.hold_max_s:
                self._fault(
                    f"no valid trajectory for {waited_s:.2f} s > {self.p.hold_max_s:.2f} s "
                    f"({', '.join(self.status.last_failed)})"
                )
                self.status.latched = True
            return None
        held_s = out.stamp_s - lv.stamp_s
        standing = abs(ego_speed_mps) < self.p.standstill_speed_mps
        stop_s = self._stop_s(lv)
        if stop_s is None:  # a plan that keeps driving goes stale: hold it briefly
            limit_s = min(self.p.hold_max_s, self._horizon_s(lv))
        elif standing:  # where an MRM would bring the car: held until the new plans are judged alone, and beyond
            limit_s = self._horizon_s(lv) + self.p.hold_max_s
        else:  # a plan that stops is followed to its stop (and the usual hold beyond, for the car to get there)
            limit_s = stop_s + self.p.hold_max_s
        if not held_s <= limit_s:
            self._fault(
                f"trajectory invalid for {held_s:.2f} s > {limit_s:.2f} s ({', '.join(self.status.last_failed)})"
            )
            self.status.latched = True
            return None
        if standing and stop_s is not None:
            self.status.standstill_holds += 1
            return replace(lv, speed_profile_mps=np.zeros(len(lv.trajectory_ego_xy_m)))
        return None

    def _stop_s(self, out: PolicyOutput) -> Optional[float]:
        """When the plan has brought the car to rest (its speed below standstill_speed_mps, and staying there
        to its end); None for a plan that keeps driving."""
        moving = np.flatnonzero(~(speeds_of(out) < self.p.standstill_speed_mps))  # NaN counts as moving
        if len(moving) == len(out.trajectory_ego_xy_m):
            return None
        return (int(moving[-1]) + 2 if len(moving) else 1) * out.dt_s

    def _confidence(self, out: PolicyOutput) -> PolicyOutput:
        if out.confidence >= self.p.min_confidence:
            self._low_confidence_since_s = None
            return out
        self.status.low_confidence += 1
        if self._low_confidence_since_s is None:
            self._low_confidence_since_s = out.stamp_s
        low_s = out.stamp_s - self._low_confidence_since_s
        if low_s >= self.p.low_confidence_mrm_after_s:
            self._fault(f"model confidence {out.confidence:.2f} < {self.p.min_confidence:.2f} for {low_s:.2f} s")
        cap = self.p.low_confidence_speed_cap_mps
        return replace(out, speed_profile_mps=np.minimum(speeds_of(out), cap))

    def _fault(self, reason: str) -> None:
        self.status.mrm_requests += 1
        self.status.fault = reason

    def take_fault(self) -> str:
        """The pending MRM request ('' when none); cleared by reading (the gate latches the MRM)."""
        reason, self.status.fault = self.status.fault, ""
        return reason


def params_from(v: dict, vehicle) -> ValidatorParams:
    """From the vehicle-interface parameters (`validator_*`) and the vehicle profile."""
    p = {k[len("validator_") :]: val for k, val in v.items() if k.startswith("validator_")}
    if "max_curvature_1pm" not in p:  # the tightest turn the car can drive
        p["max_curvature_1pm"] = math.tan(vehicle.max_steer_rad) / vehicle.wheelbase_m
    return ValidatorParams(
        wheelbase_m=vehicle.wheelbase_m,
        max_steer_rad=vehicle.max_steer_rad,
        max_steer_rate_radps=vehicle.max_steer_rate_radps,
        max_accel_mps2=vehicle.max_accel_mps2,
        max_decel_mps2=vehicle.max_decel_mps2,
        **p,
    )
