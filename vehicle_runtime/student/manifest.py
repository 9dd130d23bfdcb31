"""The student model contract: `manifest.json` beside `model.onnx` (DESIGN.md, "Student model contract").

The manifest is validated against a JSON schema (clear message naming the bad field), then the
model file's sha256 is checked. Graph agreement is checked by `contract.check_against_graph`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..preprocess import ImageSpec
from ..schema import load_schema, problems


class ManifestError(ValueError):
    """A manifest that is malformed or does not match its model file."""


@dataclass(frozen=True)
class CameraInput:
    camera: str  # camera name as the fusion knows it (e.g. "front")
    input: str  # ONNX input name, shape [1, history, C, H, W]
    history: int  # frames per camera, oldest first
    image: ImageSpec
    fov_deg: Optional[float] = None  # expected horizontal field of view, checked against every configured camera
    rate_hz: Optional[float] = None  # the frame rate the history assumes, checked against every configured camera
    dtype: str = "float32"  # float32 | float16 in the graph


@dataclass(frozen=True)
class FeatureInput:
    input: str  # ONNX input name, shape [1, N]
    features: tuple[str, ...]  # names from vehicle_runtime.student.features
    dtype: str = "float32"


@dataclass(frozen=True)
class StateInput:
    input: str
    output: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class Outputs:
    trajectory: str  # [1, T, 2] ego-frame x, y
    trajectory_points: int
    dt_s: float
    speed_profile: Optional[str] = None  # [1, T]
    reasoning: Optional[str] = None
    reasoning_kind: str = "token_ids"  # token_ids [1, L] int64 | logits [1, L, V] float
    reasoning_max_tokens: int = 0
    confidence: Optional[str] = None  # [1] or [1, 1]
    # graph element types: trajectory / speed / confidence float32 | float16, logits the same, ids int64
    trajectory_dtype: str = "float32"
    speed_profile_dtype: str = "float32"
    reasoning_dtype: str = "int64"
    confidence_dtype: str = "float32"


@dataclass(frozen=True)
class Manifest:
    directory: Path
    name: str
    version: str
    model_file: str
    sha256: str
    cameras: tuple[CameraInput, ...]
    nav: Optional[FeatureInput]
    ego: Optional[FeatureInput]
    route_points: int
    route_spacing_m: Optional[float]  # the spacing the model was trained with (None: not stated)
    state: tuple[StateInput, ...]
    outputs: Outputs
    tokenizer: Optional[str]
    latency_budget_ms: float
    provenance: dict = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        return self.directory / self.model_file

    @property
    def tokenizer_path(self) -> Optional[Path]:
        return self.directory / self.tokenizer if self.tokenizer else None

    def input_names(self) -> Sequence[str]:
        names = [c.input for c in self.cameras]
        names += [f.input for f in (self.nav, self.ego) if f is not None]
        names += [s.input for s in self.state]
        return names


def load_manifest(path: str | Path, check_sha256: bool = True) -> Manifest:
    """Load `path` (a manifest.json or the folder holding it) and validate it."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    found = problems(raw, load_schema("model_manifest"))
    if found:
        raise ManifestError(f"{path}: " + "; ".join(found))
    manifest = _from_dict(path.parent, raw)
    if check_sha256:
        actual = sha256_of(manifest.model_path)
        if actual != manifest.sha256:
            raise ManifestError(
                f"{manifest.model_path}: sha256 {actual} does not match the manifest's {manifest.sha256}"
            )
    for problem in _consistency_problems(manifest):
        raise ManifestError(f"{path}: {problem}")
    return manifest


