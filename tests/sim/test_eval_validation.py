"""The trajectory validator's and the rule-based score's figures in an evaluation: each run's row, the
statistics per scenario and overall, the text summary, the HTML report and `--check` on them, with a
deliberately bad candidate (the shipped student with its plans moved 1.6 m sideways: the validator refuses
every plan) against the shipped student as the baseline; and results files written before these figures
existed still load."""

import json
from dataclasses import fields

import pytest

from model_factory import shifted_student
from sim_bridge.embedded.eval_fleet import load_thresholds
from sim_bridge.embedded.eval_results import ResultsFile
from sim_bridge.embedded.eval_stats import check, statistics, validate_thresholds
from sim_bridge.embedded.evaluation import EvalRun
from vehicle_runtime.cli import main

VALIDATION_FIELDS = [f.name for f in fields(EvalRun) if f.name.startswith(("validator_", "rule_penalty_"))]


def _eval(tmp_path, results, *extra):
    return main(
        [
            "eval",
            "--scenarios",
            "cut_in",
            "--seeds",
            "1000-1001",
            "--policy",
            "student",
            "--workers",
            "1",
            "--duration",
            "2",  # past the validator's hold_max_s: a model that is never valid is asked to stop
            "--results",
            str(results),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """The shipped student's rows (the baseline build)."""
    tmp = tmp_path_factory.mktemp("good")
    assert _eval(tmp, tmp / "good.jsonl") == 0
    return tmp / "good.jsonl"


def test_a_candidate_whose_plans_the_validator_refuses_shows_it_and_fails_the_check(tmp_path, good, capsys):
    model = shifted_student(tmp_path / "shifted", 1.6)
    results, report, th = tmp_path / "bad.jsonl", tmp_path / "report.html", tmp_path / "th.yaml"
    th.write_text("score_drop_max: 1.0\nrejected_share_increase_max: 0.0\nrule_penalty_increase_max: 0.0\n")
    code = _eval(
        tmp_path, results, "--model", str(model), "--baseline", str(good), "--check", str(th), "--report", str(report)
    )
    captured = capsys.readouterr()
    assert code == 1, captured.err
    rows = [json.loads(ln) for ln in results.read_text().splitlines()]
    base = [json.loads(ln) for ln in good.read_text().splitlines()]
    assert len(rows) == len(base) == 2
    for r in rows:  # every plan refused, for the offset the model adds
        assert r["validator_checked"] > 0 and r["validator_rejected"] == r["validator_checked"]
        assert r["validator_rejected_by_rule"]["position_deviation"] == r["validator_checked"]
        assert r["validator_mrm_requests"] >= 1 and 0 < r["rule_penalty_mean"] <= r["rule_penalty_max"] <= 1
    for r in base:  # the shipped student on the same seeds: nothing refused
        assert r["validator_checked"] > 0 and r["validator_rejected"] == 0 and r["validator_mrm_requests"] == 0
    text = captured.out
    assert "refused by rule: position_deviation ×" in text
    overall_line = next(ln for ln in text.splitlines() if ln.strip().startswith("overall") and "refused" in ln)
    checked = sum(r["validator_checked"] for r in rows)
    assert f"refused {checked}/{checked} plans" in overall_line and overall_line.split()[1] == "1.000"
    assert "plans refused share +1.000 vs baseline (95 % CI +1.000..+1.000) is above +0.0" in captured.err
    assert "rule penalty +" in captured.err and "driving score" not in captured.err
    page = report.read_text()
    assert "trajectory validator and rule-based score" in page and "position_deviation" in page
    assert page.count("data:image/png;base64") == 2  # driving score; rule score and refused share (no teacher)


def test_statistics_per_scenario_and_overall_from_the_rows(tmp_path, good):
    model = shifted_student(tmp_path / "shifted", 1.6)
    results = tmp_path / "bad.jsonl"
    assert _eval(tmp_path, results, "--model", str(model)) == 0
    rows = list(ResultsFile(results))
    stats = statistics(rows, list(ResultsFile(good)))
    for group in (stats["overall"]["student"], stats["per_scenario"]["student"]["cut_in"]):
        v, rs = group["validator"], group["rule_score"]
        assert v["runs"] == 2 and v["plans_rejected"] == v["plans_checked"] == sum(r["validator_checked"] for r in rows)
        assert v["rejected_share_mean"] == 1.0 and v["rejected_share_ci95"] == (1.0, 1.0)
        assert v["mrm_runs"] == 2 and v["mrm_run_rate"] == 1.0 and v["mrm_run_rate_ci95"][0] > 0.3  # Wilson, n = 2
        assert v["rejected_by_rule"]["position_deviation"] == v["plans_checked"]
        means = sorted(r["rule_penalty_mean"] for r in rows)
        assert rs["penalty_mean"] == pytest.approx(sum(means) / 2) and rs["penalty_mean_ci95"] == (means[0], means[1])
        assert rs["penalty_max"] == max(r["rule_penalty_max"] for r in rows)
    p = stats["paired"]["candidate_vs_baseline"]["overall"]
    assert p["pairs"] == 2 and p["rejected_share_diff"] == 1.0 and p["rule_penalty_diff"] > 0
    assert "validator_rejected" not in stats["overall"]["student"]["metrics"]  # its own statistic, not a metric
    # gating on the candidate's own figures (no baseline needed for these)
    assert any("plans refused share 1.000" in f for f in check(stats, {"rejected_share_max": 0.1}))
    assert any("validator MRM run rate 1.000 (Wilson" in f for f in check(stats, {"validator_mrm_rate_max": 0.2}))
    assert check(stats, {"rejected_share_max": 1.0, "validator_mrm_rate_max": 1.0, "score_drop_max": 1.0}) == []


def test_rows_from_before_the_validator_figures_still_load(tmp_path, good, capsys):
    """An old results file (rows without the new fields) resumes, is summarised, and its runs are left out of the
    validator's statistics rather than counted as 'nothing refused'."""
    rows = [json.loads(ln) for ln in good.read_text().splitlines()]
    old = tmp_path / "old.jsonl"
    old_row = {k: v for k, v in rows[0].items() if k not in VALIDATION_FIELDS}
    old.write_text(json.dumps(old_row) + "\n" + json.dumps(rows[1]) + "\n")
    assert _eval(tmp_path, old, "--json") == 0  # every key is there: nothing runs
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(old.read_text().splitlines()) == 2
    student = out["statistics"]["overall"]["student"]
    assert student["runs"] == 2 and student["validator"]["runs"] == 1 and student["rule_score"]["runs"] == 1
    assert [r["validator_checked"] for r in out["runs"]] == [None, rows[1]["validator_checked"]]
    only_old = statistics([dict(old_row, key="x")])["overall"]["student"]
    assert only_old["validator"] is None and only_old["rule_score"] is None


def test_thresholds_of_the_wrong_kind_are_refused_before_anything_runs(tmp_path):
    th = tmp_path / "th.yaml"
    for text, words in (
        ("rule_penalty_increase_max: lots\n", "rule_penalty_increase_max: 'lots' is not a number"),
        ("per_scenario: 3\n", "per_scenario: 3 is not true or false"),
        ("compare: teacher\n", "compare: 'teacher' is not one of"),
        ("validator_mrm_rate: 0.1\n", "unknown threshold(s) ['validator_mrm_rate']"),
    ):
        th.write_text(text)
        with pytest.raises(ValueError, match=f"^--check {th}: ") as err:
            load_thresholds(th)
        assert words in str(err.value) and "\n" not in str(err.value)
    assert validate_thresholds({"rejected_share_max": None})["rejected_share_max"] is None  # null: off
