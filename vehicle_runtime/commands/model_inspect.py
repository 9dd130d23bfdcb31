"""`vehicle-runtime model inspect PATH`: print a model's contract and prove it runs.

"contract ok" means the real load path went through: schema and consistency checks, the graph against
the manifest, the route input against the fusion parameters, every camera's fov and frame rate against the
camera rig, one preprocess per camera on a synthetic frame of the rig camera's size, one fused observation,
one inference and the decoding of every output. The first step that fails is named in one line.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from ..camera_rig import CameraRigError, check_model_cameras, load_camera_rig
from ..config import ConfigError, load_runtime_config
from ..fusion import Fusion
from ..pipeline import check_route_input
from ..preprocess import PreprocessError, Preprocessor
from ..student import ManifestError, Student, load_manifest
from ..student.contract import expected_inputs, expected_outputs
from ..student.session import ProviderError, SessionConfig
from ..synthetic import curved_route, odometry_along, road_image
from ..types import CameraFrame


def add_parser(sub) -> None:
    model = sub.add_parser("model", help="model tools")
    msub = model.add_subparsers(dest="model_command", required=True)
    p = msub.add_parser("inspect", help="print the contract of a model folder and check that the runtime can run it")
    p.add_argument("path", help="model folder (with manifest.json) or manifest.json")
    p.add_argument("--rig", help="camera rig file (default: the --config folder's camera_rig.yaml)")
    p.add_argument("--config", help="parameter folder (default: the package's config/)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


class InspectError(ValueError):
    pass


def _step(name: str, fn, *args):
    try:
        return fn(*args)
    except InspectError:
        raise
    except (
        ManifestError,
        ProviderError,
        ConfigError,
        CameraRigError,
        PreprocessError,
        ValueError,
        RuntimeError,
    ) as exc:
        raise InspectError(f"{name}: {exc}") from None


def run(args) -> int:
    try:
        manifest = _step("manifest", load_manifest, args.path)
        student = _step("graph", Student, manifest, SessionConfig(providers=("CPUExecutionProvider",), io_binding=True))
        cfg = _step("config", load_runtime_config, args.config)
        _step("route input", check_route_input, manifest, cfg.fusion)
        rig_path = args.rig or cfg.camera_rig_path  # the config folder's rig unless one is named
        rig = _step("camera rig", load_camera_rig, rig_path)
        rig_name = f"the camera rig ({rig_path})"
        _step("cameras", check_model_cameras, manifest, rig, rig_name)
        run_info = _step("inference", run_once, student, rig, cfg.fusion)
    except InspectError as exc:
        print(f"model inspect: {exc}", file=sys.stderr)
        return 1
    vocab = student.tokenizer.vocab_size if student.tokenizer else None
    info = {
        "name": manifest.name,
        "version": manifest.version,
        "sha256": manifest.sha256,
        "inputs": {k: {"dtype": d, "shape": list(s)} for k, (d, s) in expected_inputs(manifest).items()},
        "outputs": {k: {"dtype": d, "shape": list(s)} for k, (d, s) in expected_outputs(manifest, vocab).items()},
        "cameras": [
            {
                "camera": c.camera,
                "history": c.history,
                "colour_order": c.image.colour_order,
                "fov_deg": c.fov_deg,
                "rate_hz": c.rate_hz,
                "dtype": c.dtype,
                "rig": {
                    "width": rig[c.camera].width,
                    "height": rig[c.camera].height,
                    "hfov_deg": rig[c.camera].hfov_deg,
                    "rate_hz": rig[c.camera].rate_hz,
                },
            }
            for c in manifest.cameras
        ],
        "nav_features": list(manifest.nav.features) if manifest.nav else [],
        "ego_features": list(manifest.ego.features) if manifest.ego else [],
        "recurrent_state": [{"input": s.input, "output": s.output, "shape": list(s.shape)} for s in manifest.state],
        "trajectory": {"points": manifest.outputs.trajectory_points, "dt_s": manifest.outputs.dt_s},
        "tokenizer": manifest.tokenizer,
        "vocab_size": vocab,
        "latency_budget_ms": manifest.latency_budget_ms,
        "provenance": manifest.provenance,
        "run": run_info,
        "contract": "ok",
    }
    if args.json:
        print(json.dumps(info))
        return 0
    print(
        f"{manifest.name} {manifest.version}  (sha256 {manifest.sha256[:16]}…, contract ok: loads, preprocesses, "
        f"runs and decodes)"
    )
    for title in ("inputs", "outputs"):
        print(f"{title}:")
        for k, v in info[title].items():
            print(f"  {k:<20} {v['dtype']:<8} {v['shape']}")
    for key in (
        "cameras",
        "nav_features",
        "ego_features",
        "recurrent_state",
        "trajectory",
        "tokenizer",
        "vocab_size",
        "latency_budget_ms",
        "run",
        "provenance",
    ):
        print(f"{key}: {info[key]}")
    return 0


def run_once(student: Student, rig, fusion_params) -> dict:
    """One frame per camera through preprocessing, the fusion, the model and the decoding."""
    m = student.manifest
    fusion = Fusion([c.camera for c in m.cameras], fusion_params)
    route = curved_route()
    fusion.set_route(route, 0.0)
    stamp_s = 1.0
    fusion.add_odometry(odometry_along(route, stamp_s, 5.0), stamp_s)
    for c in m.cameras:
        spec = rig[c.camera]
        frame = CameraFrame(c.camera, stamp_s, "rgb8", road_image(spec.width, spec.height), spec.width, spec.height)
        reason = fusion.add_frame(frame, stamp_s)
        if reason:
            raise InspectError(f"fusion refused camera '{c.camera}': {reason}")
        try:
            Preprocessor(c.image).process(frame, student.slot(c.camera))
        except (PreprocessError, ValueError) as exc:
            raise InspectError(
                f"preprocess camera '{c.camera}' ({spec.width}x{spec.height} rgb8 frame): {exc}"
            ) from None
    obs = fusion.observe(stamp_s)
    if obs is None:
        raise InspectError(f"fusion: no observation ({fusion.waiting_for})")
    for c in m.cameras:
        student.commit(c.camera)
    try:
        out = student.run(obs)
    except Exception as exc:  # onnxruntime's own errors: name them, do not crash
        raise InspectError(f"session.run: {type(exc).__name__}: {exc}") from None
    problems = []
    if not np.isfinite(out.trajectory_ego_xy_m).all():
        problems.append("trajectory is not finite")
    if out.speed_profile_mps is not None and not np.isfinite(out.speed_profile_mps).all():
        problems.append("speed profile is not finite")
    if not (math.isfinite(out.confidence) and 0.0 <= out.confidence <= 1.0):
        problems.append(f"confidence {out.confidence} is not in [0, 1]")
    vocab = student.tokenizer.vocab_size if student.tokenizer else None
    bad = [i for i in out.reasoning_token_ids if vocab is not None and not 0 <= i < vocab]
    if bad:
        problems.append(f"reasoning token id(s) {bad[:5]} outside the vocabulary of {vocab}")
    if problems:
        raise InspectError("decode: " + "; ".join(problems))
    return {
        "latency_ms": round(student.last_latency_s * 1e3, 3),
        "confidence": round(out.confidence, 4),
        "reasoning": out.reasoning_text,
        "trajectory_end_m": [round(float(v), 2) for v in out.trajectory_ego_xy_m[-1]],
    }
