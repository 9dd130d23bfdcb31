"""systemd's notify protocol (sd_notify) without libsystemd: one datagram to $NOTIFY_SOCKET.

The vehicle interface sends READY=1 once its control loop runs and WATCHDOG=1 from that loop, so
systemd (WatchdogSec=) restarts the service when the loop hangs; the gateway brakes meanwhile."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send e.g. 'READY=1' or 'WATCHDOG=1'; False when not run under systemd (no NOTIFY_SOCKET)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(message.encode())
    return True
