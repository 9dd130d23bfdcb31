"""1280×720 rgb8 images at 30 Hz from one process to another over Cyclone DDS (ROS 2 wire format,
best effort), three ways in one run: the runtime's default (same host: pixels through shared memory,
a descriptor over DDS), our raw-CDR image on the DDS wire (what another host or an rclpy node gets),
and the naive cyclonedds `sequence[uint8]` path.

    python bench/transport.py [--frames 150] [--naive-frames 20] [--json]

Latency = receive time − publish time carried in the header stamp (CLOCK_REALTIME, one machine).
The default Cyclone settings are the shipped config/cyclonedds.xml (loopback, 64 kB messages).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from typing import Any, Dict

import numpy as np

from vehicle_runtime.realtime import GLIBC_TUNABLES

W, H = 1280, 720


def _receiver(kind: str, expected: int, ready, results) -> None:
    from vehicle_runtime.transport.dds import DdsParticipant, _dds, qos

    p = DdsParticipant(image_shm=kind == "shm")
    latencies = []
    if kind in ("shm", "dds"):

        def on_image(msg):
            latencies.append(time.time() - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

        p.subscribe("sensor_msgs/msg/Image", "bench/image_raw", on_image, "sensor")
    else:
        core, _, _, sub, topic, _ = _dds()
        naive_type = _naive_type()

        def on_data(reader):
            for s in reader.take(N=16):
                latencies.append(time.time() - s.stamp_s)

        listener = core.Listener(on_data_available=on_data)
        t = topic.Topic(p.participant, "rt/bench/image_naive", naive_type)
        reader = sub.DataReader(p.participant, t, qos=qos("sensor"), listener=listener)  # noqa: F841
    ready.set()
    deadline = time.time() + 60
    while len(latencies) < expected and time.time() < deadline:
        time.sleep(0.05)
        if results.get("stop"):
            break
    time.sleep(0.2)
    results[kind] = list(latencies)


def _naive_type():
    """The naive path: an IDL struct whose image is a cyclonedds `sequence[uint8]`."""
    from cyclonedds.idl import make_idl_struct
    from cyclonedds.idl import types as t

    return _cached(
        lambda: make_idl_struct("NaiveImage", "bench::NaiveImage", {"stamp_s": t.float64, "data": t.sequence[t.uint8]})
    )


_CACHE: Dict[str, Any] = {}  # the naive IDL type, made once


def _cached(make):
    if "naive" not in _CACHE:
        _CACHE["naive"] = make()
    return _CACHE["naive"]


def run(kind: str, frames: int, rate_hz: float = 30.0) -> dict:
    from vehicle_runtime.transport import msgs
    from vehicle_runtime.transport.dds import DdsParticipant, _dds, qos

    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    results = manager.dict()
    ready = ctx.Event()
    proc = ctx.Process(target=_receiver, args=(kind, frames, ready, results))
    proc.start()
    ready.wait(30)
    p = DdsParticipant(image_shm=kind == "shm")
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    write_ms = []
    if kind in ("shm", "dds"):
        pub = p.publisher("sensor_msgs/msg/Image", "bench/image_raw", "sensor")
        writer = pub.writer
        msg = msgs.new("sensor_msgs/msg/Image", height=H, width=W, encoding="rgb8", step=W * 3, data=image)
    else:
        _, _, pubm, _, topic, _ = _dds()
        writer = pubm.DataWriter(
            p.participant, topic.Topic(p.participant, "rt/bench/image_naive", _naive_type()), qos=qos("sensor")
        )
        naive = _naive_type()(stamp_s=0.0, data=image.reshape(-1).tolist())
    t_end = time.time() + 10
    while not writer.get_matched_subscriptions() and time.time() < t_end:  # wait for discovery, not a fixed sleep
        time.sleep(0.01)
    period = 1.0 / rate_hz
    next_t = time.monotonic()
    for _ in range(frames):
        next_t += period
        t0 = time.perf_counter()
        if kind in ("shm", "dds"):
            msg.header.stamp = msgs.s_to_stamp(time.time())
            pub.publish(msg)
        else:
            naive.stamp_s = time.time()
            writer.write(naive)
        write_ms.append((time.perf_counter() - t0) * 1e3)
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)
    results["stop"] = True
    proc.join(30)
    lat = np.array(results.get(kind, []), float) * 1e3
    return {
        "sent": frames,
        "received": int(len(lat)),
        "lost_pct": 100.0 * (1 - len(lat) / frames),
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "write_p50_ms": float(np.percentile(write_ms, 50)),
    }


def main() -> None:
    if os.environ.get("GLIBC_TUNABLES") is None and "--untuned" not in sys.argv:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES})
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--untuned", action="store_true", help="keep glibc's default malloc settings")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--naive-frames", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fast = run("shm", args.frames)
    raw = run("dds", args.frames)
    naive = run("naive", args.naive_frames, rate_hz=10.0)
    for name, r in (
        ("shared memory + descriptor", fast),
        ("raw CDR on the DDS wire", raw),
        ("cyclonedds sequence[uint8]", naive),
    ):
        print(
            f"{name:<28} received {r['received']}/{r['sent']}  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
            f"write p50 {r['write_p50_ms']:.2f} ms"
        )
    result = {
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "image_720p_p50_ms": fast["p50_ms"],
        "image_720p_p99_ms": fast["p99_ms"],
        "image_720p_lost_pct": fast["lost_pct"],
        "image_720p_path": "shared memory (same host)",
        "dds_wire_720p_p50_ms": raw["p50_ms"],
        "dds_wire_720p_p99_ms": raw["p99_ms"],
        "naive_720p_p50_ms": naive["p50_ms"],
        "naive_720p_p99_ms": naive["p99_ms"],
        "naive_720p_write_p50_ms": naive["write_p50_ms"],
        "ratio_naive_over_image_p50": (naive["p50_ms"] / fast["p50_ms"])
        if fast["p50_ms"] and naive["p50_ms"]
        else None,
        "shm": fast,
        "dds": raw,
        "naive": naive,
    }
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
