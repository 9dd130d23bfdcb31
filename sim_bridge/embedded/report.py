"""The run report: one self-contained HTML page (figures embedded as PNG) plus summary.json.

Top-down trajectory over the lanes, speed / steering / acceleration against time, the safety-state
timeline, the reasoning texts on a timeline, a latency histogram and a strip of camera frames.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vehicle_runtime.validation.score import RECORD_FILE, penalty, run_figures, save_outputs  # noqa: E402

STATES = ["DISENGAGED", "READY", "ENGAGED", "MRM", "STOPPED", "FAULT"]


def validation_summary(result, record) -> dict:
    return run_figures(getattr(result, "validator_status", None) or {}, (v for _, _, v in record))


def write_report(result, out_dir: Path, summary: dict) -> Path:
    """Also adds the validator's counters and the rule-penalty statistics to `summary`, and writes
    every policy output to trajectories.npz for `vehicle-runtime score`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record = getattr(result, "policy_record", None) or []
    summary.update(validation_summary(result, record))
    save_outputs(out_dir / RECORD_FILE, [o for o, _, _ in record], [v for _, v, _ in record])
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    figures = [
        ("Top-down: trajectory over the lanes", _top_down(result)),
        ("Speed, steering and acceleration", _signals(result)),
        ("Safety state and reasoning", _timeline(result)),
        ("Trajectory validator: rule penalty per trajectory", _penalty(record)),
        ("Latency", _latency(result)),
    ]
    strip = "".join(
        f'<figure><img src="data:image/png;base64,{_png(img)}"><figcaption>t = {t:.1f} s</figcaption></figure>'
        for t, img in result.snapshots
    )
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in summary.items()
        if not isinstance(v, (dict, list))
    )
    reasons = _reason_changes(result.reasoning)
    reason_rows = "".join(f"<tr><td>{t:.2f} s</td><td>{html.escape(text)}</td></tr>" for t, text in reasons)
    transitions = "".join(
        f"<tr><td>{t.stamp_s:.2f} s</td><td>{t.before.name} → {t.after.name}</td><td>{html.escape(t.reason)}</td></tr>"
        for t in result.transitions
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>drive: {html.escape(result.scenario)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}} figure{{display:inline-block;margin:4px}}
img{{max-width:100%}} .strip img{{width:320px}} h2{{margin-top:1.5em}}</style></head><body>
<h1>{html.escape(result.scenario)} — driven by the {html.escape(result.policy)}</h1>
<table>{rows}</table>
{"".join(f'<h2>{html.escape(title)}</h2><img src="data:image/png;base64,{png}">' for title, png in figures)}
<h2>Safety transitions</h2><table><tr><th>time</th><th>transition</th><th>reason</th></tr>{transitions}</table>
<h2>Reasoning (each change)</h2><table><tr><th>time</th><th>text</th></tr>{reason_rows}</table>
<h2>Camera frames</h2><div class="strip">{strip}</div>
</body></html>"""
    path = out_dir / "report.html"
    path.write_text(body)
    return path


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _reason_changes(reasoning, ignore_numbers: bool = False):
    """(time, text) whenever the text changes; optionally only when more than a number changes."""
    out, last = [], None
    for t, text in reasoning:
        key = "".join(c for c in text if not c.isdigit()) if ignore_numbers else text
        if key != last:
            out.append((t, text))
            last = key
    return out


def _fig_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _png(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return base64.b64encode(buf.tobytes()).decode()


def _top_down(result) -> str:
    fig, ax = plt.subplots(figsize=(9, 7))
    world = result.world
    if world is not None:
        for lane in world.scenario.network.lanes.values():
            left, right = lane.boundaries()
            ax.fill(
                np.concatenate((left[:, 0], right[::-1, 0])),
                np.concatenate((left[:, 1], right[::-1, 1])),
                color="#d0d0d0",
                lw=0,
            )
            ax.plot(left[:, 0], left[:, 1], color="#888", lw=0.5)
            ax.plot(right[:, 0], right[:, 1], color="#888", lw=0.5)
    r = world.route.points_xy_m if world is not None else result.route_xy_m
    ax.plot(r[:, 0], r[:, 1], "--", color="#2a7", lw=1, label="route")
    tl = result.timeline
    sc = ax.scatter(tl["x"], tl["y"], c=tl["speed"], s=4, cmap="viridis", label="ego (colour: speed m/s)")
    fig.colorbar(sc, ax=ax, label="speed m/s")
    for a in world.actor_states if world is not None else ():
        ax.plot(a.x_m, a.y_m, "s", color="#c33" if a.kind == "vehicle" else "#e90", ms=6)
    ax.set_aspect("equal")
    ax.set_xlabel("x m")
    ax.set_ylabel("y m")
    ax.legend(loc="best")
    return _fig_png(fig)


def _signals(result) -> str:
    tl = result.timeline
    fig, axes = plt.subplots(3, 1, figsize=(11, 7), sharex=True)
    axes[0].plot(tl["t"], tl["speed"], label="speed")
    axes[0].set_ylabel("m/s")
    axes[1].plot(tl["t"], tl["steer"], label="road-wheel angle")
    axes[1].plot(tl["t"], tl["steer_cmd"], "--", label="applied command")
    axes[1].set_ylabel("rad")
    axes[2].plot(tl["t"], tl["accel"], label="acceleration")
    axes[2].plot(tl["t"], tl["accel_cmd"], "--", label="gate command")
    axes[2].set_ylabel("m/s²")
    axes[2].set_xlabel("time s")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")
    return _fig_png(fig)


def _timeline(result) -> str:
    tl = result.timeline
    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.step(tl["t"], [STATES.index(s) for s in tl["state"]], where="post")
    ax.set_yticks(range(len(STATES)), STATES)
    for t, text in _reason_changes(result.reasoning, ignore_numbers=True)[:40]:
        ax.axvline(t, color="#bbb", lw=0.5)
        ax.text(t, 5.3, text, rotation=30, fontsize=6, va="bottom")
    for name, t in result.injected:
        ax.axvline(t, color="red", lw=1)
        ax.text(t, -0.6, f"inject {name}", color="red", fontsize=7)
    ax.set_xlabel("time s")
    ax.set_ylim(-1, 9)
    return _fig_png(fig)


def _penalty(record) -> str:
    fig, ax = plt.subplots(figsize=(11, 3))
    pts = [(o.stamp_s, penalty(v.ratios), v.valid) for o, _, v in record if v is not None]
    if pts:
        t, p, ok = (np.array(x) for x in zip(*pts))
        ax.plot(t, p, lw=1, label="penalty (0 best, 1 worst)")
        ax.scatter(t[~ok], p[~ok], color="red", s=12, label="rejected by the validator", zorder=3)
        ax.legend(loc="upper right")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("observation stamp s")
    ax.grid(alpha=0.3)
    return _fig_png(fig)


def _latency(result) -> str:
    fig, ax = plt.subplots(figsize=(8, 3))
    if result.e2e_latency_ms:
        ax.hist(result.e2e_latency_ms, bins=40)
        ax.set_xlabel("camera frame → CAN command latency, ms (real time)")
    else:
        stats = result.latency_ms
        names = list(stats)
        ax.barh(names, [stats[n]["p50_ms"] for n in names], label="p50")
        ax.barh(
            names,
            [stats[n]["p99_ms"] - stats[n]["p50_ms"] for n in names],
            left=[stats[n]["p50_ms"] for n in names],
            alpha=0.5,
            label="p99",
        )
        ax.set_xlabel("stage latency ms (lockstep: compute time per call)")
        ax.legend()
    return _fig_png(fig)
