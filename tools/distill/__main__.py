"""Distil the embedded simulator's privileged expert into the camera student, in one command:

    pip install -e '.[train]'
    python -m tools.distill --out models/distilled_student [--seed 0] [--train-seeds 1-3]
        [--dagger-seeds 5-6/7-8/9-10/11-12] [--extra-camera-sizes 640x360] [--dark-lamps-every 0]

1. collect: the expert drives every scenario on the training seeds, clean and with DART noise; the focus
   scenarios (lead vehicles) on --focus-factor times as many seeds;
2. train the student (behaviour cloning);
3. DAgger, one round per '/'-separated seed list: the student drives, the expert labels what it saw;
   retrain on everything;
4. export ONNX + manifest + vocabulary into --out, with the data sizes, seeds and losses as provenance.
Recorded runs are cached in --data (a run is not driven twice). Evaluation seeds (`vehicle-runtime eval`,
1000 and up) are never used here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch

from sim_bridge.embedded.renderer import RENDERER_VERSION
from sim_bridge.embedded.scenario import available
from vehicle_runtime.cli_types import int_range, size_wxh

from . import spec
from .data import load_runs, recording_seconds
from .export import export
from .net import StudentNet
from .plan import dagger_rounds, expert_runs, seed_range, student_runs
from .record import RunSpec, record, stale_runs
from .train import fit, token_accuracy


def _camera_sizes(text: str) -> List[str]:
    """'640x360,960x540' -> ['640x360', '960x540']; '' -> none."""
    sizes = [size_wxh(part) for part in text.split(",") if part.strip()]
    return list(dict.fromkeys(f"{w}x{h}" for w, h in sizes))


def collect(runs: Sequence[RunSpec], data_dir: Path, workers: int) -> List[Path]:
    stale = stale_runs(list(runs), data_dir)
    if stale:
        raise SystemExit(
            f"{data_dir}: {len(stale)} cached run(s) (e.g. {stale[0].name}) were drawn or preprocessed otherwise "
            f"than this recipe's images (renderer {RENDERER_VERSION}, {spec.IMAGE.interpolation} interpolation, "
            f"{spec.IMAGE.width}x{spec.IMAGE.height}); record into another --data folder"
        )
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(record, runs, [data_dir] * len(runs)))
    print(f"collected {len(runs)} runs in {time.monotonic() - t0:.0f} s", flush=True)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.distill", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("models/distilled_student"))
    p.add_argument("--data", type=Path, default=Path("runs/distill_data"))
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    p.add_argument("--train-seeds", default="1-3")
    p.add_argument(
        "--dagger-seeds",
        default="5-6/7-8/9-10/11-12",
        help="seeds of each DAgger round, rounds separated by '/'; empty: no DAgger",
    )
    p.add_argument("--scenarios", default=",".join(available()))
    p.add_argument(
        "--focus",
        default="lead_braking,cut_in,lane_change",
        help="scenarios recorded on --focus-factor times as many seeds (s, s+100, ...)",
    )
    p.add_argument("--focus-factor", type=int_range(1, 100, "focus factor"), default=3)
    p.add_argument(
        "--focus-only-from-round",
        type=int,
        default=3,
        help="DAgger rounds from this one drive only the focus scenarios (0: every round drives all)",
    )
    p.add_argument(
        "--extra-camera-sizes",
        type=_camera_sizes,
        default="640x360",
        help="front camera sizes (WxH) the expert's runs are also rendered at, besides the rig's own; DAgger "
        "runs take the rig's size and these in turn by seed ('': the rig's size only). A student trained at one "
        "resolution drives worse at another",
    )
    p.add_argument(
        "--dark-lamps-every",
        type=int_range(0, 100, "dark lamps every"),
        default=0,
        help="one in N of a focus scenario's seed copies drives among cars whose brake lamps never light, so the "
        "student also reads braking from the lead's growth (0: lamps always work)",
    )
    p.add_argument("--epochs", type=int_range(1, 1000, "epochs"), default=8)
    p.add_argument("--dagger-epochs", type=int_range(1, 1000, "DAgger epochs"), default=3)
    p.add_argument("--workers", type=int_range(1, 256, "workers"), default=os.cpu_count() or 1)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.monotonic()
    scenarios = a.scenarios.split(",")
    focus = [f for f in a.focus.split(",") if f]
    train_seeds, rounds = seed_range(a.train_seeds), dagger_rounds(a.dagger_seeds)
    sizes = ["", *a.extra_camera_sizes]
    dark = a.dark_lamps_every
    paths = collect(expert_runs(scenarios, train_seeds, focus, a.focus_factor, sizes, dark), a.data, a.workers)
    ts = load_runs(paths)
    net = StudentNet(ts.vocab, ts.templates)
    torch.manual_seed(a.seed)
    stats = {"bc": fit(net, ts, a.epochs, a.seed)}
    for k, seeds in enumerate(rounds, start=1):
        staging = a.data / f"student-round{k}-seed{a.seed}"
        export(net, ts.vocab, staging, {"stage": f"DAgger round {k}"})
        driven = focus if a.focus_only_from_round and k >= a.focus_only_from_round and focus else scenarios
        runs = student_runs(driven, seeds, focus, a.focus_factor, str(staging), sizes, dark)
        for r in runs:  # a new student makes cached runs it drove stale
            (a.data / f"{r.name}.npz").unlink(missing_ok=True)
        paths += collect(runs, a.data, a.workers)
        ts = load_runs(paths, loaded=ts)
        stats[f"dagger{k}"] = fit(net, ts, a.dagger_epochs, a.seed + k, lr=1e-3)
    rng = np.random.default_rng(a.seed)
    sample = rng.choice(len(ts), size=min(4000, len(ts)), replace=False)
    provenance = {
        "teacher": "sim_bridge.embedded.expert (privileged: ground-truth actors and route)",
        "tool": "python -m tools.distill " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": a.seed,
        "train_seeds": train_seeds,
        "dagger_rounds": rounds,
        "focus": focus,
        "focus_factor": a.focus_factor,
        "focus_only_from_round": a.focus_only_from_round,
        "scenarios": scenarios,
        "camera_sizes": ["rig", *a.extra_camera_sizes],
        "dark_lamps_every": dark,
        "frames": len(ts),
        "runs": len(paths),
        "recording_s": round(recording_seconds(paths), 1),
        "train_token_accuracy": round(token_accuracy(net, ts, sample), 4),
        "losses": stats,
        "wall_s": round(time.monotonic() - t0, 1),
        "torch": torch.__version__,
    }
    export(net, ts.vocab, a.out, provenance)
    size_mb = sum(f.stat().st_size for f in a.out.iterdir()) / 1e6
    summary = {"out": str(a.out), "frames": len(ts), "size_mb": round(size_mb, 2), **provenance}
    print(json.dumps(summary) if a.json else json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
