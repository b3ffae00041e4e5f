"""Agent definitions as data: `<agents_dir>/<scenario>/<agent>.md`, YAML front matter +
instructions (`agents_dir` is the scenario's: by default `agents/` beside its module).

Keeping prompts out of code lets users read and edit them in the UI, and lets an experiment
record exactly which text it ran with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from orchlab.core.errors import AgentDefError

if TYPE_CHECKING:
    from agents import Agent, Tool

    from orchlab.backends import Backend

REQUIRED = ("name", "description")
ALLOWED = {"name", "description", "tools", "handoffs", "model_settings", "judge"}
SETTINGS_TYPES: dict[str, tuple[type, ...]] = {
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "seed": (int,),
    "parallel_tool_calls": (bool,),
    "tool_choice": (str,),
}


@dataclass
class AgentDef:
    """One agent as loaded from its Markdown file."""

    name: str
    """Agent name; also its tool name when another agent calls it."""
    description: str
    """What it does: the tool description when used via `as_tool`."""
    instructions: str
    """The Markdown body: the system prompt."""
    tools: list[str] = field(default_factory=list)
    """Tool names and other agents' names it may call."""
    handoffs: list[str] = field(default_factory=list)
    """Agents it may hand the conversation to (the SDK's handoffs)."""
    model_settings: dict[str, Any] = field(default_factory=dict)
    """temperature, top_p, max_tokens, seed, parallel_tool_calls, tool_choice."""
    source: str = ""
    """File (or variant) it came from, for error messages."""
    judge: bool = False
    """A judge's prompt (front matter `judge: true`, `orchlab.scenario.judges`): it reads
    stored runs, so no form's run builds it (`load_scenario_agents` leaves it out) and it calls
    no tool."""


def parse_agent_text(text: str, source: str) -> AgentDef:
    """Parse one definition; raises AgentDefError naming `source` and the field."""
    if not text.startswith("---"):
        raise AgentDefError(f"{source}: missing YAML front matter (the file must start with ---).")
    _, sep, rest = text.partition("---")
    front, sep, body = rest.partition("\n---")
    if not sep:
        raise AgentDefError(f"{source}: front matter is not closed by a line with ---.")
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        raise AgentDefError(_yaml_problem(exc, front, source)) from None
    if not isinstance(meta, dict):
        raise AgentDefError(f"{source}: front matter must be a mapping of fields.")
    _check_fields(meta, source)
    instructions = body.lstrip("-").strip()
    if not instructions:
        raise AgentDefError(f"{source}: field 'instructions' (the body after ---) is empty.")
    return AgentDef(
        name=meta["name"], description=str(meta["description"]).strip(),
        instructions=instructions, tools=list(meta.get("tools") or []),
        handoffs=list(meta.get("handoffs") or []),
        model_settings=dict(meta.get("model_settings") or {}), source=source,
        judge=bool(meta.get("judge", False)),
    )


