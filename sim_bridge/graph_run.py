"""The whole graph across processes: the three nodes (via `vehicle-runtime up`, or one process per
node so one can be killed) + the simulator on DDS topics and a `udp_multicast` CAN bus.

    python -m sim_bridge.graph_run [--transport dds|rclpy] [--scenario NAME] [--duration S]
                                   [--kill-policy-after S] [--json]

With --transport rclpy the nodes run on rclpy (one process each, as `ros2 launch` starts them) and the
simulator stays on our DDS transport: the images, route and odometry cross vendors on the wire.

Run it in a network namespace whose loopback carries multicast (tools/in_loopback_netns.sh).
Prints one JSON object: the simulator's summary, the safety states seen on the bus, and with
--kill-policy-after the time from SIGKILL of the policy node to the first MRM heartbeat.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import List, Tuple

import numpy as np

from vehicle_runtime.can import BusConfig, load_dbc, open_bus
from vehicle_runtime.can.codec import decode_signals
from vehicle_runtime.realtime import GLIBC_TUNABLES, set_realtime_priority
from vehicle_runtime.safety.state_machine import SafetyState

from .embedded.dds_sim import simulate
from .stall_probe import StallProbe, mrm_in_pause

BUS = BusConfig("udp_multicast", "default")
NODE_ARGS = ["--transport", "dds", "--can-interface", "udp_multicast", "--can-channel", "default", "--auto-engage"]


def _observe(stop: threading.Event, states: List[Tuple[float, str]], beats: List[float]) -> None:
    db = load_dbc()
    hb = db.get_message_by_name("HEARTBEAT").frame_id
    bus = open_bus(BUS)
    last = None
    try:
        while not stop.is_set():
            msg = bus.recv(timeout=0.1)
            if msg is None or msg.arbitration_id != hb or msg.is_error_frame:
                continue
            beats.append(msg.timestamp)  # the kernel's receive time (udp_multicast): not this thread's wake-up
            state = SafetyState(int(decode_signals(db, hb, bytes(msg.data))["STATE"]))
            if state is not last:
                states.append((time.monotonic(), state.name))
                last = state
    finally:
        bus.shutdown()


# The simulator stands for the vehicle, another machine in a real HIL rig: on this shared box it runs at a
# real-time priority (below the vehicle interface's) so a busy core starves neither side's clock.
SIM_PRIORITY = 5
FOREIGN_TOPICS = [
    "camera/image_raw",
    "policy/trajectory:nav_msgs/msg/Path",
    "policy/reasoning:std_msgs/msg/String",
    "vehicle/status:nav_msgs/msg/Odometry",
    "diagnostics:diagnostic_msgs/msg/DiagnosticArray",
]


def _periods_ms(beats: list) -> dict:
    """The heartbeat's period as a listener on the bus sees it (what the gateway's rate check sees)."""
    if len(beats) < 3:
        return {}
    periods = np.diff(np.array(beats)) * 1e3
    return {
        "p50": float(np.percentile(periods, 50)),
        "p99": float(np.percentile(periods, 99)),
        "max": float(periods.max()),
        "count": int(len(periods)),
    }


def _watch_diagnostics() -> dict:
    """The newest key/values of each /diagnostics status, by status name (kept up to date in the background)."""
    from vehicle_runtime.transport.dds import DdsParticipant

    latest = {}
    participant = DdsParticipant(image_shm=False)

    def on_array(m):
        for status in m.status:
            latest[status.name] = {kv.key: kv.value for kv in status.values}

    participant.subscribe("diagnostic_msgs/msg/DiagnosticArray", "diagnostics", on_array, "default")
    latest["_participant"] = participant  # kept alive with the dict
    return latest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="curvy_road")
    ap.add_argument("--duration", type=float)
    ap.add_argument("--kill-policy-after", type=float)
    ap.add_argument("--transport", choices=("dds", "rclpy"), default="dds")
    ap.add_argument("--model", help="student model folder for the nodes; the simulator renders its cameras")
    ap.add_argument(
        "--camera-size",
        default="640x360",
        help="rendered camera size (the 720p path is measured by "
        "bench/transport.py; a 2-core machine runs the whole graph at 640x360)",
    )
    ap.add_argument(
        "--foreign-reader",
        action="store_true",
        help="load: a reader that is not ours on the camera, trajectory, reasoning, status and diagnostics",
    )
    ap.add_argument("--busy-core", action="store_true", help="load: another process keeps one core busy")
    ap.add_argument("--record", metavar="DIR", help="load: `vehicle-runtime record DIR` beside the graph")
    ap.add_argument(
        "--sim-priority",
        type=int,
        default=SIM_PRIORITY,
        help="SCHED_FIFO priority of the simulator (the vehicle; 0: normal scheduling)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES}
    model = ["--model", args.model] if args.model else []
    node_args = ["--transport", args.transport, *NODE_ARGS[2:], *model]
    if args.kill_policy_after is None and args.transport == "dds":
        procs = {
            "up": subprocess.Popen([sys.executable, "-m", "vehicle_runtime.cli", "up", *NODE_ARGS[2:], *model], env=env)
        }
    else:
        procs = {
            n: subprocess.Popen([sys.executable, "-m", "ros_nodes.main", n, *node_args], env=env)
            for n in ("fusion", "policy", "vehicle_interface")
        }
    if args.foreign_reader:
        procs["foreign_reader"] = subprocess.Popen(
            [sys.executable, "-m", "sim_bridge.foreign_reader", *FOREIGN_TOPICS], env=env
        )
    if args.record:  # on the nodes' transport (auto would pick rclpy's Fast DDS beside Cyclone nodes)
        procs["recorder"] = subprocess.Popen(
            [sys.executable, "-m", "vehicle_runtime.cli", "record", args.record, "--transport", args.transport],
            env=env,
        )
    if args.busy_core:
        procs["busy_core"] = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    stop = threading.Event()
    states: List[Tuple[float, str]] = []  # (monotonic time, safety state) on every change
    beats: List[float] = []  # heartbeat receive times
    observer = threading.Thread(target=_observe, args=(stop, states, beats), daemon=True)
    observer.start()
    diagnostics = _watch_diagnostics()
    killed = {}

    def killer():
        deadline = time.monotonic() + 60
        while not any(s == "ENGAGED" for _, s in states) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(args.kill_policy_after)
        killed["t"] = time.monotonic()
        procs["policy"].send_signal(signal.SIGKILL)

    if args.kill_policy_after is not None:
        threading.Thread(target=killer, daemon=True).start()
    started = []
    probe = StallProbe()
    refused = set_realtime_priority(args.sim_priority)
    if refused:
        print(f"graph_run: simulator {refused}", file=sys.stderr)
    try:
        duration = args.duration or (args.kill_policy_after + 15 if args.kill_policy_after is not None else None)
        summary = simulate(
            args.scenario,
            duration,
            BUS,
            camera_size=args.camera_size,
            model=args.model,
            on_start=lambda *_: started.append(time.monotonic()),
        )
    finally:
        stop.set()
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        observer.join(2)
        machine = probe.stop()
    # the simulator's last step: past it every input stops by design, and what the nodes do then is no result
    sim_end = started[0] + summary["ran_s"] if started else time.monotonic()
    summary["bus_states"] = [s for t, s in states if t <= sim_end]
    summary["bus_states_after_simulator"] = [s for t, s in states if t > sim_end]
    summary["heartbeat_period_ms"] = _periods_ms(beats)
    # how long the whole machine stood still (a probe at SCHED_FIFO 99): a watchdog that fired in a pause of every
    # process is the machine's, not the box software's
    run_start = started[0] if started else 0.0
    summary["machine_stalls"] = [s for s in machine["stalls"] if run_start <= s["t_s"] <= sim_end]
    summary["machine_stall_max_ms"] = max((s["late_ms"] for s in summary["machine_stalls"]), default=0.0)
    summary["stall_probe_priority"] = machine["priority"]
    # an MRM or FAULT in or just after such a pause (PAUSE_MS or longer): the machine's, not the box software's
    summary["stop_in_machine_pause"] = any(
        mrm_in_pause(t, summary["machine_stalls"]) for t, s in states if t <= sim_end and s in ("MRM", "FAULT")
    )
    summary["vehicle_interface"] = diagnostics.get("vehicle_interface: runtime", {})
    summary["policy"] = diagnostics.get("policy: runtime", {})
    summary["safety_reason"] = diagnostics.get("vehicle_interface: safety state", {}).get("reason", "")
    if "t" in killed:
        after = [(t, s) for t, s in states if t >= killed["t"] and s in ("MRM", "STOPPED", "FAULT")]
        summary["policy_kill_to_mrm_ms"] = (after[0][0] - killed["t"]) * 1e3 if after else None
    print(json.dumps(summary) if args.json else summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
