"""CARLA hardware-in-the-loop bridge (PyPI `carla` client). Imported only when CARLA is used: the
rest of the project never needs the `carla` package."""
