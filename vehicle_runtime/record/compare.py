"""Differences between two sets of outputs of the same inputs (recorded vs replayed, or baseline vs
candidate build), per topic; see topics.GATE_TABLE for what each comparison ignores.

Outputs are matched by key, never by position: trajectories by the stamp of the observation they
came from, commands and requests by control period, reasoning by the step that produced it, safety
transitions by (stamp, from, to). An output present on one side only is counted as missing / added.
"""

from __future__ import annotations

import functools
import json
from typing import Dict, List, Tuple

import numpy as np

from ..transport.cdr import deserialize
from .convert import path_xy, stamp_ns

Outputs = Dict[str, List[Tuple[int, bytes]]]


def _decode(outputs: Outputs, topic: str, typename: str):
    return [(t, deserialize(typename, raw)) for t, raw in outputs.get(topic, [])]


def _stats(values: np.ndarray, keys: list) -> dict:
    if not len(values):
        return {"max": 0.0, "p99": 0.0, "worst_t_s": None}
    i = int(np.argmax(values))
    return {"max": float(values[i]), "p99": float(np.percentile(values, 99)), "worst_t_s": keys[i] / 1e9}


def trajectories(base: Outputs, cand: Outputs) -> Tuple[dict, dict]:
    b = {stamp_ns(m.header.stamp): path_xy(m) for _, m in _decode(base, "/policy/trajectory", "nav_msgs/msg/Path")}
    c = {stamp_ns(m.header.stamp): path_xy(m) for _, m in _decode(cand, "/policy/trajectory", "nav_msgs/msg/Path")}
    keys = sorted(set(b) & set(c))
    dist = []
    for k in keys:
        if b[k].shape != c[k].shape:
            dist.append(np.inf)
            continue
        d = np.linalg.norm(b[k] - c[k], axis=1)
        dist.append(float(np.nan_to_num(d, nan=np.inf).max()) if len(d) else 0.0)
    s = _stats(np.asarray(dist, float), keys)
    summary = {
        "matched": len(keys),
        "missing": len(set(b) - set(c)),
        "added": len(set(c) - set(b)),
        "max_m": s["max"],
        "p99_m": s["p99"],
        "worst_t_s": s["worst_t_s"],
    }
    series = {
        "t_s": [k / 1e9 for k in keys],
        "distance_m": dist,
        "base_end_y_m": [float(b[k][-1, 1]) if len(b[k]) else 0.0 for k in keys],
        "cand_end_y_m": [float(c[k][-1, 1]) if len(c[k]) else 0.0 for k in keys],
    }
    return summary, series


def commands(base: Outputs, cand: Outputs, topic: str) -> Tuple[dict, dict]:
    typename = "ackermann_msgs/msg/AckermannDriveStamped"
    b = {t: m.drive for t, m in _decode(base, topic, typename)}
    c = {t: m.drive for t, m in _decode(cand, topic, typename)}
    keys = sorted(set(b) & set(c))
    steer = np.array([abs(b[k].steering_angle - c[k].steering_angle) for k in keys], float)
    accel = np.array([abs(b[k].acceleration - c[k].acceleration) for k in keys], float)
    ss, sa = _stats(steer, keys), _stats(accel, keys)
    summary = {
        "matched": len(keys),
        "missing": len(set(b) - set(c)),
        "added": len(set(c) - set(b)),
        "steer_max_rad": ss["max"],
        "steer_p99_rad": ss["p99"],
        "accel_max_mps2": sa["max"],
        "accel_p99_mps2": sa["p99"],
        "worst_steer_t_s": ss["worst_t_s"],
        "worst_accel_t_s": sa["worst_t_s"],
    }
    series = {
        "t_s": [k / 1e9 for k in keys],
        "base_steer_rad": [b[k].steering_angle for k in keys],
        "cand_steer_rad": [c[k].steering_angle for k in keys],
        "base_accel_mps2": [b[k].acceleration for k in keys],
        "cand_accel_mps2": [c[k].acceleration for k in keys],
    }
    return summary, series


def _agreement(a: str, b: str) -> float:
    ta, tb = a.split(), b.split()
    n = max(len(ta), len(tb))
    return 1.0 if n == 0 else sum(x == y for x, y in zip(ta, tb)) / n


