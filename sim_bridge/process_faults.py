"""Process-kill fault rows across real processes on python-can `udp_multicast`, in real time.

    python -m sim_bridge.process_faults --fault policy_killed|gate_killed [--json]

Processes: the vehicle (by-wire gateway + bicycle model), the gate (safety gate + CAN writer, with
camera/route/odometry fed in-process), the policy (100 Hz actuator requests and 20 Hz model
outputs over a pipe), and this observer, which logs every frame on the bus. After the car is
engaged and driving, the fault process gets SIGKILL; the observer measures the time to the first
safe frame on the bus (MRM heartbeat, or the gateway's FALLBACK_ACTIVE) and audits the log.

Multicast must stay on this machine: run it in a network namespace whose loopback carries
multicast (the tests do: `unshare -n` + `ip link set lo up multicast on` + a 224.0.0.0/4 route).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict

import can

from vehicle_runtime.can import BusConfig, Codec, load_dbc, open_bus
from vehicle_runtime.can.codec import decode_signals
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.realtime import PeriodicLoop, set_realtime_priority
from vehicle_runtime.safety.gate import SafetyGate
from vehicle_runtime.safety.state_machine import SafetyState
from vehicle_runtime.types import ActuatorRequest
from vehicle_runtime.vehicle_interface import VehicleInterface

from .embedded.dynamics import BicycleState, KinematicBicycle
from .envelope_audit import audit, records_from_log
from .gateway import ByWireGateway, GatewayParams, VehicleMeasurement

BUS = BusConfig("udp_multicast", "default")
PERIOD_S = 0.01


def _vehicle(stop_at: float, initial_speed_mps: float) -> None:
    cfg = load_runtime_config()
    set_realtime_priority(cfg.realtime_priority + 10)  # the by-wire ECU: its own real-time controller
    bus = open_bus(BUS)
    gw = ByWireGateway(bus, Codec())
    plant = KinematicBicycle(cfg.vehicle, BicycleState(speed_mps=initial_speed_mps))

    def step(now):
        s = plant.state
        act = gw.step(now, VehicleMeasurement(s.speed_mps, s.accel_mps2, s.yaw_rate_radps, s.steer_rad))
        plant.step(PERIOD_S, act.steer_rad, act.accel_mps2)

    PeriodicLoop(PERIOD_S).run(step, ticks=int((stop_at - time.monotonic()) / PERIOD_S))
    bus.shutdown()


def _policy(conn, stop_at: float) -> None:
    k = 0

    def step(now):
        nonlocal k
        conn.send(("request", now, 0.03 * math.sin(0.5 * now), 0.3, k % 5 == 0))
        k += 1

    PeriodicLoop(PERIOD_S).run(step, ticks=int((stop_at - time.monotonic()) / PERIOD_S))


def _gate(conn, stop_at: float) -> None:
    cfg = load_runtime_config()
    set_realtime_priority(cfg.realtime_priority)  # as the vehicle interface node runs
    bus = open_bus(BUS)
    gate = SafetyGate(replace(cfg.safety, auto_engage=True), clock_s=time.monotonic())
    vi = VehicleInterface(bus, gate, Codec(), cfg.max_command_age_s)

    def step(now):
        for name in ("camera", "route", "odometry"):  # the sensors live with the gate in this rig
            gate.feed(name, now, now)
        while conn.poll():
            _, t, steer, accel, model_output = conn.recv()
            if model_output:
                gate.policy_output(True, now, t)
            gate.set_request(ActuatorRequest(now, steer, accel, source_stamp_s=t), now)
        vi.tick(now)

    PeriodicLoop(PERIOD_S).run(step, ticks=int((stop_at - time.monotonic()) / PERIOD_S))
    vi.shutdown(time.monotonic())
    bus.shutdown()


def run(fault: str, log_path: Path, kill_after_s: float = 2.0, after_kill_s: float = 6.0) -> dict:
    cfg = load_runtime_config()
    db = load_dbc()
    hb_id = db.get_message_by_name("HEARTBEAT").frame_id
    st_id = db.get_message_by_name("GATEWAY_STATUS").frame_id
    sp_id = db.get_message_by_name("SPEED_REPORT").frame_id
    ctx = mp.get_context("fork")
    observer = open_bus(BUS)
    start = time.monotonic()
    stop_at = start + 0.5 + kill_after_s + after_kill_s
    rx, tx = ctx.Pipe(duplex=False)
    procs = {
        "vehicle": ctx.Process(target=_vehicle, args=(stop_at, 8.0), daemon=True),
        "gate": ctx.Process(target=_gate, args=(rx, stop_at), daemon=True),
        "policy": ctx.Process(target=_policy, args=(tx, stop_at), daemon=True),
    }
    for p in procs.values():
        p.start()
    events: Dict[str, Any] = {"engaged_s": None, "kill_s": None, "safe_s": None, "last_state": None, "last_speed": None}
    victim = {"policy_killed": "policy", "gate_killed": "gate"}[fault]
    kill_at = None
    with can.Logger(str(log_path)) as logger:
        while time.monotonic() < stop_at + 0.2:
            msg = observer.recv(timeout=0.05)
            now = time.monotonic()
            if events["engaged_s"] is not None and kill_at is None:
                kill_at = events["engaged_s"] + kill_after_s
            if kill_at is not None and events["kill_s"] is None and now >= kill_at:
                events["kill_s"] = time.monotonic()
                procs[victim].kill()  # SIGKILL
            if msg is None:
                continue
            msg.timestamp = now
            logger.on_message_received(msg)
            if msg.is_error_frame or msg.is_extended_id:
                continue
            if msg.arbitration_id == hb_id:
                state = SafetyState(int(decode_signals(db, hb_id, bytes(msg.data))["STATE"]))
                events["last_state"] = state.name
                if state is SafetyState.ENGAGED and events["engaged_s"] is None:
                    events["engaged_s"] = now
                if (
                    fault == "policy_killed"
                    and events["kill_s"]
                    and events["safe_s"] is None
                    and state in (SafetyState.MRM, SafetyState.STOPPED)
                ):
                    events["safe_s"] = now
            elif (
                msg.arbitration_id == st_id and fault == "gate_killed" and events["kill_s"] and events["safe_s"] is None
            ):
                if decode_signals(db, st_id, bytes(msg.data))["FALLBACK_ACTIVE"]:
                    events["safe_s"] = now
            elif msg.arbitration_id == sp_id:
                events["last_speed"] = decode_signals(db, sp_id, bytes(msg.data))["VEHICLE_SPEED"]
    observer.shutdown()
    for p in procs.values():
        p.join(timeout=2.0)
        if p.is_alive():
            p.kill()
    deadline = (
        min(cfg.safety.max_request_age_s, cfg.safety.timeouts_s["policy"])
        if fault == "policy_killed"
        else GatewayParams().command_timeout_s
    ) + PERIOD_S
    reaction = None if events["safe_s"] is None or events["kill_s"] is None else events["safe_s"] - events["kill_s"]
    violations = audit(records_from_log(log_path), cfg.safety.envelope, min_dt_s=PERIOD_S)
    return {
        "fault": fault,
        "reaction_ms": None if reaction is None else reaction * 1e3,
        "deadline_ms": deadline * 1e3,
        "engaged": events["engaged_s"] is not None,
        "killed": events["kill_s"] is not None,
        "final_state": events["last_state"],
        "final_speed_mps": events["last_speed"],
        "envelope_violations": len(violations),
        "log": str(log_path),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fault", choices=("policy_killed", "gate_killed"), required=True)
    ap.add_argument("--log", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    log = args.log or Path(tempfile.mkdtemp()) / f"{args.fault}.blf"
    result = run(args.fault, log)
    print(json.dumps(result) if args.json else result)
    return 0 if result["reaction_ms"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
