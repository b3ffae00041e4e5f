"""Named settings for a first experiment, and the Run page's one way to build a spec.

On the embedded model (`local:`) a run with each agent's own reply limit (512 tokens), ten
turns and five minutes allowed can take minutes when SmolLM2 loops. The quick-start preset
bounds every reply, turn count and run, so a first result shows within about a minute; the
spec records the preset's name so History and the Run page say which settings a result came
from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from orchlab.core.backend_ids import is_local_id
from orchlab.running.spec import ExperimentSpec


@dataclass(frozen=True)
class Preset:
    """Limits that replace the defaults, under a name the spec records."""

    name: str
    """Stored as `ExperimentSpec.preset`, e.g. "quick-start"."""
    repetitions: int
    """Runs per form and input."""
    max_tokens: int
    """Per-reply token limit for every agent (`model_settings["max_tokens"]`)."""
    timeout_s: float
    """Per-run timeout in seconds: a looping run is stopped, not waited for."""
    max_turns: int
    """Turn limit of every agent run."""

    def describe(self) -> str:
        """What it changes, for the choice's label."""
        reps = f"{self.repetitions} repetition{'s' if self.repetitions != 1 else ''}"
        return (f"{reps}, replies up to {self.max_tokens} tokens, at most {self.max_turns} "
                f"turns per agent, runs stopped at {self.timeout_s:g} s")


QUICK_START = Preset("quick-start", repetitions=1, max_tokens=128, timeout_s=90.0, max_turns=4)
"""Measured on two cores (sales_email, one input, code and llm): first run 6 s, all 12 s,
against 13 s and 39 s with the full settings; a looping reply stops at 128 tokens."""


PRESETS: dict[str, Preset] = {QUICK_START.name: QUICK_START}
"""Presets by name: what `run --preset` accepts."""


def offered(backend_id: str) -> Preset | None:
    """The preset the Run page offers on this backend: quick start on the embedded model."""
    return QUICK_START if is_local_id(backend_id) else None


def apply(spec: ExperimentSpec, preset: Preset) -> ExperimentSpec:
    """A copy of `spec` with the preset's limits, its name recorded."""
    settings = {**spec.model_settings, "max_tokens": preset.max_tokens}
    return replace(spec, repetitions=preset.repetitions, model_settings=settings,
                   timeout_s=preset.timeout_s, max_turns=preset.max_turns, preset=preset.name)


PRESET_LIMITS = {"repetitions": ("--repeat", "repetition", "repetitions"),
                 "max_tokens": ("--max-tokens", "token per reply", "tokens per reply"),
                 "timeout_s": ("--timeout", "s per run", "s per run"),
                 "max_turns": ("--max-turns", "turn per agent", "turns per agent")}
"""The limits a preset sets, with the option that sets each and how it is said."""


def replaced(preset: Preset, typed: dict[str, Any]) -> dict[str, Any]:
    """The options typed (`typed`, by PRESET_LIMITS key, None: not typed) that differ from
    the preset's own limits: those the person's option replaces."""
    return {key: value for key, value in typed.items()
            if value is not None and value != getattr(preset, key)}


def replacement_notes(preset: Preset, typed: dict[str, Any]) -> list[str]:
    """Each replacement (`replaced`) in words, e.g. "--repeat 3 replaces quick-start's 1
    repetition"; none when every option typed equals the preset's."""
    notes = []
    for key, value in replaced(preset, typed).items():
        own = getattr(preset, key)
        option, one, many = PRESET_LIMITS[key]
        shown = f"{own:g}" if isinstance(own, float) else str(own)
        notes.append(f"{option} {value:g} replaces {preset.name}'s {shown} "
                     f"{one if own == 1 else many}")
    return notes


def with_options(spec: ExperimentSpec, preset: Preset, typed: dict[str, Any]
                 ) -> ExperimentSpec:
    """`spec` under the preset, except where the person typed an option the preset sets too
    (`typed`, as `replaced` reads it): the option typed wins, since it is the later and more
    specific wish, and the spec no longer records the preset, whose limits it does not run
    with (`replacement_notes` says so)."""
    spec = apply(spec, preset)
    wins = replaced(preset, typed)
    for key, value in wins.items():
        if key == "max_tokens":
            spec = replace(spec, model_settings={**spec.model_settings, "max_tokens": value})
        else:
            spec = replace(spec, **{key: value})
    return replace(spec, preset=None) if wins else spec


def matches(spec: ExperimentSpec, preset: Preset) -> bool:
    """Whether the spec runs with exactly the preset's limits (the user may have edited them)."""
    return (spec.repetitions == preset.repetitions and spec.timeout_s == preset.timeout_s
            and spec.max_turns == preset.max_turns
            and spec.model_settings.get("max_tokens") == preset.max_tokens)


def experiment_spec(scenario: str, backend: str, **choices: Any) -> ExperimentSpec:
    """The spec the Run page starts, in normal and presenter mode alike: the dataclass's
    defaults (the CLI's too), the user's choices, and the offered preset's name when the
    limits are still the preset's, so a label never claims settings that were changed."""
    spec = ExperimentSpec(scenario=scenario, backend=backend, **choices)
    preset = next((p for b in spec.backend_ids if (p := offered(b))), None)  # any matrix's
    return replace(spec, preset=preset.name if preset and matches(spec, preset) else None)
