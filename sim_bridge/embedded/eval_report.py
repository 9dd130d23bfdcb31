"""The evaluation's HTML report: one self-contained file (plots inline as PNG), for a release review."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"student": "tab:blue", "expert": "tab:orange"}
# boxplot's `vert` became `orientation` in matplotlib 3.10 (setup.py allows >= 3.7)
HORIZONTAL = (
    {"orientation": "horizontal"}
    if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10)
    else {"vert": False}
)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _ci(ci) -> str:
    return "-" if not ci else f"{ci[0]:.3f} … {ci[1]:.3f}"


def _distributions(rows: Sequence[dict]) -> str:
    drives = [r for r in rows if r["policy"] != "replay"]
    if not drives:
        return ""
    scenarios = sorted({r["scenario"] for r in drives})
    policies = sorted({r["policy"] for r in drives})
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(scenarios) + 3))
    for pol in policies:
        axes[0].hist(
            [r["driving_score"] for r in drives if r["policy"] == pol],
            bins=20,
            range=(0, 1),
            alpha=0.6,
            label=pol,
            color=COLOURS.get(pol),
        )
    axes[0].set(xlabel="driving score", ylabel="runs", title="driving score, all runs")
    axes[0].legend()
    width = 0.8 / max(1, len(policies))
    for i, pol in enumerate(policies):
        data = [
            [r["driving_score"] for r in drives if r["policy"] == pol and r["scenario"] == sc] or [float("nan")]
            for sc in scenarios
        ]
        pos = [k + i * width for k in range(len(scenarios))]
        axes[1].boxplot(
            data,
            positions=pos,
            widths=width * 0.9,
            patch_artist=True,
            **HORIZONTAL,
            boxprops={"facecolor": COLOURS.get(pol, "grey"), "alpha": 0.6},
        )
    axes[1].set_yticks([k + width * (len(policies) - 1) / 2 for k in range(len(scenarios))], scenarios)
    axes[1].set(xlabel="driving score", title="per scenario (" + ", ".join(policies) + ")")
    out = _png(fig) + _validation_distributions(drives, policies)
    teacher = {(r["scenario"], r["seed"]): r["driving_score"] for r in drives if r["policy"] == "expert"}
    diffs = [
        r["driving_score"] - teacher[(r["scenario"], r["seed"])]
        for r in drives
        if r["policy"] == "student" and (r["scenario"], r["seed"]) in teacher
    ]
    if diffs:
        fig, ax = plt.subplots(figsize=(6.5, 3))
        ax.hist(diffs, bins=30, color="tab:purple")
        ax.axvline(0, color="k", lw=0.8)
        ax.set(xlabel="student − teacher driving score (same scenario and seed)", ylabel="pairs")
        out += _png(fig)
    return out


def _num(v, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _validation(pol: str, per: dict, overall: dict) -> str:
    """The trajectory validator's and the rule score's statistics per scenario and overall, and refusals by rule."""
    if not overall.get("validator") and not overall.get("rule_score"):
        return ""
    table = []
    for sc, g in list(per.items()) + [("overall", overall)]:
        v, rs = g.get("validator") or {}, g.get("rule_score") or {}
        table.append(
            (
                sc,
                v.get("runs", "-"),
                f"{v.get('plans_rejected', '-')}/{v.get('plans_checked', '-')}",
                _num(v.get("rejected_share_mean")),
                _ci(v.get("rejected_share_ci95")),
                v.get("mrm_requests", "-"),
                _num(v.get("mrm_run_rate")),
                _ci(v.get("mrm_run_rate_ci95")),
                _num(rs.get("penalty_mean")),
                _ci(rs.get("penalty_mean_ci95")),
                _num(rs.get("penalty_max")),
            )
        )
    by_rule = (overall.get("validator") or {}).get("rejected_by_rule") or {}
    return (
        f"<h3>{html.escape(pol)}: trajectory validator and rule-based score</h3>"
        "<p>Share of plans refused per run (bootstrap 95 %), runs in which the validator asked for an MRM "
        "(Wilson 95 %), rule penalty per plan in [0, 1], 0 best (mean per run, bootstrap 95 %; worst plan).</p>"
        + _table(
            (
                "scenario",
                "runs",
                "plans refused",
                "refused share",
                "95 % CI",
                "MRM requests",
                "MRM run rate",
                "95 % CI",
                "rule penalty",
                "95 % CI",
                "worst plan",
            ),
            table,
        )
        + (_table(("refused by rule", "plans"), list(by_rule.items())) if by_rule else "")
    )


def _validation_distributions(drives: Sequence[dict], policies: Sequence[str]) -> str:
    have = [r for r in drives if r.get("rule_penalty_mean") is not None and r.get("validator_checked")]
    if not have:
        return ""
    fig, axes = plt.subplots(1, 2, figsize=(13, 3))
    for pol in policies:
        mine = [r for r in have if r["policy"] == pol]
        if not mine:
            continue
        axes[0].hist([r["rule_penalty_mean"] for r in mine], bins=20, alpha=0.6, label=pol, color=COLOURS.get(pol))
        shares = [r["validator_rejected"] / r["validator_checked"] for r in mine]
        axes[1].hist(shares, bins=20, range=(0, 1), alpha=0.6, label=pol, color=COLOURS.get(pol))
    axes[0].set(xlabel="rule penalty per plan, run mean (0 best)", ylabel="runs", title="rule-based score")
    axes[1].set(xlabel="share of plans refused by the validator", ylabel="runs", title="trajectory validator")
    axes[0].legend()
    return _png(fig)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(path: Path, result: dict, rows: Sequence[dict]) -> Path:
    stats = result["statistics"]
    path = Path(path)
    if path.suffix != ".html":
        path = path / "evaluation.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<h1>Evaluation of build {html.escape(result['build'])}</h1>",
        f"<p>{len(rows)} runs on {html.escape(result['cluster'])}; seeds {html.escape(_seeds(rows))}. "
        "Driving score: mean with a 95 % percentile-bootstrap interval; collision rate: share of runs with a "
        "collision, Wilson 95 % interval; paired differences on the same scenario and seed.</p>",
    ]
    for pol, per in stats["per_scenario"].items():
        table: List[tuple] = [
            (
                sc,
                g["runs"],
                f"{g['driving_score_mean']:.3f}",
                _ci(g["driving_score_ci95"]),
                f"{g['collision_rate']:.3f}",
                _ci(g["collision_rate_ci95"]),
                "-" if g["reasoning_token_accuracy"] is None else f"{g['reasoning_token_accuracy']:.3f}",
            )
            for sc, g in list(per.items()) + [("overall", stats["overall"][pol])]
        ]
        parts += [
            f"<h2>{html.escape(pol)}</h2>",
            _table(("scenario", "runs", "score", "95 % CI", "collision rate", "95 % CI", "token accuracy"), table),
        ]
        metrics = stats["overall"][pol].get("metrics", {})
        parts.append(
            _table(
                ("metric (all runs)", "mean", "95 % CI", "runs"),
                [(k, f"{m['mean']:.3f}", _ci(m["ci95"]), m["n"]) for k, m in metrics.items()],
            )
        )
        parts.append(_validation(pol, per, stats["overall"][pol]))
    for name, comp in stats["paired"].items():
        table = [
            (
                sc,
                p["pairs"],
                "-" if p["score_diff_mean"] is None else f"{p['score_diff_mean']:+.3f}",
                _ci(p["score_diff_ci95"]),
                "-" if p["collision_rate_diff"] is None else f"{p['collision_rate_diff']:+.3f}",
                _ci(p["collision_rate_diff_ci95"]),
                p["worse"],
                p["better"],
            )
            for sc, p in list(comp["per_scenario"].items()) + [("overall", comp["overall"])]
        ]
        parts += [
            f"<h2>{html.escape(name.replace('_', ' '))} (paired)</h2>",
            _table(
                ("scenario", "pairs", "score diff", "95 % CI", "collision rate diff", "95 % CI", "worse", "better"),
                table,
            ),
        ]
    if result.get("check_failures") is not None:
        parts += [
            "<h2>Check</h2>",
            "<p>"
            + ("passed" if not result["check_failures"] else "<br>".join(map(html.escape, result["check_failures"])))
            + "</p>",
        ]
    parts += ["<h2>Distributions</h2>", _distributions(rows)]
    for pol, worst in stats["worst"].items():
        cmds = result["rerun"].get(pol, [])
        table = [
            (
                w["scenario"],
                w["seed"],
                f"{w['driving_score']:.3f}",
                w["collisions"],
                _num(w.get("validator_rejected"), "d"),
                _num(w.get("rule_penalty_mean")),
                cmd,
            )
            for w, cmd in zip(worst, cmds)
        ]
        parts += [
            f"<h2>Worst {html.escape(pol)} runs</h2>",
            _table(
                (
                    "scenario",
                    "seed",
                    "score",
                    "collisions",
                    "plans refused",
                    "rule penalty",
                    "re-run locally with its report",
                ),
                table,
            ),
        ]
    if "replay" in stats:
        r = stats["replay"]
        parts += [
            "<h2>Recorded drives (replay)</h2>",
            f"<p>{r['passed']}/{r['drives']} passed (Wilson 95 % {_ci(r['pass_rate_ci95'])}); failed: "
            f"{html.escape(', '.join(r['failed']) or 'none')}</p>",
        ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}td:last-child{font-family:monospace}"
    )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>evaluation</title><style>{style}"
        f"</style></head><body>{''.join(parts)}</body></html>"
    )
    return path


def _seeds(rows: Sequence[dict]) -> str:
    seeds = sorted({r["seed"] for r in rows if r["policy"] != "replay"})
    if not seeds:
        return "-"
    return ", ".join(map(str, seeds)) if len(seeds) <= 12 else f"{seeds[0]}..{seeds[-1]} ({len(seeds)} seeds)"
