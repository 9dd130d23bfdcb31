"""Every message type the runtime uses, built by our code, round-trips through real rclpy (PyPI's ROS 2
Jazzy wheels) and through our CDR codec with equal fields: our bytes are what rclpy's generated type
support reads and writes."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vehicle_runtime.transport import cdr, msgs
from vehicle_runtime.transport.ros import message_class, rclpy_available

pytestmark = pytest.mark.skipif(not rclpy_available(), reason="rclpy is not installed (dev extra: ros-jazzy-* wheels)")

INT_RANGES = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "byte": (0, 255),
    "char": (0, 255),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
ROS_TYPES = sorted(t for t in msgs.TYPES if message_class(t) is not None)


def _one(base: str):
    if base == "string":
        return st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=["Cs"]), max_size=12)
    if base == "bool":
        return st.booleans()
    if base in ("float32", "float64"):
        return st.floats(allow_nan=False, width=32 if base == "float32" else 64)
    if base in INT_RANGES:
        return st.integers(*INT_RANGES[base])
    return message(base)


def message(typename: str):
    fields = {}
    for name, spec in msgs.TYPES[typename]:
        base, kind, n = msgs.parse_type(spec)
        if kind == "one":
            fields[name] = _one(base)
        elif base in ("uint8", "byte") and kind == "sequence":
            fields[name] = st.binary(max_size=64)
        elif kind == "array":
            fields[name] = st.lists(_one(base), min_size=n, max_size=n)
        else:
            fields[name] = st.lists(_one(base), max_size=3)
    return st.fixed_dictionaries(fields).map(lambda f: msgs.Msg(_type=typename, **f))


def assert_same(ours, theirs, typename, path=""):
    """Our Msg against a generated rclpy message, field by field."""
    for name, spec in msgs.TYPES[typename]:
        base, kind, _ = msgs.parse_type(spec)
        a, b = getattr(ours, name), getattr(theirs, name)
        where = f"{typename}{path}.{name}"
        if kind == "one":
            if base in msgs.TYPES:
                assert_same(a, b, base, f"{path}.{name}")
            elif base == "byte":
                assert b == bytes([a]), where  # rclpy's `byte` is a bytes object of length 1
            elif base.startswith("float"):
                assert a == b or (math.isinf(a) and a == b), where
            else:
                assert a == b, where
        elif base in msgs.TYPES:
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                assert_same(x, y, base, f"{path}.{name}[{i}]")
        else:
            assert bytes(a) == bytes(b) if base in ("uint8", "byte", "char") else list(a) == list(b), where


@pytest.mark.parametrize("typename", ROS_TYPES)
def test_our_cdr_round_trips_through_rclpy(typename):
    from rclpy.serialization import deserialize_message, serialize_message

    cls = message_class(typename)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(message(typename))
    def check(m):
        ours = bytes(cdr.CdrWriter().encode(typename, m, align_to=4))
        theirs = deserialize_message(ours, cls)
        assert_same(m, theirs, typename)
        back = cdr.deserialize(typename, serialize_message(theirs))
        assert_same(back, theirs, typename)

    check()


def test_the_types_the_nodes_need_are_all_there():
    """The PyPI wheels carry every standard type the nodes use except ackermann_msgs (left out with a warning)."""
    missing = sorted(set(msgs.TYPES) - set(ROS_TYPES))
    # can_msgs/Frame: the recorder's bag type (record/canframe.py), never on a node's topic
    assert all(t.startswith(("ackermann_msgs/", "vehicle_runtime/", "can_msgs/")) for t in missing), missing
    assert {"sensor_msgs/msg/Image", "nav_msgs/msg/Path", "diagnostic_msgs/msg/DiagnosticArray"} <= set(ROS_TYPES)
