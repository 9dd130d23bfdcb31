import dataclasses
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cli_check import places  # noqa: E402, F401 -- the CLI fuzz tests' fixture, offered here as pytest expects
from model_factory import two_camera_graph, write_model  # noqa: E402
from vehicle_runtime.types import CameraFrame, EgoState, NavigationState, Observation, Pose2D, RoadOption  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NETNS = REPO / "tools" / "in_loopback_netns.sh"


def netns_unavailable_reason() -> str:
    """'' when a loopback-only network namespace with multicast can be made here (for udp_multicast
    CAN across processes without any packet leaving the machine), else why not."""
    import shutil
    import subprocess

    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare / ip (util-linux, iproute2) not installed"
    probe = subprocess.run(["unshare", "-n", str(NETNS), "true"], capture_output=True, text=True)
    return "" if probe.returncode == 0 else f"cannot create a network namespace here: {probe.stderr.strip()[:200]}"


@pytest.fixture(autouse=True)
def collect_dds_garbage(request):
    """DDS entities of a finished test are deleted here, on the main thread. Left to the garbage collector,
    a participant can be deleted inside a Cyclone listener callback of another test's participant in the
    same domain, and Cyclone then waits on the very thread doing the deletion (seen: a stalled receive
    thread, images no longer delivered)."""
    yield
    if request.node.path.parent.name in ("transport", "ros", "carla"):
        import gc

        gc.collect()


@pytest.fixture
def two_camera_dir(tmp_path):
    return write_model(tmp_path / "two_camera", two_camera_graph())


@pytest.fixture
def reference_model_dir():
    return REPO / "models" / "reference_geometric"


def make_observation(
    frames, stamp_s=1.0, target=(10.0, 0.0), option=RoadOption.LANEFOLLOW, speed_mps=5.0, to_end_m=100.0
):
    nav = NavigationState(
        route_ego_xy_m=np.array([[2.0 * (i + 1), 0.0] for i in range(10)]),
        target_point_ego_m=target,
        road_option=option,
        distance_to_route_end_m=to_end_m,
    )
    ego = EgoState(stamp_s=stamp_s, pose=Pose2D(0.0, 0.0, 0.0), speed_mps=speed_mps)
    return Observation(stamp_s=stamp_s, frames=frames, ego=ego, nav=nav, ages_s={})


def uniform_frame(camera, value, width, height, encoding="rgb8", stamp_s=1.0):
    channels = 1 if encoding == "mono8" else 3
    data = np.full((height, width, channels), value, np.uint8).tobytes()
    return CameraFrame(camera=camera, stamp_s=stamp_s, encoding=encoding, data=data, width=width, height=height)


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
