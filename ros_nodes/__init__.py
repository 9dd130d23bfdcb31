"""The ROS 2 nodes: thin message conversion and wiring of vehicle_runtime parts. The same code runs
on rclpy (ros2 launch) and on the ROS-free Cyclone DDS transport (vehicle-runtime up)."""
