"""vehicle_runtime: the ROS-free core of the onboard driving runtime (see DESIGN.md)."""

__version__ = "0.1.0"
