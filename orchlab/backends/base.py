"""The resolved-backend record every factory returns.

A leaf module: the factories (`openai_compat`, `local`) import it, and the registry in the
package imports them, so nothing imports its way back up to the registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchlab.core.backend_ids import is_local_id

if TYPE_CHECKING:
    from agents.models.interface import Model


@dataclass
class Backend:
    """A resolved backend: hands out the Model each agent runs on."""

    id: str
    """Registry key it was resolved from."""
    model_name: str
    """Model name recorded on runs and used for pricing."""
    make_model: Callable[[str], Model]
    """Returns the Model for the named agent; real backends ignore the name."""
    max_concurrency: int | None = None
    """Upper bound on simultaneous requests (1 for the in-process model); None: no bound."""
    shared_models: bool = False
    """make_model hands every run the same Model objects, so a run's agents can be reused."""
    remote: bool = False
    """Talks to a server by id alone, so worker processes can each open it again."""
    notes: list[str] = field(default_factory=list)
    """Facts the UI and CLI should show, e.g. 'runs one request at a time'."""
    check: Callable[[], None] | None = None
    """Asks the server again whether it answers (BackendError in one sentence if not); the
    runner calls it before each experiment, since a cached backend outlives its server.
    None: nothing outside this process to ask."""

    records_calls: bool = True
    """Wrap each agent's model in `calls.RecordingModel`; False for a backend that logs the
    calls it serves itself (a replay logs the recorded calls, not its own sleeps)."""
    prices_as: str | None = None
    """Price runs as this backend id would be priced (a replay costs what its recording
    cost); None: as this backend's own id."""
    scenario: str | None = None
    """The only scenario this backend can serve (a replay: its recording's); None: any."""
    replay_of: str | None = None
    """The experiment whose recorded calls this backend serves again; None: a live model."""

    agent_ids: dict[str, str] = field(default_factory=dict)
    """The agents of an assignment that run elsewhere: agent -> the backend id each one's
    calls are recorded and priced as (`with_agents`; a replay of an assignment: its
    recording's). Empty: every agent on this backend."""
    parts: tuple[Backend, ...] = ()
    """The other backends an assignment sends agents to (`with_agents`): a run holds each
    bounded one's slot too, and `check` asks each."""

    @property
    def local(self) -> bool:
        """Runs on this machine's embedded model (`backend_ids.is_local_id`, the one answer)."""
        return is_local_id(self.id)

    @property
    def slot_key(self) -> str:
        """What a bounded backend's runs queue on (`execution.run_slots`): its id, but one key
        for every embedded model, since two GGUFs generating at once share this machine's
        cores and would each time the other's work."""
        return "local:" if self.local else self.id

    def with_agents(self, agents: dict[str, Backend]) -> Backend:
        """This backend with an assignment: each named agent's model comes from its own
        backend, recorded and priced as that backend's (`agent_ids`), and a run holds every
        bounded backend's slot (`parts`). Itself when no agent runs elsewhere."""
        elsewhere = {agent: b for agent, b in agents.items() if b.id != self.id}
        if not elsewhere:
            return self
        parts = tuple({b.id: b for b in elsewhere.values()}.values())
        everyone = (self, *parts)

        def make_model(agent_name: str) -> Model:
            return elsewhere.get(agent_name, self).make_model(agent_name)

        def check() -> None:
            for backend in everyone:
                if backend.check is not None:
                    backend.check()

        return dataclasses.replace(
            self, make_model=make_model, check=check, parts=parts,
            shared_models=all(b.shared_models for b in everyone),
            remote=all(b.remote for b in everyone),
            agent_ids={agent: b.id for agent, b in sorted(elsewhere.items())},
            notes=[*self.notes, *(f"{b.id} {note}" for b in parts for note in b.notes)])

    def model_for(self, agent_name: str) -> Model:
        """The Model this agent runs on for one run (`agentdefs.build_agents` wraps it in
        the call recorder when `records_calls`)."""
        return self.make_model(agent_name)


Factory = Callable[[str], Backend]
"""Builds the backend for the part of an id after its prefix."""
