"""sensor_msgs/Image on the ROS-free transport, with a same-host fast path through shared memory (shm.py).

Publisher: the pixels go into its shared-memory ring and a `vehicle_runtime/msg/ShmImage` descriptor
goes out on the non-ROS topic `vehicle_runtime/shm/<topic>`. The ROS topic `rt/<topic>` carries the
whole image only while a matched reader there is not one of ours on this host (an rclpy node,
`ros2 topic echo`, a box on another host), so interoperability is unchanged.

Subscriber: a descriptor reader, and a reader on the ROS topic tagged `vrshm=<host>;` in USER_DATA (so
our publishers on this host skip it). On the ROS topic it drops samples of writers tagged with our host:
the same image came through shared memory. Images from anyone else (a ROS camera driver) arrive as usual.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Dict, Optional

from . import msgs, shm
from .cdr import deserialize

IMAGE = "sensor_msgs/msg/Image"
TAG_KEY = "vrshm"
_log = logging.getLogger(__name__)


def tag(host: str) -> str:
    return f"{TAG_KEY}={host};"


def descriptor_topic(name: str) -> str:
    return "vehicle_runtime/shm/" + name.lstrip("/")


class ShmImagePublisher:
    def __init__(self, participant, name: str, profile: str, node: Optional[tuple]):
        from .dds import userdata

        self._userdata = userdata
        self.host = participant.shm_host
        self.ros = participant.publisher(IMAGE, name, profile, node=node, tags=tag(self.host))
        self.descriptor = participant.publisher(msgs.SHM_IMAGE, descriptor_topic(name), profile, ros_topic=False)
        self.ring = shm.ShmRing(name)
        self._needs_image: Dict[object, bool] = {}  # matched reader → wants the whole image on the ROS topic
        self.full_images = 0  # images that also went out whole on the ROS topic

    @property
    def writer(self):
        return self.ros.writer

    def publish(self, msg: msgs.Msg) -> None:
        segment, slot, sequence, size = self.ring.write(msg.data)
        self.descriptor.publish(
            msgs.new(
                msgs.SHM_IMAGE,
                header=msg.header,
                height=msg.height,
                width=msg.width,
                encoding=msg.encoding,
                is_bigendian=msg.is_bigendian,
                step=msg.step,
                segment=segment,
                slot=slot,
                sequence=sequence,
                size=size,
            )
        )
        if self._ros_readers_need_image():
            self.ros.publish(msg)
            self.full_images += 1

    def _ros_readers_need_image(self) -> bool:
        writer = self.ros.writer
        handles = writer.get_matched_subscriptions()
        for h in handles:
            if h not in self._needs_image:
                endpoint = writer.get_matched_subscription_data(h)
                self._needs_image[h] = tag(self.host) not in self._userdata(endpoint)
        return any(self._needs_image[h] for h in handles)

    def close(self) -> None:
        self.ring.close()


class ShmStats:
    """What the image subscriptions of a participant saw (for /diagnostics and tests)."""

    def __init__(self):
        self.shm_images = 0
        self.ros_images = 0
        self.overwritten = 0  # the writer reused the slot before we read it: the reader is far behind
        self.errors = 0
        self.lock = threading.Lock()

    def count(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


def subscribe(participant, name: str, callback: Callable[[msgs.Msg], object], profile: str, node: Optional[tuple]):
    host, stats = participant.shm_host, participant.shm_stats
    pixels_from = shm.ShmReader()
    ours: Dict[int, bool] = {}  # publication handle → that writer serves us through shared memory

    def on_ros_image(data, info) -> None:
        h = info.publication_handle
        if h not in ours:
            found = participant.publication_userdata(h)
            if found is not None:
                ours[h] = tag(host) in found
        if ours.get(h):
            return
        stats.count("ros_images")
        callback(deserialize(IMAGE, data))

    def on_descriptor(data, _info) -> None:
        d = deserialize(msgs.SHM_IMAGE, data)
        try:
            pixels = pixels_from.read(d.segment, d.slot, d.sequence, d.size)
        except shm.ShmError as exc:
            stats.count("errors")
            if stats.errors == 1:
                _log.error("image on %s lost: %s", name, exc)
            return
        if pixels is None:
            stats.count("overwritten")
            return
        stats.count("shm_images")
        callback(
            msgs.new(
                IMAGE,
                header=d.header,
                height=d.height,
                width=d.width,
                encoding=d.encoding,
                is_bigendian=d.is_bigendian,
                step=d.step,
                data=pixels,
            )
        )

    reader = participant.subscribe_raw(IMAGE, name, on_ros_image, profile, node, tags=tag(host))
    participant.subscribe_raw(msgs.SHM_IMAGE, descriptor_topic(name), on_descriptor, profile, ros_topic=False)
    return reader
