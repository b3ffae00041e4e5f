"""Run at start-up by Python processes the tests start (PYTHONPATH): the loopback-only guard."""

import orchlab_netguard  # noqa: F401 - importing it installs the guard
