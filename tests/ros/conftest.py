"""The policy node on Cyclone DDS with the vehicle interface's end of the command channel, as several node
tests need it."""

import dataclasses
from types import SimpleNamespace

import pytest


@pytest.fixture
def policy_on_channel():
    """make(domain, namespace='t') → (node, server, participant, executor): a real PolicyNode with the
    configured student on its own DDS domain, and the command-channel server its requests reach. Closed
    after the test."""
    opened = []

    def make(domain: int, namespace: str = "t"):
        from ros_nodes.policy_node import PolicyNode
        from vehicle_runtime.config import load_runtime_config
        from vehicle_runtime.pipeline import Pipeline
        from vehicle_runtime.transport import command_channel
        from vehicle_runtime.transport.dds import DdsParticipant
        from vehicle_runtime.transport.node import DdsNode, Executor

        cfg = dataclasses.replace(load_runtime_config(), policy_realtime_priority=0)  # not the test process
        participant, executor = DdsParticipant(domain), Executor()
        server = command_channel.CommandServer(command_channel.address(namespace, domain))
        opened.append((participant, server))
        node = PolicyNode(
            DdsNode("policy", participant, executor, namespace),
            cfg,
            Pipeline.from_config(cfg),
            channel=command_channel.CommandClient(command_channel.address(namespace, domain)),
        )
        return SimpleNamespace(node=node, server=server, participant=participant, executor=executor)

    yield make
    for participant, server in opened:
        participant.close()
        server.close()
