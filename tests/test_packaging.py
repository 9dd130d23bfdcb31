"""Packaging for both worlds: package.xml as ROS tools parse it, a real colcon build of the
package, and the layering rule (the core never imports ROS, CARLA, ros_nodes or sim_bridge)."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE_FORBIDDEN = ("carla", "ros_nodes", "sim_bridge", "launch", "launch_ros")  # anywhere in the core
CORE_NOT_AT_IMPORT = ("rclpy", "rosidl_runtime_py")  # allowed only inside functions (transport/ros.py)


def test_package_xml_is_a_valid_ament_python_package():
    catkin_pkg = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg (dev extra) not installed")
    pkg = catkin_pkg.parse_package(str(REPO / "package.xml"))
    pkg.validate()  # rejects e.g. maintainer e-mails that make colcon treat it as plain Python
    assert pkg.package_format == 3 and pkg.name == "vehicle_runtime"
    assert [e.content for e in pkg.exports if e.tagname == "build_type"] == ["ament_python"]
    deps = {d.name for d in pkg.exec_depends}
    assert {
        "rclpy",
        "std_msgs",
        "sensor_msgs",
        "nav_msgs",
        "geometry_msgs",
        "diagnostic_msgs",
        "ackermann_msgs",
        "launch_ros",
    } <= deps


def _imports(path: Path, module_level_only: bool = False):
    tree = ast.parse(path.read_text())
    nodes: List[ast.AST] = list(ast.walk(tree))
    if module_level_only:  # statements run at import: the module body, not function bodies
        nodes = [
            n
            for top in tree.body
            if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for n in ast.walk(top)
        ]
        nodes += [
            n
            for top in tree.body
            if isinstance(top, ast.ClassDef)
            for n in top.body
            if isinstance(n, (ast.Import, ast.ImportFrom))
        ]
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_core_imports_no_ros_carla_or_outer_rooms():
    offenders = []
    for path in (REPO / "vehicle_runtime").rglob("*.py"):
        bad = (set(_imports(path)) & set(CORE_FORBIDDEN)) | (set(_imports(path, True)) & set(CORE_NOT_AT_IMPORT))
        if bad:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(bad)}")
    assert not offenders, offenders


def test_no_module_shadows_ros_packages():
    for name in ("rclpy", "std_msgs", "sensor_msgs", "nav_msgs"):
        assert not (REPO / name).exists() and not (REPO / f"{name}.py").exists()


def test_modules_stay_small():
    big = [
        str(p.relative_to(REPO))
        for p in REPO.glob("[!.]*/**/*.py")
        if ".venv" not in p.parts and len(p.read_text().splitlines()) > 450
    ]
    assert not big, big


@pytest.mark.slow
def test_colcon_build_installs_scripts_launch_config_models(tmp_path):
    colcon = shutil.which("colcon") or str(Path(sys.executable).parent / "colcon")
    if not os.path.exists(colcon):
        pytest.skip("colcon (dev extra colcon-common-extensions) not installed")
    src = tmp_path / "src" / "vehicle_runtime"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "build",
            "install",
            "log",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".hypothesis",
            "runs",
        ),
    )
    listing = subprocess.run([colcon, "list"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "(ros.ament_python)" in listing, listing
    subprocess.run(
        [colcon, "build", "--event-handlers", "console_cohesion-"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    prefix = tmp_path / "install" / "vehicle_runtime"
    share = prefix / "share" / "vehicle_runtime"
    assert (prefix / "lib" / "vehicle_runtime" / "vehicle-runtime").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "vehicle_runtime").is_file()
    assert (share / "package.xml").is_file()
    for rel in (
        "config/policy.param.yaml",
        "config/vehicles/generic_sedan.param.yaml",
        "models/reference_geometric/model.onnx",
        "models/reference_geometric/manifest.json",
    ):
        assert (share / rel).is_file(), rel
    for launch in (REPO / "launch").glob("*.launch.py"):
        assert (share / "launch" / launch.name).is_file()
    # The installed copy finds its share directory on its own and its model passes the contract.
    site = next(prefix.glob("lib/python3*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("VEHICLE_RUNTIME_SHARE", None)
    out = subprocess.run(
        [sys.executable, "-c", "from vehicle_runtime.paths import share_dir; print(share_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(out) == share
