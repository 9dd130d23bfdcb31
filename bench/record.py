"""What recording costs the runtime: the embedded drive (student, 1280×720 rgb8 at 20 Hz, lockstep)
run without a recorder and with one, in one process.

    python bench/record.py [--duration 5] [--jpeg 90] [--compression none|zstd|lz4] [--json]

record_overhead_p99_ms: p99 over control periods of the time spent inside the recorder in that period
  (encoding with our CDR codec, JPEG if asked, the MCAP writer, its chunk writes to the file), i.e. what
  recording adds to the pipeline's step; the camera periods carry nearly all of it.
record_mb_per_min: bag size per minute of drive. Raw frames are 2.76 MB each (3.3 GB/min at 20 Hz);
  `--jpeg` adds a lossy JPEG run (its PSNR is printed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import DefaultDict, Set

import numpy as np

from sim_bridge.embedded.drive import DT_S, DriveOptions, camera_model, run_drive
from vehicle_runtime.config import load_runtime_config
from vehicle_runtime.record.recorder import Recorder, for_run
from vehicle_runtime.record.writer import WriterOptions


class TimedRecorder:
    """Wraps a Recorder: time spent per log time (one control period)."""

    def __init__(self, rec: Recorder):
        self.rec = rec
        self.per_step: DefaultDict[int, float] = defaultdict(float)  # control step → seconds spent
        self.camera_steps: Set[int] = set()

    def __getattr__(self, name):
        return getattr(self.rec, name)

    def record(self, topic, msg, t_s):
        t0 = time.perf_counter()
        self.rec.record(topic, msg, t_s)
        self.per_step[round(t_s / DT_S)] += time.perf_counter() - t0

    def camera(self, frame, t_s):
        t0 = time.perf_counter()
        self.rec.camera(frame, t_s)
        k = round(t_s / DT_S)
        self.per_step[k] += time.perf_counter() - t0
        self.camera_steps.add(k)


REALTIME = True  # paced to the wall clock, as on a car: the writer thread gets the time a car gives it


def drive(duration_s: float, recorder=None):
    t0 = time.perf_counter()
    r = run_drive(
        DriveOptions(
            scenario="curvy_road", policy="student", duration_s=duration_s, recorder=recorder, realtime=REALTIME
        )
    )
    return r, time.perf_counter() - t0


def recorded_run(root: Path, name: str, duration_s: float, jpeg, compression: str) -> dict:
    cfg = load_runtime_config()
    cam = camera_model()
    bag = root / name
    rec = TimedRecorder(
        for_run(
            bag,
            cfg,
            None,
            jpeg_quality=jpeg,
            camera_info=(cam.width, cam.height, cam.fx),
            lockstep_dt_s=None if REALTIME else DT_S,
            options=WriterOptions(compression=compression),
        )
    )
    result, wall = drive(duration_s, rec)
    t0 = time.perf_counter()
    rec.close()
    close_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in bag.iterdir())
    steps = np.array([rec.per_step.get(k, 0.0) for k in range(int(round(result.sim_time_s / DT_S)))]) * 1e3
    cams = np.array([rec.per_step[k] for k in sorted(rec.camera_steps)]) * 1e3
    return {
        "wall_s": wall,
        "close_s": close_s,
        "sim_s": result.sim_time_s,
        "frames": result.frames,
        "mb_per_min": size / 1e6 / (result.sim_time_s / 60),
        "overhead_p99_ms": float(np.percentile(steps, 99)),
        "overhead_p50_ms": float(np.percentile(steps, 50)),
        "camera_step_p50_ms": float(np.percentile(cams, 50)),
        "camera_step_p99_ms": float(np.percentile(cams, 99)),
        "psnr_db": rec.rec.loss().get("camera_jpeg_psnr_db_mean"),
    }


def isolated_camera_calls(root: Path, frames: int = 100) -> np.ndarray:
    """Recorder.camera alone, at 20 Hz, on a 720p frame: the hot-path cost without the drive around it (ms)."""
    from vehicle_runtime.types import CameraFrame

    img = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    rec = Recorder.to_bag(root / "isolated", {})
    times = []
    for i in range(frames):
        t0 = time.perf_counter()
        rec.camera(CameraFrame("front", i * 0.05, "rgb8", img, 1280, 720), i * 0.05)
        times.append(time.perf_counter() - t0)
        time.sleep(max(0.0, 0.05 - (time.perf_counter() - t0)))  # the camera's period
    rec.close()
    return np.array(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of simulated drive per run")
    ap.add_argument("--jpeg", type=int, default=90, help="JPEG quality of the compressed run (0: skip it)")
    ap.add_argument("--compression", choices=("none", "zstd", "lz4"), default="none")
    ap.add_argument(
        "--lockstep",
        action="store_true",
        help="run the simulator as fast as it goes (the writer then falls behind and the step waits for it)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    global REALTIME
    REALTIME = not args.lockstep
    drive(1.0)  # warm-up: model load, caches
    _, base_wall = drive(args.duration)
    root = Path(tempfile.mkdtemp(prefix="bench-record-"))
    try:
        raw = recorded_run(root, "raw", args.duration, None, args.compression)
        jpg = recorded_run(root, "jpeg", args.duration, args.jpeg, args.compression) if args.jpeg else None
        iso = isolated_camera_calls(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = {
        "record_overhead_p99_ms": raw["overhead_p99_ms"],
        "record_overhead_p50_ms": raw["overhead_p50_ms"],
        "record_camera_step_p99_ms": raw["camera_step_p99_ms"],
        "record_mb_per_min": raw["mb_per_min"],
        "drive_wall_ratio_recorded_vs_not": raw["wall_s"] / base_wall,
        "close_s": raw["close_s"],
        "compression": args.compression,
        "duration_s": raw["sim_s"],
        "frames": raw["frames"],
        "record_camera_call_isolated_p50_ms": float(np.percentile(iso, 50)),
        "record_camera_call_isolated_p99_ms": float(np.percentile(iso, 99)),
    }
    if jpg:
        out.update(
            {
                "jpeg_quality": args.jpeg,
                "jpeg_record_overhead_p99_ms": jpg["overhead_p99_ms"],
                "jpeg_record_mb_per_min": jpg["mb_per_min"],
                "jpeg_psnr_db_mean": float(jpg["psnr_db"]),
            }
        )
    out["mode"] = "realtime" if REALTIME else "lockstep"
    print(
        f"720p rgb8 at 20 Hz, {out['mode']}, {out['duration_s']:.1f} s drive, {out['frames']} frames, chunk "
        f"compression "
        f"{args.compression}"
    )
    print(
        f"  raw:  overhead per 10 ms period p50 {raw['overhead_p50_ms']:.3f} ms, p99 {raw['overhead_p99_ms']:.3f} ms "
        f"(camera periods p50 {raw['camera_step_p50_ms']:.2f}, p99 {raw['camera_step_p99_ms']:.2f}); "
        f"{raw['mb_per_min']:.0f} MB/min; wall time ×{out['drive_wall_ratio_recorded_vs_not']:.2f} vs no recording"
    )
    if jpg:
        print(
            f"  jpeg q{args.jpeg}: overhead p99 {jpg['overhead_p99_ms']:.3f} ms (camera periods p99 "
            f"{jpg['camera_step_p99_ms']:.2f}); {jpg['mb_per_min']:.0f} MB/min; PSNR {jpg['psnr_db']} dB"
        )
    print(
        f"  one 720p frame into the recorder alone (20 Hz): p50 {out['record_camera_call_isolated_p50_ms']:.2f} ms, "
        f"p99 {out['record_camera_call_isolated_p99_ms']:.2f} ms"
    )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
