"""`replay:<experiment_id>`: a recorded experiment's model calls served again, offline.

Everything but the model is real: the SDK, the flows, the tools, the recorder, the outcome
checks and the store. An experiment that ran several backends (a model matrix) is replayed one
recorded backend per replay backend, `replay:<experiment_id>:<backend id>`, so each run is
served from the calls of the backend it was recorded on. For each run (form, input,
repetition) each agent gets that agent's recorded answers to the same requests, after
sleeping the recorded latency times the spec's `replay_speed`. A request the recording does
not hold (a changed prompt, code or tool output) ends the run as `replay_diverged`, naming the
agent and the call; nothing is invented.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agents.models.interface import Model

from orchlab.backends.base import Backend, Factory
from orchlab.backends.traced import TracedModel
from orchlab.core import config
from orchlab.core.backend_ids import is_local_id
from orchlab.core.errors import BackendError, ReplayDiverged, ReplayedFailure
from orchlab.core.records import ModelCall
from orchlab.measure.calls import CURRENT, RunCalls, request_hash

Recording = dict[tuple[str, str, int], list[ModelCall]]
"""One recorded backend's calls by (form, input_id, repetition): `PlannedRun.recorded`."""


def replay_backend(rest: str) -> Backend:
    """The recording of one experiment of the store in use (`--store` / ORCHLAB_STORE):
    `<experiment_id>` for an experiment of one backend, `<experiment_id>:<backend id>` for
    one backend of a matrix (an experiment id holds no colon; a backend id may)."""
    from orchlab.store.store import Store

    experiment_id, _, wanted = rest.partition(":")
    store = Store(config.store_target())
    try:
        source = store.get_experiment(experiment_id)
        if source is None:
            raise BackendError(f"There is no experiment {experiment_id!r} to replay in the "
                               f"store {store.shown}: import its file first.")
        if not source.records_calls:
            raise BackendError(f"Experiment {source.experiment_id} is not replayable: it was "
                               "stored before model calls were recorded.")
        recorded = store.load_recording(source.experiment_id)
        runs = store.load_runs([source.experiment_id])[["backend", "model", "per_agent"]]
    finally:
        store.close()
    if not recorded:
        raise BackendError(f"Experiment {source.experiment_id} has no finished run to replay.")
    backends = list(dict.fromkeys(key[1] for key in recorded))
    replay_id = f"replay:{source.experiment_id}"
    if wanted:
        if wanted not in backends:
            raise BackendError(f"Experiment {source.experiment_id} has no finished run on "
                               f"{wanted} to replay; it ran on {', '.join(backends)}.")
        replay_id += f":{wanted}"
    elif len(backends) > 1:
        raise BackendError(f"Experiment {source.experiment_id} ran {len(backends)} backends "
                           f"({', '.join(backends)}): replay it with `orchlab replay "
                           f"{source.experiment_id}`, or one backend as "
                           f"replay:{source.experiment_id}:<backend>.")
    else:
        wanted = backends[0]
    recording = {(form, input_id, rep): calls
                 for (form, backend, input_id, rep), calls in recorded.items()
                 if backend == wanted}
    mine = runs[runs["backend"] == wanted]
    model_name = str(mine["model"].iloc[0])
    agent_ids = dict(source.spec.get("agent_backends") or {})
    models = {agent: figures["model"] for per_agent in mine["per_agent"]  # an assignment's
              for agent, figures in per_agent.items()  # agents answered as their own models
              if agent in agent_ids and figures.get("model")}
    _items()  # built here, not inside the first replayed run's wall time
    return Backend(
        id=replay_id, model_name=model_name,
        make_model=lambda agent: TracedModel(ReplayModel(recording, agent),
                                             models.get(agent, model_name)),
        max_concurrency=1 if is_local_id(wanted) else None,
        shared_models=True, records_calls=False, prices_as=wanted,
        agent_ids=agent_ids,
        scenario=source.scenario, replay_of=source.experiment_id,
        notes=[f"replays {source.experiment_id} ({wanted}): no model is called"],
    )


