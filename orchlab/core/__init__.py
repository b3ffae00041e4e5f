"""The bottom layer: records, errors, settings, the form catalogue, per-process values, what a
backend id says (`backend_ids`) and every use of a dependency's private API (`compat`).

Imports no other orchlab package, so every layer above can use it without a circle.
"""
