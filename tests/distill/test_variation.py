"""Seeded scenario variations: seed 0 is the file as written, others differ within the stated ranges."""

import pytest

from sim_bridge.embedded import variation as v
from sim_bridge.embedded.scenario import available, load_scenario


@pytest.mark.parametrize("name", available())
def test_seed_zero_is_the_nominal_scenario(name):
    s = load_scenario(name)
    assert v.vary(s, 0) is s


@pytest.mark.parametrize("name", ["lead_braking", "cut_in", "lane_change"])
def test_a_seed_is_deterministic_and_differs_from_other_seeds(name):
    s = load_scenario(name)
    a, b, c = v.vary(s, 7), v.vary(s, 7), v.vary(s, 8)
    varied = lambda x: (x.ego, x.actors, x.camera, x.target_speed_mps)  # noqa: E731
    assert varied(a) == varied(b)
    assert a.ego != c.ego and a.actors != c.actors
    assert s.actors == load_scenario(name).actors  # the nominal scenario is never modified in place


def test_values_stay_inside_the_ranges():
    s = load_scenario("lead_braking")
    lead0 = s.actors[0]
    for seed in range(1, 60):
        x = v.vary(s, seed)
        lead = x.actors[0]
        assert lead0["s_m"] + v.VEHICLE_S_M[0] - 1e-9 <= lead["s_m"] <= lead0["s_m"] + v.VEHICLE_S_M[1] + 1e-9
        scale = lead["speed_mps"] / lead0["speed_mps"]
        assert v.VEHICLE_SPEED_SCALE[0] - 1e-9 <= scale <= v.VEHICLE_SPEED_SCALE[1] + 1e-9
        times = [k[0] for k in lead["speed_profile"]]
        assert times == sorted(times) and times[0] == 0.0
        assert abs(x.target_speed_mps - s.target_speed_mps) <= 1.0
        assert v.BRIGHTNESS_SCALE[0] <= x.camera["brightness"] <= v.BRIGHTNESS_SCALE[1]
    cut = load_scenario("cut_in")
    for seed in range(1, 30):
        change = v.vary(cut, seed).actors[0]["lane_change"]
        assert v.LANE_CHANGE_DURATION_S[0] <= change["duration_s"] <= v.LANE_CHANGE_DURATION_S[1]
        assert change["t_s"] >= 1.0
