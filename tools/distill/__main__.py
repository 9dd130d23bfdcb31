"""Distil the embedded simulator's privileged expert into the camera student, in one command:

    pip install -e '.[train]'
    python -m tools.distill --out models/distilled_student [--seed 0] [--train-seeds 1-3] [--dagger-seeds 5-6]

1. collect: the expert drives every scenario on the training seeds, clean and with DART noise;
2. train the student (behaviour cloning);
3. DAgger: the student drives the DAgger seeds, the expert labels what it saw; retrain on everything;
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

from sim_bridge.embedded.scenario import available

from .data import load_runs
from .export import export
from .net import StudentNet
from .record import RunSpec, record
from .train import fit, token_accuracy

EVAL_SEEDS_FROM = 1000


def seed_range(text: str) -> List[int]:
    out: List[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    if any(s >= EVAL_SEEDS_FROM for s in out):
        raise SystemExit(f"seeds from {EVAL_SEEDS_FROM} up are held out for evaluation")
    return out


def collect(runs: Sequence[RunSpec], data_dir: Path, workers: int) -> List[Path]:
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(record, runs, [data_dir] * len(runs)))
    print(f"collected {len(runs)} runs in {time.monotonic() - t0:.0f} s", flush=True)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.distill", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("models/distilled_student"))
    p.add_argument("--data", type=Path, default=Path("runs/distill_data"))
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    p.add_argument("--train-seeds", default="1-3")
    p.add_argument("--dagger-seeds", default="5-6", help="empty: no DAgger round")
    p.add_argument("--scenarios", default=",".join(available()))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--dagger-epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.monotonic()
    scenarios = a.scenarios.split(",")
    train_seeds = seed_range(a.train_seeds)
    expert_runs = [RunSpec(sc, s, "expert", noise) for s in train_seeds for sc in scenarios
                   for noise in ((0.0, 1.0) if s % 2 else (1.0,))]
    paths = collect(expert_runs, a.data, a.workers)
    ts = load_runs(paths)
    net = StudentNet(len(ts.vocab))
    torch.manual_seed(a.seed)
    stats = {"bc": fit(net, ts, a.epochs, a.seed)}
    if a.dagger_seeds:
        staging = a.data / f"student-round1-seed{a.seed}"
        export(net, ts.vocab, staging, {"stage": "DAgger round 1"})
        dagger_runs = [RunSpec(sc, s, "student", 0.0, str(staging)) for s in seed_range(a.dagger_seeds) for sc in scenarios]
        # a new round-1 model makes the cached DAgger runs stale
        for r in dagger_runs:
            (a.data / f"{r.name}.npz").unlink(missing_ok=True)
        paths += collect(dagger_runs, a.data, a.workers)
        ts = load_runs(paths, ts.vocab)
        stats["dagger"] = fit(net, ts, a.dagger_epochs, a.seed + 1, lr=1e-3)
    rng = np.random.default_rng(a.seed)
    sample = rng.choice(len(ts), size=min(4000, len(ts)), replace=False)
    provenance = {
        "teacher": "sim_bridge.embedded.expert (privileged: ground-truth actors and route)",
        "tool": "python -m tools.distill " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": a.seed, "train_seeds": train_seeds, "dagger_seeds": seed_range(a.dagger_seeds) if a.dagger_seeds else [],
        "scenarios": scenarios, "frames": len(ts), "runs": len(paths),
        "train_token_accuracy": round(token_accuracy(net, ts, sample), 4),
        "losses": stats, "wall_s": round(time.monotonic() - t0, 1), "torch": torch.__version__,
    }
    export(net, ts.vocab, a.out, provenance)
    size_mb = sum(f.stat().st_size for f in a.out.iterdir()) / 1e6
    summary = {"out": str(a.out), "frames": len(ts), "size_mb": round(size_mb, 2), **provenance}
    print(json.dumps(summary) if a.json else json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
