"""What an experiment runs: the spec (the same for the Run page and the CLI) and its plan.

`prepare` makes every check that needs no backend, so a typo never waits for a model to load.
It changes nothing: the spec it returns is a resolved copy.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from orchlab.backends import default_backend_id
from orchlab.core import workshop
from orchlab.core.backend_ids import is_replay_id, short_model
from orchlab.core.errors import SpecError
from orchlab.core.records import ExperimentRecord
from orchlab.scenario import DEFAULT_FORMS, Scenario, get_scenario
from orchlab.scenario.agentdefs import AgentDef, load_scenario_agents
from orchlab.scenario.inputs import scenario_rows, with_rows

MAX_REPETITIONS = 1000
MAX_CONCURRENCY = 200
MAX_WORKERS = 32
MAX_REPLAY_SPEED = 10.0
MAX_BACKENDS = 8
MATRIX_JOIN = " + "
"""How an experiment of several backends names them in one label (`ExperimentRecord.backend`,
shown by History and `list`): `compat:a@http://... + compat:b@http://...`."""
CLUSTER = re.compile(r"(ray(://[A-Za-z0-9.\-]+:\d{1,5})?)?")
"""What `ExperimentSpec.cluster` may be: "", "ray" or "ray://HOST:PORT"."""


@dataclass
class ExperimentSpec:
    """What to run. Its defaults are the defaults of the Run page and of the CLI alike."""

    scenario: str
    """Scenario name."""
    forms: list[str] = field(default_factory=lambda: list(DEFAULT_FORMS))
    """Form ids to run: any of the scenario's forms (default: code and llm)."""
    inputs: list[str] | None = None
    """Input ids; None means all of `input_rows`, or of the scenario's inputs."""
    repetitions: int = 1
    """Runs per form and input."""
    concurrency: int = 4
    """Runs in flight at once (capped by the backend's own limit)."""
    backend: str = ""
    """Backend id; empty means the configured default. With `backends`, the first of them."""
    backends: list[str] = field(default_factory=list)
    """A model matrix: two or more backend ids, every form run on each (forms x backends x
    inputs x repetitions). Empty: every run on `backend`. `prepare` sets `backend` to the
    first; the runner stores them as their resolved ids, which each run records."""
    model_settings: dict[str, Any] = field(default_factory=dict)
    """Explicit overrides for every agent (temperature, top_p, seed, max_tokens); empty: each
    agent runs with the settings in its own file."""
    timeout_s: float = 300.0
    """Per-run timeout in seconds."""
    max_turns: int = 10
    """Turn limit of every agent run."""
    agent_overrides: dict[str, str] = field(default_factory=dict)
    """Agent name -> edited definition text (a prompt variant)."""
    variant: str | None = None
    """Name of the prompt variant, for display."""
    tool_budget: int | None = None
    """Most tool calls one run may make before it is stopped; None: the scenario's budget."""
    workers: int = 1
    """Shards the runs are split into, one event loop each (remote backends only): worker
    processes on this machine, or Ray actors with `cluster`."""
    cluster: str = ""
    """Where the shards run: "" (this machine), "ray" (a local Ray) or "ray://HOST:PORT"."""
    replay_speed: float = 1.0
    """For a `replay:` backend: recorded latencies are slept times this (1 = the original
    timing, 0 = instant); other backends ignore it."""
    preset: str | None = None
    """The named preset the settings came from (e.g. "quick-start"), for display; None: set
    by hand or the defaults."""
    agent_backends: dict[str, str] = field(default_factory=dict)
    """A model per agent (an assignment): agent name -> backend id for the agents that run
    elsewhere than the run's backend; the others run on the run's backend. Empty: every agent
    on the run's backend. The runner stores them as their resolved ids."""
    assignment: str | None = None
    """The assignment's short name, shown wherever its runs are ("writers on nano"); None:
    `prepare` names it from `agent_backends` (`assignment_name`)."""
    participant: str | None = None
    """Who starts it in a workshop (`orchlab.core.workshop`), recorded on the experiment;
    None outside a workshop."""
    input_rows: list[dict[str, Any]] | None = None
    """The inputs themselves, as JSON rows `{"id", "label", "data"}` (an inputs file's, see
    `orchlab.scenario.inputs`); `inputs` picks among them. None: the scenario's own. `prepare`
    fills it with exactly the inputs that run, so a stored experiment (resume, replay, export)
    keeps what it ran whatever becomes of the scenario module."""

    def validate(self, scenario: Scenario) -> list[str]:
        """Check every field; returns the input ids to run."""
        bad_forms = [f for f in self.forms if f not in scenario.form_ids]
        if not self.forms or bad_forms or len(set(self.forms)) != len(self.forms):
            got = ", ".join(self.forms) or "none"
            raise SpecError(f"forms must be distinct forms of {scenario.name} "
                            f"({', '.join(scenario.form_ids)}); got {got}.")
        _check_range("repetitions", self.repetitions, MAX_REPETITIONS)
        _check_range("concurrency", self.concurrency, MAX_CONCURRENCY)
        _check_range("workers", self.workers, MAX_WORKERS)
        ids = self.backends
        if ids and (len(ids) > MAX_BACKENDS or len(set(ids)) != len(ids)
                    or not all(i.strip() for i in ids)):
            raise SpecError(f"backends must be 1 to {MAX_BACKENDS} distinct backend ids; got "
                            f"{', '.join(ids)}.")
        if not CLUSTER.fullmatch(self.cluster):
            raise SpecError(f"cluster must be empty (this machine), ray (a local Ray) or "
                            f"ray://HOST:PORT; got {self.cluster!r}.")
        if self.timeout_s <= 0 or self.max_turns < 1:
            raise SpecError("timeout_s must be positive and max_turns at least 1.")
        if not 0 <= self.replay_speed <= MAX_REPLAY_SPEED:
            raise SpecError(f"replay_speed must be between 0 (instant) and {MAX_REPLAY_SPEED:g}"
                            f" (1 = the original timing); got {self.replay_speed:g}.")
        if self.tool_budget is not None and self.tool_budget < 1:
            raise SpecError(f"tool_budget must be at least 1 (or unset for the scenario's own); "
                            f"got {self.tool_budget}.")
        if self.participant is not None:
            try:
                workshop.checked_name(self.participant)
            except workshop.WorkshopError as exc:
                raise SpecError(f"participant: {exc}") from None
        input_ids = self.inputs or [i.id for i in scenario.inputs]
        for input_id in input_ids:
            scenario.input(input_id)
        return input_ids

    @property
    def backend_ids(self) -> list[str]:
        """Every backend the experiment runs on, in the spec's order: `backends`, else the one
        `backend`."""
        return list(self.backends) or [self.backend]

    def budget(self, scenario: Scenario) -> int:
        """The tool budget that applies: the spec's override, else the scenario's own."""
        return self.tool_budget if self.tool_budget is not None else scenario.tool_budget


