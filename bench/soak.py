"""Soak: the node graph for a long time with the simulator restarted again and again (chained routes, new
seeds and scenarios), each node process sampled every 2 s: resident memory, fds, threads, /dev/shm.

    python bench/soak.py [--transport dds|rclpy|both] [--minutes 10] [--run-s 60] [--json]     (make soak)

60 minutes for a release. Keys: rss_slope_mb_per_h (per process, after the first run; rss_slope_late_mb_per_h
over the second half), restarts_per_h, fd_growth,
shm_files_growth, period_max_ms (the heartbeat on the bus), mrm_count and fault_count (while a simulator ran),
mrm_in_machine_pause (of mrm_count, those in or just after a pause of the whole machine that a SCHED_FIFO 99 probe
measured: sim_bridge/stall_probe.py), machine_stall_max_ms (the longest such pause, 0: none of 20 ms),
route_completion_min, route_completion (a list) and per_run (scenario, seed, states, ... of each run). The soak's
log, one JSON line per simulator run, goes to stderr. Runs in a loopback-only network namespace
(tools/in_loopback_netns.sh).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from sim_bridge.soak import MINUTES
from vehicle_runtime import cli_types as T

REPO = Path(__file__).resolve().parents[1]


def run(transport: str, minutes: float, run_s: float) -> dict:
    cmd = [
        "unshare",
        "-n",
        str(REPO / "tools" / "in_loopback_netns.sh"),
        sys.executable,
        "-m",
        "sim_bridge.soak",
        "--transport",
        transport,
        "--minutes",
        str(minutes),
        "--run-s",
        str(run_s),
        "--json",
    ]
    # the soak's log (one JSON line per simulator run, the nodes' safety transitions) goes to our stderr as it
    # comes: the summary keeps only figures, the log says which run was bad and how to drive it again
    out = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=minutes * 60 + run_s + 600)
    if out.returncode != 0:
        raise SystemExit(f"soak on {transport} failed (exit {out.returncode}); its log is above")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transport", choices=("dds", "rclpy", "both"), default="both")
    ap.add_argument("--minutes", type=MINUTES, default=10.0)
    ap.add_argument("--run-s", type=T.seconds, default=60.0, help="one simulator run (a restart after each)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    transports = ("dds", "rclpy") if args.transport == "both" else (args.transport,)
    # runs end early when the car finishes its route: the soak chains them until its minutes have passed
    try:
        results = {t: run(t, args.minutes / len(transports), args.run_s) for t in transports}
    except KeyboardInterrupt:
        print("soak: interrupted, no summary", file=sys.stderr)
        return 130
    for t, r in results.items():
        for name, p in r["processes"].items():
            print(
                f"{t:5s} {name:17s} RSS {p['rss_start_mb']:.1f} → {p['rss_end_mb']:.1f} MB, "
                f"slope {p['rss_slope_mb_per_h']:+.1f} MB/h (second half {p['rss_slope_late_mb_per_h']:+.1f}), "
                f"per restart {p['rss_per_run_mb']:+.2f} MB, "
                f"fds {p['fd_growth']:+d}, threads {p['thread_growth']:+d}"
            )
        print(
            f"{t:5s} shm files {r['shm_files_growth']:+d}, heartbeat max {r['period_max_ms']:.1f} ms, "
            f"MRM in runs {r['mrm_count']} ({r['mrm_in_machine_pause']} in a pause of the machine), "
            f"FAULT in runs {r['fault_count']}, longest machine pause {r['machine_stall_max_ms']:.0f} ms, "
            f"route completion min {r['route_completion_min']:.2f} "
            f"({r['runs']} runs in {r['minutes']:.1f} min)"
        )
    summary = {
        "rss_slope_mb_per_h": {f"{t}/{n}": v for t, r in results.items() for n, v in r["rss_slope_mb_per_h"].items()},
        "fd_growth": max(r["fd_growth"] for r in results.values()),
        "shm_files_growth": max(r["shm_files_growth"] for r in results.values()),
        "period_max_ms": max(r["period_max_ms"] for r in results.values()),
        "mrm_count": sum(r["mrm_count"] for r in results.values()),
        "fault_count": sum(r["fault_count"] for r in results.values()),
        "mrm_in_machine_pause": sum(r["mrm_in_machine_pause"] for r in results.values()),
        "machine_stall_max_ms": max(r["machine_stall_max_ms"] for r in results.values()),
        "rss_slope_late_mb_per_h": {
            f"{t}/{n}": p["rss_slope_late_mb_per_h"] for t, r in results.items() for n, p in r["processes"].items()
        },
        "restarts_per_h": {t: r["restarts_per_h"] for t, r in results.items()},
        "route_completion_min": min(r["route_completion_min"] for r in results.values()),
        "runs": results,
    }
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
