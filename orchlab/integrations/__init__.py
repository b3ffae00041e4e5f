"""Optional exports to other tools (OpenTelemetry): their libraries are imported only when asked.

Nothing below `running` imports this package.
"""
