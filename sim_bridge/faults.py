"""Fault injectors, shared by the fault-injection tests, `bench/safety.py` and `drive --inject`.

Each fault says what it breaks, which safe state the runtime must reach, and its deadline: the
watchdog timeout (or detection window) it is allowed, plus one control period.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from vehicle_runtime.safety.state_machine import SafetyState

CONTROL_PERIOD_S = 0.01


@dataclass(frozen=True)
class FaultSpec:
    name: str
    description: str
    safe_states: Tuple[SafetyState, ...]  # the first heartbeat in one of these is the "safe frame"
    end_state: SafetyState
    deadline_s: Callable[[Dict[str, float]], float]  # from the watchdog timeouts
    stops_car: bool = True
    # in a full drive the trajectory validator sees the model's output before the gate does
    drive_end_state: Optional[SafetyState] = None  # None: end_state

    @property
    def end_state_in_drive(self) -> SafetyState:
        return self.drive_end_state or self.end_state


def _timeout(name: str, extra_s: float = 0.0):
    return lambda t: t[name] + extra_s + CONTROL_PERIOD_S


def _fixed(seconds: float):
    return lambda t: seconds + CONTROL_PERIOD_S


MRM_OR_LATER = (SafetyState.MRM, SafetyState.STOPPED, SafetyState.FAULT)
FAULTY = (SafetyState.FAULT,)

FAULTS: Dict[str, FaultSpec] = {
    f.name: f
    for f in (
        FaultSpec("camera_stall", "camera frames stop", MRM_OR_LATER, SafetyState.STOPPED, _timeout("camera")),
        # the route watchdog means "the car is on a route it can follow" (route_check.py), not the message's age
        FaultSpec(
            "route_lost",
            "the route is withdrawn (an empty route arrives)",
            MRM_OR_LATER,
            SafetyState.STOPPED,
            _timeout("route"),
        ),
        FaultSpec("odometry_stall", "odometry stops", MRM_OR_LATER, SafetyState.STOPPED, _timeout("odometry")),
        FaultSpec(
            "model_hang", "the model stops producing outputs", MRM_OR_LATER, SafetyState.STOPPED, _timeout("policy")
        ),
        FaultSpec("model_nan", "the model outputs NaN", MRM_OR_LATER, SafetyState.STOPPED, _fixed(0.0)),
        FaultSpec("model_exception", "the model raises", MRM_OR_LATER, SafetyState.STOPPED, _fixed(0.0)),
        # the rig scripts the requests (the envelope clips them); in a drive the validator rejects the plan
        FaultSpec(
            "out_of_envelope",
            "the policy asks for far too much steering and acceleration",
            (SafetyState.ENGAGED,),
            SafetyState.ENGAGED,
            _fixed(0.0),
            stops_car=False,
            drive_end_state=SafetyState.STOPPED,
        ),
        # feedback at 100 Hz; the 10-period timeout runs from the last good frame, seen one period late
        FaultSpec(
            "feedback_loss",
            "the gateway's feedback reports stop",
            FAULTY,
            SafetyState.FAULT,
            _timeout("can_feedback", CONTROL_PERIOD_S),
        ),
        # 5 net bad frames of one 100 Hz message (opendbc's rule), seen one period late
        FaultSpec(
            "bad_counter",
            "feedback frames arrive with a wrong rolling counter",
            FAULTY,
            SafetyState.FAULT,
            _fixed(0.05),
        ),
        FaultSpec(
            "bad_checksum", "feedback frames arrive with a wrong checksum", FAULTY, SafetyState.FAULT, _fixed(0.05)
        ),
        # the gateway needs 3 bad command frames (one period), reports next period
        FaultSpec(
            "command_corruption",
            "command frames are corrupted on the way to the gateway",
            FAULTY,
            SafetyState.FAULT,
            _fixed(0.02),
        ),
        FaultSpec("error_frames", "a burst of CAN error frames", FAULTY, SafetyState.FAULT, _fixed(0.0)),
        FaultSpec("bus_off", "the CAN controller goes bus-off", FAULTY, SafetyState.FAULT, _fixed(0.0)),
        FaultSpec(
            "clock_jump",
            "the upstream clock jumps 10 s ahead",
            MRM_OR_LATER,
            SafetyState.STOPPED,
            lambda t: min(t["camera"], t["odometry"], t["policy"]) + CONTROL_PERIOD_S,
        ),
        FaultSpec(
            "control_loop_stall",
            "the control loop stalls for 85 ms",
            MRM_OR_LATER,
            SafetyState.STOPPED,
            _timeout("control_loop", 0.01),
        ),
        # override is reported by the gateway one period after the driver acts
        FaultSpec(
            "driver_override",
            "the driver turns the wheel",
            (SafetyState.DISENGAGED,),
            SafetyState.DISENGAGED,
            _fixed(CONTROL_PERIOD_S),
            stops_car=False,
        ),
    )
}


# --- plausibility faults: the student's output corrupted while finite and inside the actuator envelope.
# Each must be rejected by the trajectory validator within one camera period; the car then keeps the
# last valid trajectory, stops in its lane (MRM) and hits nothing.
SWERVE_LAT_ACCEL_MPS2 = 2.5  # below the envelope's 3.0 m/s²: the tracker could follow it
PHANTOM_ACCEL_MPS2 = 2.0  # the envelope's largest acceleration
PLAUSIBILITY_FAULTS: Dict[str, str] = {
    "swerve": "the plan bends out of the lane at 2.5 m/s² lateral acceleration",
    "phantom_accel": "the plan accelerates 2 m/s² more than the model planned (towards any lead)",
    "reversed_heading": "the plan points backwards",
}


def corrupt(fault: str, out, ego_speed_mps: float):
    """The policy output `out` (a PolicyOutput) as the plausibility fault `fault` turns it."""
    from dataclasses import replace

    import numpy as np

    traj = np.asarray(out.trajectory_ego_xy_m, dtype=np.float64)
    t = np.arange(1, len(traj) + 1) * out.dt_s
    if fault == "swerve":
        bent = traj.copy()
        bent[:, 1] -= 0.5 * SWERVE_LAT_ACCEL_MPS2 * t**2  # to the right: off the road or into a kerb
        return replace(out, trajectory_ego_xy_m=bent)
    if fault == "phantom_accel":  # on top of the model's own speeds; the envelope still caps the command
        planned = (
            out.speed_profile_mps
            if out.speed_profile_mps is not None
            else np.hypot(*np.diff(np.vstack(([0.0, 0.0], traj)), axis=0).T) / out.dt_s
        )
        speeds = np.asarray(planned, dtype=np.float64) + PHANTOM_ACCEL_MPS2 * t
        s_new = np.cumsum(0.5 * (np.concatenate(([ego_speed_mps], speeds[:-1])) + speeds) * out.dt_s)
        pts = np.vstack(([0.0, 0.0], traj))
        s_old = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))))
        if s_old[-1] > s_old[-2]:  # extend the path straight beyond its end
            d = (pts[-1] - pts[-2]) / (s_old[-1] - s_old[-2])
            pts = np.vstack((pts, pts[-1] + d * 1000.0))
            s_old = np.append(s_old, s_old[-1] + 1000.0)
        moved = np.stack((np.interp(s_new, s_old, pts[:, 0]), np.interp(s_new, s_old, pts[:, 1])), axis=1)
        return replace(out, trajectory_ego_xy_m=moved, speed_profile_mps=speeds)
    if fault == "reversed_heading":
        return replace(out, trajectory_ego_xy_m=-traj)
    raise ValueError(f"unknown plausibility fault '{fault}'")
