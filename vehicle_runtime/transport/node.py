"""The node API the nodes in ros_nodes/ are written against, so they never know their transport.

`DdsNode` implements it on Cyclone DDS (ROS-free); `ros.RclpyNode` on rclpy. Callbacks and timers
run on one thread (`spin`), like rclpy's single-threaded executor; several nodes can share one
executor to run in one process.
"""

from __future__ import annotations

import collections
import heapq
import logging
import queue
import threading
import time
from typing import Callable, List, Optional, Protocol

from .dds import QOS_DEPTH
from .msgs import Msg, stamp_to_s

Callback = Callable[[Msg], object]  # what it returns is ignored (Fusion.add_* return a rejection reason)


class Publisher(Protocol):
    def publish(self, msg: Msg) -> None: ...


class NodeHandle(Protocol):
    name: str
    namespace: str  # without leading or trailing '/'

    def publisher(self, typename: str, topic: str, profile: str = "default") -> Publisher: ...

    def subscribe(
        self, typename: str, topic: str, callback: Callback, profile: str = "default", header_only: bool = False
    ) -> None: ...

    def timer(self, period_s: float, callback: Callable[[], None]) -> None: ...

    def now_s(self) -> float: ...

    def log(self) -> logging.Logger: ...


class Executor:
    """Runs queued callbacks and periodic timers on the calling thread until stopped."""

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue" = queue.SimpleQueue()
        self._timers: List[list] = []  # heap of [deadline, seq, period, callback]
        self._seq = 0
        self.stopped = threading.Event()

    def post(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)

    def add_timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._timers, [time.monotonic() + period_s, self._seq, period_s, callback])

    def spin(self, until: Optional[Callable[[], bool]] = None) -> None:
        while not self.stopped.is_set() and not (until and until()):
            self.spin_once()

    def spin_once(self, max_wait_s: float = 0.05) -> None:
        now = time.monotonic()
        if self._timers and self._timers[0][0] <= now:
            entry = heapq.heappop(self._timers)
            deadline, _, period, cb = entry
            entry[0] = max(deadline + period, now)  # absolute deadlines; no burst after a stall
            heapq.heappush(self._timers, entry)
            cb()
            return
        wait = min(max_wait_s, self._timers[0][0] - now) if self._timers else max_wait_s
        try:
            fn = self._queue.get(timeout=max(wait, 0.0)) if wait > 0.0005 else self._queue.get_nowait()
        except queue.Empty:
            return
        fn()

    def stop(self) -> None:
        self.stopped.set()


class DdsNode:
    """A node on the ROS-free transport. `use_sim_time` takes the time from the `clock` topic."""

    def __init__(self, name: str, participant, executor: Executor, namespace: str = "", use_sim_time: bool = False):
        self.name = name
        self.participant = participant
        self.executor = executor
        self.namespace = namespace.strip("/")
        self._sim_time: Optional[float] = None
        self._log = logging.getLogger(name)
        self._key = participant.register_node(self.namespace, name)
        if use_sim_time:
            participant.subscribe("rosgraph_msgs/msg/Clock", "clock", self._on_clock, "sensor")

    def _resolve(self, topic: str) -> str:
        if topic.startswith("/") or not self.namespace:
            return topic.lstrip("/")
        return f"{self.namespace}/{topic}"

    def publisher(self, typename: str, topic: str, profile: str = "default"):
        return self.participant.publisher(typename, self._resolve(topic), profile, node=self._key)

    def subscribe(
        self, typename: str, topic: str, callback: Callback, profile: str = "default", header_only: bool = False
    ) -> None:
        """Messages wait for the executor in a KeepLast inbox of the profile's depth, as rclpy takes them
        from the reader's history: when the executor falls behind, the oldest are dropped, so a slow
        callback never works through a growing backlog of stale camera frames."""
        inbox: "collections.deque" = collections.deque(maxlen=QOS_DEPTH[profile])

        def drain() -> None:  # on the executor thread, the inbox's only consumer
            while inbox:
                callback(inbox.popleft())

        def arrived(m: Msg) -> None:
            inbox.append(m)
            self.executor.post(drain)  # one per arrival; a drain finding the inbox empty does nothing

        self.participant.subscribe(typename, self._resolve(topic), arrived, profile, header_only, node=self._key)

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self.executor.add_timer(period_s, callback)

    def _on_clock(self, msg: Msg) -> None:
        self._sim_time = stamp_to_s(msg.clock)

    def now_s(self) -> float:
        if self._sim_time is not None:
            return self._sim_time
        return time.time()

    def log(self) -> logging.Logger:
        return self._log
