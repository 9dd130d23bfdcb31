"""Lane keeping under MRM and the plausibility faults, in full closed-loop drives on the embedded
simulator: shared by tests/safety and `bench/safety.py`.

`mrm_row` injects one fault that leads to an MRM at one time and reports how far from the route
centre the car got from the MRM's start to its stop (`mrm_lateral_max_m`). `plausibility_row`
corrupts the student's output and reports when the validator first rejected it.
"""

from __future__ import annotations

from typing import Dict, Optional

from .embedded.drive import DriveOptions, run_drive
from .faults import FAULTS

# every fault whose reaction is an MRM in a drive (the out-of-envelope plan: the validator's MRM)
MRM_FAULTS = tuple(sorted(n for n, f in FAULTS.items() if f.end_state_in_drive.name == "STOPPED"))
# (scenario, injection times): the curve and the junctions, before, in and after the turn
MRM_CASES = (
    ("curvy_road", (5.0, 9.0, 13.0)),
    ("junction_left", (4.0, 8.0)),
    ("junction_right", (4.0, 8.0)),
    ("junction_straight", (6.0,)),
)
STOP_WITHIN_S = 10.0  # longest: the 3 s route timeout, the 1.7 s jerk ramp, then 12 m/s down at 2.5 m/s² (8.7 s)


def mrm_row(fault: str, scenario: str, at_s: float, policy: str = "expert") -> Dict[str, object]:
    r = run_drive(
        DriveOptions(scenario=scenario, policy=policy, duration_s=at_s + STOP_WITHIN_S, inject=[(fault, at_s)])
    )
    tl, m = r.timeline, r.metrics
    start = next((i for i, s in enumerate(tl["state"]) if s in ("MRM", "STOPPED", "FAULT")), None)
    lateral = [abs(v) for v in tl["lateral"][start:]] if start is not None else []
    return {
        "fault": fault,
        "scenario": scenario,
        "at_s": at_s,
        "final_state": r.safety_state_final,
        "final_speed_mps": tl["speed"][-1],
        "off_road_events": m["off_road_events"],
        "lane_invasions": m["lane_invasions"],
        "collisions": m["collisions"],
        "mrm_lateral_max_m": max(lateral) if lateral else None,
    }


def plausibility_row(
    fault: str, scenario: str = "curvy_road", at_s: float = 4.0, duration_s: float = 11.0
) -> Dict[str, object]:
    r = run_drive(DriveOptions(scenario=scenario, policy="student", duration_s=duration_s, inject=[(fault, at_s)]))
    after = [(o.stamp_s, v) for o, _, v in r.policy_record if o.stamp_s >= at_s - 1e-9 and v is not None]
    first_rejected: Optional[float] = next((t for t, v in after if not v.valid), None)
    accepted_before = sum(1 for t, v in after if v.valid and (first_rejected is None or t < first_rejected))
    m = r.metrics
    return {
        "fault": fault,
        "scenario": scenario,
        "at_s": at_s,
        "caught_after_s": None if first_rejected is None else first_rejected - at_s,
        "first_output_rejected": bool(after) and not after[0][1].valid,
        "accepted_before_catch": accepted_before,
        "rules": sorted({rule for _, v in after for rule in v.failed}),
        "final_state": r.safety_state_final,
        "final_speed_mps": r.timeline["speed"][-1],
        "off_road_events": m["off_road_events"],
        "lane_invasions": m["lane_invasions"],
        "collisions": m["collisions"],
        "lateral_max_m": m["lateral_max_m"],
        "min_gap_m": m["min_gap_m"],
        "validator_rejected": r.validator_status.get("rejected", 0),
    }
