"""Per-stage latency of the pipeline on 1280×720 rgb8 frames, next to the bare `session.run` of the
same model on the same input, measured interleaved in one run (this machine is noisy).

    python bench/pipeline.py [--frames 500] [--model DIR] [--providers CPUExecutionProvider ...] [--json]

overhead = everything the runtime adds per frame except the model's own session.run:
fusion + preprocess + features/decode + the trajectory validator + one control tick.
validator = the online trajectory validator's check of each output (`validator_p99_ms`; budget 0.3 ms).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vehicle_runtime import synthetic
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.control import TrajectoryTracker
from vehicle_runtime.fusion import Fusion
from vehicle_runtime.latency import LatencyStats
from vehicle_runtime.pipeline import Pipeline, StudentPolicy, validator_for
from vehicle_runtime.student import Student
from vehicle_runtime.student.session import SessionConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--providers", nargs="+")
    ap.add_argument("--no-io-binding", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cfg = load_runtime_config()
    session_cfg = cfg.session
    if args.providers or args.no_io_binding:
        session_cfg = SessionConfig(
            providers=tuple(args.providers or cfg.session.providers),
            intra_op_threads=cfg.session.intra_op_threads,
            io_binding=not args.no_io_binding,
            trt_fp16=cfg.session.trt_fp16,
            trt_cache_dir=cfg.session.trt_cache_dir,
        )
    student = Student.load(args.model or cfg.model_path, session_cfg)
    student.warm_up(10)
    pipe = Pipeline(
        StudentPolicy(student), TrajectoryTracker(cfg.vehicle, cfg.tracker), validator_for(cfg), cfg.route_corridor_m
    )
    fusion = Fusion(pipe.cameras, cfg.fusion)
    route = synthetic.curved_route(length_m=5000.0)
    fusion.set_route(route, 0.0)

    # The bare baseline: a plain session on the same file, same providers and threads, same inputs.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = session_cfg.intra_op_threads
    opts.inter_op_num_threads = 1
    bare = ort.InferenceSession(
        str(student.manifest.model_path), opts, providers=list(student.session.active_providers)
    )

    stats = {
        k: LatencyStats(args.frames)
        for k in (
            "fusion",
            "preprocess",
            "session_run",
            "features_decode",
            "validator",
            "control",
            "pipeline",
            "overhead",
            "bare_session_run",
        )
    }
    camera = pipe.cameras[0]
    for frame in synthetic.frames(camera, 1280, 720, args.frames, 20.0):
        now = frame.stamp_s
        odometry = synthetic.odometry_along(route, now, 8.0)  # the "sensor", outside the timing
        t0 = time.perf_counter()
        for cam in pipe.cameras:
            fusion.add_frame(frame if cam == camera else _renamed(frame, cam), now)
        fusion.add_odometry(odometry, now)
        obs = fusion.observe(now)
        if obs is None:  # the synthetic inputs always match
            raise SystemExit(f"bench: fusion built no observation ({fusion.waiting_for})")
        t1 = time.perf_counter()
        pipe.infer(obs)
        t2 = time.perf_counter()
        pipe.control(obs.ego, now, 0.01)
        t3 = time.perf_counter()
        run_s = student.last_latency_s
        stats["fusion"].add(t1 - t0)
        stats["preprocess"].add(pipe.latency["preprocess"].last_s)
        stats["session_run"].add(run_s)
        stats["features_decode"].add(pipe.latency["features_decode"].last_s)
        stats["validator"].add(pipe.latency["validator"].last_s)
        stats["control"].add(t3 - t2)
        stats["pipeline"].add(t3 - t0)
        stats["overhead"].add(t3 - t0 - run_s)
        feeds = {k: np.array(v) for k, v in student.feeds(None).items()}  # same values, outside the timing
        b0 = time.perf_counter()
        bare.run(None, feeds)
        stats["bare_session_run"].add(time.perf_counter() - b0)

    summary = {k: v.summary() for k, v in stats.items()}
    print(
        f"model {student.manifest.name} on {student.provider}, io_binding={session_cfg.io_binding}, "
        f"{args.frames} frames 1280x720 rgb8"
    )
    print(f"{'stage':<18}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for k, s in summary.items():
        print(f"{k:<18}{s['p50_ms']:>9.3f}{s['p99_ms']:>9.3f}{s['max_ms']:>9.3f}")
    result = {
        "overhead_p99_ms": summary["overhead"]["p99_ms"],
        "overhead_p50_ms": summary["overhead"]["p50_ms"],
        "session_run_p50_ms": summary["session_run"]["p50_ms"],
        "session_run_p99_ms": summary["session_run"]["p99_ms"],
        "bare_session_run_p50_ms": summary["bare_session_run"]["p50_ms"],
        "validator_p99_ms": summary["validator"]["p99_ms"],
        "validator_p50_ms": summary["validator"]["p50_ms"],
        "validator_rejected": pipe.validator.status.rejected if pipe.validator else None,
        "pipeline_p50_ms": summary["pipeline"]["p50_ms"],
        "pipeline_p99_ms": summary["pipeline"]["p99_ms"],
        "ratio_pipeline_over_session": summary["pipeline"]["p50_ms"] / summary["bare_session_run"]["p50_ms"],
        "stages": {k: {"p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"]} for k, s in summary.items()},
        "provider": student.provider,
        "io_binding": session_cfg.io_binding,
        "frames": args.frames,
        "model": student.manifest.name,
    }
    print(f"ratio pipeline / bare session.run (p50): {result['ratio_pipeline_over_session']:.2f}")
    if args.json:
        print(json.dumps(result))


def _renamed(frame, camera):
    from dataclasses import replace

    return replace(frame, camera=camera)


if __name__ == "__main__":
    main()
