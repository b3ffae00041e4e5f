"""The resolved-backend record every factory returns.

A leaf module: the factories (`openai_compat`, `local`) import it, and the registry in the
package imports them, so nothing imports its way back up to the registry.
"""

from __future__ import annotations

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

    @property
    def local(self) -> bool:
        """Runs on this machine's embedded model (`backend_ids.is_local_id`, the one answer)."""
        return is_local_id(self.id)

    def model_for(self, agent_name: str) -> Model:
        """The Model this agent runs on for one run (`agentdefs.build_agents` wraps it in
        the call recorder when `records_calls`)."""
        return self.make_model(agent_name)


Factory = Callable[[str], Backend]
"""Builds the backend for the part of an id after its prefix."""