def _check_range(name: str, value: int, high: int) -> None:
    if not 1 <= value <= high:
        raise SpecError(f"{name} must be between 1 and {high}; got {value}.")


@dataclass
class PlannedRun:
    """One run to execute."""

    form: str
    """Form id, e.g. code or llm."""
    input_id: str
    """Scenario input id."""
    repetition: int
    """Repetition index."""
    backend: str = ""
    """The backend it runs on: a spec's backend id in `plan_runs`, the resolved backend's id
    (what the run records) once the runner resolved them."""

    @property
    def key(self) -> RunKey:
        """(form, backend, input_id, repetition): what the store knows a finished run by."""
        return self.form, self.backend, self.input_id, self.repetition

    @property
    def recorded(self) -> tuple[str, str, int]:
        """(form, input_id, repetition): which recorded run of its backend a replay serves."""
        return self.form, self.input_id, self.repetition


RunKey = tuple[str, str, str, int]
"""(form, backend, input_id, repetition): one planned run of an experiment."""


@dataclass
class Prepared:
    """A checked spec with everything a run needs except the backend."""

    spec: ExperimentSpec
    """A copy of the spec with the backend id resolved."""
    scenario: Scenario
    """The scenario it runs, as a copy whose inputs are the spec's `input_rows`."""
    defs: dict[str, AgentDef]
    """Agent definitions, variant edits applied."""
    plan: list[PlannedRun]
    """Every planned run, interleaved."""


