"""The stable API for scenario authors: import these names from `orchlab.scenario`.

`Scenario`, `Form`, `FlowEnv`, `ScenarioInput`, `OutcomeInput`, `RunDeps` and `tool_failure` are
the contract (docs/SCENARIOS.md); `Guard`, `OutboxMessage` and `ToolUnavailable` are what a
scenario's tools use. The modules behind them (`contract`, `tools`, `agentdefs`) may move; this
path will not.
"""

from orchlab.core.errors import ToolUnavailable
from orchlab.core.records import OutboxMessage
from orchlab.scenario.contract import (
    DEFAULT_FORMS,
    FlowEnv,
    Form,
    OutcomeInput,
    Scenario,
    ScenarioInput,
    discover,
    get_scenario,
    register,
    unregister,
)
from orchlab.scenario.tools import Guard, RunDeps, tool_failure

__all__ = ["DEFAULT_FORMS", "FlowEnv", "Form", "Guard", "OutboxMessage", "OutcomeInput",
           "RunDeps", "Scenario", "ScenarioInput", "ToolUnavailable", "discover",
           "get_scenario", "register", "tool_failure", "unregister"]
