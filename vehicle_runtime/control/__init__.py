"""Trajectory tracking: the latest policy trajectory → steering angle and acceleration requests."""

from .profile import VehicleProfile
from .tracker import TrackerParams, TrajectoryTracker

__all__ = ["VehicleProfile", "TrackerParams", "TrajectoryTracker"]