def plan_runs(spec: ExperimentSpec, input_ids: list[str]) -> list[PlannedRun]:
    """Interleave forms, backends and inputs so drift over time (a server busier at one
    moment) hits every group alike: repetition by repetition, input by input, every form on
    every backend, the backends alternating within each form. The backend that goes first
    rotates from one (repetition, input) block to the next, so none always starts a block."""
    backends = spec.backend_ids
    plan: list[PlannedRun] = []
    for block, (rep, input_id) in enumerate(
            (rep, input_id) for rep in range(spec.repetitions) for input_id in input_ids):
        turn = block % len(backends)
        order = backends[turn:] + backends[:turn]
        plan += [PlannedRun(form, input_id, rep, backend)
                 for form in spec.forms for backend in order]
    return plan


def prepare(spec: ExperimentSpec) -> Prepared:
    """Every check that needs no backend: scenario, inputs, ranges, agent files. The spec it
    returns has its backend resolved and `input_rows` holding exactly the inputs that run (the
    scenario's own unless the spec brings rows), and the scenario runs those rows, coerced by
    its `input_model`: every process that prepares the resolved spec runs the same inputs."""
    registered = get_scenario(spec.scenario)
    rows = scenario_rows(registered) if spec.input_rows is None else spec.input_rows
    scenario, rows = with_rows(registered, rows)
    input_ids = spec.validate(scenario)
    chosen = set(input_ids)
    scenario = dataclasses.replace(scenario, inputs=[i for i in scenario.inputs if i.id in chosen])
    backends = list(spec.backends)
    first = backends[0] if backends else spec.backend or default_backend_id()
    resolved = dataclasses.replace(spec, backend=first,
                                   backends=backends if len(backends) > 1 else [],
                                   input_rows=[r for r in rows if r["id"] in chosen])
    defs = load_scenario_agents(scenario.name, set(scenario.tools()), spec.agent_overrides,
                                scenario.agents_home)
    resolved.assignment = check_assignment(spec, scenario.name, sorted(defs))
    return Prepared(resolved, scenario, defs, plan_runs(resolved, input_ids))


ASSIGNMENT_FORBIDDEN = (" | ", " @ ", " · ")
"""What an assignment's name may not hold: the separators of a Compare group's name."""
MAX_ASSIGNMENT_NAME = 80


def check_assignment(spec: ExperimentSpec, scenario: str, agents: list[str]) -> str | None:
    """The assignment's name after checking it (None without one): every agent it names is an
    agent of the scenario, every backend id a `<prefix>:<model>`, and its name short and
    readable in a group's name. One sentence otherwise, before anything is stored."""
    if not spec.agent_backends:
        if spec.assignment and all(map(is_replay_id, spec.backend_ids)):
            return spec.assignment  # a replay serves every agent's calls as recorded
        if spec.assignment:
            raise SpecError(f"The assignment {spec.assignment!r} assigns no agent a backend; "
                            "name agents with agent_backends (--agent-backend NAME=BACKEND).")
        return None
    unknown = sorted(set(spec.agent_backends) - set(agents))
    if unknown:
        raise SpecError(f"The assignment names {', '.join(map(repr, unknown))}, which "
                        f"{'is not an agent' if len(unknown) == 1 else 'are not agents'} of "
                        f"{scenario} (agents: {', '.join(agents)}).")
    bad = sorted(b for b in spec.agent_backends.values()
                 if not re.fullmatch(r"[A-Za-z0-9_.\-]+:\S.*", b.strip()))
    if bad:
        raise SpecError(f"The assignment's backend {bad[0]!r} is not of the form "
                        "<prefix>:<model> (e.g. local:smollm2-135m).")
    if len(set(spec.agent_backends.values()) | set(spec.backend_ids)) > MAX_BACKENDS:
        raise SpecError(f"An experiment may use at most {MAX_BACKENDS} backends, its matrix "
                        "and its assignment together.")
    name = (spec.assignment or assignment_name(spec.agent_backends)).strip()
    if not name or len(name) > MAX_ASSIGNMENT_NAME or any(
            sep in name for sep in ASSIGNMENT_FORBIDDEN):
        raise SpecError(f"An assignment's name must be 1 to {MAX_ASSIGNMENT_NAME} characters "
                        f"without {', '.join(repr(s) for s in ASSIGNMENT_FORBIDDEN)}; got "
                        f"{name!r}.")
    return name


