"""The same node API on rclpy, for boxes with ROS 2 (Humble, Jazzy, …). rclpy is imported only when
these functions run, never when the core is imported.

Messages cross rclpy as CDR bytes, as on the DDS transport: subscriptions are raw (`raw=True`) and
decoded by our codec (`header_only` honoured), publishers are handed our encoded bytes. rclpy never
builds Python message objects field by field (a 400-pose Path cost milliseconds of the executor and
the GIL), and the generated classes serve only as type support, imported by name (no
rosidl_runtime_py). A type whose package is not installed (ackermann_msgs on a bare install) is
reported once and its topic left out.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..realtime import GarbageCollector, quiet_garbage_collector
from .cdr import CdrWriter
from .decode import make_decoder
from .msgs import Msg

_log = logging.getLogger(__name__)


def rclpy_available() -> bool:
    return importlib.util.find_spec("rclpy") is not None


def message_class(typename: str):
    """The generated class of 'pkg/msg/Type' (its type support), or None if the package is not installed."""
    pkg, sub, name = typename.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{sub}"), name)
    except (ImportError, AttributeError):
        return None


def qos_profile(profile: str):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    if profile == "sensor":
        return qos_profile_sensor_data  # best effort, volatile, keep last 5
    if profile == "latched":
        return QoSProfile(
            depth=1,
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
    if profile == "command":
        return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
    return QoSProfile(depth=10)


class _Logger:
    """logging.Logger's debug/info/warning/error on top of rclpy's logger."""

    def __init__(self, rcl_logger):
        self._l = rcl_logger

    def debug(self, fmt, *args):
        self._l.debug(fmt % args if args else fmt)

    def info(self, fmt, *args):
        self._l.info(fmt % args if args else fmt)

    def warning(self, fmt, *args):
        self._l.warning(fmt % args if args else fmt)

    def error(self, fmt, *args):
        self._l.error(fmt % args if args else fmt)


class RawPublisher:
    """Publishes our CDR encoding of a `Msg` (rclpy's publish takes serialized bytes as they are)."""

    def __init__(self, pub, typename: str):
        self._pub, self.typename = pub, typename
        self._out = CdrWriter()  # reused: no fresh multi-MB buffer per image

    def encode(self, msg: Msg) -> bytes:
        return bytes(self._out.encode(self.typename, msg, align_to=4))

    def publish(self, msg: Msg) -> None:
        self._pub.publish(self.encode(msg))


class MissingTypePublisher:
    """Stands in for a topic whose message package is not installed: counts what it could not send."""

    def __init__(self, typename: str):
        self.typename, self.dropped = typename, 0

    def publish(self, msg: Msg) -> None:
        self.dropped += 1


class RclpyNode:
    def __init__(self, name: str, use_sim_time: bool = False, namespace: str = "", context=None):
        from rclpy.node import Node
        from rclpy.parameter import Parameter

        self.name = name
        kwargs: Dict[str, Any] = {"namespace": namespace} if namespace else {}
        if context is not None:
            kwargs["context"] = context
        self.node = Node(
            name,
            parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, use_sim_time)],
            automatically_declare_parameters_from_overrides=False,
            **kwargs,
        )
        self.namespace = self.node.get_namespace().strip("/")
        self._log = _Logger(self.node.get_logger())
        self.missing_types: List[str] = []

    def declare_parameters(self, node_name: str, file_params: dict, forced: dict | None = None) -> dict:
        """The node's parameters as ROS parameters (ros_params.py); returns the effective values."""
        from .ros_params import declare_node

        return declare_node(self.node, node_name, file_params, forced)

    def _type(self, typename: str, topic: str):
        cls = message_class(typename)
        if cls is None and typename not in self.missing_types:
            self.missing_types.append(typename)
            pkg = typename.split("/")[0]
            self._log.warning(
                "%s is not installed (apt install ros-$ROS_DISTRO-%s): topic '%s' left out",
                pkg,
                pkg.replace("_", "-"),
                topic,
            )
        return cls

    def publisher(self, typename: str, topic: str, profile: str = "default"):
        cls = self._type(typename, topic)
        if cls is None:
            return MissingTypePublisher(typename)
        return RawPublisher(self.node.create_publisher(cls, topic, qos_profile(profile)), typename)

    def subscribe(
        self,
        typename: str,
        topic: str,
        callback: Callable[[Msg], object],
        profile: str = "default",
        header_only: bool = False,
    ) -> None:
        cls = self._type(typename, topic)
        if cls is None:
            return
        decode = make_decoder(typename, profile, header_only)

        def on_raw(data: bytes) -> None:  # raw=True: rclpy hands over the CDR bytes
            callback(decode(data))

        self.node.create_subscription(cls, topic, on_raw, qos_profile(profile), raw=True)

    def subscribe_raw(
        self, typename: str, topic: str, on_sample: Callable[[bytes, None], None], profile: str = "default"
    ) -> bool:
        """`on_sample(cdr_bytes, None)` for every sample, never decoded (DdsParticipant.subscribe_raw's
        contract); False when the type's package is not installed (the topic left out)."""
        cls = self._type(typename, topic)
        if cls is None:
            return False

        def on_raw(data: bytes) -> None:  # raw=True: rclpy hands over the CDR bytes
            on_sample(data, None)

        self.node.create_subscription(cls, topic, on_raw, qos_profile(profile), raw=True)
        return True

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self.node.create_timer(period_s, callback)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def log(self):
        return self._log


