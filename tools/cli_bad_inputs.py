"""Tries the public CLI with bad inputs, as a careless user would, and classifies each outcome:
clear (non-zero exit, at most two stderr lines, no traceback), traceback, silent (exit 0) or hang.

    python tools/cli_bad_inputs.py [--json]      # last line with --json: one JSON object
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]


def fixtures(tmp: Path) -> dict:
    f = {"dir": tmp / "adir", "file": tmp / "afile.txt", "missing": tmp / "missing" / "x"}
    f["dir"].mkdir()
    f["file"].write_text("hello\n")
    bad_yaml = tmp / "badyaml"
    shutil.copytree(ROOT / "config", bad_yaml)
    (bad_yaml / "fusion.param.yaml").write_text("/**:\n  ros__parameters: [unclosed\n")
    f["bad_yaml"] = bad_yaml
    bad_dbc = tmp / "baddbc"
    shutil.copytree(ROOT / "config", bad_dbc)
    p = bad_dbc / "vehicle_interface.param.yaml"
    p.write_text(p.read_text().replace('dbc_path: ""', 'dbc_path: "/nonexistent/x.dbc"'))
    f["bad_dbc"] = bad_dbc
    notonnx = tmp / "notonnx"
    shutil.copytree(ROOT / "models" / "distilled_student", notonnx)
    for m in notonnx.glob("*.onnx"):
        m.write_bytes(b"this is not onnx")
    f["notonnx"] = notonnx
    notok = tmp / "notok"
    shutil.copytree(ROOT / "models" / "distilled_student", notok)
    man = json.loads((notok / "manifest.json").read_text())
    if man.get("tokenizer"):
        (notok / man["tokenizer"]).unlink(missing_ok=True)
    f["notok"] = notok
    sc = tmp / "neg_lane.yaml"
    sc.write_text("name: neg\nduration_s: 5\nlanes:\n  - {id: a, start: [0, 0], heading_deg: 0, length_m: -50}\n")
    f["neg_scenario"] = sc
    return f


def cases(f: dict) -> list:
    d, fl, miss = str(f["dir"]), str(f["file"]), str(f["missing"])
    drive = ["drive", "--policy", "expert", "--scenario", "lead_braking"]
    return [
        drive + ["--duration", "-5"],
        drive + ["--duration", "0"],
        drive + ["--duration", "nan"],
        drive + ["--duration", "inf"],
        drive + ["--duration", "abc"],
        drive + ["--seed", "-1"],
        drive + ["--duration", "3", "--inject", "camera_stall@500"],
        drive + ["--duration", "1", "--can-log", miss + ".asc"],
        drive + ["--duration", "1", "--can-log", str(f["dir"] / "bus.xyz")],
        drive + ["--duration", "1", "--out", fl],
        drive + ["--duration", "1", "--can-log", d],
        ["drive", "--model", d, "--duration", "1"],
        ["drive", "--model", fl, "--duration", "1"],
        ["drive", "--scenario", d],
        ["drive", "--scenario", fl],
        ["drive", "--scenario", str(f["neg_scenario"]), "--policy", "expert"],
        drive + ["--inject", "camera_stall@nan"],
        drive + ["--inject", "camera_stall"],
        ["eval", "--seeds", "-1", "--scenarios", "lead_braking", "--policy", "expert"],
        ["eval", "--workers", "0", "--scenarios", "lead_braking"],
        ["eval", "--workers", "-3"],
        ["eval", "--model", d, "--scenarios", "lead_braking", "--seeds", "1", "--workers", "1"],
        ["eval", "--seeds", "a,b"],
        ["eval", "--scenarios", "atlantis"],
        ["sim", "--duration", "-1", "--can-interface", "virtual"],
        ["sim", "--duration", "nan", "--can-interface", "virtual"],
        ["sim", "--can-interface", "bogus", "--duration", "1"],
        ["sim", "--camera-size", "abc", "--duration", "1"],
        ["sim", "--camera-size", "0x0", "--duration", "1", "--can-interface", "virtual"],
        ["sim", "--seed", "-4"],
        ["up", "--config", d],
        ["up", "--config", fl],
        ["up", "--can-interface", "bogus"],
        ["up", "--model", d],
        ["request", "engage", "--timeout", "nan"],
        ["request", "engage", "--timeout", "-1"],
        ["request", "engage", "--timeout", "inf"],
        ["selftest", "--config", str(f["bad_dbc"]), "--frames", "2"],
        ["selftest", "--config", str(f["bad_yaml"])],
        ["selftest", "--config", d],
        ["selftest", "--config", fl],
        ["selftest", "--config", miss],
        ["selftest", "--model", str(f["notonnx"]), "--frames", "2"],
        ["selftest", "--model", d],
        ["selftest", "--frames", "0"],
        ["selftest", "--frames", "-5"],
        ["selftest", "--frames", "nan"],
        ["model", "inspect", str(f["notok"])],
        ["model", "inspect", d],
        ["model", "inspect", fl],
        ["model", "inspect", miss],
        ["model", "inspect", str(f["notonnx"])],
        ["bundle", "keygen", "--private", miss, "--public", miss + ".pub"],
        ["bundle", "keygen", "--private", d, "--public", d],
        ["bundle", "status", "--root", fl],
        ["bundle", "status", "--root", miss],
        ["bundle", "verify", fl, "--key", fl, "--hardware-id", "x"],
        ["bundle", "verify", d, "--key", d, "--hardware-id", "x"],
        ["healthcheck", "--root", miss],
        ["healthcheck", "--root", d, "--runs", "0"],
        ["carla-bridge", "--carla-port", "99999"],
        ["carla-bridge", "--carla-port", "-1"],
        ["carla-bridge", "--carla-timeout", "nan"],
        ["carla-bridge", "--duration", "-1"],
        ["carla-bridge", "--carla-params", d],
        ["drive", "--sim", "carla", "--carla-port", "0"],
    ]


def classify(r) -> str:
    if r is None:
        return "hang"
    if "Traceback" in r.stderr:
        return "traceback"
    if r.returncode == 0:
        return "silent"
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    return "clear" if 1 <= len(lines) <= 2 else "unclear"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        f = fixtures(Path(tmp))
        out: Dict[str, List[str]] = {}  # verdict → the command lines that got it
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for argv in cases(f):
            try:
                r = subprocess.run(
                    [sys.executable, "-m", "vehicle_runtime.cli", *argv],
                    capture_output=True,
                    text=True,
                    timeout=90,
                    cwd=tmp,
                    env=env,
                )
            except subprocess.TimeoutExpired:
                r = None
            kind = classify(r)
            out.setdefault(kind, []).append(" ".join(argv).replace(tmp, "$TMP"))
            last = (r.stderr.strip().splitlines() or [""])[-1][:160] if r else "(timeout)"
            print(
                f"{kind:<10} {' '.join(argv).replace(tmp, '$TMP')}\n           {last.replace(tmp, '$TMP')}", flush=True
            )
    counts = {k: len(v) for k, v in out.items()}
    print(f"total {sum(counts.values())}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if "--json" in sys.argv:
        print(json.dumps({"counts": counts, "cases": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
