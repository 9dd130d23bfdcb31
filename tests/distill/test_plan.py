"""Which runs the distillation records: seeds per scenario, DAgger rounds, held-out seeds refused."""

import pytest

from tools.distill.plan import dagger_rounds, expert_runs, seed_range, seeds_for, student_runs


def test_seed_ranges_and_rounds():
    assert seed_range("1-3,7") == [1, 2, 3, 7]
    assert dagger_rounds("5-6/7-8") == [[5, 6], [7, 8]]
    assert dagger_rounds("") == []


@pytest.mark.parametrize("text", ["998-1000", "1000", "1-2/1001"])
def test_held_out_seeds_are_refused(text):
    with pytest.raises(SystemExit, match="held out"):
        dagger_rounds(text)


@pytest.mark.parametrize("text", ["5-x", "a", "3-1", "-2", "1-2/7-"])
def test_malformed_seed_ranges_are_refused_in_one_line(text):
    with pytest.raises(SystemExit, match="seed range .*: expected N or A-B"):
        dagger_rounds(text)


def test_focus_scenarios_get_more_seeds_and_never_held_out_ones():
    assert seeds_for("curvy_road", [1, 2], ["cut_in"], 3) == [1, 2]
    assert seeds_for("cut_in", [1, 2], ["cut_in"], 3) == [1, 2, 101, 102, 201, 202]
    with pytest.raises(SystemExit, match="held out"):
        seeds_for("cut_in", [900], ["cut_in"], 2)


def test_expert_runs_clean_and_noisy_on_odd_seeds_noisy_on_even():
    runs = expert_runs(["curvy_road", "cut_in"], [1, 2], ["cut_in"], 2)
    names = {r.name for r in runs}
    assert {"curvy_road-s1-expert-n0", "curvy_road-s1-expert-n1", "curvy_road-s2-expert-n1"} <= names
    assert "curvy_road-s2-expert-n0" not in names
    assert sum(r.scenario == "cut_in" for r in runs) == 2 * (2 + 1)  # seeds 1, 2, 101, 102
    assert len(names) == len(runs)  # no run recorded twice
    drives = student_runs(["cut_in"], [5], ["cut_in"], 2, "m")
    assert [(r.seed, r.driver, r.model) for r in drives] == [(5, "student", "m"), (105, "student", "m")]


def test_expert_runs_at_every_camera_size_dagger_runs_take_them_in_turn():
    sizes = ["", "640x360"]
    runs = expert_runs(["curvy_road"], [1, 2], [], 1, sizes)
    assert sorted((r.seed, r.noise, r.camera_size) for r in runs) == [
        (1, 0.0, ""),
        (1, 0.0, "640x360"),
        (1, 1.0, ""),
        (1, 1.0, "640x360"),
        (2, 1.0, ""),
        (2, 1.0, "640x360"),
    ]
    names = {r.name for r in runs}
    assert len(names) == len(runs)
    # the rig's own size keeps the names runs were cached under before sizes existed
    assert "curvy_road-s1-expert-n0" in names and "curvy_road-s1-expert-n0-c640x360" in names
    drives = student_runs(["cut_in"], [5, 6], ["cut_in"], 2, "m", sizes)
    assert [(r.seed, r.camera_size) for r in drives] == [(5, "640x360"), (6, ""), (105, "640x360"), (106, "")]


def test_one_in_n_focus_seed_copies_drives_among_dark_brake_lamps():
    """v16 learnt braking from the lamps alone (without them it hit the lead in 6 of 6 lead_braking runs):
    `--dark-lamps-every 3` records the focus scenarios' third seed copy among cars whose lamps never light."""
    runs = expert_runs(["lead_braking", "curvy_road"], [1, 2], ["lead_braking"], 3, [""], 3)
    dark = sorted((r.scenario, r.seed) for r in runs if not r.brake_lamps)
    assert dark == [("lead_braking", 201), ("lead_braking", 201), ("lead_braking", 202)]  # seed 201: clean + noisy
    assert all(r.brake_lamps for r in runs if r.scenario == "curvy_road")  # not a focus scenario
    assert {r.name for r in runs if not r.brake_lamps} == {
        "lead_braking-s201-expert-n0-dark",
        "lead_braking-s201-expert-n1-dark",
        "lead_braking-s202-expert-n1-dark",
    }
    # cached runs with lamps keep their names; 0 (the default) keeps every lamp working
    assert "lead_braking-s101-expert-n0" in {r.name for r in runs}
    assert all(r.brake_lamps for r in expert_runs(["lead_braking"], [1, 2], ["lead_braking"], 3, [""]))
    drives = student_runs(["lead_braking"], [5, 6], ["lead_braking"], 3, "m", ["", "640x360"], 3)
    assert [(r.seed, r.brake_lamps) for r in drives] == [
        (5, True),
        (6, True),
        (105, True),
        (106, True),
        (205, False),
        (206, False),
    ]
