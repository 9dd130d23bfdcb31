"""The gate's HTML report: for every bag, the verdict, the per-topic differences, time series of both
builds (steering and acceleration commands, the trajectory's end point, the trajectory distance) and
the camera frames at the largest trajectory differences. One self-contained file (PNG as data URIs)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import List, Sequence

import cv2
import numpy as np

from ..transport.cdr import deserialize
from . import reader
from .topics import COMPRESSED, GATE_TABLE, IMAGE

FRAMES_SHOWN = 3


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _plots(series: dict, base_label: str, cand_label: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    c, tr = series["command"], series["trajectory"]
    for ax, key, unit in (
        (axes[0], "steer_rad", "steering command [rad]"),
        (axes[1], "accel_mps2", "accel command [m/s²]"),
    ):
        ax.plot(c["t_s"], c["base_" + key], label=base_label, lw=1.2)
        ax.plot(c["t_s"], c["cand_" + key], label=cand_label, lw=1.0, ls="--")
        ax.set_ylabel(unit)
    axes[2].plot(tr["t_s"], tr["base_end_y_m"], label=base_label, lw=1.2)
    axes[2].plot(tr["t_s"], tr["cand_end_y_m"], label=cand_label, lw=1.0, ls="--")
    axes[2].set_ylabel("trajectory end, lateral [m]")
    axes[3].plot(tr["t_s"], tr["distance_m"], color="tab:red", lw=1.0)
    axes[3].set_ylabel("trajectory distance [m]")
    axes[3].ticklabel_format(axis="y", useOffset=False)
    axes[3].set_xlabel("time [s]")
    axes[0].legend(loc="upper right", fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    out = _png(fig)
    plt.close(fig)
    return out


def _frames_at(bag: Path, times_ns: Sequence[int]) -> List[tuple]:
    """(t, png base64) of the newest camera frame at or before each time."""
    wanted, found = sorted(set(times_ns)), {}
    cams = [t for t, ty in reader.info(bag).topics.items() if ty in (IMAGE, COMPRESSED) and t.startswith("/camera/")]
    last = None
    i = 0
    for _topic, typename, t, raw in reader.raw_messages(bag, cams[:1]):
        while i < len(wanted) and wanted[i] < t:
            if last is not None:
                found[wanted[i]] = last
            i += 1
        last = (typename, raw)
        if i == len(wanted):
            break
    for w in wanted[i:]:
        if last is not None:
            found[w] = last
    out = []
    for w in times_ns:
        if w not in found:
            continue
        typename, raw = found[w]
        m = deserialize(typename, raw)
        if typename == COMPRESSED:
            decoded = cv2.imdecode(np.frombuffer(m.data, np.uint8), cv2.IMREAD_COLOR)
            if decoded is None:  # a corrupt image in the bag: no thumbnail for it
                continue
            img = decoded
        else:
            ch = 1 if m.encoding == "mono8" else 3
            img = (
                np.frombuffer(m.data, np.uint8)
                .reshape(m.height, m.step)[:, : m.width * ch]
                .reshape(m.height, m.width, ch)
            )
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if m.encoding == "rgb8" else img
        img = cv2.resize(img, (480, int(480 * img.shape[0] / img.shape[1])), interpolation=cv2.INTER_AREA)
        out.append((w, base64.b64encode(cv2.imencode(".png", img)[1].tobytes()).decode()))
    return out


def write(path: Path, verdict: dict, runs: list) -> Path:
    """`runs`: (bag, candidate run, baseline outputs, series, baseline label) per bag (gate.replay_verdict)."""
    esc = html.escape
    parts = [
        "<html><head><meta charset='utf-8'><title>replay gate</title></head><body style='font-family:sans-serif'>",
        f"<h1>Replay gate: {'PASS' if verdict['pass'] else 'FAIL'}</h1>",
        f"<p>candidate: "
        f"{esc(verdict['candidate'])}<br><code>{esc(json.dumps(verdict['candidate_identity']))}</code></p>",
        f"<p>thresholds: <code>{esc(json.dumps(verdict['thresholds']))}</code></p>",
        "<table border=1 cellpadding=3><tr><th>topic</th><th>compared</th><th>ignored</th><th>thresholds</th></tr>"
        + "".join(f"<tr>{''.join(f'<td>{esc(c)}</td>' for c in row)}</tr>" for row in GATE_TABLE)
        + "</table>",
    ]
    for result, (bag, run, _base, series, label) in zip(verdict["bags"], runs):
        parts.append(
            f"<h2>{esc(str(bag))}</h2><p>baseline: {esc(label)}; replayed {run.sim_time_s:.2f} s in "
            f"{run.wall_time_s:.2f} s ({run.speed_x_realtime:.1f}× real time)</p>"
        )
        fails = result["failures"]
        parts.append(
            "<p style='color:green'>no threshold exceeded</p>"
            if not fails
            else "<ul style='color:#b00'>" + "".join(f"<li>{esc(f)}</li>" for f in fails) + "</ul>"
        )
        parts.append(f"<pre>{esc(json.dumps(result['differences'], indent=1))}</pre>")
        parts.append(f"<img src='data:image/png;base64,{_plots(series, label, run.build)}'>")
        tr = series["trajectory"]
        order = np.argsort(np.asarray(tr["distance_m"], float))[::-1][:FRAMES_SHOWN]
        worst = [(int(round(tr["t_s"][i] * 1e9)), tr["distance_m"][i]) for i in order if tr["distance_m"][i] > 0]
        if worst:
            parts.append("<h3>Camera at the largest trajectory differences</h3><div>")
            dist = dict(worst)
            for t, png in _frames_at(Path(bag), [t for t, _ in worst]):
                parts.append(
                    f"<figure style='display:inline-block'><img src='data:image/png;base64,{png}'>"
                    f"<figcaption>t = {t / 1e9:.2f} s, distance {dist[t]:.3f} m</figcaption></figure>"
                )
            parts.append("</div>")
    parts.append("</body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path
