"""Each private name orchlab.core.compat reads still exists in the installed dependency, and no
other module of the product reads a dependency's private name."""

from __future__ import annotations

import ast
import importlib
import logging
from importlib.metadata import version
from pathlib import Path

import pytest

from orchlab.core import compat

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_NAMES = ("_multi_processor", "_processors", "_shared_internal", "_init_sampler",
                 "_grammar")


def test_the_installed_releases_are_the_minor_versions_compat_was_checked_against() -> None:
    """Moving a requirement's range past the release named here fails until someone reads the
    private uses again and updates CHECKED_AGAINST."""
    def minor(release: str) -> list[str]:
        return release.split(".")[:2]

    assert {name: minor(version(name)) for name in compat.CHECKED_AGAINST} == \
        {name: minor(release) for name, release in compat.CHECKED_AGAINST.items()}


def test_the_sdk_trace_processors_are_readable_and_include_ours() -> None:
    from orchlab.measure.recorder import install_recorder

    recorder = install_recorder()
    processors = compat.sdk_trace_processors()
    assert processors is not None, "openai-agents moved provider._multi_processor._processors"
    assert recorder in processors


def test_the_otel_batch_logger_is_a_module_of_the_installed_sdk() -> None:
    module = importlib.import_module(compat.OTEL_BATCH_LOGGER)
    assert any(isinstance(value, logging.Logger) and value.name == compat.OTEL_BATCH_LOGGER
               for value in vars(module).values()), "the batch processor's logger moved"


def test_llama_cpp_keeps_the_sampler_factory_and_the_grammar_text() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    assert callable(getattr(llama_cpp.Llama, "_init_sampler", None))
    grammar = llama_cpp.LlamaGrammar.from_string('root ::= "yes" | "no"', verbose=False)
    assert compat.llama_grammar_text(grammar).startswith("root ::=")


def test_replacing_the_sampler_factory_touches_one_instance_only() -> None:
    class Llama:
        def _init_sampler(self) -> str:
            return "library"

    one, other = Llama(), Llama()
    compat.replace_llama_sampler_factory(one, lambda: "ours")
    assert compat.llama_sampler_factory(one)() == "ours"
    assert compat.llama_sampler_factory(other)() == "library"


def test_no_other_product_module_reads_a_private_name_of_a_dependency() -> None:
    readers = []
    for pkg in ("orchlab", "scenarios", "views"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path.name == "compat.py" or "testing" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                own = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in ("self", "cls")  # a class's own private attribute
                name = (node.attr if isinstance(node, ast.Attribute) and not own else
                        node.value if isinstance(node, ast.Constant) else None)
                if isinstance(name, str) and any(name == p or name.endswith("." + p)
                                                 for p in PRIVATE_NAMES):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert readers == []
