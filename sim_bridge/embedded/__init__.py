"""The embedded simulator (world, renderer, dynamics, expert, scenarios, metrics)."""
