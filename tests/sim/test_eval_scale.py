"""Evaluation at scale without Ray: seed ranges, the scenario grid, the resumable results file, the
statistics and their check, the re-run command, on the real embedded simulator (short runs)."""

import json
import math
import shlex
import sys

import pytest
import yaml

from sim_bridge.embedded.eval_grid import Job, apply_overrides, parse_grid, parse_seeds, plan
from sim_bridge.embedded.eval_results import ResultsFile
from sim_bridge.embedded.eval_run import execute
from sim_bridge.embedded.eval_stats import bootstrap_ci, check, paired, statistics, wilson_ci
from sim_bridge.embedded.eval_tasks import pack_build
from sim_bridge.embedded.scenario import SCENARIO_DIR
from vehicle_runtime.cli import main

DURATION_S = 1.0


def test_seed_ranges_and_their_errors():
    assert parse_seeds("0-3,10,2") == [0, 1, 2, 3, 10]
    assert len(parse_seeds("0-9999")) == 10_000
    for bad, words in (("5-2", "ascending"), ("a-b", "not an integer"), ("", "no seeds"), ("0-99999999", "more than")):
        with pytest.raises(ValueError, match=words):
            parse_seeds(bad)


def test_grid_is_every_combination_and_overrides_the_yaml():
    grid = parse_grid(["target_speed_mps=8,10", "camera.noise_std=0,4"])
    assert len(grid) == 4 and (("camera.noise_std", 4), ("target_speed_mps", 10)) in grid
    raw = yaml.safe_load((SCENARIO_DIR / "cut_in.yaml").read_text())
    out = apply_overrides(raw, (("actors.*.speed_mps", 7.5), ("camera.noise_std", 4), ("target_speed_mps", 9)))
    assert out["target_speed_mps"] == 9 and out["camera"]["noise_std"] == 4
    assert all(a["speed_mps"] == 7.5 for a in out["actors"] if "speed_mps" in a) and raw["target_speed_mps"] != 9
    with pytest.raises(ValueError, match="has no 'ego.nonsense'"):
        apply_overrides(raw, (("ego.nonsense", 1),))
    with pytest.raises(ValueError, match="PATH=V1,V2"):
        parse_grid(["target_speed_mps"])
    jobs = plan(["cut_in"], [1, 2], ["student", "expert"], grid)
    assert len(jobs) == 16 and len({j.key for j in jobs}) == 16
    assert jobs[0].seed == 1 and jobs[-1].seed == 2  # seeds outermost: a stopped run has whole seeds


