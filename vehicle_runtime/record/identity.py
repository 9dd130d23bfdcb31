"""The identity of the build that made a bag (or that replay runs): stored as the bag's custom_data in
metadata.yaml and as an MCAP metadata record, so `ros2 bag info`, Foxglove and replay all show it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Optional

from .. import __version__


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_sha256(model_dir: Path) -> str:
    """Of the ONNX file(s) of a model folder (or of the file itself)."""
    model_dir = Path(model_dir)
    files = [model_dir] if model_dir.is_file() else sorted(model_dir.glob("*.onnx"))
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def config_hash(config_dir: Path) -> str:
    """sha256 over every file of the config folder (relative name, then content), in name order."""
    h = hashlib.sha256()
    root = Path(config_dir)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def build_identity(cfg, model_path: Optional[Path] = None, bundle_version: Optional[str] = None) -> Dict[str, str]:
    model = Path(model_path or cfg.model_path)
    return {
        "bundle_version": bundle_version or os.environ.get("VEHICLE_RUNTIME_BUNDLE_VERSION", "unbundled"),
        "model": model.name,
        "model_sha256": model_sha256(model),
        "config_hash": config_hash(cfg.config_dir),
        "runtime_version": __version__,
    }
