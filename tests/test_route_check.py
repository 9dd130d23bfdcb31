"""The route watchdog's meaning: on the corridor and before the end, whatever the route's age."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vehicle_runtime.route_check import route_problem

STRAIGHT = np.array([[0.0, 0.0], [50.0, 0.0], [100.0, 0.0]])
BEND = np.array([[0.0, 0.0], [50.0, 0.0], [50.0, 50.0]])


@pytest.mark.parametrize(
    "x, y, ok",
    [
        (10.0, 0.0, True),
        (10.0, 4.9, True),
        (10.0, -5.1, False),
        (99.0, 1.0, True),
        (101.0, 0.0, False),
        (-1.0, 0.0, True),
        (-6.0, 0.0, False),
    ],
)
def test_corridor_and_end(x, y, ok):
    assert (route_problem(STRAIGHT, x, y, 5.0) is None) is ok


def test_reasons_name_the_problem():
    assert "corridor 5.0 m" in route_problem(STRAIGHT, 10.0, 7.0, 5.0)
    assert "past the route's end" in route_problem(STRAIGHT, 102.0, 0.0, 5.0)
    assert "2 needed" in route_problem(STRAIGHT[:1], 0.0, 0.0, 5.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 50.0), st.floats(0.0, 50.0), st.floats(-4.9, 4.9))
def test_any_point_beside_a_bent_route_is_on_it(s1, s2, offset):
    """Points within the corridor of either leg (the corner included) are on the route."""
    assert route_problem(BEND, s1, offset, 5.0) is None
    assert route_problem(BEND, 50.0 + offset, s2, 5.0) is None