def _consistency_problems(m: Manifest) -> list[str]:
    """What the schema cannot say: sums of crops, names unique across entries."""
    out = []
    names = m.input_names()
    if len(set(names)) != len(names):
        out.append(f"an ONNX input is named twice in the manifest: {names}")
    cameras = [c.camera for c in m.cameras]
    twice = sorted({c for c in cameras if cameras.count(c) > 1})
    if twice:
        out.append(f"camera(s) {twice} listed more than once: each camera feeds exactly one input")
    for i, c in enumerate(m.cameras):
        s = c.image
        if s.crop_top + s.crop_bottom >= 1.0:
            out.append(
                f"field 'cameras/{i}/image/crop': top + bottom = {s.crop_top + s.crop_bottom:g} leaves no image "
                f"(must be < 1)"
            )
        if s.crop_left + s.crop_right >= 1.0:
            out.append(
                f"field 'cameras/{i}/image/crop': left + right = {s.crop_left + s.crop_right:g} leaves no image "
                f"(must be < 1)"
            )
        for key in ("mean", "std"):
            if len(getattr(s, key)) != s.channels:
                out.append(
                    f"field 'cameras/{i}/image/{key}': {len(getattr(s, key))} value(s) for "
                    f"{s.channels} channel(s) ({s.colour_order})"
                )
    o = m.outputs
    if o.reasoning and (o.reasoning_kind == "token_ids") != (o.reasoning_dtype == "int64"):
        out.append(
            f"field 'outputs/reasoning/dtype': {o.reasoning_dtype} does not fit kind {o.reasoning_kind} "
            "(token_ids: int64; logits: float32 or float16)"
        )
    return out


def sha256_of(path: Path) -> str:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as f:  # hashlib.file_digest is Python 3.11+; Humble runs 3.10
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except FileNotFoundError:
        raise ManifestError(f"{path}: model file missing") from None


def _from_dict(directory: Path, d: dict) -> Manifest:
    cameras = tuple(_camera(c) for c in d["cameras"])
    out = d["outputs"]
    reasoning = out.get("reasoning") or {}
    return Manifest(
        directory=directory,
        name=d["name"],
        version=d["version"],
        model_file=d.get("model_file", "model.onnx"),
        sha256=d["sha256"],
        cameras=cameras,
        nav=_features(d.get("nav")),
        ego=_features(d.get("ego")),
        route_points=int(d.get("nav", {}).get("route_points", 0)),
        route_spacing_m=d.get("nav", {}).get("route_spacing_m"),
        state=tuple(
            StateInput(s["input"], s["output"], tuple(s["shape"]), s.get("dtype", "float32"))
            for s in d.get("recurrent_state", [])
        ),
        outputs=Outputs(
            trajectory=out["trajectory"]["name"],
            trajectory_points=out["trajectory"]["points"],
            dt_s=out["trajectory"]["dt_s"],
            speed_profile=(out.get("speed_profile") or {}).get("name"),
            reasoning=reasoning.get("name"),
            reasoning_kind=reasoning.get("kind", "token_ids"),
            reasoning_max_tokens=reasoning.get("max_tokens", 0),
            confidence=(out.get("confidence") or {}).get("name"),
            trajectory_dtype=out["trajectory"].get("dtype", "float32"),
            speed_profile_dtype=(out.get("speed_profile") or {}).get("dtype", "float32"),
            reasoning_dtype=reasoning.get(
                "dtype", "int64" if reasoning.get("kind", "token_ids") == "token_ids" else "float32"
            ),
            confidence_dtype=(out.get("confidence") or {}).get("dtype", "float32"),
        ),
        tokenizer=d.get("tokenizer"),
        latency_budget_ms=float(d["latency_budget_ms"]),
        provenance=d.get("provenance", {}),
    )


def _camera(c: dict) -> CameraInput:
    img = c["image"]
    crop = img.get("crop", {})
    n = 1 if img["colour_order"] == "gray" else 3
    spec = ImageSpec(
        width=img["width"],
        height=img["height"],
        colour_order=img["colour_order"],
        crop_top=crop.get("top", 0.0),
        crop_bottom=crop.get("bottom", 0.0),
        crop_left=crop.get("left", 0.0),
        crop_right=crop.get("right", 0.0),
        scale=img.get("scale", 1.0 / 255.0),
        mean=tuple(img.get("mean", (0.0,) * n)),
        std=tuple(img.get("std", (1.0,) * n)),
        interpolation=img.get("interpolation", "linear"),
    )
    return CameraInput(
        camera=c["camera"],
        input=c["input"],
        history=c["history"],
        image=spec,
        fov_deg=c.get("fov_deg"),
        rate_hz=c.get("rate_hz"),
        dtype=c.get("dtype", "float32"),
    )


def _features(d: Optional[dict]) -> Optional[FeatureInput]:
    if not d:
        return None
    return FeatureInput(input=d["input"], features=tuple(d["features"]), dtype=d.get("dtype", "float32"))
