"""Against a real CARLA 0.9.16 server: set CARLA_HOST (and CARLA_PORT, default 2000) to run these, e.g.
on the simulation PC:  ./CarlaUE4.sh -RenderOffScreen &  CARLA_HOST=127.0.0.1 pytest tests/carla/test_server.py"""

import os

import numpy as np
import pytest

carla = pytest.importorskip("carla", reason="the CARLA client wheel (carla==0.9.16) is not installed")
HOST = os.environ.get("CARLA_HOST")
pytestmark = pytest.mark.skipif(not HOST, reason="no CARLA server: set CARLA_HOST (and CARLA_PORT) to run")

from sim_bridge.carla.connection import connect  # noqa: E402
from sim_bridge.carla.params import load_bridge_params  # noqa: E402
from sim_bridge.carla.route import TopologyPlanner  # noqa: E402
from sim_bridge.carla.session import run_carla  # noqa: E402
from sim_bridge.carla.sinks import InProcessRuntime  # noqa: E402
from vehicle_runtime.can import open_bus  # noqa: E402


def params(**kw):
    return load_bridge_params(host=HOST, port=int(os.environ.get("CARLA_PORT", "2000")), **kw)


def in_process(cfg, bus, params, cameras):
    return InProcessRuntime(cfg, open_bus(bus), owns_bus=True)


def assert_left_clean(p):
    _, world = connect(p.endpoint)
    assert world.get_settings().synchronous_mode is False  # asynchronous mode restored
    assert not [a for a in world.get_actors() if a.attributes.get("role_name") == "hero"]  # ego destroyed
    assert not world.get_actors().filter("sensor.*")


def test_route_from_the_town_topology():
    p = params()
    _, world = connect(p.endpoint)
    points = world.get_map().get_spawn_points()
    r = TopologyPlanner(world.get_map()).plan(points[p.spawn_index].location, points[p.goal_index].location)
    steps = np.linalg.norm(np.diff(r.points_xy_m, axis=0), axis=1)
    assert r.length_m > 20.0 and steps.max() < 2.5


def test_lockstep_drive_matches_sensors_and_moves_the_car(tmp_path):
    p = params(duration_s=15.0)
    result = run_carla(p, in_process, "student")
    assert result.frames >= int(0.9 * 15.0 / p.fixed_delta_s)  # every tick's camera matched by frame id
    assert max(result.timeline["speed"]) > 1.0  # the CAN frames the gateway accepted moved the ego
    assert "ENGAGED" in {tr.after.name for tr in result.transitions}
    assert result.metrics["route_completion"] > 0.0
    assert_left_clean(p)


def test_ctrl_c_mid_run_restores_the_server():
    p = params(duration_s=30.0)

    def interrupt(t_s, duration_s):
        if t_s > 1.0:
            raise KeyboardInterrupt

    from sim_bridge.carla import session

    with pytest.raises(KeyboardInterrupt):
        session.run_carla(p, in_process, "student", progress=interrupt)
    assert_left_clean(p)
