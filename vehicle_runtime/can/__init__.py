"""CAN: the project by-wire DBC, encode/decode with counter and checksum, and the bus factory."""

from .bus import SUPPORTED_INTERFACES, BusConfig, BusConfigError, open_bus
from .codec import Codec, CounterCheck, DecodedFrame, FrameError, Packer, default_dbc_path, load_dbc

__all__ = [
    "BusConfig",
    "BusConfigError",
    "SUPPORTED_INTERFACES",
    "open_bus",
    "Codec",
    "CounterCheck",
    "DecodedFrame",
    "FrameError",
    "Packer",
    "default_dbc_path",
    "load_dbc",
]
