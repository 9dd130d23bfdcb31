"""Launch files: importable and complete where ROS 2's launch packages exist; every argument
documented in docs/ros2.md everywhere."""

import ast
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _arguments(launch_file="runtime.launch.py"):
    tree = ast.parse((REPO / "launch" / launch_file).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return [k.value for k in node.value.keys]
    raise AssertionError("ARGUMENTS not found")


def test_arguments_are_the_documented_ones():
    args = _arguments()
    assert {
        "namespace",
        "camera_topic",
        "route_topic",
        "odometry_topic",
        "can_interface",
        "can_channel",
        "model_path",
        "vehicle_profile",
        "single_process",
    } <= set(args)
    doc = (REPO / "docs" / "ros2.md").read_text()
    missing = [a for a in args if f"`{a}`" not in doc]
    assert not missing, missing


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed (ROS 2)")
def test_launch_description_builds():
    spec = importlib.util.spec_from_file_location("runtime_launch", REPO / "launch" / "runtime.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    assert len(ld.entities) >= len(_arguments()) + 4


def test_node_entry_points_accept_ros_args():
    """ros2 launch appends `--ros-args …`: our option parser must leave it to rclpy."""
    from ros_nodes.main import parser

    argv = ["policy", "--transport", "dds", "--ros-args", "-r", "__node:=policy", "-p", "use_sim_time:=false"]
    ros = argv[argv.index("--ros-args") :]
    args = parser().parse_args(argv[: len(argv) - len(ros)])
    assert args.nodes == ["policy"] and args.transport == "dds"


def test_carla_hil_arguments_documented_and_the_bridge_accepts_its_flags():
    args = _arguments("carla_hil.launch.py")
    assert {"role", "carla_host", "carla_port", "town", "can_interface", "can_channel"} <= set(args)
    doc = (REPO / "docs" / "carla_hil.md").read_text()
    assert not [a for a in args if f"`{a}`" not in doc]
    source = (REPO / "launch" / "carla_hil.launch.py").read_text()
    flags = [
        c.value
        for c in ast.walk(ast.parse(source))
        if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.startswith("--")
    ]
    from vehicle_runtime.cli import build_parser

    argv = ["carla-bridge"]
    samples = {"--carla-port": "2000", "--can-interface": "socketcan", "--carla-timeout": "10", "--duration": "60"}
    for flag in flags:  # the flags are typed (vehicle_runtime/cli_types.py): a sample each type takes
        argv += [flag, samples.get(flag, "x")]
    parsed = build_parser().parse_args(argv)  # every flag the launch file passes exists, with its type
    assert parsed.command == "carla-bridge" and parsed.carla_port == 2000


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed (ROS 2)")
def test_carla_hil_launch_description_builds():
    spec = importlib.util.spec_from_file_location("carla_hil_launch", REPO / "launch" / "carla_hil.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(module.generate_launch_description().entities) == len(_arguments("carla_hil.launch.py")) + 3


def test_the_parameter_tables_in_docs_ros2_are_the_schemas():
    from vehicle_runtime.schema.tables import rewrite

    text = (REPO / "docs" / "ros2.md").read_text()
    assert "<!-- params:vehicle_interface -->" in text
    assert rewrite(text) == text, "run: python -m vehicle_runtime.schema.tables --write docs/ros2.md"
