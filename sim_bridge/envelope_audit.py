"""Audit a CAN log against the envelope, independently of the sender.

The log is read with python-can's LogReader (format by extension) and decoded with cantools
straight from the DBC (not through vehicle_runtime's codec). Every enabled command is checked
against the limits at the speed last reported by the vehicle before it.

Rules checked: |steer| ≤ steer_lim(v); v²·|tan δ|/L ≤ lat_acc_lim(v); −decel_lim(v) ≤ a ≤
accel_lim(v); a ≤ 0 at or above the maximum speed; |Δsteer| ≤ rate(v)·dt, |Δa| ≤ jerk(v)·dt and
|Δ lateral acceleration| ≤ lat_jerk(v)·dt against the previous frame — a step larger than a rate
limit is accepted only when it goes towards zero onto a bound that shrank (the bound wins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

import can
import numpy as np

from vehicle_runtime.can.codec import decode_signals, load_dbc
from vehicle_runtime.safety.envelope import EnvelopeParams

TOL_STEER_RAD = 2e-4  # DBC resolution 1e-4 rad, twice for rounding on both frames
TOL_ACCEL_MPS2 = 2e-3
TOL_SPEED_MPS = 0.01


@dataclass(frozen=True)
class CommandRecord:
    t_s: float
    speed_mps: float  # last speed the vehicle reported before this command
    steer_rad: float
    accel_mps2: float
    enabled: bool


@dataclass(frozen=True)
class Violation:
    t_s: float
    rule: str
    detail: str


def audit(records: Iterable[CommandRecord], p: EnvelopeParams, min_dt_s: float = 1e-3) -> List[Violation]:
    """`min_dt_s`: for logs stamped at reception in real time, the control period (frames can
    arrive closer together than the gate computed them)."""
    out: List[Violation] = []
    prev: Optional[CommandRecord] = None
    table = lambda name, v: float(np.interp(abs(v), p.reference_speeds_mps, getattr(p, name)))  # noqa: E731
    L = p.wheelbase_m
    for r in records:
        if r.enabled:
            # the gate saw the speed quantised by the DBC, so allow its resolution on the speed too
            v = r.speed_mps
            v_hi = v + TOL_SPEED_MPS
            steer_lim = max(table("steer_lim_rad", v), table("steer_lim_rad", v_hi))
            if abs(r.steer_rad) > steer_lim + TOL_STEER_RAD:
                out.append(Violation(r.t_s, "steer_lim", f"|{r.steer_rad:.4f}| > {steer_lim:.4f} at {v:.2f} m/s"))
            lat = (max(v - TOL_SPEED_MPS, 0.0) ** 2) * abs(math.tan(r.steer_rad)) / L
            lat_lim = table("lat_acc_lim_mps2", v) + v_hi * v_hi * TOL_STEER_RAD / L * 2
            if lat > lat_lim:
                out.append(Violation(r.t_s, "lat_acc", f"{lat:.3f} > {lat_lim:.3f} m/s² at {v:.2f} m/s"))
            lo, hi = -table("decel_lim_mps2", v), table("accel_lim_mps2", v)
            if not (lo - TOL_ACCEL_MPS2 <= r.accel_mps2 <= hi + TOL_ACCEL_MPS2):
                out.append(Violation(r.t_s, "lon_acc", f"{r.accel_mps2:.3f} outside [{lo:.2f}, {hi:.2f}]"))
            if v - TOL_SPEED_MPS >= p.max_speed_mps and r.accel_mps2 > TOL_ACCEL_MPS2:
                out.append(Violation(r.t_s, "velocity", f"accelerating at {v:.2f} m/s >= {p.max_speed_mps}"))
            if prev is not None:
                dt = max(r.t_s - prev.t_s, min_dt_s)
                _rate(
                    out,
                    r,
                    "steer_rate",
                    prev.steer_rad,
                    r.steer_rad,
                    table("steer_rate_lim_radps", v) * dt,
                    TOL_STEER_RAD,
                    steer_lim,
                )
                _rate(
                    out,
                    r,
                    "lon_jerk",
                    prev.accel_mps2,
                    r.accel_mps2,
                    table("lon_jerk_lim_mps3", v) * dt,
                    TOL_ACCEL_MPS2,
                    None,
                )
                lat_now = v * v * math.tan(r.steer_rad) / L
                lat_prev = v * v * math.tan(prev.steer_rad) / L
                _rate(
                    out,
                    r,
                    "lat_jerk",
                    lat_prev,
                    lat_now,
                    table("lat_jerk_lim_mps3", v) * dt,
                    v_hi * v_hi * TOL_STEER_RAD * 2 / L + 1e-6,
                    None,
                )
        prev = r
    return out


def _rate(out, r, rule, before, after, max_step, tol, bound):
    step = after - before
    if abs(step) <= max_step + tol:
        return
    if abs(after) < abs(before):  # towards zero: allowed when a shrinking bound forced it
        return
    out.append(Violation(r.t_s, rule, f"step {step:+.4f} > {max_step:.4f}"))


def records_from_log(path: str | Path, dbc_path: Optional[str | Path] = None) -> List[CommandRecord]:
    """Commands in bus order, each with the speed last reported before it."""
    db = load_dbc(dbc_path)
    ids = {db.get_message_by_name(n).frame_id: n for n in ("STEERING_CMD", "LONGITUDINAL_CMD", "SPEED_REPORT")}
    speed = 0.0
    steer: Optional[tuple] = None
    out: List[CommandRecord] = []
    for msg in can.LogReader(str(path)):
        name = ids.get(msg.arbitration_id)
        if name is None or msg.is_error_frame:
            continue
        s = decode_signals(db, msg.arbitration_id, bytes(msg.data))
        if name == "SPEED_REPORT":
            speed = s["VEHICLE_SPEED"]
        elif name == "STEERING_CMD":
            steer = (s["STEER_ANGLE_CMD"], bool(s["ENABLE"]))
        elif steer is not None:  # LONGITUDINAL_CMD closes one command (the framer sends steering first)
            out.append(CommandRecord(msg.timestamp, speed, steer[0], s["ACCEL_CMD"], steer[1] and bool(s["ENABLE"])))
            steer = None
    return out
