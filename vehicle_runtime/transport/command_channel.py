"""The command path between the policy and the vehicle interface: a local channel, never the network.

Actuator requests, the policy's output heartbeat and the route check travel policy → vehicle interface;
the measured drive state (CAN feedback) travels back. A Unix SEQPACKET socket in the abstract namespace
(Linux): no other host can reach it, and the server accepts a peer only if its uid (SO_PEERCRED) is ours
or root's. Any participant of the ROS domain could publish on a DDS topic; nobody off this box can write
here (docs/security.md). Records are fixed 32-byte structs, read without blocking at the control rate.
"""

from __future__ import annotations

import enum
import errno
import os
import socket
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional

_RECORD = struct.Struct("<B7xddd")  # kind, then three float64 fields
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class Kind(enum.IntEnum):
    REQUEST = 1  # policy → VI: (source stamp s, steer rad, accel m/s²)
    OUTPUT = 2  # policy → VI: a model output arrived: (observation stamp s, 1.0 finite / 0.0 not, 0)
    ROUTE = 3  # policy → VI: the ego is on the route's corridor and before its end: (odometry stamp s, 0, 0)
    DRIVE = 4  # VI → policy: measured (speed m/s, steer rad, accel m/s²)
    FAULT = 5  # policy → VI: the trajectory validator asks for an MRM: (observation stamp s, 0, 0)


@dataclass(frozen=True)
class Record:
    kind: Kind
    a: float
    b: float = 0.0
    c: float = 0.0


def address(namespace: str = "", domain_id: Optional[int] = None) -> str:
    """One channel per ROS domain and namespace on this host."""
    domain = int(os.environ.get("ROS_DOMAIN_ID", "0")) if domain_id is None else domain_id
    return f"\0vehicle_runtime/{domain}/{namespace.strip('/')}/command"


def encode(record: Record) -> bytes:
    return _RECORD.pack(int(record.kind), record.a, record.b, record.c)


def decode(data: bytes) -> Optional[Record]:
    if len(data) != _RECORD.size:
        return None
    kind, a, b, c = _RECORD.unpack(data)
    try:
        return Record(Kind(kind), a, b, c)
    except ValueError:
        return None


def _peer_uid(sock: socket.socket) -> int:
    return _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))[1]


class CommandServer:
    """The vehicle interface's end: accepts local peers of our uid, reads records without blocking."""

    def __init__(self, addr: str):
        self.addr = addr
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.sock.bind(addr)
        except OSError as exc:
            self.sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    f"command channel {addr.lstrip(chr(0))!r} is taken: another vehicle interface runs "
                    "in this ROS domain and namespace"
                ) from None
            raise
        self.sock.listen(4)
        self.sock.setblocking(False)
        self.peers: Dict[int, socket.socket] = {}
        self.refused_peers = 0
        self.malformed = 0

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            uid = _peer_uid(conn)
            if uid not in (os.getuid(), 0):
                self.refused_peers += 1
                conn.close()
                continue
            conn.setblocking(False)
            self.peers[conn.fileno()] = conn

    def poll(self) -> List[Record]:
        """Every record that arrived since the last call (peers that went away are dropped)."""
        self._accept()
        out: List[Record] = []
        for fd, conn in list(self.peers.items()):
            while True:
                try:
                    data = conn.recv(64)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    data = b""
                if not data:
                    conn.close()
                    del self.peers[fd]
                    break
                record = decode(data)
                if record is None:
                    self.malformed += 1
                else:
                    out.append(record)
        return out

    def send(self, record: Record) -> None:
        data = encode(record)
        for fd, conn in list(self.peers.items()):
            try:
                conn.send(data)
            except (BlockingIOError, InterruptedError):
                pass  # a peer that does not read loses drive updates, never blocks the control loop
            except OSError:
                conn.close()
                del self.peers[fd]

    def close(self) -> None:
        for conn in self.peers.values():
            conn.close()
        self.peers.clear()
        self.sock.close()


class CommandClient:
    """The policy's end: connects (again) whenever it can, never blocks; records sent while the vehicle
    interface is not there are dropped (its watchdogs see the silence)."""

    def __init__(self, addr: str):
        self.addr = addr
        self.sock: Optional[socket.socket] = None
        self.dropped = 0

    def _connect(self) -> Optional[socket.socket]:
        """The connected socket, or None while the vehicle interface is not there."""
        if self.sock is not None:
            return self.sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(self.addr)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        self.sock = sock
        return sock

    def _drop_connection(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def send(self, record: Record) -> bool:
        sock = self._connect()
        if sock is None:
            self.dropped += 1
            return False
        try:
            sock.send(encode(record))
            return True
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
            return False
        except OSError:
            self._drop_connection()
            self.dropped += 1
            return False

    def poll(self) -> List[Record]:
        out: List[Record] = []
        sock = self._connect()
        if sock is None:
            return out
        while True:
            try:
                data = sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:
                data = b""
            if not data:
                self._drop_connection()
                return out
            record = decode(data)
            if record is not None:
                out.append(record)

    def close(self) -> None:
        self._drop_connection()
