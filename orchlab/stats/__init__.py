"""Statistics over recorded runs: frames, estimates, tests, paths, the summary and its text.

Reads run frames and span records; never runs a model and never opens a store.
"""
