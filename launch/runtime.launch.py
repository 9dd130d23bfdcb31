"""Start the vehicle_runtime nodes on a ROS 2 box.

    ros2 launch vehicle_runtime runtime.launch.py can_interface:=socketcan can_channel:=can0

Arguments (all optional):
  namespace          ROS namespace for every node and topic            (default: none)
  camera_topic       sensor_msgs/Image input                           (camera/image_raw)
  camera_info_topic  sensor_msgs/CameraInfo input                      (camera/camera_info)
  route_topic        nav_msgs/Path input, transient local              (navigation/route)
  odometry_topic     nav_msgs/Odometry input                           (navigation/odometry)
  can_interface      python-can interface (vehicle_runtime/can/bus.py: socketcan, pcan, ...)
  can_channel        CAN channel, e.g. can0                            (from vehicle_interface.param.yaml)
  model_path         student model folder with manifest.json           (from policy.param.yaml)
  vehicle_profile    vehicle profile parameter file                    (from vehicle_interface.param.yaml)
  config_dir         folder with the *.param.yaml files                (share/vehicle_runtime/config)
  single_process     true: the three nodes in one process              (false)
  use_sim_time       take the time from /clock                         (false)
  auto_engage        simulation / test bench only: engage when READY    (false)
  discovery_range    ROS_AUTOMATIC_DISCOVERY_RANGE: LOCALHOST keeps the graph on this box;
                     SUBNET for multi-host HIL                          (LOCALHOST)

Each node's parameters come from config_dir's *.param.yaml as ROS parameters (`ros2 param list /policy`),
declared read-only from the schemas. Actuator requests never cross DDS: policy and vehicle interface
talk over a local channel (docs/security.md).
"""

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "namespace": ("", "ROS namespace for every node and topic"),
    "camera_topic": ("camera/image_raw", "sensor_msgs/Image input (sensor-data QoS)"),
    "camera_info_topic": ("camera/camera_info", "sensor_msgs/CameraInfo input"),
    "route_topic": ("navigation/route", "nav_msgs/Path input (reliable, transient local)"),
    "odometry_topic": ("navigation/odometry", "nav_msgs/Odometry input"),
    "can_interface": ("", "python-can interface (empty: vehicle_interface.param.yaml)"),
    "can_channel": ("", "CAN channel (empty: vehicle_interface.param.yaml)"),
    "model_path": ("", "student model folder (empty: policy.param.yaml)"),
    "vehicle_profile": ("", "vehicle profile parameter file (empty: vehicle_interface.param.yaml)"),
    "config_dir": ("", "folder with the *.param.yaml files (empty: the package's config/)"),
    "single_process": ("false", "run the three nodes in one process"),
    "use_sim_time": ("false", "take the time from /clock"),
    "auto_engage": ("false", "simulation / test bench only: engage as soon as READY"),
    "discovery_range": ("LOCALHOST", "ROS_AUTOMATIC_DISCOVERY_RANGE: LOCALHOST (this box) or SUBNET (HIL)"),
}
# each node's own file: the policy node's in-process fusion takes fusion.param.yaml from config_dir itself
# (override one of them as `fusion.<name>` on the policy node)
NODE_FILES = {"fusion": ["fusion"], "policy": ["policy"], "vehicle_interface": ["vehicle_interface"]}
# Tuned malloc settings: no first-touch page faults for every camera image (DESIGN.md)
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456"


def _args():
    out = ["--transport", "rclpy"]
    for flag, name in (
        ("--config", "config_dir"),
        ("--model", "model_path"),
        ("--can-interface", "can_interface"),
        ("--can-channel", "can_channel"),
        ("--vehicle-profile", "vehicle_profile"),
    ):
        out += [flag, LaunchConfiguration(name)]
    return out + ["--auto-engage", LaunchConfiguration("auto_engage")]


def _param_files(node):
    """The node's parameter files: config_dir's, or the package's when config_dir is empty."""
    share_config = PathJoinSubstitution([FindPackageShare("vehicle_runtime"), "config"])
    folder = PythonExpression(["'", LaunchConfiguration("config_dir"), "' or '", share_config, "'"])
    return [PathJoinSubstitution([folder, f"{name}.param.yaml"]) for name in NODE_FILES[node]]


def generate_launch_description():
    lc = LaunchConfiguration
    remappings = [
        ("camera/image_raw", lc("camera_topic")),
        ("camera/camera_info", lc("camera_info_topic")),
        ("navigation/route", lc("route_topic")),
        ("navigation/odometry", lc("odometry_topic")),
    ]
    sim_time = {"use_sim_time": lc("use_sim_time")}
    separate = [
        Node(
            package="vehicle_runtime",
            executable=exe,
            name=name,
            namespace=lc("namespace"),
            arguments=_args(),
            remappings=remappings,
            parameters=[*_param_files(name), sim_time],
            output="screen",
            condition=UnlessCondition(lc("single_process")),
        )
        for exe, name in (
            ("fusion_node", "fusion"),
            ("policy_node", "policy"),
            ("vehicle_interface_node", "vehicle_interface"),
        )
    ]
    # no name= here: a node-name remap would rename all three nodes of the process alike
    all_files = [f for node in NODE_FILES for f in _param_files(node)]
    together = Node(
        package="vehicle_runtime",
        executable="runtime_nodes",
        namespace=lc("namespace"),
        arguments=["all", *_args()],
        remappings=remappings,
        parameters=[*all_files, sim_time],
        output="screen",
        condition=IfCondition(lc("single_process")),
    )
    share = PathJoinSubstitution([FindPackageShare("vehicle_runtime")])
    return LaunchDescription(
        [
            *[DeclareLaunchArgument(n, default_value=d, description=t) for n, (d, t) in ARGUMENTS.items()],
            SetEnvironmentVariable("GLIBC_TUNABLES", GLIBC_TUNABLES),
            SetEnvironmentVariable("VEHICLE_RUNTIME_SHARE", share),
            SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", lc("discovery_range")),
            # 4 MB socket buffers for images (config/fastdds.xml); the nodes keep a profile the user set
            SetEnvironmentVariable(
                "FASTRTPS_DEFAULT_PROFILES_FILE",
                PythonExpression(
                    [
                        "__import__('os').environ.get('FASTRTPS_DEFAULT_PROFILES_FILE') or '",
                        share,
                        "/config/fastdds.xml'",
                    ]
                ),
            ),
            *separate,
            together,
        ]
    )