def parse_agent_backends(pairs: list[str]) -> dict[str, str]:
    """`AGENT=BACKEND` pairs (the CLI's `--agent-backend`) as `agent_backends`; one sentence
    for a pair without `=` or an agent named twice."""
    out: dict[str, str] = {}
    for pair in pairs:
        agent, sep, backend = pair.partition("=")
        agent, backend = agent.strip(), backend.strip()
        if not sep or not agent or not backend:
            raise SpecError(f"--agent-backend takes AGENT=BACKEND (e.g. "
                            f"orchestrator=local:smollm2-135m); got {pair!r}.")
        if agent in out:
            raise SpecError(f"--agent-backend names {agent!r} twice; give each agent one "
                            "backend.")
        out[agent] = backend
    return out


def assignment_name(agent_backends: dict[str, str]) -> str:
    """A short name for an assignment: "orchestrator on gpt-4.1; critic, writer on nano",
    agents grouped by backend, each backend by its model (`backend_ids.short_model`)."""
    by_backend: dict[str, list[str]] = {}
    for agent, backend in sorted(agent_backends.items()):
        by_backend.setdefault(short_model(backend), []).append(agent)
    for named in ("; ".join(f"{', '.join(agents)} on {model}"
                            for model, agents in by_backend.items()),
                  "; ".join(f"{len(agents)} agent{'s' if len(agents) > 1 else ''} on {model}"
                            for model, agents in by_backend.items())):
        if len(named) <= MAX_ASSIGNMENT_NAME:
            return named
    return f"{len(agent_backends)} agents on {len(by_backend)} models"


def replay_spec(source: ExperimentRecord, speed: float = 1.0, inputs: list[str] | None = None,
                repetitions: int | None = None, participant: str | None = None
                ) -> ExperimentSpec:
    """The spec that replays an experiment: its own spec (forms, inputs and their stored rows,
    repetitions, limits, variant) on `replay:<id>`; a matrix on `replay:<id>:<backend>` for
    each recorded backend, so each run is served from its own backend's calls. The Run page,
    History and the CLI all build replays here, so a replay is the same experiment wherever it
    is started. Fewer inputs or repetitions replay a part of the recording; more would ask for
    runs it does not hold. A replay is its starter's (`participant`), never its source's."""
    known = {f.name for f in dataclasses.fields(ExperimentSpec)}
    spec = ExperimentSpec(**{k: v for k, v in source.spec.items() if k in known})
    replays = [f"replay:{source.experiment_id}:{b}" for b in spec.backends]
    return dataclasses.replace(  # the replay serves every agent's calls: no assignment left
        spec, backend=replays[0] if replays else f"replay:{source.experiment_id}",
        backends=replays, replay_speed=speed, workers=1, agent_backends={},
        inputs=inputs or spec.inputs, repetitions=repetitions or spec.repetitions,
        participant=participant)


def missing_runs(plan: list[PlannedRun], done: set[RunKey]) -> list[PlannedRun]:
    """The planned runs not yet finished: what a resume runs and what History counts. A
    matrix knows a run by its backend too; an experiment of one backend by (form, input,
    repetition) alone, as before matrices, so a backend that opens under another id than
    its spec names (a test's scripted one) still finds its runs."""
    if len({p.backend for p in plan}) > 1:
        return [p for p in plan if p.key not in done]
    finished = {(form, input_id, rep) for form, _backend, input_id, rep in done}
    return [p for p in plan if p.recorded not in finished]
