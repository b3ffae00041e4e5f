"""A workshop: one dashboard shared by a class, each browser session a named participant.

The setting is read from the environment (or `.env`) when the server starts, like every other
setting: `ORCHLAB_WORKSHOP=1` turns it on, `ORCHLAB_TEACHER_PASSWORD` is the teacher's
password. Without the first nothing here applies and experiments record no participant.

A participant is a name, not an account: the class trusts itself, as it shares one screen in a
room. The teacher's password is the one thing that lets a session act for everyone (delete any
experiment, open the class board, start a replay for the class). It is a secret by its name
(`config.SECRET_WORDS`), so it is scrubbed from everything the lab writes, and it is compared
in constant time.
"""

from __future__ import annotations

import hmac
import unicodedata
from dataclasses import dataclass, field

from orchlab.core import config

ENV_WORKSHOP = "ORCHLAB_WORKSHOP"
"""Set to 1 (true, yes, on) to start the dashboard for a workshop."""
ENV_TEACHER_PASSWORD = "ORCHLAB_TEACHER_PASSWORD"
"""The teacher's password, set when the server starts; none: no session can be the teacher."""
NAME_MAX_CHARS = 40
"""Longest participant name: a first name or a handle, short enough for a table cell."""
PASSWORD_MIN_CHARS = config.MIN_SECRET
"""A shorter password would not be scrubbed from what the lab writes (`config.MIN_SECRET`)."""
_ON = {"1", "true", "yes", "on"}


class WorkshopError(ValueError):
    """A participant's name or an action the workshop refuses, in one sentence."""


@dataclass(frozen=True)
class Workshop:
    """The workshop setting as the server read it."""

    enabled: bool
    """Whether the dashboard serves a class: names, "mine" and "the class", a teacher."""
    password: str | None = field(default=None, repr=False)
    """The teacher's password (never shown, never stored); None: no teacher."""
    problem: str | None = None
    """Why the teacher's password cannot be used, in one sentence; None when it can."""

    @property
    def has_teacher(self) -> bool:
        """Whether some session can sign in as the teacher."""
        return self.enabled and self.password is not None

    def is_password(self, attempt: str) -> bool:
        """Whether `attempt` is the teacher's password (constant time: a wrong guess takes as
        long whatever it shares with the password)."""
        if not self.has_teacher or self.password is None:
            return False
        return hmac.compare_digest(attempt.encode(), self.password.encode())


def read() -> Workshop:
    """The workshop setting from the environment (and `.env`)."""
    enabled = (config.env(ENV_WORKSHOP) or "").strip().lower() in _ON
    password = config.env(ENV_TEACHER_PASSWORD)
    if not enabled or not password:
        return Workshop(enabled)
    if len(password) < PASSWORD_MIN_CHARS:
        return Workshop(True, None, f"{ENV_TEACHER_PASSWORD} must be at least "
                                    f"{PASSWORD_MIN_CHARS} characters; no session can be the "
                                    "teacher until it is set again and the server restarted.")
    return Workshop(True, password)


def checked_name(name: str) -> str:
    """A participant's name, trimmed; WorkshopError when nothing is left, it is over
    NAME_MAX_CHARS characters or it holds a control character (a name is shown in tables and
    captions, and must read as what it is)."""
    trimmed = " ".join(name.split())
    if not trimmed:
        raise WorkshopError("Type a name: your experiments are kept under it.")
    if len(trimmed) > NAME_MAX_CHARS:
        raise WorkshopError(f"A name is at most {NAME_MAX_CHARS} characters; this one has "
                            f"{len(trimmed)}.")
    if any(unicodedata.category(c).startswith("C") for c in trimmed):
        raise WorkshopError("A name cannot hold control or invisible characters.")
    return trimmed


def mine(owner: str | None, participant: str | None) -> bool:
    """Whether an experiment recorded by `owner` belongs to `participant`: outside a workshop
    (no participant) every experiment is the user's own."""
    return participant is None or owner == participant


def refusal(owner: str | None, participant: str | None, teacher: bool,
            action: str = "delete") -> str | None:
    """Why `participant` may not `action` (delete, resume) an experiment `owner` recorded;
    None when they may. The teacher may act on any; a participant on their own only."""
    if teacher or mine(owner, participant):
        return None
    if owner:
        return f"This experiment is {owner}'s: only they or the teacher can {action} it."
    return f"This experiment was recorded outside the workshop: only the teacher can {action} it."
