"""A rosbag2 bag with MCAP storage: a folder of `<name>_<i>.mcap` files plus metadata.yaml (format 9),
as `ros2 bag record -s mcap` writes it, readable by `ros2 bag info/play`, Foxglove and `rosbags`.

Files are written by the `mcap` library (Foxglove's reference implementation): chunked, optionally
zstd/lz4-compressed, with schemas as ros2msg text and channels carrying `offered_qos_profiles`, as
rosbag2_storage_mcap does. Messages go in as the raw CDR bytes they had on the wire.

Power loss: every file is written with unbuffered os.write, the open chunk is closed at least every
`flush_every_s` of log time, and metadata.yaml is rewritten on open, on every split and on close. A bag
cut short (SIGKILL, power) keeps every chunk written before the cut; `repair.py` makes it readable.
Bounded disk: files split at `split_size_bytes`; with `max_files` the oldest file is deleted (a ring).
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import yaml

from ..transport.msgs import DEFINITIONS
from .canframe import FRAME, FRAME_MSG

if TYPE_CHECKING:
    from mcap.writer import Writer

METADATA = "metadata.yaml"
IDENTITY_RECORD = "vehicle_runtime"  # name of the MCAP metadata record holding the build identity
_QOS = {  # (reliability, durability, history depth) of transport/dds.py's profiles
    "sensor": ("best_effort", "volatile", 5),
    "default": ("reliable", "volatile", 10),
    "latched": ("reliable", "transient_local", 1),
    "command": ("reliable", "volatile", 1),
}


class BagError(RuntimeError):
    """A bag that cannot be written, read or repaired (path exists, truncated, unknown type...)."""


@functools.lru_cache(maxsize=None)
def _typestore():
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    for name, text in {**DEFINITIONS, FRAME: FRAME_MSG}.items():
        if name not in ts.types:
            ts.register(get_types_from_msg(text, name))
    return ts


def typestore():
    """rosbags' Jazzy type store plus our non-core standard types (ackermann_msgs, can_msgs)."""
    return _typestore()


@functools.lru_cache(maxsize=None)
def message_definition(typename: str) -> tuple:
    """(ros2msg text with dependencies, as rosbag2 stores it; RIHS01 type hash)."""
    ts = typestore()
    text, _ = ts.generate_msgdef(typename, ros_version=2)
    # rosbag2 names each dependency in full ("MSG: std_msgs/msg/Header"); rosbags writes "std_msgs/Header"
    text = re.sub(r"^MSG: (\w+)/(\w+)$", r"MSG: \1/msg/\2", text, flags=re.M)
    return text, ts.hash_rihs01(typename)


def qos_profiles(profile: str) -> list:
    """The offered QoS as rosbag2 format 9 lists it (rclcpp's "infinite" durations)."""
    rel, dur, depth = _QOS[profile]
    inf = lambda: {"sec": 9223372036, "nsec": 854775807}  # noqa: E731  (fresh dicts: no YAML aliases)
    return [
        {
            "history": "keep_last",
            "depth": depth,
            "reliability": rel,
            "durability": dur,
            "deadline": inf(),
            "lifespan": inf(),
            "liveliness": "automatic",
            "liveliness_lease_duration": inf(),
            "avoid_ros_namespace_conventions": False,
        }
    ]