def middleware_defaults() -> None:
    """Before rclpy.init: discovery kept on this host unless the user set a range (HIL sets SUBNET), and
    our Fast DDS profile (4 MB socket buffers for images) unless the user set one."""
    import os

    from ..paths import share_dir

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if not (os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE") or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")):
        profile = share_dir() / "config" / "fastdds.xml"
        if profile.is_file():
            os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(profile)


class RclpyRawReader:
    """Raw samples of any topics on rclpy, beside nodes running `--transport rclpy`: `vehicle-runtime record`'s
    reader. A context of its own (no rclpy signal handlers: the caller owns SIGINT / SIGTERM), spun by an
    executor on a thread of its own once `start()` is called. `close()` first hands over what the readers
    already hold, so a sample the publisher saw acknowledged before the close is not lost."""

    def __init__(self, domain_id: Optional[int] = None, name: str = "vehicle_runtime_recorder"):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        middleware_defaults()
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self.handle = RclpyNode(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.handle.node)
        self.taken = 0  # samples handed over, all topics (the drain's progress)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def has_type(self, typename: str) -> bool:
        return message_class(typename) is not None

    def subscribe_raw(self, typename: str, topic: str, on_sample: Callable[[bytes, None], None], profile: str) -> bool:
        def counted(data: bytes, info: None) -> None:
            self.taken += 1
            on_sample(data, info)

        return self.handle.subscribe_raw(typename, topic, counted, profile)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._spin, name="rclpy-reader", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.1)  # the stop is seen within 0.1 s

    def close(self) -> None:
        """No callback runs once this returns."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        idle = 0
        while idle < 2 and self.context.ok():  # drain: until two passes hand over nothing
            before = self.taken
            self.executor.spin_once(timeout_sec=0)
            idle = idle + 1 if self.taken == before else 0
        self.executor.shutdown()
        self.handle.node.destroy_node()
        self.context.try_shutdown()


def run_rclpy(
    names: List[str], build: Callable, use_sim_time: bool, ros_args: Sequence[str] = (), namespace: str = ""
) -> int:
    """rclpy.init / spin / shutdown as the ROS 2 documentation prescribes (Humble and Jazzy);
    `ros_args` (from `--ros-args` on) carry the launch file's remappings and parameters."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.impl.implementation_singleton import rclpy_implementation

    RCLError = rclpy_implementation.RCLError

    middleware_defaults()
    rclpy.init(args=["vehicle_runtime", *ros_args])
    handles, nodes = [], []
    try:

        def handle_for(name):
            h = RclpyNode(name if len(names) == 1 else f"{name}_node", use_sim_time, namespace)
            handles.append(h)
            return h

        nodes = build(handle_for)
        executor = SingleThreadedExecutor()
        for h in handles:
            executor.add_node(h.node)
        if handles:
            handles[0].node.create_timer(1.0, GarbageCollector())
        quiet_garbage_collector()  # after start-up: collections stay out of the control loop's way
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:  # SIGTERM: rclpy's handler shut the context down while the executor was waiting
        if rclpy.ok():
            raise
    finally:
        for node in nodes:
            if hasattr(node, "shutdown"):
                node.shutdown()  # the vehicle interface sends its MRM / disengage frames here
        for h in handles:
            h.node.destroy_node()
        rclpy.try_shutdown()
    logging.getLogger(__name__).info("nodes %s stopped", names)
    return 0
