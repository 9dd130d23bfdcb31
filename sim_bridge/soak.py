"""A long drive with publishers that come and go: the three nodes stay up while the simulator is restarted
again and again (a new seed and scenario each time, so routes are chained one after another), and every few
seconds each node process is sampled: resident memory, open file descriptors, threads, its mappings of
/dev/shm, and the /dev/shm files of image rings. Run it in a loopback-only network namespace
(tools/in_loopback_netns.sh), as the graph runs.

    python -m sim_bridge.soak [--transport dds|rclpy] [--runs N | --minutes M] [--run-s S] [--json]

A run ends at `--run-s` or earlier, when the car has finished its route and stood still for a second;
`--minutes` chains runs until that much wall time has passed (a soak of a given length), `--runs` a count.

Between two simulator runs the vehicle interface gets a `reset` (the stop at the end of a run is an MRM
by design: every input went silent). An MRM while a simulator runs counts in `mrm_count`.
`per_run` (also one JSON line per run on stderr as it ends) says what each run did: scenario, seed (so a bad
run can be driven again with `vehicle-runtime sim --scenario S --seed N`), route completion, when the
simulator's gateway first took commands (`engaged_after_s`, null: never), the safety states on the bus,
the vehicle interface's log line of each safety transition in the run (`transitions`: an MRM's cause), the
simulator's longest late step (`sim_max_late_ms`), the most CPU time a hypervisor took from the machine in
one 50 ms pass (`steal_max_ms`), the longest pause of the whole machine that a SCHED_FIFO 99 probe measured
(`machine_stall_max_ms`, sim_bridge/stall_probe.py: on a VM the steal counter misses some), whether an MRM came in or
just after such a pause (`mrm_in_machine_pause`), the longest heartbeat gap (`heartbeat_gap_max_ms`), the reset's
exit status and each node's resident memory.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from vehicle_runtime import cli_types as T
from vehicle_runtime.realtime import GLIBC_TUNABLES

from .graph_run import BUS, NODE_ARGS, _observe, _watch_diagnostics
from .stall_probe import StallProbe, mrm_in_pause

NODES = ("fusion", "policy", "vehicle_interface")
SCENARIOS = ("curvy_road", "junction_left", "lead_braking", "junction_right", "lane_change", "cut_in")
SHM = Path("/dev/shm")
SAMPLE_EVERY_S = 2.0
SHUTDOWN_S = 1.0
MINUTES = T.positive(7 * 24 * 60.0, "minutes")  # a soak of up to a week
SAFETY_STATE = "vehicle_interface: safety state"  # its /diagnostics status (reason of the last transition)


def sample(pid: int) -> dict:
    """RSS (MB), open fds, threads and mappings of /dev/shm of one process, from /proc."""
    proc = Path(f"/proc/{pid}")
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
    maps = (proc / "maps").read_text().splitlines()
    kb = lambda key: int(status.get(key, "0 kB").split()[0]) / 1024.0  # noqa: E731
    return {
        "rss_mb": kb("VmRSS"),
        # which kind of resident memory: anonymous (heaps, stacks), file-backed (code, mapped files), shared
        "rss_anon_mb": kb("RssAnon"),
        "rss_file_mb": kb("RssFile"),
        "rss_shmem_mb": kb("RssShmem"),
        "fds": len(os.listdir(proc / "fd")),
        "threads": int(status["Threads"]),
        "shm_maps": sum(" /dev/shm/vr-" in m for m in maps),  # our image rings (Fast DDS maps its own segments)
        "shm_maps_other": sum(" /dev/shm/" in m and " /dev/shm/vr-" not in m for m in maps),
    }


def steal_ms() -> Optional[float]:
    """CPU time the hypervisor has taken from this VM since boot, summed over its CPUs (ms; None: no steal
    column). A burst of it is the whole machine standing still: every node and the simulator at once."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def shm_files() -> int:
    return sum(1 for p in SHM.iterdir() if p.name.startswith("vr-")) if SHM.is_dir() else 0


def slope_mb_per_h(t_s: list, rss_mb: list) -> float:
    """Least-squares slope of resident memory over time."""
    if len(t_s) < 3 or t_s[-1] - t_s[0] <= 0:
        return float("nan")
    return float(np.polyfit(np.array(t_s) - t_s[0], np.array(rss_mb), 1)[0] * 3600.0)