class ReplayModel(Model):
    """One agent's recorded answers, served to the requests they answered."""

    def __init__(self, recording: Recording, agent: str) -> None:
        self.recording = recording
        self.agent = agent

    async def get_response(
        self, system_instructions: str | None, input: Any, model_settings: Any, tools: Any,
        output_schema: Any, handoffs: Any, tracing: Any, **kwargs: Any,
    ) -> Any:
        calls = CURRENT.get()
        if calls is None:
            raise ReplayDiverged("A replayed model answers only inside a run.")
        seq = calls.next_seq(self.agent)
        wanted = request_hash(system_instructions, input, tools, output_schema, handoffs)
        call = self._match(calls, seq, wanted)
        calls.served.add((call.agent, call.seq))
        await asyncio.sleep(call.latency_ms / 1000 * calls.speed)
        calls.log.append(call)
        if call.error is not None:
            error_class, _, message = call.error.partition(": ")
            raise ReplayedFailure(f"(replayed) {message}", error_class)
        return _response(call)

    def _match(self, calls: RunCalls, seq: int, wanted: str) -> ModelCall:
        """The recorded call for this request: the one asked at the same place, else another
        unserved call of this agent with the same request (parallel calls may start in another
        order), else the replay has parted from the recording."""
        form, input_id, rep = calls.key
        recorded = self.recording.get(calls.key)
        if recorded is None:
            raise ReplayDiverged(f"The recording has no run of {form} on {input_id} "
                                 f"#{rep}: a replay runs only the runs it recorded.")
        mine = [c for c in recorded
                if c.agent == self.agent and (c.agent, c.seq) not in calls.served]
        same = [c for c in mine if c.request_hash == wanted]
        if same:
            return next((c for c in same if c.seq == seq), same[0])
        recorded_n = sum(c.agent == self.agent for c in recorded)
        why = (f"the recording holds only {recorded_n} calls of {self.agent}"
               if seq >= recorded_n else
               "its request differs from the recorded one (a changed prompt, code or tool "
               "output)")
        raise ReplayDiverged(f"The replay parted from the recording at {self.agent}'s call "
                             f"{seq + 1}: {why}.")

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("replay serves whole responses only")


def _response(call: ModelCall) -> Any:
    from agents.items import ModelResponse
    from agents.usage import Usage
    from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

    usage = call.usage
    return ModelResponse(
        output=[_item(i) for i in call.output],
        usage=Usage(
            requests=int(usage.get("requests", 1)),
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            total_tokens=int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0)),
            input_tokens_details=_details(InputTokensDetails,
                                          cached_tokens=int(usage.get("cached_tokens", 0))),
            output_tokens_details=_details(
                OutputTokensDetails, reasoning_tokens=int(usage.get("reasoning_tokens", 0))),
        ),
        response_id=None,
    )


def _details(model: Any, **values: int) -> Any:
    """Token details with every field the installed openai release requires (2.45+ added
    cache_write_tokens) set to 0 unless given."""
    required = {name: 0 for name, f in model.model_fields.items() if f.is_required()}
    return model.model_validate(required | values)


_ITEMS: Any = None


def _items() -> Any:
    """The validator of output items: the Responses union is large, so it is built once."""
    global _ITEMS
    if _ITEMS is None:
        from openai.types.responses import ResponseOutputItem
        from pydantic import TypeAdapter

        _ITEMS = TypeAdapter(ResponseOutputItem)
    return _ITEMS


def _item(data: dict[str, Any]) -> Any:
    """A stored output item back as the Responses type the SDK expects."""
    return _items().validate_python(data)


FACTORIES: dict[str, tuple[Factory, str]] = {
    "replay": (replay_backend, "A recorded experiment served again: replay:<experiment_id> "
               "(one backend of a matrix: replay:<experiment_id>:<backend>)"),
}
"""The replay prefix, as the registry installs it."""
