"""tools/coverage_rooms.py: line coverage per room from real coverage data, and the 95 % floor on the
safety and CAN rooms (make test runs it after the suite)."""

from pathlib import Path

import coverage

from tools import coverage_rooms

REPO = Path(__file__).resolve().parents[1]


def write_data(path: Path, rooms_fully_run) -> Path:
    """Coverage data in which every statement of `rooms_fully_run` ran and nothing else did."""
    cov = coverage.Coverage(data_file=str(path))
    lines = {}
    for room in rooms_fully_run:
        for py in (REPO / room).rglob("*.py"):
            lines[str(py)] = set(cov.analysis2(str(py))[1])
    data = coverage.CoverageData(basename=str(path))
    data.add_lines(lines)
    data.write()
    return path


def test_rooms_fully_run_pass_and_others_count_as_missed(tmp_path, capsys):
    data = write_data(tmp_path / ".coverage", ["vehicle_runtime/safety", "vehicle_runtime/can"])
    assert coverage_rooms.main(["--data-file", str(data)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["vehicle_runtime/safety"][3] == "100.0%" and rows["vehicle_runtime/can"][3] == "100.0%"
    assert rows["ros_nodes"][3] == "0.0%" and rows["ros_nodes"][1] == rows["ros_nodes"][2] != "0"
    assert {"sim_bridge/embedded", "sim_bridge/gateway", "vehicle_runtime/student"} <= set(rows)


def test_an_untested_guarded_room_fails_and_is_named(tmp_path, capsys):
    data = write_data(tmp_path / ".coverage", ["vehicle_runtime/safety"])
    assert coverage_rooms.main(["--data-file", str(data)]) == 1
    err = capsys.readouterr().err
    assert "vehicle_runtime/can 0.0 %" in err and "safety" not in err


def test_missing_data_is_one_clear_line(tmp_path, capsys):
    assert coverage_rooms.main(["--data-file", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no coverage data" in err
