"""The vehicle / simulator side: by-wire gateway, embedded simulator, CARLA bridge."""
