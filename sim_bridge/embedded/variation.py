"""Seeded variations of a scenario, so that a seed is a different situation, not only other sensor noise.

Seed 0 is the scenario exactly as written. Any other seed moves the ego's start, the actors' positions,
speeds and timings, the target speed and the camera's exposure within the ranges below. The distilled
student is trained on some seeds and evaluated on others (`vehicle-runtime eval`), so the ranges are what
"held out" means: same scenario family, situations never seen in training.
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import replace

import numpy as np

from .scenario import Scenario

EGO_S_M = (-3.0, 3.0)
EGO_SPEED_SCALE = (0.7, 1.15)
TARGET_SPEED_MPS = (-1.0, 1.0)
VEHICLE_S_M = (-8.0, 8.0)
VEHICLE_SPEED_SCALE = (0.85, 1.15)
PROFILE_SHIFT_S = (-2.0, 2.0)  # every knot after the first
LANE_CHANGE_T_S = (-1.5, 1.5)
LANE_CHANGE_DURATION_S = (2.0, 3.5)
STATIC_S_M = (-15.0, 15.0)
BRIGHTNESS_SCALE = (0.85, 1.1)
EXTRA_NOISE_STD = (0.0, 2.0)


def vary(scenario: Scenario, seed: int) -> Scenario:
    if seed == 0:
        return scenario
    # the scenario's name is mixed in so that seed k differs between scenarios
    rng = np.random.default_rng([seed, zlib.crc32(scenario.name.encode())])
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    ego = dict(scenario.ego)
    ego["s_m"] = max(1.0, ego["s_m"] + u(EGO_S_M))
    ego["speed_mps"] = ego["speed_mps"] * u(EGO_SPEED_SCALE) if ego["speed_mps"] > 0 else u((0.0, 2.0))
    actors = [_vary_actor(a, rng) for a in copy.deepcopy(scenario.actors)]
    camera = dict(scenario.camera)
    camera["brightness"] = camera.get("brightness", 1.0) * u(BRIGHTNESS_SCALE)
    camera["noise_std"] = camera.get("noise_std", 0.0) + u(EXTRA_NOISE_STD)
    return replace(
        scenario,
        ego=ego,
        actors=actors,
        camera=camera,
        target_speed_mps=scenario.target_speed_mps + u(TARGET_SPEED_MPS),
    )


def _vary_actor(a: dict, rng: np.random.Generator) -> dict:
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    if a["kind"] == "static":
        a["s_m"] = max(20.0, a["s_m"] + u(STATIC_S_M))
        return a
    a["s_m"] = max(10.0, a["s_m"] + u(VEHICLE_S_M))
    scale = u(VEHICLE_SPEED_SCALE)
    a["speed_mps"] = a.get("speed_mps", 0.0) * scale
    if a.get("speed_profile"):
        shift = u(PROFILE_SHIFT_S)
        knots = [[0.0, a["speed_profile"][0][1] * scale]]
        knots += [[max(t + shift, knots[-1][0] + 0.1), v * scale] for t, v in a["speed_profile"][1:]]
        a["speed_profile"] = knots
    if a.get("lane_change"):
        change = dict(a["lane_change"])
        change["t_s"] = max(1.0, change["t_s"] + u(LANE_CHANGE_T_S))
        change["duration_s"] = u(LANE_CHANGE_DURATION_S)
        a["lane_change"] = change
    return a
