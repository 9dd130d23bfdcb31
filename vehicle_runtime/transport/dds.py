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
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import shm, shm_images
from .cdr import CdrWriter
from .decode import STAMP, STAMP_AT, make_decoder
from .msgs import DEFINITIONS, PRIMITIVES, TYPES, Msg, dds_type_name, parse_type, s_to_stamp, starts_with_header

if TYPE_CHECKING:
    from cyclonedds.builtin import BuiltinDataReader

QOS_PROFILES = ("sensor", "default", "latched", "command")
QOS_DEPTH = {"sensor": 5, "default": 10, "latched": 1, "command": 1}  # KeepLast history depth (ROS 2 profiles)


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
        one: Any  # a Python type or a cyclonedds IDL type
        if base == "string":
            one = str
        elif base in PRIMITIVES:
            one = {"bool": bool, "byte": t.byte, "char": t.uint8}.get(base) or getattr(t, base)
        else:
            one = idl_type(base)
        if kind == "array":
            return t.array[one, n]  # type: ignore[misc]  # cyclonedds types index by __class_getitem__
        if kind == "sequence":
            return t.sequence[one]  # type: ignore[misc]  # (as above)
        return one

    name = typename.split("/")[-1]
    return make_idl_struct(name + "_", dds_type_name(typename), {f: field_type(s) for f, s in TYPES[typename]})


@functools.lru_cache(maxsize=None)
def type_hash(typename: str) -> Optional[str]:
    """RIHS01 type hash (REP 2016) for ROS 2 Iron and newer, computed by PyPI `rosbags` for the
    distribution in $ROS_DISTRO (default jazzy); None for Humble and older, which have none."""
    distro = os.environ.get("ROS_DISTRO", "jazzy").lower()
    if distro in ("foxy", "galactic", "humble"):
        return None
    try:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    except ImportError:
        return None
    store = getattr(Stores, f"ROS2_{distro.upper()}", Stores.ROS2_JAZZY)
    ts = get_typestore(store)
    for name, text in DEFINITIONS.items():
        if name not in ts.types:
            ts.register(get_types_from_msg(text, name))
    return ts.hash_rihs01(typename) if typename in ts.types else None  # none for transport-internal types


