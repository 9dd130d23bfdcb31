"""The rule-based score: a drive records every policy output; `vehicle-runtime score RUN_DIR --json`
re-scores it offline with exactly the figures the drive computed online."""

import json

from sim_bridge.embedded.drive import DriveOptions, run_drive
from sim_bridge.embedded.report import write_report
from vehicle_runtime.cli import main
from vehicle_runtime.validation.score import RECORD_FILE, load_outputs


def test_offline_score_matches_the_drive(tmp_path, capsys):
    r = run_drive(DriveOptions(scenario="curvy_road", policy="expert", duration_s=4.0, inject=[("swerve", 2.0)]))
    summary = {"scenario": r.scenario}
    write_report(r, tmp_path, summary)
    online = json.loads((tmp_path / "summary.json").read_text())
    assert online["validator_rejected"] > 0 and online["validator_checked"] == len(r.policy_record)
    assert online["rule_penalty"]["penalty_count"] == len(r.policy_record)
    outs, speeds = load_outputs(tmp_path / RECORD_FILE)
    assert len(outs) == len(r.policy_record) and outs[5].stamp_s == r.policy_record[5][0].stamp_s
    assert main(["score", str(tmp_path), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("penalty_count", "penalty_mean", "penalty_p95", "penalty_max"):
        assert offline[key] == online["rule_penalty"][key], key
    assert offline["rejected"] == online["validator_rejected"]
    assert offline["rejected_by_rule"] == online["validator_rejected_by_rule"]
    assert offline["penalty_max"] > 0.05  # the swerved plans cost


def test_score_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["score", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "trajectories.npz: no such file" in err and "\n" not in err
