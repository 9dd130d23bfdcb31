"""Replay: a bag's recorded inputs fed to a build, in recorded order, as fast as the machine allows.

The runtime is built as `drive` builds it (fusion, student, tracker, safety gate, CAN codec), on a
python-can `virtual` bus of its own. For each log time, in this order (the order the recorded run
used): the CAN frames the runtime read, cameras, drive status, odometry, route; then, on a recorded
tick, the policy (when a camera frame arrived at that time) and one control period. Outputs are
collected by the same RecordingRuntime that records a drive, so recorded and replayed outputs are the
same messages. Nothing depends on the wall clock: the same bag and build give the same bytes.

A bag from another stack has no ticks and no CAN frames: the policy runs on every camera frame and
one control period follows it; the gate then has no vehicle feedback, so only the model's outputs
(trajectory, reasoning) are meaningful there.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..can import BusConfig, Codec, load_dbc, open_bus
from ..config import load_runtime_config
from ..pipeline import Pipeline
from ..runtime import OnboardRuntime
from ..transport.cdr import deserialize
from . import canframe, convert
from . import mapping as remap
from .identity import build_identity
from .reader import BagInfo, info, raw_messages
from .recorder import MemorySink, Recorder
from .tap import RecordingRuntime
from .topics import COMPRESSED, IMAGE, OUTPUTS, camera_of

_channels = itertools.count()
# feed order inside one log time: feedback first (read at the tick), then sensors, then the route
_ORDER = {
    "/can/rx": 0,
    "camera": 1,
    "/vehicle/status/drive": 2,
    "/navigation/odometry": 3,
    "/navigation/route": 4,
    "/vehicle_runtime/tick": 9,
}


@dataclass
class Build:
    """What replay runs: a config folder and a model folder (from a bundle, or loose)."""

    config_dir: Path
    model_path: Optional[Path]
    label: str
    bundle_version: Optional[str] = None
    _tmp: Optional[tempfile.TemporaryDirectory] = field(default=None, repr=False)  # a bundle's unpacked files

    def config(self):
        return load_runtime_config(self.config_dir)

    def identity(self) -> Dict[str, str]:
        return build_identity(self.config(), self.model_path, self.bundle_version)


def load_build(
    model: Optional[Path] = None, bundle: Optional[Path] = None, config: Optional[Path] = None, label: str = "candidate"
) -> Build:
    """A model folder and/or config folder, or the config/ and models/ of a bundle file (its signature is
    not checked here: `bundle verify` does that)."""
    if bundle is not None:
        from ..bundle import archive

        envelope, payload = archive.read(Path(bundle))
        tmp = tempfile.TemporaryDirectory(prefix="replay-bundle-")
        root = Path(tmp.name)
        for rel, data in payload.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        cfg = load_runtime_config(config or root / "config")
        shipped = root / "models" / Path(cfg.model_path).name
        return Build(
            Path(config or root / "config"),
            model or (shipped if shipped.exists() else None),
            f"{label} (bundle {Path(bundle).name})",
            envelope.get("signed", {}).get("version"),
            tmp,
        )
    cfg = load_runtime_config(config)
    return Build(cfg.config_dir, Path(model) if model else None, label)


@dataclass
class ReplayRun:
    bag: Path
    build: str
    outputs: Dict[str, List[Tuple[int, bytes]]]
    types: Dict[str, str]
    sim_time_s: float
    wall_time_s: float
    frames: int
    identity: Dict[str, str]

    @property
    def speed_x_realtime(self) -> float:
        return self.sim_time_s / max(self.wall_time_s, 1e-9)


def _group_key(topic: str) -> int:
    return _ORDER["camera"] if topic.startswith("/camera/") and "image_raw" in topic else _ORDER.get(topic, 5)


def _fed(ours: Optional[str]) -> bool:
    """Inputs replay hands to the runtime (recorded outputs, camera_info and diagnostics are not)."""
    return ours is not None and ours != "/camera/camera_info" and _group_key(ours) != 5


def replay(bag: Path, build: Build, topic_map: Optional[Dict[str, str]] = None) -> ReplayRun:
    meta: BagInfo = info(bag)
    topic_map = topic_map or {}
    remap.check(topic_map, meta.topics)
    clock = meta.clock()
    cfg = build.config()
    pipeline = Pipeline.from_config(cfg, build.model_path)
    channel = f"replay-{next(_channels)}-{id(meta)}"
    bus, feeder = (open_bus(BusConfig("virtual", channel)) for _ in range(2))
    codec = Codec(load_dbc(cfg.dbc_path))
    auto_engage = meta.custom_data.get("auto_engage", "true") == "true"
    runtime = OnboardRuntime(cfg, pipeline, bus, codec, safety=replace(cfg.safety, auto_engage=auto_engage))
    sink = MemorySink()
    tap = RecordingRuntime(runtime, Recorder(sink, topics=set(OUTPUTS)))
    dt_s = meta.lockstep_dt_s or 1.0 / cfg.control_rate_hz
    has_ticks = "/vehicle_runtime/tick" in meta.topics
    wanted = {t for t, ty in meta.topics.items() if _fed(remap.target(t, ty, topic_map))}
    state: Dict[str, Any] = {"drive": None, "frames": 0, "first": None, "last": None}
    wall0 = time.perf_counter()
    group: List[Tuple[int, str, str, bytes]] = []

    def run_group() -> None:
        t_ns = group[0][0]
        now = clock(t_ns)
        state["first"] = t_ns if state["first"] is None else state["first"]
        state["last"] = t_ns
        camera = False
        for _, ours, typename, raw in sorted(group, key=lambda g: _group_key(g[1])):
            if ours == "/can/rx":
                feeder.send(canframe.from_msg(deserialize(typename, raw)))
            elif typename in (IMAGE, COMPRESSED):
                frame = convert.frame_of(deserialize(typename, raw), camera_of(ours), clock)
                now = now if has_ticks else frame.stamp_s  # no run clock in the bag: arrival = stamp
                tap.on_camera(frame, now)
                camera, state["frames"] = True, state["frames"] + 1
            elif ours == "/vehicle/status/drive":
                state["drive"] = deserialize(typename, raw)
            elif ours == "/navigation/odometry":
                ego = convert.ego_of(deserialize(typename, raw), state["drive"], clock)
                tap.on_odometry(ego, now if has_ticks else ego.stamp_s)
            elif ours == "/navigation/route":
                route = convert.route_of(deserialize(typename, raw), clock)
                tap.on_route(route, now if has_ticks else route.stamp_s)
            elif ours == "/vehicle_runtime/tick" or (not has_ticks and camera and ours is _LAST):
                if camera:
                    tap.step_policy(now)
                tap.tick(now, dt_s)
                while feeder.recv(timeout=0.0) is not None:  # the runtime's own frames: not needed here
                    pass
        group.clear()

    for topic, typename, t, raw in raw_messages(bag, sorted(wanted)):
        ours = remap.target(topic, typename, topic_map)
        if ours is None:  # not fed (`wanted` holds only fed topics)
            continue
        if group and group[0][0] != t:
            if not has_ticks:
                group.append((group[0][0], _LAST, "", b""))
            run_group()
        group.append((t, ours, typename, raw))
    if group:
        if not has_ticks:
            group.append((group[0][0], _LAST, "", b""))
        run_group()
    if state["last"] is not None:
        tap.shutdown(clock(state["last"] + int(round(dt_s * 1e9))))
    wall = time.perf_counter() - wall0
    for b in (bus, feeder):
        b.shutdown()
    sim = (state["last"] - state["first"]) / 1e9 + dt_s if state["last"] is not None else 0.0
    return ReplayRun(Path(bag), build.label, sink.messages, sink.types, sim, wall, state["frames"], build.identity())


def save_outputs(run: ReplayRun, path: Path) -> Path:
    """A replay's outputs as a bag (outputs only, the build's identity as metadata): a baseline for later gates."""
    from .topics import topic_info
    from .writer import BagWriter, WriterOptions

    w = BagWriter(path, WriterOptions(custom_data={**run.identity, "replayed_from": str(run.bag)}))
    merged = sorted((t, topic, raw) for topic, msgs in run.outputs.items() for t, raw in msgs)
    for topic, typename in run.types.items():
        w.add_topic(topic, typename, topic_info(topic).qos)
    for t, topic, raw in merged:
        w.write(topic, raw, t)
    w.close()
    return Path(path)


_LAST = "/vehicle_runtime/tick (synthesised)"  # ends a group of a bag without ticks
_ORDER[_LAST] = 9