def qos(profile: str, typename: Optional[str] = None, tags: str = ""):
    """ROS 2 QoS profiles; endpoints carry `typehash=RIHS01_…;` in USER_DATA as rmw_cyclonedds expects,
    then our own `key=value;` tags (rmw ignores keys it does not know)."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.util import duration

    reliable = Policy.Reliability.Reliable(duration(milliseconds=100))
    policies: Tuple[Any, ...] = {
        "sensor": (
            Policy.Reliability.BestEffort,
            Policy.History.KeepLast(QOS_DEPTH["sensor"]),
            Policy.Durability.Volatile,
        ),
        "default": (reliable, Policy.History.KeepLast(QOS_DEPTH["default"]), Policy.Durability.Volatile),
        "latched": (reliable, Policy.History.KeepLast(QOS_DEPTH["latched"]), Policy.Durability.TransientLocal),
        "command": (reliable, Policy.History.KeepLast(QOS_DEPTH["command"]), Policy.Durability.Volatile),
    }[profile]
    digest = type_hash(typename) if typename else None
    userdata = (f"typehash={digest};" if digest else "") + tags
    if userdata:
        policies += (Policy.Userdata(data=userdata.encode()),)
    return Qos(*policies)


def userdata(endpoint) -> str:
    """The USER_DATA of a matched endpoint (cyclonedds.builtin.DcpsEndpoint) as text."""
    from cyclonedds.core import Policy

    q = getattr(endpoint, "qos", None)
    if q is None or Policy.Userdata not in q:
        return ""
    return bytes(q[Policy.Userdata].data).decode(errors="replace")


def default_config_uri() -> Optional[str]:
    """The shipped tuned configuration, unless the user set CYCLONEDDS_URI."""
    if os.environ.get("CYCLONEDDS_URI"):
        return None
    from ..paths import share_dir

    path = share_dir() / "config" / "cyclonedds.xml"
    return f"file://{path}" if path.is_file() else None


class DdsParticipant:
    """One DDS participant per process, with ROS-named topics. Images go through shared memory to
    readers on the same host (shm_images.py) unless `image_shm` is False or VEHICLE_RUNTIME_IMAGE_SHM=0."""

    def __init__(self, domain_id: Optional[int] = None, image_shm: Optional[bool] = None):
        uri = default_config_uri()
        if uri:
            os.environ["CYCLONEDDS_URI"] = uri
        core, domain, _, _, _, _ = _dds()
        self.domain_id = int(os.environ.get("ROS_DOMAIN_ID", "0")) if domain_id is None else domain_id
        # ROS 2 participants announce their security enclave in USER_DATA
        self.participant = domain.DomainParticipant(
            self.domain_id, qos=core.Qos(core.Policy.Userdata(data=b"enclave=/;"))
        )
        self._topics: Dict[Tuple[str, str], Any] = {}  # (DDS topic name, type) → cyclonedds Topic
        self._keep: List[object] = []  # readers, writers, listeners stay alive with the participant
        self._nodes: Dict[tuple, Dict[str, list]] = {}  # (namespace, name) → reader / writer gids
        self._discovery: Optional["RawPublisher"] = None
        if image_shm is None:
            image_shm = os.environ.get("VEHICLE_RUNTIME_IMAGE_SHM", "1") != "0"
        self.shm_host = shm.host_id() if image_shm and shm.available() else ""  # '' = no shared memory
        self.shm_stats = shm_images.ShmStats()
        self._publications: Dict[int, str] = {}  # remote writer handle → USER_DATA
        self._publications_reader: Optional[BuiltinDataReader] = None
        self._publications_lock = threading.Lock()

    def publication_userdata(self, handle: int) -> Optional[str]:
        """USER_DATA of the remote writer `handle` (a SampleInfo.publication_handle), from the built-in
        publication topic; None if discovery has not told us of it. Safe inside a listener, where asking
        the reader itself (get_matched_publication_data) deadlocked Cyclone's receive thread."""
        from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication

        with self._publications_lock:
            if self._publications_reader is None:
                self._publications_reader = BuiltinDataReader(self.participant, BuiltinTopicDcpsPublication)
            if handle not in self._publications:
                for sample in self._publications_reader.take(N=256):
                    self._publications[sample.sample_info.instance_handle] = userdata(sample)
            return self._publications.get(handle)

    def _topic(self, typename: str, name: str, ros_topic: bool = True):
        _, _, _, _, topic, _ = _dds()
        full = ("rt/" + name.lstrip("/")) if ros_topic else name
        key = (full, typename)
        if key not in self._topics:
            self._topics[key] = topic.Topic(self.participant, full, idl_type(typename))
        return self._topics[key]

    def publisher(
        self,
        typename: str,
        name: str,
        profile: str = "default",
        node: Optional[tuple] = None,
        ros_topic: bool = True,
        tags: str = "",
    ):
        if typename == shm_images.IMAGE and self.shm_host and ros_topic and not tags:
            publisher = shm_images.ShmImagePublisher(self, name, profile, node)
            self._keep.append(publisher)
            return publisher
        _, _, pub, _, _, clayer = _dds()
        writer = pub.DataWriter(
            self.participant, self._topic(typename, name, ros_topic), qos=qos(profile, typename, tags)
        )
        self._keep.append(writer)
        self._owned(node, "writers", writer)
        return RawPublisher(writer, typename, clayer)

    # --- ros_discovery_info: which node owns which endpoint (for `ros2 node list`, `ros2 node info`)
    def register_node(self, namespace: str, name: str) -> tuple:
        key = ("/" + namespace.strip("/"), name)
        self._nodes.setdefault(key, {"readers": [], "writers": []})
        self._announce()
        return key

    def _owned(self, node: Optional[tuple], kind: str, entity) -> None:
        if node is not None:
            self._nodes[node][kind].append(entity.guid.bytes)
            self._announce()

    def _announce(self) -> None:
        from . import msgs

        if self._discovery is None:
            self._discovery = self.publisher(
                "rmw_dds_common/msg/ParticipantEntitiesInfo", "ros_discovery_info", "latched", ros_topic=False
            )
        gid = lambda raw: msgs.new("rmw_dds_common/msg/Gid", data=list(raw.ljust(msgs.GID_SIZE, b"\0")))  # noqa: E731
        self._discovery.publish(
            msgs.new(
                "rmw_dds_common/msg/ParticipantEntitiesInfo",
                gid=gid(self.participant.guid.bytes),
                node_entities_info_seq=[
                    msgs.new(
                        "rmw_dds_common/msg/NodeEntitiesInfo",
                        node_namespace=ns,
                        node_name=name,
                        reader_gid_seq=[gid(g) for g in e["readers"]],
                        writer_gid_seq=[gid(g) for g in e["writers"]],
                    )
                    for (ns, name), e in self._nodes.items()
                ],
            )
        )

    def subscribe(
        self,
        typename: str,
        name: str,
        callback: Callable[[Msg], object],
        profile: str = "default",
        header_only: bool = False,
        node: Optional[tuple] = None,
        ros_topic: bool = True,
    ):
        """`callback(msg)` runs on a Cyclone receive thread as each sample arrives. `header_only`
        decodes just the leading std_msgs/Header (a watchdog needs the stamp, not a 400-pose route)."""
        if typename == shm_images.IMAGE and self.shm_host and ros_topic and not header_only:
            return shm_images.subscribe(self, name, callback, profile, node)

        decode = make_decoder(typename, profile, header_only)
        return self.subscribe_raw(typename, name, lambda data, _info: callback(decode(data)), profile, node, ros_topic)

    def subscribe_raw(
        self,
        typename: str,
        name: str,
        on_sample: Callable[[bytes, object], object],
        profile: str = "default",
        node: Optional[tuple] = None,
        ros_topic: bool = True,
        tags: str = "",
    ):
        """`on_sample(cdr_bytes, sample_info)` for every valid sample, on a Cyclone receive thread."""
        core, _, _, sub, _, clayer = _dds()
        mask = core.SampleState.Any | core.ViewState.Any | core.InstanceState.Any

        made: Dict[str, Any] = {}

        def on_data(_reader=None):
            reader = made.get("reader")  # samples can arrive while the reader is being created (transient
            if reader is None:  # local): cyclonedds then hands us None; they are drained just below
                return
            while True:
                samples = clayer.ddspy_take(reader._ref, mask, 16)
                if isinstance(samples, int) or not samples:  # an int is a DDS return code
                    return
                for data, info in samples:
                    if info.valid_data:
                        on_sample(data, info)

        listener = core.Listener(on_data_available=on_data)
        reader = sub.DataReader(
            self.participant,
            self._topic(typename, name, ros_topic),
            qos=qos(profile, typename, tags),
            listener=listener,
        )
        made["reader"] = reader
        on_data()
        self._keep += [reader, listener]
        self._owned(node, "readers", reader)
        return reader

    def close(self) -> None:
        """Delete the participant and everything in it now. Left to the garbage collector, the deletion
        can run inside a Cyclone listener callback of another participant in the same domain, where
        Cyclone waits on the very thread that is deleting (a stalled receive thread)."""
        for entity in self._keep:
            if isinstance(entity, shm_images.ShmImagePublisher):
                entity.close()  # unlink its shared memory now, not when collected
        self._discovery = None
        self._keep.clear()
        self._topics.clear()
        self._publications_reader = None
        participant, self.participant = self.participant, None
        if participant is not None:
            participant.__del__()  # cyclonedds' only deletion path (dds_delete; children go with it)


