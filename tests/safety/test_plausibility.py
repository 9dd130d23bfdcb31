"""Plausibility faults: the student's output corrupted while finite and inside the actuator envelope
(swerve, phantom acceleration towards the lead, reversed heading). The validator must reject the
first corrupted output, within one camera period; the car keeps the last valid plan, then stops in
its lane (MRM) and hits nothing."""

import pytest

from sim_bridge.faults import PLAUSIBILITY_FAULTS
from sim_bridge.mrm_lane import plausibility_row

CAMERA_PERIOD_S = 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault,scenario",
    [
        ("swerve", "curvy_road"),
        ("reversed_heading", "junction_left"),
        ("phantom_accel", "lead_braking"),
        ("phantom_accel", "curvy_road"),
    ],
)
def test_plausibility_fault_is_caught_and_the_car_stops_in_lane(fault, scenario):
    assert fault in PLAUSIBILITY_FAULTS
    row = plausibility_row(fault, scenario, at_s=4.0, duration_s=11.0)
    assert row["caught_after_s"] is not None and row["caught_after_s"] <= CAMERA_PERIOD_S + 1e-9, row
    assert row["accepted_before_catch"] == 0, row
    assert row["final_state"] == "STOPPED" and row["final_speed_mps"] == 0.0, row
    assert row["off_road_events"] == 0 and row["lane_invasions"] == 0 and row["collisions"] == 0, row
    if scenario == "lead_braking":  # the lead it accelerates towards
        assert row["min_gap_m"] is not None and row["min_gap_m"] > 2.0, row