def _yaml_problem(exc: yaml.YAMLError, front: str, source: str) -> str:
    """One sentence for a YAML error: the parser's own text names "<unicode string>" and a
    column in the front matter alone, which means nothing to someone editing the whole file."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", "") or "").strip() or "it cannot be parsed"
    problem = problem.replace("'<stream end>'", "the end of the front matter").replace(
        "end of stream", "end of the front matter")
    if mark is None:
        return f"{source}: the front matter is not valid YAML ({problem})."
    line = mark.line + 1  # the front matter starts on the file's first line, after the ---
    lines = front.split("\n")
    key = re.match(r"\s*-?\s*([A-Za-z_][\w-]*)\s*:", lines[mark.line]) if mark.line < len(
        lines) else None
    field_part = f", field '{key.group(1)}'" if key else ""
    return f"{source}: the front matter is not valid YAML at line {line}{field_part} ({problem})."


def _check_fields(meta: dict[str, Any], source: str) -> None:
    for key in REQUIRED:
        if not meta.get(key) or not isinstance(meta[key], str):
            raise AgentDefError(f"{source}: field '{key}' is missing or not text.")
    unknown = set(meta) - ALLOWED
    if unknown:
        names = ", ".join(sorted(ALLOWED))
        raise AgentDefError(f"{source}: unknown field '{sorted(unknown)[0]}' (allowed: {names}).")
    for key, what in (("tools", "tool names"), ("handoffs", "agent names")):
        listed = meta.get(key) or []
        if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
            raise AgentDefError(f"{source}: field '{key}' must be a list of {what}.")
    if not isinstance(meta.get("judge", False), bool):
        raise AgentDefError(f"{source}: field 'judge' must be true or false.")
    if meta.get("judge") and (meta.get("tools") or meta.get("handoffs")):
        raise AgentDefError(f"{source}: a judge reads a run and calls nothing, so its fields "
                            "'tools' and 'handoffs' must be empty.")
    settings = meta.get("model_settings") or {}
    if not isinstance(settings, dict):
        raise AgentDefError(f"{source}: field 'model_settings' must be a mapping.")
    for key, value in settings.items():
        allowed = SETTINGS_TYPES.get(key)
        if allowed is None:
            raise AgentDefError(f"{source}: unknown field 'model_settings.{key}'.")
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            raise AgentDefError(f"{source}: field 'model_settings.{key}' has the wrong type.")


def load_scenario_agents(
    scenario: str,
    known_tools: set[str],
    overrides: Mapping[str, str] | None,
    agents_dir: Path,
) -> dict[str, AgentDef]:
    """The agents a scenario's forms run; `overrides` maps agent name -> edited text (a
    variant). Judges' files (`judge: true`) are left out: a run never builds them, so a
    backend need not serve them (`load_judge_agents` reads them)."""
    defs = {name: d for name, d in _all_agents(scenario, overrides, agents_dir).items()
            if not d.judge}
    for definition in defs.values():
        for tool in definition.tools:
            if tool not in known_tools and tool not in defs:
                raise AgentDefError(
                    f"{definition.source}: field 'tools' names unknown tool {tool!r} "
                    f"(known: {', '.join(sorted(known_tools | set(defs)))})."
                )
        for target in definition.handoffs:
            if target not in defs or target == definition.name:
                raise AgentDefError(
                    f"{definition.source}: field 'handoffs' names {target!r}, which is not "
                    f"another agent of this scenario (agents: {', '.join(sorted(defs))})."
                )
    return defs


def load_judge_agents(scenario: str, agents_dir: Path) -> dict[str, AgentDef]:
    """The scenario's judges' prompts (files with `judge: true`), as shipped: a judge is the
    same for every experiment it reads, whatever prompt variant the runs used."""
    return {name: d for name, d in _all_agents(scenario, None, agents_dir).items() if d.judge}


def _all_agents(scenario: str, overrides: Mapping[str, str] | None,
                agents_dir: Path) -> dict[str, AgentDef]:
    folder = agents_dir / scenario
    if not folder.is_dir():
        raise AgentDefError(f"{folder}: no agent folder for scenario {scenario!r}.")
    defs: dict[str, AgentDef] = {}
    for path in sorted(folder.glob("*.md")):
        definition = parse_agent_text(path.read_text(encoding="utf-8"), str(path))
        defs[definition.name] = definition
    for name, text in (overrides or {}).items():
        defs[name] = parse_agent_text(text, f"variant of {name}")
    return defs


def build_agents(
    defs: Mapping[str, AgentDef],
    tools: Mapping[str, Tool],
    backend: Backend,
    settings_override: Mapping[str, Any] | None = None,
) -> dict[str, Agent[Any]]:
    """SDK agents for the definitions; agents named in `tools` become `as_tool` tools.

    Agents hold no run state (that lives in RunDeps), so the runner builds them once per
    experiment when the backend shares its models, and per run otherwise.
    """
    built: dict[str, Agent[Any]] = {}

    def build(name: str, trail: tuple[str, ...]) -> Agent[Any]:
        if name in built:
            return built[name]
        if name in trail:
            raise AgentDefError(f"{defs[name].source}: agents call each other in a cycle: "
                                f"{' -> '.join((*trail, name))}.")
        built[name] = _make_agent(defs[name], tools, backend, settings_override, build, trail)
        return built[name]

    for name in defs:
        build(name, ())
    for name, definition in defs.items():  # after all are built: handoffs may form cycles
        built[name].handoffs = [built[target] for target in definition.handoffs]
    return built


def _make_agent(
    definition: AgentDef, tools: Mapping[str, Tool], backend: Backend,
    settings_override: Mapping[str, Any] | None, build: Any, trail: tuple[str, ...],
) -> Agent[Any]:
    from agents import Agent

    from orchlab.scenario.tools import budgeted, tool_failure

    overrides = {k: v for k, v in (settings_override or {}).items() if v is not None}
    agent_tools: list[Tool] = []
    for tool in definition.tools:
        if tool in tools:
            agent_tools.append(budgeted(tools[tool]))
        else:
            sub = build(tool, (*trail, definition.name))
            agent_tools.append(budgeted(sub.as_tool(
                tool_name=tool, tool_description=sub.handoff_description,
                failure_error_function=tool_failure,
            )))
    return Agent(
        name=definition.name,
        instructions=definition.instructions,
        handoff_description=definition.description,
        tools=agent_tools,
        model=_recorded(backend, definition.name),
        model_settings=model_settings({**definition.model_settings, **overrides}),
    )


def _recorded(backend: Backend, agent_name: str) -> Any:
    """The agent's model inside the call recorder (`orchlab.measure.calls`), outermost, so a replay
    can serve each call again; a backend that logs what it serves itself is left as is."""
    model = backend.model_for(agent_name)
    if not backend.records_calls:
        return model
    from orchlab.measure.calls import RecordingModel

    return RecordingModel(model, agent_name)


def model_settings(values: Mapping[str, Any]) -> Any:
    """SDK ModelSettings from plain values; the seed travels in extra_args."""
    from agents import ModelSettings

    values = {k: v for k, v in values.items() if v is not None}
    seed = values.pop("seed", None)
    return ModelSettings(**values, extra_args={"seed": seed} if seed is not None else None)


def agent_sources(scenario: str, agents_dir: Path, *, judges: bool | None = None
                  ) -> dict[str, Path]:
    """Agent name -> its shipped file, for reading and editing: every file (judges too, so
    the Agents page edits them), or with `judges` False only the forms' agents, True only the
    judges."""
    folder = agents_dir / scenario
    sources = {}
    for path in sorted(folder.glob("*.md")):
        definition = parse_agent_text(path.read_text(encoding="utf-8"), str(path))
        if judges is None or definition.judge == judges:
            sources[definition.name] = path
    return sources


def check_variant(scenario: str, known_tools: set[str], edits: Mapping[str, str],
                  agents_dir: Path) -> None:
    """Raise AgentDefError unless the edited texts load together with the shipped agents. An
    edit keeps its agent's name and whether it is a judge (a form's agent turned judge would
    vanish from the runs, a judge turned agent would join them), and a variant holds no
    judge: runs never read a judge's prompt, and judging reads the shipped file, so a judge
    is changed by overwriting its file (a new prompt version)."""
    _check_edits(scenario, known_tools, edits, agents_dir, judges=False)


def _check_edits(scenario: str, known_tools: set[str], edits: Mapping[str, str],
                 agents_dir: Path, *, judges: bool) -> None:
    shipped = _all_agents(scenario, None, agents_dir)
    for name, text in edits.items():
        edited = parse_agent_text(text, f"variant of {name}")
        if edited.name != name:
            raise AgentDefError(f"variant of {name}: field 'name' must stay {name!r}.")
        if name in shipped and edited.judge != shipped[name].judge:
            raise AgentDefError(f"variant of {name}: field 'judge' must stay "
                                f"{str(shipped[name].judge).lower()}.")
        if edited.judge and not judges:
            raise AgentDefError(f"variant of {name}: a judge's prompt is not part of a "
                                "variant (runs never read it); overwrite its file to change "
                                "the judge, which makes a new prompt version.")
    load_scenario_agents(scenario, known_tools, edits, agents_dir)


def overwrite_shipped(scenario: str, agent: str, text: str, known_tools: set[str],
                      agents_dir: Path) -> Path:
    """Replace a shipped agent file after the same checks a variant gets (a judge's file
    too: this is how a judge's prompt is edited)."""
    _check_edits(scenario, known_tools, {agent: text}, agents_dir, judges=True)
    path = agent_sources(scenario, agents_dir)[agent]
    path.write_text(text.rstrip() + "\n", encoding="utf-8")
    return path