class RawPublisher:
    def __init__(self, writer, typename: str, clayer):
        self.writer, self.typename, self._write = writer, typename, clayer.ddspy_write
        self._out = CdrWriter()  # reused: no fresh multi-MB buffer per image

    def encode(self, msg: Msg) -> memoryview:
        """`msg` as this topic's XCDR1 sample, in the publisher's reused buffer (valid until the next encode)."""
        return self._out.encode(self.typename, msg, align_to=4)

    def publish(self, msg: Msg) -> None:
        self.publish_cdr(self.encode(msg))

    def publish_cdr(self, data) -> None:
        """An already encoded sample (XCDR1 with its 4-byte encapsulation header)."""
        ret = self._write(self.writer._ref, data)
        if ret < 0:
            raise RuntimeError(f"DDS write on {self.typename} failed ({ret})")


class Restamped:
    """One message published again and again with only its header stamp new, encoded once. Rebuilding
    and encoding a 400-pose route every second cost the simulator's 10 ms step 20–120 ms, long enough for
    the gateway's and the gate's 100 ms watchdogs to trip."""

    def __init__(self, publisher: RawPublisher, msg: Msg):
        if not starts_with_header(publisher.typename):
            raise ValueError(f"{publisher.typename} does not start with a std_msgs/Header")
        self.publisher = publisher
        self.data = bytearray(publisher.encode(msg))

    def publish(self, t_s: float) -> None:
        stamp = s_to_stamp(t_s)
        STAMP.pack_into(self.data, STAMP_AT, stamp.sec, stamp.nanosec)  # header.stamp
        self.publisher.publish_cdr(self.data)
