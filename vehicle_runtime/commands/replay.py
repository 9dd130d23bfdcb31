"""`vehicle-runtime replay BAG... [--model DIR | --bundle FILE] [--config DIR] [--baseline ...] [--thresholds FILE]`:
recorded drives fed to a build, differences per topic, and the gate (exit 1 when a threshold is exceeded)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="replay recorded bags through a build; diff and gate its outputs")
    p.add_argument("bags", nargs="+", type=Path, metavar="BAG", help="rosbag2 folders (drive --record, record)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", type=Path, help="candidate model folder (default: the config's model)")
    src.add_argument("--bundle", type=Path, help="candidate bundle file (its config/ and models/)")
    p.add_argument("--config", type=Path, help="candidate config folder (default: the installed config/)")
    p.add_argument(
        "--baseline",
        metavar="BAG_OR_BUILD",
        default="recorded",
        help="'recorded' (the bag's own outputs, default), a bag of the baseline's outputs, a model "
        "folder or a bundle file",
    )
    p.add_argument("--baseline-config", type=Path, help="config folder of a baseline build")
    p.add_argument("--thresholds", type=Path, help="YAML of gate thresholds (docs/record_replay.md); gate mode")
    p.add_argument("--mapping", type=Path, help="YAML topic mapping for bags recorded by another stack")
    p.add_argument("--report", type=Path, help="write the HTML report here")
    p.add_argument(
        "--save-outputs",
        type=Path,
        metavar="DIR",
        help="write the candidate's outputs as DIR/<bag name> (a later --baseline)",
    )
    p.add_argument("--json", action="store_true", help="last line: the verdict as one JSON object")
    p.set_defaults(run=run)


def _baseline(args):
    from ..record.reader import is_bag
    from ..record.replay import load_build

    b = args.baseline
    if b == "recorded" and args.baseline_config is None:
        return "recorded"
    if b != "recorded" and is_bag(Path(b)):
        if len(args.bags) > 1:
            raise ValueError("a baseline bag holds the outputs of one drive: give one BAG with it")
        return Path(b)
    path = None if b == "recorded" else Path(b)
    if path is not None and not path.exists():
        raise ValueError(f"baseline {path} does not exist")
    if path is not None and path.is_file():
        return load_build(bundle=path, config=args.baseline_config, label="baseline")
    return load_build(model=path, config=args.baseline_config, label="baseline")


def run(args) -> int:
    from ..bundle.signing import BundleError
    from ..config import ConfigError
    from ..record import gate, mapping, report
    from ..record.replay import load_build
    from ..record.writer import BagError
    from ..student.manifest import ManifestError

    try:
        candidate = load_build(args.model, args.bundle, args.config)
        baseline = _baseline(args)
        thresholds = gate.load_thresholds(args.thresholds)
        topic_map = mapping.load(args.mapping)
        runs: list = []
        verdict = gate.replay_verdict(
            args.bags, candidate, baseline, thresholds, topic_map, keep_runs=runs, save_outputs=args.save_outputs
        )
    except (
        BagError,
        BundleError,
        ConfigError,
        ManifestError,
        mapping.MappingError,
        gate.ThresholdError,
        ValueError,
        FileNotFoundError,
    ) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    if args.report:
        verdict["report"] = str(report.write(args.report, verdict, runs))
    for result in verdict["bags"]:
        d = result["differences"]
        tr = d["/policy/trajectory"]
        cmd = d["/vehicle/command"]
        print(
            f"{result['bag']}: {result['replay_speed_x_realtime']:.1f}x real time, trajectory max "
            f"{tr['max_m']:.4f} m (p99 {tr['p99_m']:.4f}), steer max {cmd['steer_max_rad']:.5f} rad, accel max "
            f"{cmd['accel_max_mps2']:.4f} m/s², reasoning agreement "
            f"{d['/policy/reasoning']['token_agreement_mean']:.3f}, safety transitions "
            f"+{len(d['/vehicle/safety_transition']['added'])}/-{len(d['/vehicle/safety_transition']['missing'])}"
        )
        for f in result["failures"]:
            print(f"  FAIL {f}")
    gated = args.thresholds is not None or args.baseline != "recorded" or args.baseline_config is not None
    print(
        ("PASS" if verdict["pass"] else "FAIL") + ("" if gated else " (no gate: --baseline / --thresholds not given)")
    )
    if args.json:
        print(json.dumps(verdict))
    return 1 if gated and not verdict["pass"] else 0
