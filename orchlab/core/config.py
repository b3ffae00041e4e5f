"""Settings from the environment and `.env`: the only place the project reads them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV_STORE = "ORCHLAB_STORE"
ENV_BACKEND = "ORCHLAB_BACKEND"
ENV_EXPORT_TRACES = "ORCHLAB_EXPORT_OPENAI_TRACES"
ENV_COMPAT_KEY = "ORCHLAB_COMPAT_API_KEY"
ENV_COMPAT_BASE_URL = "ORCHLAB_COMPAT_BASE_URL"
ENV_COMPAT_KEY_HOSTS = "ORCHLAB_COMPAT_KEY_HOSTS"
ENV_OTLP_ENDPOINT = "ORCHLAB_OTLP_ENDPOINT"
ENV_OTLP_CONTENT = "ORCHLAB_OTLP_CONTENT"
ENV_SCENARIOS = "ORCHLAB_SCENARIOS"

PROJECT_ROOT = Path(__file__).resolve().parents[2]

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
def set_in_env(name: str, value: str) -> Iterator[None]:
    """An environment variable set for the block (and the processes it starts), then put
    back: what a command-line option means for code that reads the setting by itself."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def store_in_env(path: str | os.PathLike[str]) -> contextlib.AbstractContextManager[None]:
    """ORCHLAB_STORE set to `path` for the block: what `--store` means."""
    return set_in_env(ENV_STORE, str(path))


def scenarios_in_env(folders: list[str]) -> contextlib.AbstractContextManager[None]:
    """ORCHLAB_SCENARIOS with `folders` ahead of what it held, for the block: what
    `--scenarios DIR` means (the job and worker processes the block starts read it too)."""
    current = env(ENV_SCENARIOS)
    absolute = [str(Path(f).expanduser().resolve()) for f in folders]
    return set_in_env(ENV_SCENARIOS, os.pathsep.join([*absolute, *([current] if current else [])]))


def scenario_folders() -> list[Path]:
    """The user's scenario folders, in order: ORCHLAB_SCENARIOS split on os.pathsep."""
    value = env(ENV_SCENARIOS) or ""
    seen: list[Path] = []
    for part in value.split(os.pathsep):
        if part.strip() and (path := Path(part.strip()).expanduser()) not in seen:
            seen.append(path)
    return seen


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


def host_of(url: str) -> str:
    """host:port of a URL, lower-case, the scheme's default port written out: the unit a key
    is bound to (http://Box:80/v1 and http://box/v1 are one host)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is no number: the text as given, never a match
        return parts.netloc.lower()
    return f"{(parts.hostname or '').lower()}:{port}"


def compat_key_hosts() -> list[str]:
    """The hosts ORCHLAB_COMPAT_API_KEY was configured for: the host of
    ORCHLAB_COMPAT_BASE_URL and those listed in ORCHLAB_COMPAT_KEY_HOSTS (comma-separated
    host:port or URLs). A backend id can arrive from a file, an import, a URL or the
    sidebar; the key goes only where the user of this machine said it belongs."""
    hosts = [host_of(u) for u in [env(ENV_COMPAT_BASE_URL) or ""] if u]
    for item in (env(ENV_COMPAT_KEY_HOSTS) or "").split(","):
        item = item.strip()
        if item:
            hosts.append(host_of(item if "://" in item else f"http://{item}"))
    return sorted(set(hosts))


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


SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
"""A variable whose name holds one of these words holds a secret (OPENAI_API_KEY,
AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, DB_PASSWORD)."""
NOT_SECRET = {ENV_COMPAT_KEY_HOSTS}
"""Names with such a word that hold no secret: host names appear in backend ids."""
_URL_NAMES = ("URL", "URI", "DSN", "STORE")
"""Variables that may hold a URL with a password in it (ORCHLAB_STORE, DATABASE_URL)."""
MIN_SECRET = 8
"""Shorter values are left alone: replacing "dev" or "true" everywhere would garble text."""


def secret_values() -> list[str]:
    """Every configured secret, so that stored, exported, reported, printed and exported-over-
    OTLP text can be scrubbed: the values of variables named as secrets (SECRET_WORDS), and
    the password of a URL in a variable named as one (_URL_NAMES: a store URL's,
    `postgresql://u:pw@host/db`).
    Looked up as the environment is now: a key set or rotated between two calls is seen."""
    load_env()
    values = set()
    for name in os.environ:  # names only: decoding every value would cost 7x (measured)
        kind = _NAME_KINDS.get(name)
        if kind is None:
            kind = _NAME_KINDS[name] = _name_kind(name)
        if kind == "secret":
            values.add(os.environ[name].strip())
        elif kind == "url":
            values.add(_url_password(os.environ[name]))
    return sorted((v for v in values if len(v) >= MIN_SECRET), key=len, reverse=True)


_NAME_KINDS: dict[str, str] = {}
"""What each variable name holds ("secret", "url" or ""), decided once per name: a value is
read fresh on every call, so a key set or rotated between two calls is seen."""


def _name_kind(name: str) -> str:
    upper = name.upper()
    if name not in NOT_SECRET and any(word in upper for word in SECRET_WORDS):
        return "secret"
    return "url" if upper.endswith(_URL_NAMES) else ""


def _url_password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    if "@" not in url:
        return ""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""


def redact(text: str) -> str:
    """Replace any configured secret in `text` with a marker."""
    return redact_with(text, secret_values())


def redact_json(value: Any, secrets: list[str]) -> Any:
    """`redact_with` over every text of a JSON value (keys included), e.g. an inputs file's
    row: a cell pasted from somewhere may hold a key."""
    if isinstance(value, str):
        return redact_with(value, secrets)
    if isinstance(value, list):
        return [redact_json(v, secrets) for v in value]
    if isinstance(value, dict):
        return {redact_with(str(k), secrets) if isinstance(k, str) else k:
                redact_json(v, secrets) for k, v in value.items()}
    return value


def redact_with(text: str, secrets: list[str]) -> str:
    """`redact` with the secrets already looked up (`secret_values()`): callers scrubbing many
    texts look them up once, since scanning the environment is the costly part."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    return text
