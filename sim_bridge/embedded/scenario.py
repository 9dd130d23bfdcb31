"""Scenario files (YAML): the map, the route, the ego's start, other actors, camera effects."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import List

import yaml

from vehicle_runtime.schema import problems

from .road import RoadNetwork, build_lanes

SCENARIO_DIR = Path(str(resources.files(__package__).joinpath("scenarios")))
DEFAULT_SCENARIO = "curvy_road"


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    target_speed_mps: float
    network: RoadNetwork
    lane_specs: list
    route: List[dict]
    ego: dict
    actors: List[dict] = field(default_factory=list)
    camera: dict = field(default_factory=dict)


def available() -> List[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ScenarioError(f"no scenario '{name_or_path}' (shipped: {', '.join(available())})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML ({exc})") from None
    schema = json.loads(resources.files(__package__).joinpath("scenario.schema.json").read_text())
    found = problems(raw, schema)
    if found:
        raise ScenarioError(f"{path}: " + "; ".join(found))
    try:
        network = build_lanes(raw["map"]["lanes"])
    except (ValueError, KeyError) as exc:
        raise ScenarioError(f"{path}: map: {exc}") from None
    lanes = network.lanes
    for ref in [r["lane"] for r in raw["route"]] + [raw["ego"]["lane"]] + [a["lane"] for a in raw.get("actors", [])]:
        if ref not in lanes:
            raise ScenarioError(f"{path}: unknown lane '{ref}' (lanes: {', '.join(lanes)})")
    return Scenario(
        name=raw["name"],
        description=raw.get("description", ""),
        duration_s=float(raw["duration_s"]),
        target_speed_mps=float(raw["target_speed_mps"]),
        network=network,
        lane_specs=raw["map"]["lanes"],
        route=raw["route"],
        ego=raw["ego"],
        actors=raw.get("actors", []),
        camera=raw.get("camera", {}),
    )
