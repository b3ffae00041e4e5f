"""The Run page's choices that lead to a spec: the quick-start preset (on the embedded model),
an inputs file, and presenter mode's one-input form. Layout only: specs come from
`orchlab.running.presets` and `orchlab.running.spec.replay_spec`, a file's rows from
`orchlab.scenario.parse_inputs_file`: the same functions the CLI and History use."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from orchlab.core.errors import InputsFileError
from orchlab.core.records import ExperimentRecord
from orchlab.running import presets
from orchlab.running.presets import Preset
from orchlab.running.spec import ExperimentSpec, replay_spec
from orchlab.scenario import DEFAULT_FORMS, InputsFile, Scenario, parse_inputs_file
from orchlab.store.store import Store
from views._widgets import escape_md

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


def inputs_upload(scenario: Scenario) -> tuple[InputsFile | None, bool]:
    """The inputs-file upload (CSV or JSONL) that replaces the scenario's inputs for this
    experiment: (the file read, or None; whether a file was refused). A refusal is one error
    (the file's text is someone else's: escaped); a file read is a caption saying so."""
    upload = st.file_uploader(
        "Inputs from a file (optional): CSV or JSONL", type=["csv", "jsonl"],
        key=f"run_inputs_upload_{scenario.name}",
        help="Your own cases instead of the scenario's inputs: an `id` column, an optional "
             "`label`, every other column goes into the input's data (ground truth too). CSV "
             "needs a header row; JSONL is one JSON object per line. Stored with the "
             "experiment.")
    if upload is None:
        return None, False
    loaded, problem = read_upload(scenario, upload.getvalue(), upload.name)
    if problem is not None:
        st.error(escape_md(problem))
        return None, True
    assert loaded is not None
    st.caption(escape_md(loaded.sentence()))
    return loaded, False


def read_upload(scenario: Scenario, data: bytes, name: str
                ) -> tuple[InputsFile | None, str | None]:
    """An uploaded file read for the scenario (its input_model checks the rows): the file,
    or the sentence that refuses it."""
    try:
        return parse_inputs_file(data, name, scenario.input_model), None
    except InputsFileError as exc:
        return None, str(exc)


def file_input_choices(loaded: InputsFile) -> dict[str, str]:
    """Option text -> input id for a file's rows: "label (id)", the id alone when the label
    is the id (ids alone if two texts would be the same)."""
    choices = {r["id"] if r["label"] == r["id"] else f"{r['label']} ({r['id']})": r["id"]
               for r in loaded.rows}
    return choices if len(choices) == len(loaded.rows) else {i: i for i in loaded.ids}


def file_key(loaded: InputsFile) -> str:
    """A short digest of a file's rows: another file gets a fresh inputs multiselect."""
    text = json.dumps([loaded.name, loaded.rows], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def replayable(store: Store, scenario: str, input_id: str) -> list[ExperimentRecord]:
    """Recorded experiments of the scenario that hold runs of this input, newest first (by
    the inputs their spec stored, when it stored them)."""
    def ran(spec: dict[str, object]) -> bool:
        rows = spec.get("input_rows")
        if isinstance(rows, list):
            return any(isinstance(r, dict) and r.get("id") == input_id for r in rows)
        inputs = spec.get("inputs")
        return not inputs or (isinstance(inputs, list) and input_id in inputs)

    return [e for e in store.list_experiments()
            if e.scenario == scenario and e.records_calls and e.status == "completed"
            and ran(e.spec)]


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
