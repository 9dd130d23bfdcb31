"""CARLA hardware-in-the-loop: the runtime on the compute box, the CARLA bridge on the simulation PC.

    box:     ros2 launch vehicle_runtime carla_hil.launch.py role:=box can_interface:=socketcan can_channel:=can0
    sim PC:  ros2 launch vehicle_runtime carla_hil.launch.py role:=sim_pc carla_host:=127.0.0.1 can_channel:=can0
    one machine, no CAN hardware (software-only variant):
      ros2 launch vehicle_runtime carla_hil.launch.py role:=both can_interface:=udp_multicast can_channel:=default

The bridge publishes camera / route / odometry / GNSS with Cyclone DDS in the ROS 2 wire format, so the
box's nodes run on rmw_cyclonedds_cpp (set here). See docs/carla_hil.md for the wiring and the checks.

Arguments (all optional):
  role            box | sim_pc | both                                  (box)
  carla_host      CARLA server address, seen from the simulation PC   (127.0.0.1)
  carla_port      CARLA RPC port                                       (2000)
  town            CARLA map to load                                    (Town01)
  can_interface   python-can interface on both sides                   (socketcan)
  can_channel     CAN channel                                          (can0)
  namespace       ROS namespace of the topics                          (none)
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

ARGUMENTS = {
    "role": ("box", "box: the runtime nodes; sim_pc: the CARLA bridge; both: one machine"),
    "carla_host": ("127.0.0.1", "CARLA server address, seen from the simulation PC"),
    "carla_port": ("2000", "CARLA RPC port"),
    "town": ("Town01", "CARLA map to load"),
    "can_interface": ("socketcan", "python-can interface on both sides"),
    "can_channel": ("can0", "CAN channel"),
    "namespace": ("", "ROS namespace of the topics"),
}


def _role_is(*roles):
    return IfCondition(PythonExpression(["'", LaunchConfiguration("role"), "' in ", repr(list(roles))]))


def generate_launch_description():
    lc = LaunchConfiguration
    runtime = PathJoinSubstitution([FindPackageShare("vehicle_runtime"), "launch", "runtime.launch.py"])
    box = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(runtime),
        condition=_role_is("box", "both"),
        launch_arguments={
            "can_interface": lc("can_interface"),
            "can_channel": lc("can_channel"),
            "namespace": lc("namespace"),
        }.items(),
    )
    bridge = ExecuteProcess(
        cmd=[
            "vehicle-runtime",
            "carla-bridge",
            "--carla-host",
            lc("carla_host"),
            "--carla-port",
            lc("carla_port"),
            "--town",
            lc("town"),
            "--can-interface",
            lc("can_interface"),
            "--can-channel",
            lc("can_channel"),
            "--namespace",
            lc("namespace"),
        ],
        output="screen",
        condition=_role_is("sim_pc", "both"),
    )
    return LaunchDescription(
        [
            *[DeclareLaunchArgument(n, default_value=d, description=t) for n, (d, t) in ARGUMENTS.items()],
            SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp"),
            box,
            bridge,
        ]
    )
