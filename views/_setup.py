"""The Run page's choices that lead to a spec: the quick-start preset (on the embedded model)
and presenter mode's one-input form. Layout only: specs come from `orchlab.running.presets` and
`orchlab.running.spec.replay_spec`, the same functions the CLI and History use."""

from __future__ import annotations

import streamlit as st

from orchlab.core.records import ExperimentRecord
from orchlab.running import presets
from orchlab.running.presets import Preset
from orchlab.running.spec import ExperimentSpec, replay_spec
from orchlab.scenario import DEFAULT_FORMS, Scenario
from orchlab.store.store import Store

LIMIT_KEYS = ("run_reps", "run_max_tokens", "run_max_turns", "run_timeout")
"""The Run form's widgets a preset fills (the user can still change them)."""
DEFAULTS = ExperimentSpec(scenario="")
"""The dataclass's defaults: the full settings, as the CLI has them."""


def _limits(preset: Preset | None) -> dict[str, int]:
    """Widget values of a preset, or of the defaults (0 tokens: each agent's own limit)."""
    if preset is None:
        values = (DEFAULTS.repetitions, 0, DEFAULTS.max_turns, DEFAULTS.timeout_s)
    else:
        values = (preset.repetitions, preset.max_tokens, preset.max_turns, preset.timeout_s)
    return {k: int(v) for k, v in zip(LIMIT_KEYS, values, strict=True)}


def _fill(preset: Preset | None, overwrite: bool) -> None:
    """Widgets read these keys (they take no `value=`), so a choice can refill them."""
    for key, value in _limits(preset).items():
        if overwrite or key not in st.session_state:
            st.session_state[key] = value


def _on_preset(preset: Preset) -> None:
    _fill(preset if st.session_state["run_preset"] == "quick" else None, overwrite=True)


def preset_choice(backend_id: str) -> Preset | None:
    """On the embedded model, quick start (first) or the full settings; returns the preset
    chosen. The choice fills the limits, which stay editable; elsewhere only the defaults."""
    preset = presets.offered(backend_id)
    if preset is None:
        _fill(None, overwrite=False)
        return None
    if "run_preset" not in st.session_state:
        st.session_state["run_preset"] = "quick"
        _fill(preset, overwrite=True)
    choices = {"quick": f"Quick start (about a minute: {preset.describe()})",
               "full": f"Full settings ({DEFAULTS.repetitions} repetition, each agent's own "
                       f"reply limit, {DEFAULTS.max_turns} turns per agent, runs stopped at "
                       f"{DEFAULTS.timeout_s:g} s)"}
    picked = st.radio("Settings for the embedded model", list(choices), key="run_preset",
                      format_func=choices.__getitem__, on_change=_on_preset, args=(preset,))
    return preset if picked == "quick" else None


def replayable(store: Store, scenario: str, input_id: str) -> list[ExperimentRecord]:
    """Recorded experiments of the scenario that hold runs of this input, newest first."""
    return [e for e in store.list_experiments()
            if e.scenario == scenario and e.records_calls and e.status == "completed"
            and (not e.spec.get("inputs") or input_id in e.spec["inputs"])]


def presenter_form(store: Store, scenario: Scenario, backend_id: str) -> ExperimentSpec | None:
    """One input, one run per form and Start; the sidebar's backend or a recorded experiment
    replayed at its own pace. Returns the spec once Start is pressed."""
    inputs = {i.id: i.label for i in scenario.inputs}
    input_id = st.selectbox("Input", list(inputs), format_func=inputs.__getitem__,
                            key=f"run_present_input_{scenario.name}")
    sources: list[ExperimentRecord | None] = [None, *replayable(store, scenario.name, input_id)]
    source = st.selectbox(
        "Model", sources, key="run_present_source",
        format_func=lambda e: f"The sidebar's: {backend_id}" if e is None else
        f"Replay {e.experiment_id} ({e.backend}, recorded {e.created_at:%Y-%m-%d %H:%M})"
    ) if len(sources) > 1 else None
    quick = preset_choice(backend_id) if source is None else None
    if not st.button("Start", type="primary", key="run_present_start"):
        return None
    if source is not None:
        return replay_spec(source, speed=1.0, inputs=[input_id], repetitions=1)
    forms = [f for f in DEFAULT_FORMS if f in scenario.form_ids]
    spec = presets.experiment_spec(scenario.name, backend_id, forms=forms, inputs=[input_id],
                                   repetitions=1)
    return presets.apply(spec, quick) if quick else spec
