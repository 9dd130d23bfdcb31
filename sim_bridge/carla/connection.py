"""Connecting to a CARLA server: one clear line when none answers, and a version check that explains
a client/server mismatch instead of pinning one exact version."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


class CarlaUnavailable(RuntimeError):
    """No CARLA client package, or no server answering: the message is one line for the user."""


@dataclass(frozen=True)
class Endpoint:
    host: str = "127.0.0.1"
    port: int = 2000
    timeout_s: float = 10.0


def import_carla():
    try:
        import carla
    except ImportError:
        raise CarlaUnavailable(
            "the CARLA client is not installed: pip install 'carla==0.9.16' "
            "(PyPI wheel for Python 3.10-3.12 on x86_64), or install the `carla` extra"
        ) from None
    return carla


def version_problem(client_version: str, server_version: str) -> str:
    """'' when compatible; else why not. CARLA's RPC protocol changes between minor releases
    (0.9.15 → 0.9.16); patch suffixes and local build tags do not matter."""

    def release(v: str):
        core = v.split("-")[0].split("+")[0]
        return tuple(core.split(".")[:3])

    c, s = release(client_version), release(server_version)
    if c == s:
        return ""
    return (
        f"CARLA client {client_version} and server {server_version} differ: the RPC protocol changes between "
        f"releases, so calls may fail or hang; install the client of the server's release "
        f"(pip install 'carla=={'.'.join(s)}') or run a {'.'.join(c)} server"
    )


def connect(endpoint: Endpoint, strict_version: bool = False):
    """(client, world). Raises CarlaUnavailable with one line when no server answers."""
    carla = import_carla()
    client = carla.Client(endpoint.host, endpoint.port)
    client.set_timeout(endpoint.timeout_s)
    try:
        server_version = client.get_server_version()
        world = client.get_world()
    except RuntimeError as exc:
        raise CarlaUnavailable(
            f"no CARLA server answered at {endpoint.host}:{endpoint.port} within "
            f"{endpoint.timeout_s:g} s (start CarlaUE4.sh there, or pass --carla-host / --carla-port)"
        ) from exc
    problem = version_problem(client.get_client_version(), server_version)
    if problem:
        if strict_version:
            raise CarlaUnavailable(problem)
        log.warning(problem)
    return client, world


def load_town(client, world, town: str):
    """The world with `town` loaded (kept when it is already the current map)."""
    if not town or world.get_map().name.split("/")[-1] == town:
        return world
    available = [m.split("/")[-1] for m in client.get_available_maps()]
    if town not in available:
        raise CarlaUnavailable(f"CARLA has no map '{town}' (available: {', '.join(sorted(available))})")
    return client.load_world(town)
