"""Scenario modules: each exposes `SCENARIO`, discovered by `orchlab.scenario.discover()`."""
