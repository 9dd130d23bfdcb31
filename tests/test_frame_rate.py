"""The camera's measured frame rate against the rate the model's history was trained at."""

import pytest

from vehicle_runtime.frame_rate import WINDOW_FRAMES, FrameRateCheck


def _feed(check, hz, n, start_s=100.0):
    for k in range(n):
        check.add(start_s + k / hz)
    return start_s + n / hz


@pytest.mark.parametrize(
    "camera_hz, flagged", [(20.0, False), (21.5, False), (18.5, False), (30.0, True), (15.0, True)]
)
def test_a_rate_off_by_more_than_ten_percent_is_reported(camera_hz, flagged):
    check = FrameRateCheck(20.0)
    _feed(check, camera_hz, WINDOW_FRAMES)
    assert check.measured_hz == pytest.approx(camera_hz)
    assert (
        (check.mismatch() == f"camera rate {camera_hz:.1f} Hz, model 20.0 Hz") if flagged else check.mismatch() is None
    )


def test_nothing_is_judged_before_the_window_is_full():
    check = FrameRateCheck(20.0)
    _feed(check, 30.0, WINDOW_FRAMES - 1)
    assert check.measured_hz is None and check.mismatch() is None


def test_a_dropped_frame_does_not_move_the_median():
    check = FrameRateCheck(20.0)
    stamps = [100.0 + k / 20.0 for k in range(WINDOW_FRAMES + 1)]
    del stamps[7]  # one frame lost: one interval of 0.1 s among twenty of 0.05 s
    for s in stamps:
        check.add(s)
    assert check.measured_hz == pytest.approx(20.0) and check.mismatch() is None


def test_a_restarted_driver_is_measured_afresh():
    check = FrameRateCheck(20.0)
    _feed(check, 30.0, WINDOW_FRAMES)
    assert check.mismatch() is not None
    check.add(50.0)  # stamps went back: a new driver (or clock)
    assert check.measured_hz is None
    _feed(check, 20.0, WINDOW_FRAMES, start_s=50.05)
    assert check.mismatch() is None


def test_an_expected_rate_must_be_positive():
    with pytest.raises(ValueError):
        FrameRateCheck(0.0)