def test_wilson_and_bootstrap_intervals():
    lo, hi = wilson_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)  # the textbook value
    lo, hi = wilson_ci(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert bootstrap_ci([1.0]) is None and bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    x = [0.0, 1.0] * 200  # mean 0.5, standard error 0.025: the 95 % interval is about ±0.049
    lo, hi = bootstrap_ci(x)
    assert lo < 0.5 < hi and math.isclose(hi - lo, 2 * 1.96 * 0.025, rel_tol=0.15)


def _rows(scores, policy, collisions=()):
    return [
        {
            "key": f"s|{i}|{policy}",
            "scenario": "s",
            "seed": i,
            "policy": policy,
            "driving_score": v,
            "collisions": int(i in collisions),
        }
        for i, v in enumerate(scores)
    ]


def test_check_fails_only_when_worse_with_significance():
    base = _rows([0.9, 0.8, 1.0, 0.7] * 10, "expert")
    same = _rows([0.9, 0.8, 1.0, 0.7] * 10, "student")
    noisy = _rows([0.85, 0.85, 0.95, 0.75] * 10, "student")  # lower on some seeds, higher on others
    worse = _rows([0.8, 0.7, 0.9, 0.6] * 10, "student", collisions={3, 7, 11, 15, 19, 23})
    assert check(statistics(same + base), {}) == []
    for r in same:  # a per-run score the drive may add (a validator's, a rule-based one) gets its interval too
        r["rule_score"] = 0.5 + 0.1 * (r["seed"] % 2)
    m = statistics(same)["overall"]["student"]["metrics"]["rule_score"]
    assert m["mean"] == pytest.approx(0.55) and m["ci95"][0] < 0.55 < m["ci95"][1] and m["n"] == 40
    assert paired(noisy, base)["worse"] > 0 and check(statistics(noisy + base), {}) == []
    fails = check(statistics(worse + base), {})
    assert any("driving score -0.100" in f for f in fails) and any("collision rate +0.150" in f for f in fails)
    assert check(statistics(worse + base), {"score_drop_max": 0.2, "collision_rate_increase_max": 0.5}) == []
    with pytest.raises(ValueError, match="unknown threshold"):
        check(statistics(same + base), {"score_drop": 0.1})


@pytest.fixture(scope="module")
def blob():
    return pack_build()


def test_resume_runs_only_what_is_missing_and_counts_each_run_once(tmp_path, blob):
    jobs = plan(["cut_in", "lead_braking"], [1000, 1001], ["expert"], duration_s=DURATION_S)
    path = tmp_path / "results.jsonl"
    first = execute(jobs[:2], blob, ResultsFile(path), progress=False)  # interrupted after two runs
    before = path.read_text()
    with open(path, "a") as fh:
        fh.write('{"key": "lead_braking|1001|exp')  # torn by a kill mid-write
    ran = []
    rows = execute(jobs, blob, ResultsFile(path), progress=False, on_result=lambda r: ran.append(r["key"]))
    assert ran == [j.key for j in jobs[2:]]
    assert sorted(r["key"] for r in rows) == sorted(j.key for j in jobs)
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    assert path.read_text().startswith(before) and len(lines) == len(jobs) == len({r["key"] for r in lines})
    assert first == lines[:2]
    rf = ResultsFile(path)
    assert rf.add(dict(lines[0], driving_score=-1.0)) is False  # a late retry of a counted run
    rf.close()
    assert path.read_text().count(lines[0]["key"]) == 1
    with pytest.raises(
        ValueError,
        match=r"holds cut_in\|1000\|expert from build .* with duration 1.0, not build .* "
        r"with duration 2.0: give another --results file",
    ):
        execute(plan(["cut_in"], [1000], ["expert"], duration_s=2.0), blob, ResultsFile(path), progress=False)


def test_cli_grid_report_check_and_a_rerun_that_reproduces_its_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results, report = tmp_path / "r.jsonl", tmp_path / "report.html"
    common = [
        "eval",
        "--scenarios",
        "lead_braking",
        "--seeds",
        "1000-1001",
        "--policy",
        "both",
        "--workers",
        "1",
        "--duration",
        str(DURATION_S),
        "--grid",
        "target_speed_mps=9",
        "--results",
        str(results),
    ]
    assert main(common + ["--report", str(report), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stats = out["statistics"]
    assert stats["overall"]["student"]["runs"] == 2 and stats["paired"]["student_vs_teacher"]["overall"]["pairs"] == 2
    html = report.read_text()
    assert "data:image/png;base64" in html and "lead_braking[target_speed_mps=9]" in html
    # the baseline build: the same runs, a whole 0.3 better -> the candidate is significantly worse
    rows = [json.loads(ln) for ln in results.read_text().splitlines()]
    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text("".join(json.dumps(dict(r, driving_score=r["driving_score"] + 0.3)) + "\n" for r in rows))
    th = tmp_path / "th.yaml"
    th.write_text("score_drop_max: 0.05\nper_scenario: false\n")
    assert main(common + ["--baseline", str(baseline), "--check", str(th)]) == 1  # all runs come from the file
    assert "worse than the baseline: overall: driving score -0.300" in capsys.readouterr().err
    assert main(common + ["--baseline", str(results), "--check", str(th)]) == 0
    th.write_text("score_drop: 0.05\n")
    assert main(common + ["--check", str(th)]) == 2
    assert "unknown threshold(s) ['score_drop']" in capsys.readouterr().err
    # the worst student run, driven again by its one-line command, gives the same score
    worst = stats["worst"]["student"][0]
    cmd = shlex.split(out["rerun"]["student"][0])
    assert cmd[:2] == ["vehicle-runtime", "drive"] and "--out" in cmd
    assert main(cmd[1:] + ["--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["driving_score"] == worst["driving_score"]
    assert (tmp_path / cmd[cmd.index("--out") + 1] / "report.html").is_file()


def test_cli_refuses_bad_input_in_one_line(capsys):
    assert main(["eval", "--seeds", "3-1"]) == 2
    assert main(["eval", "--grid", "nope", "--seeds", "1"]) == 2
    assert main(["eval", "--cluster", "pool", "--duration", "-1", "--seeds", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "ascending" in err[0] and "PATH=V1,V2" in err[1] and "> 0" in err[2]


def test_job_key_names_grid_point_seed_and_policy():
    assert Job("cut_in", 7, "student", (("target_speed_mps", 9),)).key == "cut_in[target_speed_mps=9]|7|student"


def test_a_recorded_drive_is_one_replay_task(tmp_path, blob, capsys):
    bag = tmp_path / "drive1"
    assert (
        main(
            [
                "drive",
                "--scenario",
                "cut_in",
                "--seed",
                "3",
                "--duration",
                "2",
                "--record",
                str(bag),
                "--out",
                str(tmp_path / "report"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    jobs = plan([], [], [], bags=[bag])
    assert [j.key for j in jobs] == [f"{bag}|0|replay"]
    (row,) = execute(jobs, blob, ResultsFile(None), progress=False)
    # the same build replays its own drive: identical outputs, the gate passes
    assert row["replay_pass"] is True and row["trajectory_max_m"] == 0.0 and row["sim_time_s"] >= 2.0
    stats = statistics([row])
    assert stats["replay"]["passed"] == 1 and stats["replay"]["pass_rate_ci95"][1] == 1.0


def test_without_ray_a_cluster_is_refused_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    assert main(["eval", "--cluster", "auto", "--seeds", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "eval: --cluster auto: Ray is not installed (pip install 'vehicle_runtime[ray]')"
    )
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert main(["eval", "--seeds", "1"]) == 2 and "Ray is not installed" in capsys.readouterr().err


def test_a_failing_run_stops_in_one_line_and_keeps_the_runs_before_it(tmp_path, capsys, monkeypatch):
    """A run that fails mid-evaluation (its scenario file checked at the start, broken by the time its run
    comes: the drive's loader is made to fail for it) stops the evaluation with the run's key."""
    import shutil

    from sim_bridge.embedded import drive
    from sim_bridge.embedded.scenario import SCENARIO_DIR, ScenarioError

    results = tmp_path / "r.jsonl"
    missing = tmp_path / "missing.yaml"
    shutil.copy(SCENARIO_DIR / "cut_in.yaml", missing)
    real = drive.load_scenario

    def broken_later(name):
        if str(name) == str(missing):
            raise ScenarioError(f"no scenario at {name} any more")
        return real(name)

    monkeypatch.setattr(drive, "load_scenario", broken_later)
    assert (
        main(
            [
                "eval",
                "--scenarios",
                f"cut_in,{missing}",
                "--seeds",
                "1",
                "--policy",
                "expert",
                "--workers",
                "1",
                "--duration",
                "0.5",
                "--results",
                str(results),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("eval: run missing|1|expert failed: ScenarioError: no scenario")
    assert [json.loads(ln)["key"] for ln in results.read_text().splitlines()] == ["cut_in|1|expert"]


def test_a_rerun_of_a_candidate_config_names_that_config_and_drive_loads_it(tmp_path, capsys, monkeypatch):
    """eval --config judges another config folder; the worst run's command must drive with the same folder."""
    import shutil

    from conftest import REPO

    monkeypatch.chdir(tmp_path)
    candidate = tmp_path / "candidate_config"
    shutil.copytree(REPO / "config", candidate)
    args = ["eval", "--scenarios", "curvy_road", "--seeds", "1000", "--policy", "student", "--workers", "1"]
    args += ["--duration", str(DURATION_S), "--config", str(candidate), "--results", str(tmp_path / "r.jsonl")]
    args += ["--model", str(REPO / "models" / "distilled_student")]  # the copy's model_path is relative to it
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cmd = shlex.split(out["rerun"]["student"][0])
    assert cmd[cmd.index("--config") + 1] == str(candidate)
    assert main(cmd[1:] + ["--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["driving_score"] == out["statistics"]["worst"]["student"][0]["driving_score"]
    # drive reads that folder, not the installed one: a broken value there is refused, naming the file
    vi = candidate / "vehicle_interface.param.yaml"
    vi.write_text(vi.read_text().replace("max_speed_mps: 25.0", "max_speed_mps: -25.0"))
    assert main(cmd[1:]) == 1
    assert "vehicle_interface.param.yaml" in capsys.readouterr().err
