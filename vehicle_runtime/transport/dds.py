"""The ROS-free transport: Cyclone DDS (PyPI `cyclonedds`) speaking the ROS 2 wire format, so our
processes interoperate with ROS 2 nodes on rmw_cyclonedds_cpp.

Topics are `rt/<name>`, types `<pkg>::msg::dds_::<Type>_` (generated from `msgs.TYPES`, keyless),
payloads XCDR1 little-endian written and taken as raw bytes through the C layer: our codec
(`cdr.py`) copies an image in one piece, where cyclonedds' `sequence[uint8]` goes element by element.
`ROS_DOMAIN_ID` is honoured; Cyclone reads its settings from `CYCLONEDDS_URI` (we default it to the
tuned loopback configuration in config/cyclonedds.xml).
"""
from __future__ import annotations

import functools
import os
from typing import Callable, Dict, Optional

from .cdr import deserialize, deserialize_header, serialize
from .msgs import PRIMITIVES, TYPES, Msg, dds_type_name, parse_type

QOS_PROFILES = ("sensor", "default", "latched", "command")


def _dds():
    """Import cyclonedds lazily: the core works without it (ROS boxes use rclpy)."""
    import cyclonedds.core as core
    import cyclonedds.domain as domain
    import cyclonedds.pub as pub
    import cyclonedds.sub as sub
    import cyclonedds.topic as topic
    from cyclonedds import _clayer

    return core, domain, pub, sub, topic, _clayer


@functools.lru_cache(maxsize=None)
def idl_type(typename: str):
    """A cyclonedds IdlStruct class for `typename` (for discovery and type matching only)."""
    from cyclonedds.idl import make_idl_struct
    from cyclonedds.idl import types as t

    def field_type(spec: str):
        base, kind, n = parse_type(spec)
        if base == "string":
            one = str
        elif base in PRIMITIVES:
            one = {"bool": bool, "byte": t.byte, "char": t.uint8}.get(base) or getattr(t, base)
        else:
            one = idl_type(base)
        if kind == "array":
            return t.array[one, n]
        if kind == "sequence":
            return t.sequence[one]
        return one

    name = typename.split("/")[-1]
    return make_idl_struct(name + "_", dds_type_name(typename), {f: field_type(s) for f, s in TYPES[typename]})


def qos(profile: str):
    from cyclonedds.core import Policy, Qos
    from cyclonedds.util import duration

    reliable = Policy.Reliability.Reliable(duration(milliseconds=100))
    return {
        "sensor": Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile),
        "default": Qos(reliable, Policy.History.KeepLast(10), Policy.Durability.Volatile),
        "latched": Qos(reliable, Policy.History.KeepLast(1), Policy.Durability.TransientLocal),
        "command": Qos(reliable, Policy.History.KeepLast(1), Policy.Durability.Volatile),
    }[profile]


def default_config_uri() -> Optional[str]:
    """The shipped tuned configuration, unless the user set CYCLONEDDS_URI."""
    if os.environ.get("CYCLONEDDS_URI"):
        return None
    from ..paths import share_dir

    path = share_dir() / "config" / "cyclonedds.xml"
    return f"file://{path}" if path.is_file() else None


class DdsParticipant:
    """One DDS participant per process, with ROS-named topics."""

    def __init__(self, domain_id: Optional[int] = None):
        uri = default_config_uri()
        if uri:
            os.environ["CYCLONEDDS_URI"] = uri
        core, domain, _, _, _, _ = _dds()
        self.domain_id = int(os.environ.get("ROS_DOMAIN_ID", "0")) if domain_id is None else domain_id
        self.participant = domain.DomainParticipant(self.domain_id)
        self._topics: Dict[str, object] = {}
        self._keep = []  # readers, writers, listeners stay alive with the participant

    def _topic(self, typename: str, name: str):
        _, _, _, _, topic, _ = _dds()
        full = "rt/" + name.lstrip("/")
        key = (full, typename)
        if key not in self._topics:
            self._topics[key] = topic.Topic(self.participant, full, idl_type(typename))
        return self._topics[key]

    def publisher(self, typename: str, name: str, profile: str = "default") -> "RawPublisher":
        _, _, pub, _, _, clayer = _dds()
        writer = pub.DataWriter(self.participant, self._topic(typename, name), qos=qos(profile))
        self._keep.append(writer)
        return RawPublisher(writer, typename, clayer)

    def subscribe(self, typename: str, name: str, callback: Callable[[Msg], None], profile: str = "default",
                  header_only: bool = False):
        """`callback(msg)` runs on a Cyclone receive thread as each sample arrives. `header_only`
        decodes just the leading std_msgs/Header (a watchdog needs the stamp, not a 400-pose route)."""
        core, _, _, sub, _, clayer = _dds()
        mask = core.SampleState.Any | core.ViewState.Any | core.InstanceState.Any

        def decode(data):
            return Msg(_type=typename, header=deserialize_header(data)) if header_only else deserialize(typename, data)

        def on_data(reader):
            for data, info in clayer.ddspy_take(reader._ref, mask, 16):
                if info.valid_data:
                    callback(decode(data))

        listener = core.Listener(on_data_available=on_data)
        reader = sub.DataReader(self.participant, self._topic(typename, name), qos=qos(profile), listener=listener)
        self._keep += [reader, listener]
        return reader

    def close(self) -> None:
        self._keep.clear()
        self._topics.clear()


class RawPublisher:
    def __init__(self, writer, typename: str, clayer):
        self.writer, self.typename, self._write = writer, typename, clayer.ddspy_write
        self._buf = bytearray()  # reused: no fresh multi-MB buffer per image

    def publish(self, msg: Msg) -> None:
        data = serialize(self.typename, msg, self._buf)
        pad = (-len(data)) % 4
        if pad:
            data += b"\x00" * pad
        ret = self._write(self.writer._ref, data)
        if ret < 0:
            raise RuntimeError(f"DDS write on {self.typename} failed ({ret})")
