"""The stable API for scenario authors: import these names from `orchlab.scenario`.

`Scenario`, `Form`, `FlowEnv`, `ScenarioInput`, `OutcomeInput`, `RunDeps` and `tool_failure` are
the contract (docs/SCENARIOS.md); `Guard`, `OutboxMessage`, `ToolUnavailable`, `SpanRecord`
(what an outcome check reads) and `env` (a setting from the environment or `.env`) are what a
scenario's tools and checks use; `orchestrator`, `plan_then_execute`, `guarded_orchestrator` and
`evaluator_optimizer` (with `Draft`, `Verdict`, `Refinement`) build the usual hybrid forms'
flows from a scenario's parts; `RubricJudge` and `PairwiseJudge` declare judges of
stored runs (`Scenario.judges`). The modules behind them (`contract`, `tools`, `agentdefs`,
`judges`, `hybrids`) may move; this path will not. The bundled scenarios import nothing else
of orchlab (tests/test_layout.py checks it). `read_inputs_file` and `parse_inputs_file` read a
scenario's cases from a CSV or JSONL file (`InputsFile`; a refusal is `InputsFileError`).
"""

from orchlab.core.config import env
from orchlab.core.errors import InputsFileError, ToolUnavailable
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
from orchlab.scenario.hybrids import (
    Draft,
    Refinement,
    Verdict,
    evaluator_optimizer,
    guarded_orchestrator,
    orchestrator,
    plan_then_execute,
)
from orchlab.scenario.inputs import InputsFile, parse_inputs_file, read_inputs_file
from orchlab.scenario.judges import PairwiseJudge, RubricJudge
from orchlab.scenario.tools import Guard, RunDeps, tool_failure

__all__ = ["DEFAULT_FORMS", "Catalogue", "Draft", "FlowEnv", "Form", "Guard", "OutboxMessage",
           "InputsFile", "InputsFileError", "parse_inputs_file", "read_inputs_file",
           "OutcomeInput", "PairwiseJudge", "Refinement", "RubricJudge", "RunDeps", "Scenario",
           "ScenarioInput", "SpanRecord",
           "ToolUnavailable", "Verdict", "catalogue", "discover", "env", "evaluator_optimizer",
           "get_scenario", "guarded_orchestrator", "orchestrator", "plan_then_execute",
           "register", "tool_failure", "unregister"]