def reasoning(base: Outputs, cand: Outputs) -> dict:
    b = {t: m.data for t, m in _decode(base, "/policy/reasoning", "std_msgs/msg/String")}
    c = {t: m.data for t, m in _decode(cand, "/policy/reasoning", "std_msgs/msg/String")}
    keys = sorted(set(b) & set(c))
    agree = [_agreement(b[k], c[k]) for k in keys]
    return {
        "matched": len(keys),
        "missing": len(set(b) - set(c)),
        "added": len(set(c) - set(b)),
        "token_agreement_mean": float(np.mean(agree)) if agree else 1.0,
        "token_agreement_min": float(np.min(agree)) if agree else 1.0,
        "identical": sum(a == 1.0 for a in agree),
    }


def _json_list(outputs: Outputs, topic: str) -> list:
    return [json.loads(m.data) for _, m in _decode(outputs, topic, "std_msgs/msg/String")]


def transitions(base: Outputs, cand: Outputs) -> dict:
    key = lambda d: (round(d["stamp_s"], 6), d["from"], d["to"])  # noqa: E731
    b = {key(d): d for d in _json_list(base, "/vehicle/safety_transition")}
    c = {key(d): d for d in _json_list(cand, "/vehicle/safety_transition")}
    fmt = lambda d: f"{d['stamp_s']:.2f}s {d['from']}→{d['to']} ({d['reason']})"  # noqa: E731
    return {
        "baseline": len(b),
        "candidate": len(c),
        "missing": [fmt(b[k]) for k in sorted(set(b) - set(c))],
        "added": [fmt(c[k]) for k in sorted(set(c) - set(b))],
    }


def _verdict(d: dict) -> str:
    """What a verdict decided: valid or not, and which rules failed (ratios and reasons are ignored)."""
    return json.dumps([d.get("verdict", d.get("valid")), sorted(d.get("failed") or [])])


def validation(base: Outputs, cand: Outputs) -> dict:
    b = {round(d.get("stamp_s", 0.0), 6): _verdict(d) for d in _json_list(base, "/policy/validation")}
    c = {round(d.get("stamp_s", 0.0), 6): _verdict(d) for d in _json_list(cand, "/policy/validation")}
    keys = sorted(set(b) & set(c))
    return {
        "present": bool(b or c),
        "matched": len(keys),
        "changed": sum(b[k] != c[k] for k in keys),
        "missing": len(set(b) - set(c)),
        "added": len(set(c) - set(b)),
    }


def can_tx(base: Outputs, cand: Outputs) -> dict:
    """The frames the runtime sent, compared by content: a car's SecOC key never leaves the car, so a replay
    runs unkeyed and the freshness, MAC and the CRC over them are left out for the messages SecOC seals."""
    b, c = base.get("/can/tx", []), cand.get("/can/tx", [])
    return {"baseline": len(b), "candidate": len(c), "identical": _frames(b) == _frames(c), "bytes_identical": b == c}


@functools.lru_cache(maxsize=None)
def _secoc_ids() -> tuple:
    """(ids of the messages SecOC seals, the id of SECOC_SYNC) in the project DBC."""
    from ..can.codec import Codec
    from ..can.secoc import SYNC

    codec = Codec()
    sealed = frozenset(m.frame_id for m in codec.db.messages if any(s.name == "SECOC_MAC" for s in m.signals))
    return sealed, codec.message(SYNC).frame_id


def _frames(rows) -> list:
    from ..can.secoc import FV_MASK, FV_SHIFT, MAC_MASK, MAC_SHIFT
    from .canframe import FRAME

    sealed, sync = _secoc_ids()  # SECOC_SYNC: SecOC's own freshness frames, which only a keyed run sends
    keep = ~((FV_MASK << FV_SHIFT) | (MAC_MASK << MAC_SHIFT))
    out = []
    for t, raw in rows:
        m = deserialize(FRAME, raw)
        if m.id == sync:
            continue
        data = bytes(m.data[: m.dlc])
        if m.id in sealed and len(data) == 8:
            data = (int.from_bytes(data, "little") & keep).to_bytes(8, "little")[:7]  # byte 7: the CRC
        out.append((t, m.id, data))
    return out


def compare(base: Outputs, cand: Outputs) -> Tuple[dict, dict]:
    """(per-topic summary, time series for the report)."""
    traj, traj_series = trajectories(base, cand)
    cmd, cmd_series = commands(base, cand, "/vehicle/command")
    req, _ = commands(base, cand, "/control/request")
    summary = {
        "/policy/trajectory": traj,
        "/vehicle/command": cmd,
        "/control/request": req,
        "/policy/reasoning": reasoning(base, cand),
        "/vehicle/safety_transition": transitions(base, cand),
        "/policy/validation": validation(base, cand),
        "/can/tx": can_tx(base, cand),
    }
    return summary, {"trajectory": traj_series, "command": cmd_series}
