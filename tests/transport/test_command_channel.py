"""The local command channel between policy and vehicle interface: records both ways, peers of another
uid refused, malformed records counted, a missing server never blocks the sender."""

import os
import socket
import uuid

import pytest

from vehicle_runtime.transport import command_channel as cc


def fresh_address():
    return f"\0vehicle_runtime/test/{uuid.uuid4().hex}/command"


def test_records_cross_both_ways_in_order():
    addr = fresh_address()
    server, client = cc.CommandServer(addr), cc.CommandClient(addr)
    try:
        sent = [cc.Record(cc.Kind.REQUEST, 1.5 + i, 0.01 * i, -0.5) for i in range(50)]
        sent.append(cc.Record(cc.Kind.ROUTE, 42.0))
        assert all(client.send(r) for r in sent)
        assert server.poll() == sent
        server.send(cc.Record(cc.Kind.DRIVE, 8.0, 0.05, -1.0))
        assert client.poll() == [cc.Record(cc.Kind.DRIVE, 8.0, 0.05, -1.0)]
    finally:
        client.close()
        server.close()


def test_without_a_server_records_are_dropped_and_counted_then_the_client_connects():
    addr = fresh_address()
    client = cc.CommandClient(addr)
    assert not client.send(cc.Record(cc.Kind.REQUEST, 1.0)) and client.dropped == 1
    server = cc.CommandServer(addr)
    try:
        assert client.send(cc.Record(cc.Kind.REQUEST, 2.0))
        assert server.poll() == [cc.Record(cc.Kind.REQUEST, 2.0)]
        server.close()  # the vehicle interface went away: the next send fails once, never blocks
        client.send(cc.Record(cc.Kind.REQUEST, 3.0))
        assert not client.send(cc.Record(cc.Kind.REQUEST, 4.0))
    finally:
        client.close()
        server.close()


def test_malformed_records_are_counted_not_applied():
    addr = fresh_address()
    server = cc.CommandServer(addr)
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        raw.connect(addr)
        raw.send(b"\x01short")
        raw.send(bytes([99]) + bytes(31))  # unknown kind
        raw.send(cc.encode(cc.Record(cc.Kind.OUTPUT, 5.0, 1.0)))
        assert server.poll() == [cc.Record(cc.Kind.OUTPUT, 5.0, 1.0)]
        assert server.malformed == 2
    finally:
        raw.close()
        server.close()


def test_a_second_vehicle_interface_on_the_same_channel_is_refused_with_a_message():
    addr = fresh_address()
    server = cc.CommandServer(addr)
    try:
        with pytest.raises(OSError, match="is taken"):
            cc.CommandServer(addr)
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a peer under another uid")
def test_a_peer_of_another_user_is_refused():
    addr = fresh_address()
    server = cc.CommandServer(addr)
    try:
        pid = os.fork()  # the child becomes `nobody` and writes a well-formed request
        if pid == 0:
            try:
                os.setuid(65534)
                peer = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                peer.connect(addr)
                peer.send(cc.encode(cc.Record(cc.Kind.REQUEST, 1.0, 0.3, 2.0)))
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert server.poll() == [] and server.refused_peers == 1
    finally:
        server.close()


def test_the_address_is_per_domain_and_namespace_and_never_a_file():
    assert cc.address("car1", 3) != cc.address("car2", 3) != cc.address("car1", 4)
    assert cc.address("car1", 3).startswith("\0")