class _Unbuffered:
    """The file stream the mcap Writer writes to: every write reaches the kernel at once, so a killed
    process loses nothing it had written (mcap wraps a RawIOBase in a BufferedWriter; this is neither)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.pos = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            n = os.write(self.fd, view)
            view, self.pos = view[n:], self.pos + n
        return total

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class _File:
    name: str
    start_ns: int = 0
    end_ns: int = 0
    count: int = 0
    size: int = 0
    topic_counts: Counter = field(default_factory=Counter)  # a ring bag's deleted files leave the topics' counts


@dataclass
class _Topic:
    name: str
    type: str
    profile: str
    count: int = 0
    channel: int = -1


@dataclass
class WriterOptions:
    split_size_bytes: Optional[int] = None
    max_files: Optional[int] = None
    chunk_size_bytes: int = 4 << 20
    compression: str = "none"  # none | zstd | lz4 (per chunk)
    flush_every_s: float = 1.0
    custom_data: Dict[str, str] = field(default_factory=dict)


class BagWriter:
    def __init__(self, path: Path, options: Optional[WriterOptions] = None):
        self.path = Path(path)
        self.o = options or WriterOptions()
        if self.o.compression not in ("none", "zstd", "lz4"):
            raise BagError(f"compression '{self.o.compression}' is not one of none, zstd, lz4")
        try:
            self.path.mkdir(parents=True)
        except FileExistsError:
            raise BagError(f"{self.path} exists already; a bag is never overwritten") from None
        self.topics: Dict[str, _Topic] = {}
        self.files: List[_File] = []
        self.deleted_files = 0
        self._mcap: Optional[Writer] = None  # the open file's writer and stream (None once closed)
        self._stream: Optional[_Unbuffered] = None
        self._schemas: Dict[str, int] = {}
        self._last_flush_ns: Optional[int] = None
        self._open_file()

    # --- public --------------------------------------------------------------------------------
    def add_topic(self, name: str, typename: str, profile: str = "default") -> None:
        if name in self.topics:
            if self.topics[name].type != typename:
                raise BagError(f"topic {name} is {self.topics[name].type}, not {typename}")
            return
        message_definition(typename)  # fails early on an unknown type
        self.topics[name] = _Topic(name, typename, profile)
        self._register(self.topics[name])
        self._write_metadata()

    def write(self, name: str, data, t_ns: int) -> None:
        """One message: `data` is its CDR (with the 4-byte encapsulation header), `t_ns` its log time."""
        topic = self.topics[name]
        f = self.files[-1]
        if f.count == 0:
            f.start_ns = t_ns
        f.start_ns, f.end_ns = min(f.start_ns, t_ns), max(f.end_ns, t_ns)
        f.count += 1
        f.topic_counts[name] += 1
        topic.count += 1
        mcap, stream = self._open_writer()
        mcap.add_message(channel_id=topic.channel, log_time=t_ns, data=data, publish_time=t_ns)
        if self._last_flush_ns is None:
            self._last_flush_ns = t_ns
        if t_ns - self._last_flush_ns >= self.o.flush_every_s * 1e9:
            mcap.flush()  # closes the open chunk: at most flush_every_s lost to a power cut
            self._last_flush_ns = t_ns
        if self.o.split_size_bytes and stream.tell() >= self.o.split_size_bytes:
            self.split()

    def split(self) -> None:
        self._close_file()
        if self.o.max_files and len(self.files) >= self.o.max_files:
            oldest = self.files.pop(0)
            (self.path / oldest.name).unlink(missing_ok=True)
            self.deleted_files += 1
        self._open_file()

    def close(self) -> None:
        if self._mcap is None:
            return
        self._close_file()
        self._write_metadata()

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files[:-1]) + (self._stream.tell() if self._stream else self.files[-1].size)

    # --- inside ----------------------------------------------------------------------------------
    def _open_writer(self) -> Tuple[Writer, _Unbuffered]:
        if self._mcap is None or self._stream is None:
            raise BagError(f"{self.path}: the bag is closed")
        return self._mcap, self._stream

    def _open_file(self) -> None:
        from mcap.writer import CompressionType, Writer

        index = (int(self.files[-1].name.rsplit("_", 1)[1].split(".")[0]) + 1) if self.files else 0
        name = f"{self.path.name}_{index}.mcap"
        self._stream = stream = _Unbuffered(self.path / name)
        comp = {"none": CompressionType.NONE, "zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4}[
            self.o.compression
        ]
        # type: ignore: mcap's Writer takes any stream with write/tell/flush, its annotation says IO
        self._mcap = mcap = Writer(stream, chunk_size=self.o.chunk_size_bytes, compression=comp)  # type: ignore[arg-type]
        mcap.start(profile="ros2", library="vehicle_runtime (mcap)")
        if self.o.custom_data:
            mcap.add_metadata(IDENTITY_RECORD, dict(self.o.custom_data))
        self._schemas = {}
        self.files.append(_File(name))
        for topic in self.topics.values():
            self._register(topic)
        self._write_metadata()

    def _register(self, topic: _Topic) -> None:
        text, type_hash = message_definition(topic.type)
        mcap, _stream = self._open_writer()
        if topic.type not in self._schemas:
            self._schemas[topic.type] = mcap.register_schema(topic.type, "ros2msg", text.encode())
        qos = yaml.safe_dump(qos_profiles(topic.profile), default_flow_style=False).strip()
        # as rosbag2_storage_mcap writes them: `ros2 bag reindex` reads both back from a file without metadata.yaml
        metadata = {"offered_qos_profiles": qos, "topic_type_hash": type_hash}
        topic.channel = mcap.register_channel(topic.name, "cdr", self._schemas[topic.type], metadata)

    def _close_file(self) -> None:
        mcap, stream = self._open_writer()
        mcap.add_metadata("rosbag2", {"serialized_metadata": yaml.safe_dump(self._info(), sort_keys=False)})
        mcap.finish()
        self.files[-1].size = stream.tell()
        stream.close()
        self._mcap = self._stream = None
        self._last_flush_ns = None

    def _info(self) -> dict:
        return bag_info(
            [
                (t.name, t.type, qos_profiles(t.profile), sum(f.topic_counts[t.name] for f in self.files))
                for t in self.topics.values()
            ],
            [(f.name, f.start_ns, f.end_ns, f.count) for f in self.files],
            dict(self.o.custom_data) or None,
        )

    def _write_metadata(self) -> None:
        write_metadata(self.path, self._info())


def write_metadata(bag: Path, info: dict) -> None:
    """metadata.yaml of `bag`, replaced atomically: never a half-written one."""
    tmp = bag / (METADATA + ".tmp")
    tmp.write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}, sort_keys=False))
    os.replace(tmp, bag / METADATA)


def bag_info(
    topics: List[Tuple[str, str, list, int]], files: List[Tuple[str, int, int, int]], custom: Optional[dict]
) -> dict:
    """rosbag2's metadata.yaml body (version 9, as rosbag2 0.26 writes it) from (topic, type, QoS profiles,
    message count) and (file name, first and last stamp ns, message count); the writer and `repair` share it."""
    with_msgs = [f for f in files if f[3]]
    start = min((f[1] for f in with_msgs), default=0)
    end = max((f[2] for f in with_msgs), default=0)
    return {
        "version": 9,
        "storage_identifier": "mcap",
        "duration": {"nanoseconds": max(0, end - start)},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": sum(f[3] for f in files),
        "topics_with_message_count": [
            {
                "topic_metadata": {
                    "name": name,
                    "type": ty,
                    "serialization_format": "cdr",
                    "offered_qos_profiles": qos,
                    "type_description_hash": message_definition(ty)[1],
                },
                "message_count": n,
            }
            for name, ty, qos, n in topics
        ],
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": [f[0] for f in files],
        "files": [
            {
                "path": name,
                "starting_time": {"nanoseconds_since_epoch": t0},
                "duration": {"nanoseconds": t1 - t0},
                "message_count": n,
            }
            for name, t0, t1, n in files
        ],
        "custom_data": custom,
        "ros_distro": "jazzy",
    }
