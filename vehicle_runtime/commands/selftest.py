"""`vehicle-runtime selftest`: load config + model, push synthetic 720p frames through fusion and the
pipeline, encode the commands onto a python-can `virtual` bus, decode them back on a second bus
handle, print per-stage latency; exit non-zero on any failure.

The selftest never engages: commands carry ENABLE=0 and the heartbeat says DISENGAGED.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Dict

from .. import cli_types as T
from .. import synthetic
from ..can import BusConfig, Codec, CounterCheck, FrameError, Packer, load_dbc, open_bus
from ..cli_errors import Refused, describe, is_refusal, naming
from ..config import load_runtime_config
from ..fusion import Fusion
from ..pipeline import Pipeline
from ..types import ActuatorRequest

CAMERA_W, CAMERA_H, CAMERA_HZ, CONTROL_HZ = 1280, 720, 20.0, 100.0
STEER_LSB_RAD, ACCEL_LSB_MPS2 = 1e-4, 1e-3


def add_parser(sub) -> None:
    p = sub.add_parser("selftest", help="push synthetic frames through the whole pipeline onto a virtual CAN bus")
    p.add_argument("--frames", type=T.count, default=60, help="camera frames to push, >= 1 (default 60)")
    p.add_argument(
        "--config",
        type=T.config_dir,
        help="config folder (default: the package's config/); relative "
        "paths in its parameter files are read from that folder",
    )
    p.add_argument("--model", type=T.model_dir, help="model folder (default: policy.param.yaml's model_path)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    failures = []
    try:  # everything the selftest reads, refused as one line: "selftest: FAIL: <input>: <problem>"
        cfg = load_runtime_config(args.config)
        pipeline = Pipeline.from_config(cfg, args.model)
        with naming(cfg.dbc_path or "the shipped DBC"):
            codec = Codec(load_dbc(cfg.dbc_path))
    except Exception as exc:  # noqa: BLE001 -- sorted by cli_errors; anything else stays a bug
        if not is_refusal(exc):
            raise
        raise Refused(f"FAIL: {describe(exc)[0]}", describe(exc)[1]) from exc
    packer = Packer(codec)
    channel = f"selftest-{os.getpid()}"
    tx = open_bus(BusConfig("virtual", channel))
    rx = open_bus(BusConfig("virtual", channel))
    fusion = Fusion(pipeline.cameras, cfg.fusion)
    route = synthetic.curved_route()
    fusion.set_route(route, 0.0)
    camera = pipeline.cameras[0]
    speed_mps = 8.0
    checks = CounterCheck()
    frames_sent = frames_ok = 0
    outputs = 0
    reasoning = set()
    try:
        for frame in synthetic.frames(camera, CAMERA_W, CAMERA_H, args.frames, CAMERA_HZ):
            now = frame.stamp_s
            for cam in pipeline.cameras:  # every camera the manifest lists sees the same picture
                fusion.add_frame(frame if cam == camera else _renamed(frame, cam), now)
            fusion.add_odometry(synthetic.odometry_along(route, now, speed_mps), now)
            obs = fusion.observe(now)
            if obs is None:
                failures.append(f"fusion produced no observation at t={now:.2f} s ({fusion.waiting_for})")
                continue
            policy = pipeline.infer(obs)
            outputs += 1
            reasoning.add(policy.reasoning_text)
            if not policy.is_finite():
                failures.append(f"non-finite policy output at t={now:.2f} s")
            for k in range(int(CONTROL_HZ / CAMERA_HZ)):  # control ticks until the next frame
                t = now + k / CONTROL_HZ
                req = pipeline.control(synthetic.odometry_along(route, t, speed_mps), t, 1 / CONTROL_HZ)
                if req is None:  # the validator refused every plan so far (a test model): frames still go out
                    req = ActuatorRequest(t, 0.0, 0.0)
                sent: Dict[str, Dict[str, float]] = {
                    "STEERING_CMD": {"STEER_ANGLE_CMD": req.steer_rad, "ENABLE": 0},
                    "LONGITUDINAL_CMD": {"ACCEL_CMD": req.accel_mps2, "ENABLE": 0, "BRAKE_HOLD": 0},
                    "HEARTBEAT": {"STATE": 0, "HAZARD_REQUEST": 0},
                }
                for name, signals in sent.items():
                    tx.send(packer.pack(name, signals, t))
                    frames_sent += 1
                    frames_ok += _receive_and_check(rx, codec, checks, name, signals, failures)
    finally:
        tx.shutdown()
        rx.shutdown()

    if outputs == 0:
        failures.append("no policy output at all")
    if "" in reasoning:
        failures.append("a policy output had no reasoning text")
    result = _report(pipeline, outputs, frames_sent, frames_ok, reasoning, failures)
    if args.json:
        print(json.dumps(result))
    return 1 if failures else 0


def _renamed(frame, camera):
    from dataclasses import replace

    return replace(frame, camera=camera)


def _receive_and_check(rx, codec, checks, name, signals, failures) -> int:
    msg = rx.recv(timeout=1.0)
    if msg is None:
        failures.append(f"{name}: nothing received on the virtual bus")
        return 0
    try:
        decoded = codec.decode(msg)
        checks.check(decoded)
    except FrameError as exc:
        failures.append(f"{name}: {exc}")
        return 0
    if decoded.name != name:
        failures.append(f"expected {name}, received {decoded.name}")
        return 0
    for key, value in signals.items():
        lsb = STEER_LSB_RAD if key == "STEER_ANGLE_CMD" else ACCEL_LSB_MPS2
        if not math.isclose(decoded.signals[key], value, abs_tol=lsb / 2 + 1e-9):
            failures.append(f"{name}.{key}: sent {value}, decoded {decoded.signals[key]}")
            return 0
    return 1


def _report(pipeline, outputs, frames_sent, frames_ok, reasoning, failures) -> dict:
    s = pipeline.student
    print(f"model      {s.manifest.name} {s.manifest.version} on {s.provider}")
    print(f"frames     {outputs} camera frames {CAMERA_W}x{CAMERA_H} rgb8 -> {outputs} policy outputs")
    print(f"CAN        {frames_ok}/{frames_sent} frames decoded back with good counter and checksum")
    print(f"reasoning  {sorted(reasoning)}")
    print(f"{'stage':<16}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    stages = {}
    for name, stats in pipeline.latency.items():
        summary = stats.summary()
        stages[name] = summary
        if summary["count"]:
            print(f"{name:<16}{summary['p50_ms']:>9.3f}{summary['p99_ms']:>9.3f}{summary['max_ms']:>9.3f}")
    for f in failures[:20]:
        print(f"FAIL: {f}", file=sys.stderr)
    print("selftest: " + ("FAIL" if failures else "OK"))
    return {
        "ok": not failures,
        "failures": failures[:20],
        "policy_outputs": outputs,
        "can_frames_sent": frames_sent,
        "can_frames_ok": frames_ok,
        "provider": s.provider,
        "stages": stages,
        "model": s.manifest.name,
    }
