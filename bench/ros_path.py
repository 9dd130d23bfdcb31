"""The node graph on rclpy against the same graph on our DDS transport, in one run: camera stamp → CAN
frame (the first command computed from that frame, measured by the vehicle interface) and the 100 Hz
heartbeat period as a listener on the bus sees it (what the by-wire gateway's rate check sees). Then the
DDS graph again under load: a reader that is not ours on the camera and output topics (rqt_image_view, a
recorder) and another process keeping one core busy.

    python bench/ros_path.py [--duration 40] [--json]

Each run: `python -m sim_bridge.graph_run` in a loopback-only network namespace (tools/in_loopback_netns.sh),
the embedded simulator on our Cyclone transport, the nodes on the chosen transport, udp_multicast CAN.
On rclpy the inputs cross DDS vendors (Cyclone → Fast DDS). Needs rclpy (extra 'ros').
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def graph_run(duration_s: float, *flags: str) -> dict:
    cmd = [
        "unshare",
        "-n",
        str(REPO / "tools" / "in_loopback_netns.sh"),
        sys.executable,
        "-m",
        "sim_bridge.graph_run",
        "--json",
        "--duration",
        str(duration_s),
        *flags,
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=duration_s + 180)
    if out.returncode != 0:
        raise SystemExit(f"graph run {' '.join(flags)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def figures(run: dict) -> dict:
    vi = run.get("vehicle_interface", {})
    number = lambda key: float(vi[key]) if vi.get(key) not in (None, "") else float("nan")  # noqa: E731
    period = run.get("heartbeat_period_ms", {})
    return {
        "e2e_p50_ms": number("camera_to_can_p50_ms"),
        "e2e_p99_ms": number("camera_to_can_p99_ms"),
        "period_p99_ms": period.get("p99", float("nan")),
        "period_max_ms": period.get("max", float("nan")),
        "gateway_rejections": sum(run.get("gateway_rejected", {}).values()),
        "route_completion": run.get("route_completion"),
        "bus_states": run.get("bus_states"),
        "safety_reason": run.get("safety_reason", ""),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = {
        "dds": figures(graph_run(args.duration, "--transport", "dds")),
        "rclpy": figures(graph_run(args.duration, "--transport", "rclpy")),
        "dds_loaded": figures(graph_run(args.duration, "--transport", "dds", "--foreign-reader", "--busy-core")),
        "rclpy_loaded": figures(graph_run(args.duration, "--transport", "rclpy", "--foreign-reader", "--busy-core")),
    }
    for name, f in runs.items():
        print(
            f"{name:13s} camera→CAN p50 {f['e2e_p50_ms']:6.1f} ms  p99 {f['e2e_p99_ms']:6.1f} ms   "
            f"heartbeat period p99 {f['period_p99_ms']:5.1f} ms  max {f['period_max_ms']:5.1f} ms   "
            f"gateway rejections {f['gateway_rejections']}   route {f['route_completion']:.2f}   {f['bus_states']}"
            f"{'  (' + f['safety_reason'] + ')' if f['safety_reason'] else ''}"
        )
    loaded = [runs["dds_loaded"], runs["rclpy_loaded"]]
    result = {
        "e2e_rclpy_p99_ms": runs["rclpy"]["e2e_p99_ms"],
        "e2e_dds_p99_ms": runs["dds"]["e2e_p99_ms"],
        "period_rclpy_p99_ms": runs["rclpy"]["period_p99_ms"],
        "period_dds_p99_ms": runs["dds"]["period_p99_ms"],
        "ratio_e2e_rclpy_over_dds": runs["rclpy"]["e2e_p99_ms"] / runs["dds"]["e2e_p99_ms"],
        "period_loaded_p99_ms": max(r["period_p99_ms"] for r in loaded),
        "period_loaded_max_ms": max(r["period_max_ms"] for r in loaded),
        "gateway_rejections_loaded": sum(r["gateway_rejections"] for r in loaded),
        "runs": runs,
    }
    print(f"rclpy / DDS camera→CAN p99: {result['ratio_e2e_rclpy_over_dds']:.2f}x")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