def soak(
    transport: str,
    runs: Optional[int],
    run_s: float,
    camera_size: str = "640x360",
    warm_up_runs: int = 1,
    log=sys.stderr,
    minutes: Optional[float] = None,
) -> dict:
    """`runs` simulator runs, or (runs None) as many as fit in `minutes` of wall time."""
    env = {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES}
    nodes = {
        n: subprocess.Popen(
            [sys.executable, "-m", "ros_nodes.main", n, "--transport", transport, *NODE_ARGS[2:]],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in NODES
    }
    transitions: List[Tuple[float, str]] = []  # (time, the vehicle interface's log line of a safety transition)
    readers = [threading.Thread(target=_relay, args=(p.stderr, log, transitions), daemon=True) for p in nodes.values()]
    for r in readers:
        r.start()
    stop = threading.Event()
    states: List[Tuple[float, str]] = []
    beats: List[float] = []
    observer = threading.Thread(target=_observe, args=(stop, states, beats), daemon=True)
    observer.start()
    diagnostics = _watch_diagnostics()
    samples: Dict[str, List[Tuple[float, dict]]] = {n: [] for n in NODES}  # (t, sample)
    shm_counts, mrm_in_runs, fault_in_runs, run_edges = [], 0, 0, []
    run_log: List[Dict[str, Any]] = []  # what each simulator run did, so a bad run can be found and driven again
    probe = StallProbe()
    wall_minus_mono_s = time.time() - time.monotonic()  # heartbeats carry the kernel's wall-clock receive time
    t0 = time.monotonic()
    try:
        for k in itertools.count():
            if (runs is not None and k >= runs) or (minutes is not None and time.monotonic() - t0 >= minutes * 60):
                break
            scenario = SCENARIOS[k % len(SCENARIOS)]
            start = time.monotonic()
            sim = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vehicle_runtime.cli",
                    "sim",
                    "--scenario",
                    scenario,
                    "--seed",
                    str(k + 1),
                    "--duration",
                    str(run_s),
                    "--camera-size",
                    camera_size,
                    "--can-interface",
                    BUS.interface,
                    "--can-channel",
                    BUS.channel,
                    "--json",
                ],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            next_sample = 0.0
            mid_run: Optional[Dict[str, str]] = None
            reason_mid_run = ""
            steal_max, steal_before = 0.0, steal_ms()
            while sim.poll() is None:
                now = time.monotonic() - t0
                steal_now = steal_ms()
                if steal_now is not None and steal_before is not None:
                    steal_max = max(steal_max, steal_now - steal_before)  # in one ~50 ms pass of this loop
                steal_before = steal_now
                if mid_run is None and time.monotonic() - start >= run_s / 2:  # once, half-way
                    mid_run = expired_watchdogs(diagnostics)
                    reason_mid_run = diagnostics.get(SAFETY_STATE, {}).get("reason", "")
                if now >= next_sample:
                    next_sample = now + SAMPLE_EVERY_S
                    for n, p in nodes.items():
                        if p.poll() is None:
                            samples[n].append((now, sample(p.pid)))
                time.sleep(0.05)
            end = time.monotonic()
            out = sim.communicate()[0].strip().splitlines()
            summary = json.loads(out[-1]) if out else {}
            # the simulator's inputs stopped before its process ended (its bus and DDS closed, the interpreter exited:
            # over a second on a loaded box); the MRM their silence causes is by design, so a run ends where they stop
            inputs_end = summary.get("inputs_stopped_monotonic_s", end - SHUTDOWN_S)
            in_run = [s for t, s in states if start <= t < inputs_end]
            mrm_in_runs += in_run.count("MRM")
            fault_in_runs += in_run.count("FAULT")  # a critical fault mid-run (CAN feedback lost, ...)
            at_start = [s for t, s in states if t < start][-1:]
            stalls = probe.stalls_between(start, inputs_end)
            run_beats = np.asarray(list(beats)) - wall_minus_mono_s
            run_beats = run_beats[(run_beats >= start) & (run_beats < inputs_end)]
            run_edges.append(end - t0)
            shm_counts.append(shm_files())
            reset = subprocess.run(
                [sys.executable, "-m", "vehicle_runtime.cli", "request", "reset", "--timeout", "10"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            run_log.append(
                {
                    "scenario": scenario,
                    "seed": k + 1,
                    "route_completion": summary.get("route_completion", 0.0),
                    "engaged_after_s": summary.get("engaged_after_s"),
                    "collisions": summary.get("collisions"),
                    "min_gap_m": summary.get("min_gap_m"),  # to the lead: a near miss shows before a collision
                    "expired_mid_run": mid_run or {},  # the vehicle interface's expired watchdogs half-way
                    "reason_mid_run": reason_mid_run,  # its safety state's reason half-way: why not READY
                    "states": at_start + in_run,  # safety state on the bus at the start, then each change in the run
                    # why: the vehicle interface's own words for each transition in the run (an MRM's cause)
                    "transitions": [line for t, line in list(transitions) if start <= t < inputs_end],
                    "sim_exit": sim.returncode,
                    # the simulator's longest late step and its steps over a period late: a FAULT for CAN feedback
                    # lost in a run where it was late by 100 ms was the vehicle's stall, not the box's
                    "sim_max_late_ms": summary.get("max_late_ms"),
                    "sim_deadline_misses": summary.get("deadline_misses"),
                    # the most CPU time the hypervisor took in one 50 ms pass (summed over the CPUs): a stall of
                    # every process at once (a control loop gap and the camera's age together) is the machine's
                    "steal_max_ms": round(steal_max, 1) if steal_before is not None else None,
                    # the longest pause of the whole machine (a probe at SCHED_FIFO 99 that came late; 0: none of
                    # 20 ms or more): a watchdog that fired in it fired for the machine, which steal may not show
                    "machine_stall_max_ms": max((st["late_ms"] for st in stalls), default=0.0),
                    "machine_stalls": stalls[:10],
                    "mrm_in_machine_pause": any(
                        mrm_in_pause(t, stalls) for t, st in states if start <= t < inputs_end and st == "MRM"
                    ),
                    "heartbeat_gap_max_ms": round(float(np.diff(run_beats).max()) * 1e3, 1)
                    if len(run_beats) > 2
                    else None,
                    "reset": reset.returncode,
                    "rss_mb": {n: round(samples[n][-1][1]["rss_mb"], 2) for n in NODES if samples[n]},
                }
            )
            print(f"soak run {k + 1}/{runs or '-'}: {json.dumps(run_log[-1])}", file=log, flush=True)
            if reset.returncode != 0:
                print(
                    f"soak run {k + 1}/{runs or '-'}: reset failed: {reset.stderr.strip()[-500:]}", file=log, flush=True
                )
    finally:
        stop.set()
        machine = probe.stop()
        for p in nodes.values():
            if p.poll() is None:
                p.terminate()
        for p in nodes.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        observer.join(2)
        for r in readers:
            r.join(2)
        diagnostics.pop("_participant").close()
    warm = run_edges[warm_up_runs - 1] if len(run_edges) >= warm_up_runs and warm_up_runs > 0 else 0.0
    runs = len(run_log)
    result: Dict[str, Any] = {
        "transport": transport,
        "runs": runs,
        "run_s": run_s,
        "minutes": round((time.monotonic() - t0) / 60.0, 2),
        "processes": {},
    }
    for n, rows in samples.items():
        after = [(t, s) for t, s in rows if t >= warm]
        result["processes"][n] = {
            "rss_start_mb": rows[0][1]["rss_mb"] if rows else None,
            "rss_end_mb": rows[-1][1]["rss_mb"] if rows else None,
            "rss_slope_mb_per_h": slope_mb_per_h([t for t, _ in after], [s["rss_mb"] for _, s in after]),
            # the second half alone: growth that levels off (caches filling) and growth that goes on look alike
            # over the whole run, not over its end
            "rss_slope_late_mb_per_h": slope_mb_per_h(
                [t for t, _ in after[len(after) // 2 :]], [s["rss_mb"] for _, s in after[len(after) // 2 :]]
            ),
            "rss_per_run_mb": per_run([s for t, s in after], "rss_mb", runs - warm_up_runs),
            # growth after warm-up by kind: where a slope comes from (anonymous: the process's own allocations)
            "rss_growth_by_kind_mb": {
                k: round(after[-1][1][f"rss_{k}_mb"] - after[0][1][f"rss_{k}_mb"], 3) for k in ("anon", "file", "shmem")
            }
            if after
            else {},
            "fd_growth": after[-1][1]["fds"] - after[0][1]["fds"] if after else None,
            "thread_growth": after[-1][1]["threads"] - after[0][1]["threads"] if after else None,
            "shm_maps_end": rows[-1][1]["shm_maps"] if rows else None,
            "shm_maps_other_growth": after[-1][1]["shm_maps_other"] - after[0][1]["shm_maps_other"] if after else None,
        }
    periods = np.diff(np.array(beats)) * 1e3 if len(beats) > 2 else np.array([np.nan])
    longest = int(np.nanargmax(periods)) if len(beats) > 2 else None
    procs = result["processes"].values()
    result.update(
        {
            "rss_slope_mb_per_h": {n: p["rss_slope_mb_per_h"] for n, p in result["processes"].items()},
            "fd_growth": max((p["fd_growth"] or 0) for p in procs),
            "shm_files_growth": shm_counts[-1] - shm_counts[min(warm_up_runs, len(shm_counts)) - 1]
            if shm_counts
            else None,
            "period_max_ms": float(np.nanmax(periods)),
            "period_p99_ms": float(np.nanpercentile(periods, 99)),
            # where the longest heartbeat gap began (s after the soak's start): in a run, or between two
            "period_max_at_s": round(beats[longest] - wall_minus_mono_s - t0, 2) if longest is not None else None,
            "run_edges_s": [round(e, 2) for e in run_edges],
            "machine_stall_max_ms": max((st["late_ms"] for st in machine["stalls"]), default=0.0),
            "stall_probe_priority": machine["priority"],
            "mrm_count": mrm_in_runs,
            # of those, the runs whose MRM came in or just after a pause of the whole machine (stall_probe.PAUSE_MS)
            "mrm_in_machine_pause": sum(r["mrm_in_machine_pause"] for r in run_log),
            "fault_count": fault_in_runs,
            "restarts_per_h": round(max(0, runs - 1) / max(time.monotonic() - t0, 1e-9) * 3600.0, 1),
            "route_completion_min": min((r["route_completion"] for r in run_log), default=None),
            "route_completion": [r["route_completion"] for r in run_log],
            "per_run": run_log,
        }
    )
    return result


def _relay(stream, log, transitions: List[Tuple[float, str]]) -> None:
    """A node's log, passed on to ours; safety state transitions kept with the time they were seen."""
    for line in stream:
        log.write(line)
        if "safety state" in line and " -> " in line:
            transitions.append((time.monotonic(), line.split("safety state", 1)[1].strip()))


def expired_watchdogs(diagnostics: dict) -> Dict[str, str]:
    """The vehicle interface's watchdogs that /diagnostics last reported expired: name → age s."""
    prefix = "vehicle_interface: watchdog "
    out = {}
    for name, values in list(diagnostics.items()):
        if name.startswith(prefix) and values.get("timeout_s"):
            if not float(values.get("age_s", "inf")) <= float(values["timeout_s"]):
                out[name[len(prefix) :]] = values.get("age_s", "")
    return out


def per_run(rows: list, key: str, runs: int) -> float:
    """Growth of `key` per simulator run between the first and last sample after warm-up."""
    if len(rows) < 2 or runs <= 0:
        return float("nan")
    return (rows[-1][key] - rows[0][key]) / runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transport", choices=("dds", "rclpy"), default="dds")
    length = ap.add_mutually_exclusive_group()
    length.add_argument("--runs", type=T.count, help="simulator runs (default 10)")
    length.add_argument("--minutes", type=MINUTES, help="chain runs until this much wall time has passed")
    ap.add_argument("--run-s", type=T.seconds, default=60.0)
    ap.add_argument("--camera-size", default="640x360")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = args.runs if args.runs is not None or args.minutes is not None else 10
    try:
        result = soak(args.transport, runs, args.run_s, args.camera_size, minutes=args.minutes)
    except KeyboardInterrupt:  # the nodes were stopped on the way out (soak's finally)
        print("soak: interrupted, no summary", file=sys.stderr)
        return 130
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
