"""Training loop (behaviour cloning on the expert's labels), on the CPU."""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from sim_bridge.embedded.evaluation import token_hits

from . import spec
from .data import TrainingSet
from .net import StudentNet

LEAD_AUX_M = 60.0  # the phrases name a lead up to 45 m


def batch(ts: TrainingSet, idx: np.ndarray, rng: Optional[np.random.Generator] = None):
    """The model inputs of frames `idx`: patches of the history's frames the student reads, centred on 0."""
    (gh, gw), b = spec.PATCH_GRID, len(idx)
    used = spec.FRAMES_USED
    frames = np.empty((b, gh, gw, len(used), spec.FRAME_PATCH), np.uint8)  # oldest first, as FrameHistory
    for j, k in enumerate(used):
        frames[:, :, :, j] = ts.image[ts.back(idx, spec.HISTORY - 1 - k)]
    patches = torch.from_numpy(frames).reshape(b, gh, gw, -1).to(torch.float32)
    # in place: scale to [0, 1] with exposure changes (shadows, dusk) the scenarios only partly cover, centre
    gain = rng.uniform(0.6, 1.25, size=b) if rng is not None else np.ones(b)
    patches.mul_(torch.from_numpy((gain / 255.0).astype(np.float32)).reshape(-1, 1, 1, 1))
    if rng is not None:
        patches.clamp_(max=1.0)
    patches.sub_(0.5)
    t = lambda a: torch.from_numpy(a[idx])  # noqa: E731
    labels = (t(ts.trajectory), t(ts.speed), t(ts.template), t(ts.number), t(ts.lead_gap_m), t(ts.lead_speed_mps))
    return (patches, t(ts.nav), t(ts.ego), *labels)


def loss_terms(net: StudentNet, b):
    """L1 on speeds and path; cross-entropy on the phrase; L1 on its number in units of its rounding step;
    L1 on the lead's exact gap (in 5 m) and relative speed (in m/s) where there is a lead within LEAD_AUX_M."""
    patches, nav, ego, traj, speed, template, number, lead_gap, lead_speed = b
    h = net.embed(patches, nav, ego)
    p_traj, p_speed, template_logits, numbers = net.heads(h, nav, ego)
    speed_l1 = (p_speed - speed).abs().mean()
    traj_l1 = (p_traj - traj).abs().mean()
    ce = nn.functional.cross_entropy(template_logits, template, ignore_index=-1)
    known = template >= 0
    step = net.slot_step[template.clamp(min=0)]
    has = known & (step > 0) & torch.isfinite(number)
    predicted = torch.where(step > 1.0, numbers[:, 1], numbers[:, 0])
    error = ((predicted - torch.nan_to_num(number)) / step.clamp(min=1.0)).abs()
    number_l1 = (error * has).sum() / has.sum().clamp(min=1)
    lead = net.lead(h)
    seen = torch.isfinite(lead_gap) & (lead_gap < LEAD_AUX_M)
    lead_error = (lead[:, 0] - torch.nan_to_num(lead_gap)).abs() / 5.0
    lead_error = lead_error + (lead[:, 1] - (torch.nan_to_num(lead_speed) - ego[:, 0])).abs()
    lead_l1 = (lead_error * seen).sum() / seen.sum().clamp(min=1)
    return speed_l1, traj_l1, ce + number_l1 + 0.5 * lead_l1


def fit(
    net: StudentNet,
    ts: TrainingSet,
    epochs: int,
    seed: int,
    lr: float = 2e-3,
    batch_size: int = 128,
    log: Callable[[str], None] = partial(print, flush=True),
) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4, fused=True)  # one kernel per step on the CPU
    steps = epochs * (len(ts) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
    net.train()
    t0, last = time.monotonic(), {}
    for epoch in range(epochs):
        order = rng.permutation(len(ts))
        sums = np.zeros(3)
        n = 0
        for start in range(0, len(order) - batch_size + 1, batch_size):
            speed_l1, traj_l1, ce = loss_terms(net, batch(ts, order[start : start + batch_size], rng))
            loss = speed_l1 + 0.5 * traj_l1 + 0.5 * ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sums += (speed_l1.item(), traj_l1.item(), ce.item())
            n += 1
        last = dict(zip(("speed_l1_mps", "trajectory_l1_m", "reasoning_loss"), (sums / max(n, 1)).round(4).tolist()))
        log(f"epoch {epoch + 1}/{epochs}  {last}  {time.monotonic() - t0:.0f} s")
    net.eval()
    return {**last, "train_s": time.monotonic() - t0, "samples": len(ts), "epochs": epochs}


@torch.no_grad()
def token_accuracy(net: StudentNet, ts: TrainingSet, idx: np.ndarray) -> float:
    """Fraction of the expert's tokens (up to and including <eos>) predicted at the same position."""
    eos = ts.vocab.index("<eos>")
    hits = total = 0
    for start in range(0, len(idx), 256):
        b = batch(ts, idx[start : start + 256])
        _, _, template_logits, numbers = net.forward_patches(b[0], b[1], b[2])
        ids = net.reasoning_ids(template_logits, numbers)
        for p, w in zip(ids.tolist(), ts.tokens[idx[start : start + 256]].tolist()):
            h, n = token_hits(p, w[: w.index(eos) + 1])
            hits += h
            total += n
    return hits / max(total, 1)
