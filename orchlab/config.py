"""Settings from the environment and `.env`: the only place the project reads them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

ENV_STORE = "ORCHLAB_STORE"
ENV_BACKEND = "ORCHLAB_BACKEND"
ENV_EXPORT_TRACES = "ORCHLAB_EXPORT_OPENAI_TRACES"
ENV_COMPAT_KEY = "ORCHLAB_COMPAT_API_KEY"
ENV_OTLP_ENDPOINT = "ORCHLAB_OTLP_ENDPOINT"
ENV_OTLP_CONTENT = "ORCHLAB_OTLP_CONTENT"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

_dotenv_loaded = False


def load_env() -> None:
    """Load `.env` once (from the working directory, then the project root); env vars win."""
    global _dotenv_loaded
    if _dotenv_loaded:
        return
    from dotenv import load_dotenv

    for candidate in (Path.cwd() / ".env", PROJECT_ROOT / ".env"):
        if candidate.is_file():
            load_dotenv(candidate, override=False)
    _dotenv_loaded = True


def env(name: str) -> str | None:
    """An environment value after `.env` is loaded; empty strings count as unset."""
    load_env()
    value = os.environ.get(name, "").strip()
    return value or None


@contextlib.contextmanager
def store_in_env(path: str | os.PathLike[str]) -> Iterator[None]:
    """ORCHLAB_STORE set to `path` for the block (and the processes it starts), then put back:
    what a `--store` on the command line means for code that finds the store by itself."""
    before = os.environ.get(ENV_STORE)
    os.environ[ENV_STORE] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_STORE, None)
        else:
            os.environ[ENV_STORE] = before


def store_location(override: str | os.PathLike[str] | None = None) -> str:
    """What the user asked for as the store (override, else ORCHLAB_STORE), as given: a URL is
    told from a file path before anything is created."""
    return str(override) if override else (env(ENV_STORE) or "")


def url_scheme(location: str) -> str | None:
    """The scheme of a URL such as postgresql://host/db; None for a file path (a Windows drive
    letter is not a scheme: it has no //)."""
    scheme, sep, _rest = location.partition("://")
    ok = sep and scheme[:1].isalpha() and all(c.isalnum() or c in "+.-" for c in scheme)
    return scheme.lower() if ok else None


def shown_location(location: str) -> str:
    """A store location fit to show: a URL's password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    if url_scheme(location) is None:
        return location
    parts = urlsplit(location)
    if parts.password is None:
        return location
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def store_path(override: str | os.PathLike[str] | None = None) -> Path:
    """Store file: explicit override, else ORCHLAB_STORE, else the user's data dir."""
    if override:
        return Path(override).expanduser()
    configured = env(ENV_STORE)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("orchlab")) / "orchlab.sqlite"


def store_target(override: str | os.PathLike[str] | None = None) -> str:
    """The store to open: a URL as given (PostgreSQL), else the file path `store_path` gives."""
    location = store_location(override)
    return location if url_scheme(location) else str(store_path(override))


def export_openai_traces() -> bool:
    """Traces go to OpenAI only when the user opts in explicitly."""
    return env(ENV_EXPORT_TRACES) == "1"


def otlp_endpoint() -> str | None:
    """Where every run's spans go over OTLP/HTTP as it finishes (None: nowhere), unless the
    command line says otherwise (`run --otlp`)."""
    return env(ENV_OTLP_ENDPOINT)


def otlp_content() -> bool:
    """Message and tool text goes into exported spans only when the user opts in, as the
    OpenTelemetry GenAI conventions advise: it may hold personal data."""
    return env(ENV_OTLP_CONTENT) == "1"


def secret_values() -> list[str]:
    """Every configured secret, so that error messages and stored text can be scrubbed."""
    load_env()
    names = [n for n in os.environ if n.endswith(("_API_KEY", "_TOKEN", "_SECRET"))]
    values = [os.environ[n].strip() for n in names]
    return [v for v in values if len(v) >= 8]


def redact(text: str) -> str:
    """Replace any configured secret in `text` with a marker."""
    return redact_with(text, secret_values())


def redact_with(text: str, secrets: list[str]) -> str:
    """`redact` with the secrets already looked up (`secret_values()`): callers scrubbing many
    texts look them up once, since scanning the environment is the costly part."""
    for secret in secrets:
        text = text.replace(secret, "[REDACTED]")
    return text
