"""CARLA hardware-in-the-loop: the runtime on the box, the CARLA bridge on the simulation PC.

Filled in by the CARLA issue; today it starts the runtime nodes exactly as runtime.launch.py does
(the bridge itself is not written yet), so a HIL bench can already be wired and checked.

    ros2 launch vehicle_runtime carla_hil.launch.py can_interface:=socketcan can_channel:=can0
"""
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    runtime = PathJoinSubstitution([FindPackageShare("vehicle_runtime"), "launch", "runtime.launch.py"])
    return LaunchDescription([IncludeLaunchDescription(PythonLaunchDescriptionSource(runtime))])
