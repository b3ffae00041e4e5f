"""Measuring a run: the tracing processor, whole model calls, prices and a run's figures.

Above `core` only: what a run records is decided here, before any store or statistic sees it.
"""
