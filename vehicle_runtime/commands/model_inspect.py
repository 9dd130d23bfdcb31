"""`vehicle-runtime model inspect PATH`: print a model's contract and check it against the graph."""
from __future__ import annotations

import json
import sys

from ..student import ManifestError, Student, load_manifest
from ..student.contract import expected_inputs, expected_outputs
from ..student.session import ProviderError, SessionConfig


def add_parser(sub) -> None:
    model = sub.add_parser("model", help="model tools")
    msub = model.add_subparsers(dest="model_command", required=True)
    p = msub.add_parser("inspect", help="print the contract of a model folder and validate it")
    p.add_argument("path", help="model folder (with manifest.json) or manifest.json")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    try:
        manifest = load_manifest(args.path)
        student = Student(manifest, SessionConfig(providers=("CPUExecutionProvider",), io_binding=False))
    except (ManifestError, ProviderError, ValueError) as exc:
        print(f"model inspect: {exc}", file=sys.stderr)
        return 1
    vocab = student.tokenizer.vocab_size if student.tokenizer else None
    info = {
        "name": manifest.name, "version": manifest.version, "sha256": manifest.sha256,
        "inputs": {k: {"dtype": d, "shape": list(s)} for k, (d, s) in expected_inputs(manifest).items()},
        "outputs": {k: {"dtype": d, "shape": list(s)} for k, (d, s) in expected_outputs(manifest, vocab).items()},
        "cameras": [{"camera": c.camera, "history": c.history, "colour_order": c.image.colour_order,
                     "fov_deg": c.fov_deg} for c in manifest.cameras],
        "nav_features": list(manifest.nav.features) if manifest.nav else [],
        "ego_features": list(manifest.ego.features) if manifest.ego else [],
        "recurrent_state": [{"input": s.input, "output": s.output, "shape": list(s.shape)} for s in manifest.state],
        "trajectory": {"points": manifest.outputs.trajectory_points, "dt_s": manifest.outputs.dt_s},
        "tokenizer": manifest.tokenizer, "vocab_size": vocab,
        "latency_budget_ms": manifest.latency_budget_ms, "provenance": manifest.provenance,
        "contract": "ok",
    }
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{manifest.name} {manifest.version}  (sha256 {manifest.sha256[:16]}…, contract ok)")
    for title in ("inputs", "outputs"):
        print(f"{title}:")
        for k, v in info[title].items():
            print(f"  {k:<20} {v['dtype']:<8} {v['shape']}")
    for key in ("cameras", "nav_features", "ego_features", "recurrent_state", "trajectory", "tokenizer",
                "vocab_size", "latency_budget_ms", "provenance"):
        print(f"{key}: {info[key]}")
    return 0
