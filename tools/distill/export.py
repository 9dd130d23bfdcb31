"""StudentNet → model.onnx + manifest.json + vocab.txt in the runtime's model contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import onnx
import torch

from vehicle_runtime.student.manifest import load_manifest, sha256_of

from . import spec
from .net import ExportWrapper, StudentNet

OPSET = 17


def export(net: StudentNet, vocab: List[str], out_dir: Path, provenance: dict, version: str = "1.0.0") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.onnx"
    image = torch.zeros(1, spec.HISTORY, spec.IMAGE.channels, spec.IMAGE.height, spec.IMAGE.width)
    nav = torch.zeros(1, 9 + 2 * spec.ROUTE_POINTS)
    ego = torch.zeros(1, len(spec.EGO_FEATURES))
    net.eval()
    torch.onnx.export(
        ExportWrapper(net),
        (image, nav, ego),
        str(model_path),
        opset_version=OPSET,
        dynamo=False,
        input_names=["image_front", "nav", "ego"],
        output_names=["trajectory", "speed", "reasoning_ids", "confidence"],
    )
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model)
    model.producer_name = "vehicle_runtime tools/distill"
    onnx.save(model, str(model_path))
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    manifest = {
        "name": "distilled_student",
        "version": version,
        "model_file": "model.onnx",
        "sha256": sha256_of(model_path),
        "opset": OPSET,
        "cameras": [
            {
                "camera": spec.CAMERA,
                "input": "image_front",
                "history": spec.HISTORY,
                "fov_deg": spec.FOV_DEG,
                "rate_hz": spec.RATE_HZ,
                "image": {
                    "width": spec.IMAGE.width,
                    "height": spec.IMAGE.height,
                    "colour_order": spec.IMAGE.colour_order,
                    "crop": {"top": spec.IMAGE.crop_top, "bottom": spec.IMAGE.crop_bottom},
                    "interpolation": spec.IMAGE.interpolation,
                    "scale": spec.IMAGE.scale,
                    "mean": [0.0, 0.0, 0.0],
                    "std": [1.0, 1.0, 1.0],
                },
            }
        ],
        "nav": {
            "input": "nav",
            "features": list(spec.NAV_FEATURES),
            "route_points": spec.ROUTE_POINTS,
            "route_spacing_m": spec.ROUTE_SPACING_M,
        },
        "ego": {"input": "ego", "features": list(spec.EGO_FEATURES)},
        "outputs": {
            "trajectory": {"name": "trajectory", "points": spec.POINTS, "dt_s": spec.DT_S},
            "speed_profile": {"name": "speed"},
            "reasoning": {"name": "reasoning_ids", "kind": "token_ids", "max_tokens": spec.MAX_TOKENS},
            "confidence": {"name": "confidence"},
        },
        "tokenizer": "vocab.txt",
        "latency_budget_ms": 10.0,
        "provenance": provenance,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    load_manifest(out_dir)  # the runtime's own validation
    return out_dir
