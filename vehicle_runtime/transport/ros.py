"""The same node API on rclpy, for boxes with ROS 2 (Humble, Jazzy, …). rclpy is imported only when
these functions run, never when the core is imported. Messages convert field by field between our
`Msg` and the generated rclpy classes, following the same field lists (`msgs.TYPES`)."""
from __future__ import annotations

import importlib.util
import logging
from typing import Callable, List

from .msgs import PRIMITIVES, TYPES, Msg, parse_type


def rclpy_available() -> bool:
    return importlib.util.find_spec("rclpy") is not None


def _qos(profile: str):
    from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                           qos_profile_sensor_data)

    if profile == "sensor":
        return qos_profile_sensor_data  # best effort, volatile, keep last 5
    if profile == "latched":
        return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    if profile == "command":
        return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
    return QoSProfile(depth=10)


def _cls(typename: str):
    from rosidl_runtime_py.utilities import get_message

    return get_message(typename)


def to_ros(msg: Msg):
    out = _cls(msg._type)()
    for name, spec in TYPES[msg._type]:
        value = getattr(msg, name)
        base, kind, _ = parse_type(spec)
        if kind == "one":
            setattr(out, name, to_ros(value) if base in TYPES else value)
        elif base in ("uint8", "byte"):
            setattr(out, name, bytes(value))
        elif base in PRIMITIVES or base == "string":
            setattr(out, name, list(value))
        else:
            setattr(out, name, [to_ros(v) for v in value])
    return out


def from_ros(ros_msg, typename: str) -> Msg:
    fields = {}
    for name, spec in TYPES[typename]:
        value = getattr(ros_msg, name)
        base, kind, _ = parse_type(spec)
        if kind == "one":
            fields[name] = from_ros(value, base) if base in TYPES else value
        elif base in ("uint8", "byte"):
            fields[name] = memoryview(value).cast("B") if not isinstance(value, (bytes, bytearray)) else value
        elif base in PRIMITIVES or base == "string":
            fields[name] = list(value)
        else:
            fields[name] = [from_ros(v, base) for v in value]
    return Msg(_type=typename, **fields)


class _Logger:
    """logging.Logger's warning/error/info on top of rclpy's logger."""

    def __init__(self, rcl_logger):
        self._l = rcl_logger

    def info(self, fmt, *args):
        self._l.info(fmt % args if args else fmt)

    def warning(self, fmt, *args):
        self._l.warning(fmt % args if args else fmt)

    def error(self, fmt, *args):
        self._l.error(fmt % args if args else fmt)


class _Publisher:
    def __init__(self, pub):
        self._pub = pub

    def publish(self, msg: Msg) -> None:
        self._pub.publish(to_ros(msg))


class RclpyNode:
    def __init__(self, name: str, use_sim_time: bool = False):
        from rclpy.node import Node
        from rclpy.parameter import Parameter

        self.name = name
        self.node = Node(name, parameter_overrides=[Parameter("use_sim_time", Parameter.Type.BOOL, use_sim_time)])
        self._log = _Logger(self.node.get_logger())

    def publisher(self, typename: str, topic: str, profile: str = "default"):
        return _Publisher(self.node.create_publisher(_cls(typename), topic, _qos(profile)))

    def subscribe(self, typename: str, topic: str, callback: Callable[[Msg], None], profile: str = "default",
                  header_only: bool = False) -> None:  # rclpy has decoded it already: header_only is moot
        self.node.create_subscription(_cls(typename), topic, lambda m: callback(from_ros(m, typename)), _qos(profile))

    def timer(self, period_s: float, callback: Callable[[], None]) -> None:
        self.node.create_timer(period_s, callback)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def log(self):
        return self._log


def run_rclpy(names: List[str], build: Callable, use_sim_time: bool, ros_args: List[str] = ()) -> int:
    """rclpy.init / spin / shutdown as the ROS 2 documentation prescribes (Humble and Jazzy);
    `ros_args` (from `--ros-args` on) carry the launch file's remappings and parameters."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=["vehicle_runtime", *ros_args])
    handles, nodes = [], []
    try:
        def handle_for(name):
            h = RclpyNode(name if len(names) == 1 else f"{name}_node", use_sim_time)
            handles.append(h)
            return h

        nodes = build(handle_for)
        executor = SingleThreadedExecutor()
        for h in handles:
            executor.add_node(h.node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            if hasattr(node, "shutdown"):
                node.shutdown()  # the vehicle interface sends its MRM / disengage frames here
        for h in handles:
            h.node.destroy_node()
        rclpy.try_shutdown()
    logging.getLogger(__name__).info("nodes %s stopped", names)
    return 0
