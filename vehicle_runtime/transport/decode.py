"""One received sample (XCDR1 bytes) → `Msg`, the same way on every transport.

`header_only` decodes just the leading std_msgs/Header: a watchdog needs the stamp, not a 400-pose
route. On latched topics a state re-sent with only a new stamp (a route every second) reuses the last
decoded message: decoding it again held the GIL 10-60 ms in the policy process.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict

from .cdr import deserialize, deserialize_header
from .msgs import Msg, starts_with_header

STAMP = struct.Struct("<iI")  # builtin_interfaces/Time right after the 4-byte encapsulation header
STAMP_AT = 4
AFTER_STAMP = STAMP_AT + STAMP.size  # where the rest of a header-first message starts


def make_decoder(typename: str, profile: str = "default", header_only: bool = False) -> Callable[[bytes], Msg]:
    if header_only:
        return lambda data: Msg(_type=typename, header=deserialize_header(data))
    if not (profile == "latched" and starts_with_header(typename)):
        return lambda data: deserialize(typename, data)
    last: Dict[str, Any] = {"body": None, "msg": None}

    def restamped(data) -> Msg:
        body = bytes(data[AFTER_STAMP:])
        if body == last["body"]:
            return Msg(**{**vars(last["msg"]), "header": deserialize_header(data)})
        msg = deserialize(typename, data)
        last["body"], last["msg"] = body, msg
        return msg

    return restamped
