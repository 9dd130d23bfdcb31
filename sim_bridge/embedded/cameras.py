"""The cameras a drive renders: every camera the policy reads, each with its own size, field of view,
mounting and rate from the camera rig (config/camera_rig.yaml). A model that names a camera the rig
lacks, or states a field of view its camera does not have, is refused here in one line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from vehicle_runtime.camera_rig import CameraRigError, check_model_cameras, load_camera_rig
from vehicle_runtime.student.manifest import Manifest

from .renderer import CameraModel, Renderer


def camera_model(name: str = "front", rig_path: Optional[Path] = None) -> CameraModel:
    rig = load_camera_rig(rig_path)
    if name not in rig:
        raise CameraRigError(f"camera rig has no camera '{name}' (it has {', '.join(rig)})")
    return CameraModel.from_spec(rig[name])


class CameraSet:
    """One renderer per camera; the first camera sets the policy's rate (it is the fusion's reference)."""

    def __init__(
        self,
        names: Sequence[str],
        network,
        dt_s: float,
        rig_path: Optional[Path] = None,
        manifest: Optional[Manifest] = None,
        brightness: float = 1.0,
        noise_std: float = 0.0,
        seed: int = 0,
        reference_size: Optional[Tuple[int, int]] = None,
        brake_lamps: bool = True,
    ):
        """`reference_size`: (width, height) the reference camera renders at instead of the rig's, the others
        scaled alike (fov, mounting and rate kept)."""
        rig = load_camera_rig(rig_path)
        where = f"the camera rig ({rig_path or 'config/camera_rig.yaml'})"
        if manifest is not None:
            check_model_cameras(manifest, rig, where)  # ManifestError: one line
        missing = [n for n in names if n not in rig]
        if missing:
            raise CameraRigError(f"{where} has no camera {missing} (it has {', '.join(rig)})")
        self.reference = names[0]
        self.models: Dict[str, CameraModel] = {n: CameraModel.from_spec(rig[n]) for n in names}
        if reference_size:
            self.models = self._scaled(*reference_size)
        self.brake_lamps = brake_lamps
        self.renderers = self._renderers(network, brightness, noise_std, seed)
        self.every = {n: max(1, int(round(1.0 / (m.rate_hz * dt_s)))) for n, m in self.models.items()}

    def resize_reference(self, width: int, height: int) -> None:
        """The reference camera rendered at width x height, the others scaled alike (fov, mounting, rate,
        exposure and noise kept)."""
        first = self.renderers[self.reference]
        self.models = self._scaled(width, height)
        self.renderers = self._renderers(first.network, first.brightness, first.noise_std, first.seed)

    def _scaled(self, width: int, height: int) -> Dict[str, CameraModel]:
        ref = self.models[self.reference]
        return {
            name: replace(
                m,
                width=max(16, round(m.width * width / ref.width)),
                height=max(16, round(m.height * height / ref.height)),
            )
            for name, m in self.models.items()
        }

    def _renderers(self, network, brightness: float, noise_std: float, seed: int) -> Dict[str, Renderer]:
        # a renderer draws its noise bank when built (0.2 s at 720p): built once, at the size it renders
        return {
            n: Renderer(
                m, network, brightness=brightness, noise_std=noise_std, seed=seed + i, brake_lamps=self.brake_lamps
            )
            for i, (n, m) in enumerate(self.models.items())
        }

    @property
    def policy_every(self) -> int:
        """Run the policy when the reference camera delivers."""
        return self.every[self.reference]

    def due(self, k: int) -> Iterator[Tuple[str, Renderer]]:
        for name, renderer in self.renderers.items():
            if k % self.every[name] == 0:
                yield name, renderer

    @property
    def brightness(self) -> float:
        return self.renderers[self.reference].brightness


def render_all(
    cameras: CameraSet, k: int, ego_pose, actors, brightness: float
) -> Iterator[Tuple[str, CameraModel, np.ndarray]]:
    for name, renderer in cameras.due(k):
        yield name, cameras.models[name], renderer.render(ego_pose, actors, brightness)
