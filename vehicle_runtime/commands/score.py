"""`vehicle-runtime score RUN_DIR`: re-score a recorded run offline with the validator's rules.

Reads RUN_DIR/trajectories.npz (every policy output of a drive, written beside summary.json),
replays it through a fresh trajectory validator with the current vehicle-interface parameters and
prints the penalty statistics (docs/safety.md, "Rule-based score"); the scored logs are what the
training side consumes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import cast


def add_parser(sub) -> None:
    p = sub.add_parser("score", help="re-score a recorded run's trajectories with the validator's rules")
    p.add_argument("run_dir", type=Path, help="a drive's output folder (with trajectories.npz)")
    p.add_argument("--config", type=Path, help="config folder (default: the package's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..config import ConfigError, load_runtime_config
    from ..validation import TrajectoryValidator, ValidatorParams
    from ..validation.score import RECORD_FILE, score_run

    record = args.run_dir / RECORD_FILE
    if not record.is_file():
        print(f"score: {record}: no such file (record a run with `vehicle-runtime drive`)", file=sys.stderr)
        return 1
    try:
        cfg = load_runtime_config(args.config)
        params = cast(ValidatorParams, cfg.validator)  # cast: load_runtime_config always sets it
        result = score_run(TrajectoryValidator(params), args.run_dir)
    except (ConfigError, OSError, ValueError, KeyError) as exc:
        print(f"score: {exc}", file=sys.stderr)
        return 1
    recorded = args.run_dir / "summary.json"
    if recorded.is_file():  # the online figures, to compare with
        online = json.loads(recorded.read_text()).get("rule_penalty", {})
        if online:
            result["online_penalty_mean"] = online.get("penalty_mean")
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['run']}: {result['penalty_count']} trajectories, rejected {result['rejected']}")
    for key in ("penalty_mean", "penalty_p95", "penalty_max"):
        v = result[key]
        print(f"  {key:<14} {'-' if v is None else f'{v:.4f}'}")
    for rule, v in result["penalty_mean_by_rule"].items():
        print(f"  {rule:<20} {v:.4f}")
    return 0
