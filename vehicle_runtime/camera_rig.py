"""The vehicle's cameras: name, image size, horizontal field of view and mounting, from a rig file
(config/camera_rig.yaml) validated against its schema. The simulators render these cameras and the
model's manifest is checked against them (`check_model_cameras`: names, fields of view, frame rates)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

import yaml

from .paths import share_dir
from .schema import load_schema, problems
from .student.contract import check_fov, check_rates
from .student.manifest import Manifest

RIG_FILE = "camera_rig.yaml"


class CameraRigError(ValueError):
    """A rig file that cannot be used (missing, malformed, or lacking a camera a model needs)."""


@dataclass(frozen=True)
class CameraSpec:
    name: str
    width: int
    height: int
    hfov_deg: float
    mount_x_m: float  # ahead of the rear axle (the ego reference point)
    mount_height_m: float
    pitch_deg: float  # positive looks down
    rate_hz: float
    mount_y_m: float = 0.0  # left of the centre line
    yaw_deg: float = 0.0  # positive looks left; 180 looks back

    @property
    def focal_length_px(self) -> float:
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)


def default_rig_path() -> Path:
    return share_dir() / "config" / RIG_FILE


def load_camera_rig(path: Optional[str | Path] = None) -> Dict[str, CameraSpec]:
    """name → CameraSpec, in file order."""
    path = Path(path) if path else default_rig_path()
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CameraRigError(f"{path}: no such camera rig file") from None
    except yaml.YAMLError as exc:
        raise CameraRigError(f"{path}: not valid YAML ({exc})") from None
    found = problems(doc, load_schema("camera_rig"))
    if found:
        raise CameraRigError(f"{path}: " + "; ".join(found))
    return {name: CameraSpec(name=name, **spec) for name, spec in doc["cameras"].items()}


def rig_fov_deg(rig: Mapping[str, CameraSpec]) -> Dict[str, float]:
    return {name: c.hfov_deg for name, c in rig.items()}


def check_model_cameras(manifest: Manifest, rig: Mapping[str, CameraSpec], source: str) -> None:
    """Every camera the model reads is in the rig, with the model's field of view and frame rate;
    ManifestError (one line naming the camera) otherwise."""
    check_fov(manifest, rig_fov_deg(rig), source)
    check_rates(manifest, {name: c.rate_hz for name, c in rig.items()}, source)
