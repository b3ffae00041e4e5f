"""The bottom layer: records, errors, settings, the form catalogue and per-process values.

Imports no other orchlab package, so every layer above can use it without a circle.
"""
