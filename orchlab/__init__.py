"""Orchestration Lab core: scenarios, backends, recording, storage and analysis (no UI)."""

__version__ = "0.1.0"
