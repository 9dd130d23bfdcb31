"""Reading a bag back: its metadata (custom_data: build identity, clock) and its messages in log-time
order, through PyPI `rosbags` (independent of our writer), decoded with our CDR codec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import yaml

from ..transport.cdr import deserialize
from ..transport.msgs import Msg
from . import canframe  # noqa: F401  (registers can_msgs/msg/Frame with the codec)
from .writer import METADATA, BagError


@dataclass
class BagInfo:
    path: Path
    custom_data: Dict[str, str]
    topics: Dict[str, str]  # name → type
    counts: Dict[str, int]
    duration_s: float
    message_count: int

    def clock(self):
        """ns → the run's float seconds. A lockstep simulator's time is step × dt, rebuilt exactly
        (so replay hands the runtime the same floats the recorded run had); otherwise ns / 1e9."""
        spec = self.custom_data.get("clock", "wall")
        if spec.startswith("lockstep:"):
            dt_s = float(spec.split(":", 1)[1])
            dt_ns = int(round(dt_s * 1e9))

            def lockstep(ns: int) -> float:
                k, rest = divmod(ns, dt_ns)
                return k * dt_s if rest == 0 else ns / 1e9

            return lockstep
        return lambda ns: ns / 1e9

    @property
    def lockstep_dt_s(self) -> Optional[float]:
        spec = self.custom_data.get("clock", "wall")
        return float(spec.split(":", 1)[1]) if spec.startswith("lockstep:") else None


def _reader(path: Path):
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    path = Path(path)
    if not (path / METADATA).is_file():
        raise BagError(f"{path}: not a rosbag2 folder (no {METADATA})")
    try:
        reader = Reader(path)
        reader.open()
    except ReaderError as exc:
        raise BagError(
            f"{path}: cannot be read ({exc}); if it was cut short (power loss, SIGKILL), run "
            f"`vehicle-runtime record --repair {path}`"
        ) from None
    return reader


def info(path: Path) -> BagInfo:
    if not is_bag(path):
        raise BagError(f"{path}: not a rosbag2 folder (no {METADATA})")
    try:
        meta = yaml.safe_load((Path(path) / METADATA).read_text())["rosbag2_bagfile_information"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise BagError(f"{path}/{METADATA}: not rosbag2 metadata ({exc})") from None
    topics = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"] for t in meta["topics_with_message_count"]}
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    return BagInfo(
        Path(path),
        dict(meta.get("custom_data") or {}),
        topics,
        counts,
        meta["duration"]["nanoseconds"] / 1e9,
        meta["message_count"],
    )


def raw_messages(path: Path, topics: Optional[Sequence[str]] = None) -> Iterator[Tuple[str, str, int, bytes]]:
    """(topic, type, log time ns, CDR bytes) in log-time order."""
    reader = _reader(path)
    try:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        if not conns:
            return
        for conn, t, raw in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, t, raw
    finally:
        reader.close()


def messages(path: Path, topics: Optional[Sequence[str]] = None) -> Iterator[Tuple[str, int, Msg]]:
    for topic, typename, t, raw in raw_messages(path, topics):
        yield topic, t, deserialize(typename, raw)


def outputs(path: Path, names: Sequence[str]) -> Dict[str, List[Tuple[int, bytes]]]:
    """The recorded outputs, in the form replay collects them (topic → [(ns, CDR)])."""
    out: Dict[str, List[Tuple[int, bytes]]] = {n: [] for n in names}
    for topic, _typename, t, raw in raw_messages(path, names):
        out[topic].append((t, bytes(raw)))
    return out


def is_bag(path: Path) -> bool:
    return (Path(path) / METADATA).is_file()
