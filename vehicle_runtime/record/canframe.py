"""CAN frames in a bag as `can_msgs/msg/Frame`, the standard type of ros2_socketcan / ros_canopen
(`ros-<distro>-can-msgs`), so ROS tools and Foxglove read them without our code. The direction is the
topic: /can/tx (sent by the runtime), /can/rx (read by the runtime). Classic CAN only (8 data bytes),
which is what our DBC uses; a CAN FD profile would need ros2_socketcan's can_msgs/msg/FdFrame instead.

Definition (can_msgs/msg/Frame.msg):
    std_msgs/Header header   # stamp: when the runtime sent or read it (run clock), frame_id: "can"
    uint32 id                # arbitration id (11 or 29 bits)
    bool is_rtr
    bool is_extended
    bool is_error
    uint8 dlc
    uint8[8] data            # unused bytes zero
"""

from __future__ import annotations

import can

from ..transport import msgs
from ..transport.msgs import Msg, stamp_to_s

FRAME = "can_msgs/msg/Frame"
FRAME_MSG = (
    "std_msgs/Header header\nuint32 id\nbool is_rtr\nbool is_extended\nbool is_error\nuint8 dlc\nuint8[8] data\n"
)
# registered beside the transport's types so our one CDR codec encodes it (like rosbags' typestore.register)
msgs.TYPES.setdefault(
    FRAME,
    [
        ("header", "std_msgs/msg/Header"),
        ("id", "uint32"),
        ("is_rtr", "bool"),
        ("is_extended", "bool"),
        ("is_error", "bool"),
        ("dlc", "uint8"),
        ("data", "uint8[8]"),
    ],
)


def to_msg(frame: can.Message, t_s: float) -> Msg:
    data = bytes(frame.data)[:8]
    sec, nanosec = divmod(int(round(t_s * 1e9)), 1_000_000_000)
    stamp = msgs.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)
    return msgs.new(
        FRAME,
        header=msgs.new("std_msgs/msg/Header", stamp=stamp, frame_id="can"),
        id=frame.arbitration_id,
        is_rtr=bool(frame.is_remote_frame),
        is_extended=bool(frame.is_extended_id),
        is_error=bool(frame.is_error_frame),
        dlc=len(data),
        data=list(data.ljust(8, b"\0")),
    )


def from_msg(m: Msg) -> can.Message:
    return can.Message(
        timestamp=stamp_to_s(m.header.stamp),
        arbitration_id=m.id,
        is_extended_id=bool(m.is_extended),
        is_remote_frame=bool(m.is_rtr),
        is_error_frame=bool(m.is_error),
        data=bytes(m.data[: m.dlc]),
        dlc=m.dlc,
    )
