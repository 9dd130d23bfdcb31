"""Evaluation throughput on this machine: runs per minute with 1 worker, with the local process pool and
with a local Ray runtime, the same jobs each time (student and teacher, 2 scenarios, short runs).

    python bench/eval_scale.py [--workers 2] [--seeds 4] [--duration 2] [--repeat 2] [--json]

ray_overhead_pct = how much lower Ray's runs/min is than the pool's with the same workers (negative: Ray is
faster). Ray's start-up is excluded (printed on its own, and in runs_per_min_ray_incl_startup: paid once
per evaluation, not per run) and its workers are warm; the pool's figure includes starting its worker
processes (imports, onnxruntime), which a fresh pool pays on every evaluation. Also what one run costs
(seconds of one CPU) and what moves per run between the driver and a worker (the task's arguments and
its result row, pickled as Ray sends them); the build goes once per node.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim_bridge.embedded.eval_grid import plan  # noqa: E402
from sim_bridge.embedded.eval_results import ResultsFile  # noqa: E402
from sim_bridge.embedded.eval_run import execute  # noqa: E402
from sim_bridge.embedded.eval_tasks import pack_build  # noqa: E402


def timed(jobs, blob, cluster, workers, tmp, name=""):
    path = Path(tmp) / f"{cluster}-{workers}{name}.jsonl"  # a fresh results file: every job runs
    t0 = time.perf_counter()
    rows = execute(jobs, blob, ResultsFile(path), cluster, workers, progress=False)
    return time.perf_counter() - t0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seeds", type=int, default=4, help="seeds per scenario (from 1000)")
    ap.add_argument("--duration", type=float, default=2.0, help="simulated seconds per run")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved rounds; each backend's best round counts")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    jobs = plan(
        ["cut_in", "lead_braking"], range(1000, 1000 + args.seeds), ["student", "expert"], duration_s=args.duration
    )
    blob = pack_build()
    out = {
        "runs": len(jobs),
        "workers": args.workers,
        "sim_s_per_run": args.duration,
        "cpus": os.cpu_count(),
        "build_bytes": blob.size_bytes,
    }
    t1 = tp = tr = float("inf")  # the best of --repeat interleaved rounds: the least disturbed by other work
    ray_rows = None
    try:
        import ray

        from sim_bridge.embedded.eval_ray import connect

        have_ray = True
    except ImportError:
        have_ray = False
    with tempfile.TemporaryDirectory() as tmp:
        if have_ray:
            t0 = time.perf_counter()
            connect("auto", args.workers)  # started once, so that its start-up is measured apart
            out["ray_startup_s"] = time.perf_counter() - t0
            timed(jobs[: args.workers], blob, "auto", args.workers, tmp, "-warm-up")  # workers up, build fetched
        for k in range(args.repeat):
            cpu0 = time.process_time()
            t, rows = timed(jobs, blob, "pool", 1, tmp, f"-{k}")  # in this process: its CPU time is the runs' cost
            out["cpu_s_per_run"] = min(out.get("cpu_s_per_run", 1e9), (time.process_time() - cpu0) / len(jobs))
            t1 = min(t1, t)
            tp = min(tp, timed(jobs, blob, "pool", args.workers, tmp, f"-{k}")[0])
            if have_ray:
                t, ray_rows = timed(jobs, blob, "auto", args.workers, tmp, f"-{k}")
                tr = min(tr, t)
        if have_ray:
            ray.shutdown()
    ray_s = tr if have_ray else None
    out["runs_per_min_1_worker"] = 60 * len(jobs) / t1
    out["runs_per_min_pool"] = 60 * len(jobs) / tp
    out["runs_per_min_ray"] = 60 * len(jobs) / ray_s if ray_s else None
    out["ray_overhead_pct"] = 100 * (1 - out["runs_per_min_ray"] / out["runs_per_min_pool"]) if ray_s else None
    out["runs_per_min_ray_incl_startup"] = 60 * len(jobs) / (ray_s + out["ray_startup_s"]) if ray_s else None
    out["pool_speedup"] = t1 / tp
    out["wall_s_per_run_1_worker"] = t1 / len(jobs)
    out["repeat"] = args.repeat
    out["load_avg_1min"] = os.getloadavg()[0]  # other work on the machine: the figures are only as good as this
    out["bytes_per_run"] = sum(len(pickle.dumps(j)) + len(pickle.dumps(r)) for j, r in zip(jobs, rows)) / len(rows)
    same = lambda rs: {r["key"]: {k: v for k, v in r.items() if k != "wall_time_s"} for r in rs}  # noqa: E731
    out["same_rows_ray_and_pool"] = None if ray_rows is None else same(ray_rows) == same(rows)
    print(
        f"{len(jobs)} runs of {args.duration:g} s simulated ({out['cpu_s_per_run']:.2f} s of CPU each) on "
        f"{out['cpus']} CPUs, {args.workers} workers, load average {out['load_avg_1min']:.1f}:"
    )
    print(f"  1 worker  {out['runs_per_min_1_worker']:7.1f} runs/min")
    print(f"  pool      {out['runs_per_min_pool']:7.1f} runs/min ({out['pool_speedup']:.2f}x one worker)")
    if ray_s:
        print(
            f"  Ray       {out['runs_per_min_ray']:7.1f} runs/min ({out['ray_overhead_pct']:+.1f} % below the pool; "
            f"start-up {out['ray_startup_s']:.1f} s once: {out['runs_per_min_ray_incl_startup']:.1f} runs/min "
            f"with it); "
            f"same rows as the pool: {out['same_rows_ray_and_pool']}"
        )
    else:
        print("  Ray       not installed (pip install 'vehicle_runtime[ray]')")
    print(
        f"  per run: {out['bytes_per_run']:.0f} bytes between driver and worker; the build "
        f"({out['build_bytes'] / 1e6:.1f} MB) once per node"
    )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
