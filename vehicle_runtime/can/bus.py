"""python-can bus from config: the interface is chosen by name, as python-can itself does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Protocol

import can

SUPPORTED_INTERFACES = ("socketcan", "virtual", "udp_multicast", "pcan", "kvaser", "slcan", "gs_usb")


@dataclass(frozen=True)
class BusConfig:
    interface: str
    channel: str
    bitrate: Optional[int] = None  # hardware interfaces; ignored by virtual / udp_multicast
    receive_own_messages: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)  # passed through to python-can


class BusConfigError(ValueError):
    pass


class FrameBus(Protocol):
    """What the vehicle interface needs of a bus: a python-can bus, or a wrapper around one (fault injection,
    recording)."""

    def send(self, msg: can.Message, timeout: Optional[float] = None) -> None: ...

    def recv(self, timeout: Optional[float] = None) -> Optional[can.Message]: ...


def open_bus(config: BusConfig) -> can.BusABC:
    if config.interface not in SUPPORTED_INTERFACES:
        raise BusConfigError(
            f"CAN interface '{config.interface}' is not supported (one of: {', '.join(SUPPORTED_INTERFACES)})"
        )
    kwargs: Dict[str, Any] = dict(config.extra)
    if config.bitrate and config.interface not in ("virtual", "udp_multicast"):
        kwargs["bitrate"] = config.bitrate
    if config.interface == "udp_multicast" and config.channel in ("", "default"):
        from can.interfaces.udp_multicast import UdpMulticastBus

        channel = UdpMulticastBus.DEFAULT_GROUP_IPv4
    else:
        channel = config.channel
    try:
        return can.Bus(
            interface=config.interface, channel=channel, receive_own_messages=config.receive_own_messages, **kwargs
        )
    except (can.CanError, OSError, ImportError, ValueError) as exc:
        raise BusConfigError(
            f"cannot open CAN interface '{config.interface}' channel '{config.channel}': {exc}"
        ) from exc
