"""Launch files: importable and complete where ROS 2's launch packages exist; every argument
documented in docs/ros2.md everywhere."""
import ast
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _arguments():
    tree = ast.parse((REPO / "launch" / "runtime.launch.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            return [k.value for k in node.value.keys]
    raise AssertionError("ARGUMENTS not found")


def test_arguments_are_the_documented_ones():
    args = _arguments()
    assert {"namespace", "camera_topic", "route_topic", "odometry_topic", "can_interface", "can_channel",
            "model_path", "vehicle_profile", "single_process"} <= set(args)
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
    ros = argv[argv.index("--ros-args"):]
    args = parser().parse_args(argv[: len(argv) - len(ros)])
    assert args.nodes == ["policy"] and args.transport == "dds"
