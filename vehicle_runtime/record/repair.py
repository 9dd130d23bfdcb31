"""A bag cut short by a power loss or SIGKILL, made readable again (what `ros2 bag reindex` does for
rosbag2, plus the truncated MCAP file itself): every record up to the last whole chunk is kept
(chunks are CRC-checked), the file is rewritten with its index and footer, and metadata.yaml is
rebuilt from the files. Messages in the chunk open at the cut are lost: at most the writer's
`flush_every_s` (1 s) or one camera frame's chunk.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Dict, List

import yaml

from .writer import IDENTITY_RECORD, BagError, bag_info, write_metadata

MAGIC = b"\x89MCAP0\r\n"


def is_complete(path: Path) -> bool:
    size = path.stat().st_size
    if size < 2 * len(MAGIC):
        return False
    with open(path, "rb") as f:
        f.seek(-len(MAGIC), os.SEEK_END)
        return f.read() == MAGIC


def _salvage(path: Path) -> int:
    """Rewrite one truncated file from its intact records; returns the messages kept."""
    from mcap.exceptions import McapError
    from mcap.records import Channel, Message, Metadata, Schema
    from mcap.stream_reader import StreamReader
    from mcap.writer import CompressionType, Writer

    tmp = path.with_suffix(".mcap.repair")
    kept = 0
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        w = Writer(dst, compression=CompressionType.NONE)
        w.start(profile="ros2", library="vehicle_runtime repair (mcap)")
        schemas: Dict[int, int] = {}
        channels: Dict[int, int] = {}
        try:
            for rec in StreamReader(src, validate_crcs=True).records:
                if isinstance(rec, Schema) and rec.id not in schemas:
                    schemas[rec.id] = w.register_schema(rec.name, rec.encoding, rec.data)
                elif isinstance(rec, Channel) and rec.id not in channels:
                    channels[rec.id] = w.register_channel(
                        rec.topic, rec.message_encoding, schemas.get(rec.schema_id, 0), dict(rec.metadata)
                    )
                elif isinstance(rec, Message) and rec.channel_id in channels:
                    w.add_message(channels[rec.channel_id], rec.log_time, rec.data, rec.publish_time, rec.sequence)
                    kept += 1
                elif isinstance(rec, Metadata) and rec.name == IDENTITY_RECORD:
                    w.add_metadata(rec.name, dict(rec.metadata))
        except (McapError, struct.error, ValueError, EOFError):
            pass  # the cut: everything before it is kept
        w.finish()
    os.replace(tmp, path)
    return kept


def _summary(path: Path) -> dict:
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        r = make_reader(f)
        s = r.get_summary()
        if s is None or s.statistics is None:
            raise BagError(f"{path}: the MCAP file has no summary with statistics")
        custom = {}
        for m in r.iter_metadata():
            if m.name == IDENTITY_RECORD:
                custom = dict(m.metadata)
    st = s.statistics
    topics = {}
    for cid, ch in s.channels.items():
        typename = s.schemas[ch.schema_id].name
        qos = yaml.safe_load(ch.metadata.get("offered_qos_profiles", "[]")) or []
        topics[ch.topic] = (typename, qos, st.channel_message_counts.get(cid, 0))
    return {
        "topics": topics,
        "count": st.message_count,
        "start": st.message_start_time,
        "end": st.message_end_time,
        "custom": custom,
    }


def repair(bag: Path) -> dict:
    """Repair every truncated file of `bag` and rebuild metadata.yaml. Returns what was done."""
    bag = Path(bag)
    files = sorted(
        bag.glob("*.mcap"), key=lambda p: int(p.stem.rsplit("_", 1)[-1]) if p.stem.rsplit("_", 1)[-1].isdigit() else 0
    )
    if not files:
        raise BagError(f"{bag}: no .mcap files to repair")
    repaired = {}
    for f in files:
        if not is_complete(f):
            repaired[f.name] = _salvage(f)
    sums = [(f, _summary(f)) for f in files]
    topics: Dict[str, list] = {}
    for _, s in sums:
        for name, (typename, qos, n) in s["topics"].items():
            entry = topics.setdefault(name, [typename, qos, 0])
            entry[2] += n
    info = bag_info(
        [(name, ty, qos, n) for name, (ty, qos, n) in topics.items()],
        [(f.name, s["start"], s["end"], s["count"]) for f, s in sums],
        next((s["custom"] for _, s in sums if s["custom"]), None),
    )
    write_metadata(bag, info)
    return {
        "bag": str(bag),
        "files": [f.name for f in files],
        "repaired": repaired,
        "message_count": info["message_count"],
    }


def list_incomplete(bag: Path) -> List[str]:
    return [f.name for f in sorted(Path(bag).glob("*.mcap")) if not is_complete(f)]
