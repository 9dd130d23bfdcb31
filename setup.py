"""Packaging for both colcon (ament_python) and pip.

All metadata lives here (not in pyproject.toml) so that ROS 2 Humble's setuptools 59 builds it too.
colcon installs launch/, config/ and models/ under share/vehicle_runtime via data_files.
"""

import os

from setuptools import find_packages, setup

PACKAGE = "vehicle_runtime"
ROS_WHEELS = [
    "ros-jazzy-rclpy[fastrtps]",
    "ros-jazzy-std-msgs",
    "ros-jazzy-sensor-msgs",
    "ros-jazzy-nav-msgs",
    "ros-jazzy-geometry-msgs",
    "ros-jazzy-diagnostic-msgs",
]


def tree(folder):
    """data_files entries that mirror `folder` under share/<package>/."""
    entries = []
    for root, _dirs, files in os.walk(folder):
        paths = [os.path.join(root, f) for f in files if not f.endswith(".pyc")]
        if paths:
            entries.append((os.path.join("share", PACKAGE, root), paths))
    return entries


setup(
    name=PACKAGE,
    version="0.1.0",
    description="Onboard runtime for a distilled driving model: camera + navigation -> student -> safety gate -> CAN",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(
        include=["vehicle_runtime", "vehicle_runtime.*", "ros_nodes", "ros_nodes.*", "sim_bridge", "sim_bridge.*"]
    ),
    package_data={
        "vehicle_runtime": ["schema/*.json", "can/*.dbc"],
        "sim_bridge.embedded": ["scenarios/*.yaml", "*.schema.json"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        *tree("launch"),
        *tree("config"),
        *tree("models"),
    ],
    install_requires=[
        "numpy>=1.24",
        "onnxruntime>=1.17",
        "opencv-python-headless>=4.8",
        "python-can>=4.3",
        "msgpack>=1.0",  # python-can's udp_multicast interface
        "cantools>=39",
        "PyYAML>=6",
        "jsonschema>=4",
        "tokenizers>=0.15",
        "matplotlib>=3.7",  # the drive report
        "tqdm>=4.60",  # the drive progress bar
        "cryptography>=41",  # ed25519 signatures of fleet bundles
        "mcap>=1.2",  # record: MCAP files of rosbag2 bags (Foxglove's reference writer / reader)
        "rosbags>=0.10",  # record / replay: message definitions, RIHS01 hashes, reading rosbag2 bags
    ],
    extras_require={
        "gpu": ["onnxruntime-gpu>=1.17"],
        # tools/distill (training the student on the CPU). 2.13.0 is the CPU build this project trains with;
        # a looser pin pulls a multi-GB CUDA build.
        "train": ["torch==2.13.0", "onnx>=1.15"],
        # The ROS-free transport (`vehicle-runtime up`). No aarch64 wheel on PyPI: build Cyclone there.
        "dds": ["cyclonedds>=0.10.5", "rosbags>=0.9.19"],  # rosbags: RIHS01 type hashes (REP 2016)
        # real rclpy without a ROS install: ROS 2 Jazzy's own packages as PyPI wheels (rmw_fastrtps_cpp, no
        # sourcing). ackermann_msgs is not among them: those observability topics are left out there.
        "ros": ROS_WHEELS,
        "dev": [
            "pytest>=7",
            "pytest-timeout>=2",
            "pytest-cov>=5",  # make test: line coverage per room (tools/coverage_rooms.py)
            "ruff>=0.6",  # make lint: lint and format
            "mypy>=1.10",  # make lint: types
            "pre-commit>=3",  # .pre-commit-config.yaml runs the same checks
            "hypothesis>=6",
            "onnx>=1.15",
            "catkin_pkg>=0.5",
            "colcon-common-extensions>=0.3",
            "cyclonedds>=0.10.5",
            "rosbags>=0.10",
            "mcap>=1.2",
            "torch==2.13.0",
            "carla==0.9.16",  # tools/distill and sim_bridge/carla tests
            "ray>=2.9",  # tests/sim/test_eval_ray.py
            *ROS_WHEELS,
        ],
        # the CARLA bridge (sim_bridge/carla): the PyPI client, Python 3.10-3.12 on x86_64
        "carla": ["carla==0.9.16"],
        # `vehicle-runtime eval --cluster auto|ray://HOST:PORT` (docs/evaluation.md): a 79 MB wheel, ~240 MB installed
        "ray": ["ray>=2.9"],
    },
    entry_points={
        "console_scripts": [
            "vehicle-runtime = vehicle_runtime.cli:main",
            "fusion_node = ros_nodes.main:fusion_main",  # ros2 run / ros2 launch executables
            "policy_node = ros_nodes.main:policy_main",
            "vehicle_interface_node = ros_nodes.main:vehicle_interface_main",
            "runtime_nodes = ros_nodes.main:all_main",  # the three nodes in one process
        ],
        "vehicle_runtime.commands": [
            "drive = sim_bridge.embedded.cli",
            "eval = sim_bridge.embedded.eval_cli",
            "sim = sim_bridge.embedded.dds_sim",
            "up = ros_nodes.cli",
            "carla-bridge = sim_bridge.carla.cli",
        ],
    },
    zip_safe=True,
)
