"""Recording beside a running runtime (`vehicle-runtime record`), on the DDS transport or on rclpy.

Every topic is read as raw CDR bytes, as they came off the wire (DdsParticipant.subscribe_raw; on rclpy a
subscription with `raw=True`, transport/ros.py's RclpyRawReader), and goes straight into the bag, never
decoded. Samples arrive on the transport's threads (Cyclone's receive threads, or the rclpy executor's) and
wait in a queue bounded in bytes (`queue_bytes`): when the disk cannot keep up, new samples are dropped and
counted, never buffered without bound. One writer thread owns the bag. The log time is the arrival time
(ns since the epoch), as `ros2 bag record` stamps it.

On rclpy a topic whose message package is not installed (ackermann_msgs on a bare install: the nodes cannot
publish it either) is left out of the bag and named in `left_out`.

What the node graph publishes is all such a bag holds: CAN frames stay inside the vehicle interface
process and there is no tick topic, so replay runs the policy on it (see replay.py).
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .identity import build_identity
from .topics import TOPICS, topic_info
from .writer import BagWriter, WriterOptions

# what the node graph publishes (ros_nodes/*): the defaults of `vehicle-runtime record`
DDS_TOPICS = (
    "/camera/image_raw",
    "/camera/camera_info",
    "/navigation/route",
    "/navigation/odometry",
    "/vehicle/status/drive",
    "/policy/trajectory",
    "/policy/reasoning",
    "/policy/validation",
    "/control/request",
    "/vehicle/command",
    "/vehicle/status",
    "/diagnostics",
)
_EXTRA = {"/vehicle/status": ("nav_msgs/msg/Odometry", "default")}  # decoded CAN feedback (graph only)
TRANSPORTS = ("dds", "rclpy")


class _DdsReader:
    """DdsParticipant with RclpyRawReader's surface: our codec knows every type, nothing to start."""

    def __init__(self, domain_id: Optional[int]):
        from ..transport.dds import DdsParticipant

        self.participant = DdsParticipant(domain_id, image_shm=False)

    def has_type(self, typename: str) -> bool:
        return True

    def subscribe_raw(self, typename: str, topic: str, on_sample, profile: str) -> bool:
        self.participant.subscribe_raw(typename, topic, on_sample, profile)
        return True

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.participant.close()


def open_reader(transport: str, domain_id: Optional[int]):
    """The raw reader of `transport` ("dds" or "rclpy"); ImportError when its package is not installed."""
    if transport == "rclpy":
        from ..transport.ros import RclpyRawReader

        return RclpyRawReader(domain_id)
    if transport == "dds":
        return _DdsReader(domain_id)
    raise ValueError(f"transport '{transport}': one of {', '.join(TRANSPORTS)}")


def _row(name: str):
    return _EXTRA.get(name) or (topic_info(name).type, topic_info(name).qos)


class LiveRecorder:
    def __init__(
        self,
        path: Path,
        topics: Sequence[str] = DDS_TOPICS,
        options: Optional[WriterOptions] = None,
        domain_id: Optional[int] = None,
        queue_bytes: int = 256 << 20,
        cfg=None,
        transport: str = "dds",
    ):
        topics = ["/" + t.lstrip("/") for t in topics]
        rows = {name: _row(name) for name in topics}  # KeyError on an unknown topic, before anything opens
        options = options or WriterOptions()
        if cfg is not None:
            options.custom_data = {**build_identity(cfg), **options.custom_data}
        options.custom_data.setdefault("clock", "wall")
        options.custom_data.setdefault("source", transport)
        self.queue_bytes = queue_bytes
        self.dropped: Dict[str, int] = collections.Counter()
        self.received: Dict[str, int] = collections.Counter()
        self._q: collections.deque = collections.deque()
        self._bytes = 0
        self._cv = threading.Condition()
        self._stop = False
        self.error: Optional[BaseException] = None
        self.reader = open_reader(transport, domain_id)
        self.left_out: List[str] = [name for name in topics if not self.reader.has_type(rows[name][0])]
        try:
            self.writer = BagWriter(path, options)
            for name in topics:
                if name not in self.left_out:
                    self.writer.add_topic(name, *rows[name])
        except BaseException:
            self.reader.close()
            raise
        self._thread = threading.Thread(target=self._drain, name="bag-writer", daemon=True)
        self._thread.start()
        for name in topics:
            if name not in self.left_out:
                self.reader.subscribe_raw(rows[name][0], name.lstrip("/"), self._on_sample(name), rows[name][1])
        self.reader.start()

    def _on_sample(self, name: str):
        def on_sample(data, _info) -> None:
            t = time.time_ns()
            with self._cv:
                self.received[name] += 1
                if self._bytes + len(data) > self.queue_bytes:
                    self.dropped[name] += 1  # bounded memory: the disk is behind, drop rather than grow
                    return
                self._q.append((name, data, t))
                self._bytes += len(data)
                self._cv.notify()

        return on_sample

    def _drain(self) -> None:
        while True:
            with self._cv:
                while not self._q and not self._stop:
                    self._cv.wait()
                if not self._q and self._stop:
                    return
                name, data, t = self._q.popleft()
                self._bytes -= len(data)
            try:
                self.writer.write(name, data, t)
            except BaseException as exc:  # a full disk: stop writing, keep what is there, tell the caller
                self.error = exc
                with self._cv:
                    self._q.clear()
                    self._bytes = 0
                    self._stop = True
                return

    def close(self) -> None:
        """Stop receiving, write what is queued, close the bag (index, footer, metadata.yaml)."""
        self.reader.close()  # no sample arrives after this
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join()
        self.writer.o.custom_data["dropped_samples"] = str(sum(self.dropped.values()))
        self.writer.close()

    def stats(self) -> dict:
        return {
            "received": dict(self.received),
            "dropped": dict(self.dropped),
            "files": len(self.writer.files),
            "deleted_files": self.writer.deleted_files,
            "left_out": list(self.left_out),
            "bytes": self.writer.size_bytes,
        }


assert all(t in TOPICS or t in _EXTRA for t in DDS_TOPICS)
