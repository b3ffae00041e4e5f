"""The stable API for scenario authors: import these names from `orchlab.scenario`.

`Scenario`, `Form`, `FlowEnv`, `ScenarioInput`, `OutcomeInput`, `RunDeps` and `tool_failure` are
the contract (docs/SCENARIOS.md); `Guard`, `OutboxMessage`, `ToolUnavailable`, `SpanRecord`
(what an outcome check reads) and `env` (a setting from the environment or `.env`) are what a
scenario's tools and checks use. The modules behind them (`contract`, `tools`, `agentdefs`) may
move; this path will not. The bundled scenarios import nothing else of orchlab
(tests/test_layout.py checks it).
"""

from orchlab.core.config import env
from orchlab.core.errors import ToolUnavailable
from orchlab.core.records import OutboxMessage, SpanRecord
from orchlab.scenario.contract import (
    DEFAULT_FORMS,
    FlowEnv,
    Form,
    OutcomeInput,
    Scenario,
    ScenarioInput,
)
from orchlab.scenario.discovery import (
    Catalogue,
    catalogue,
    discover,
    get_scenario,
    register,
    unregister,
)
from orchlab.scenario.tools import Guard, RunDeps, tool_failure

__all__ = ["DEFAULT_FORMS", "Catalogue", "FlowEnv", "Form", "Guard", "OutboxMessage",
           "OutcomeInput", "RunDeps", "Scenario", "ScenarioInput", "SpanRecord",
           "ToolUnavailable", "catalogue", "discover", "env", "get_scenario", "register",
           "tool_failure", "unregister"]
