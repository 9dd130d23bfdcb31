"""Recording beside a running runtime on the DDS transport (`vehicle-runtime record`).

Every topic is read with DdsParticipant.subscribe_raw: the CDR bytes as they came off the wire go
straight into the bag, never decoded. Samples arrive on Cyclone's receive threads and wait in a queue
bounded in bytes (`queue_bytes`): when the disk cannot keep up, new samples are dropped and counted,
never buffered without bound. One writer thread owns the bag. The log time is the arrival time
(ns since the epoch), as `ros2 bag record` stamps it.

What the DDS graph does not publish is not in such a bag: CAN frames stay inside the vehicle interface
process and there is no tick topic, so replay runs the policy on it (see replay.py).
"""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

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


class LiveRecorder:
    def __init__(
        self,
        path: Path,
        topics: Sequence[str] = DDS_TOPICS,
        options: Optional[WriterOptions] = None,
        domain_id: Optional[int] = None,
        queue_bytes: int = 256 << 20,
        cfg=None,
    ):
        from ..transport.dds import DdsParticipant

        topics = ["/" + t.lstrip("/") for t in topics]
        options = options or WriterOptions()
        if cfg is not None:
            options.custom_data = {**build_identity(cfg), **options.custom_data}
        options.custom_data.setdefault("clock", "wall")
        options.custom_data.setdefault("source", "dds")
        self.writer = BagWriter(path, options)
        self.queue_bytes = queue_bytes
        self.dropped: Dict[str, int] = collections.Counter()
        self.received: Dict[str, int] = collections.Counter()
        self._q: collections.deque = collections.deque()
        self._bytes = 0
        self._cv = threading.Condition()
        self._stop = False
        self.error: Optional[BaseException] = None
        for name in topics:
            typename, profile = _EXTRA.get(name) or (topic_info(name).type, topic_info(name).qos)
            self.writer.add_topic(name, typename, profile)
        self._thread = threading.Thread(target=self._drain, name="bag-writer", daemon=True)
        self._thread.start()
        self.participant = DdsParticipant(domain_id, image_shm=False)
        for name in topics:
            typename, profile = _EXTRA.get(name) or (topic_info(name).type, topic_info(name).qos)
            self.participant.subscribe_raw(typename, name.lstrip("/"), self._on_sample(name), profile)

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
        self.participant.close()
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
            "bytes": self.writer.size_bytes,
        }


assert all(t in TOPICS or t in _EXTRA for t in DDS_TOPICS)
