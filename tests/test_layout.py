"""The core's shape: each subpackage of orchlab is a layer that imports only the layers below
it, imports point one way (no circles, lazy imports included), no module imports another's
private names, dependencies' private APIs stay in one compat module, test fakes stay out of the
product path, and prepare() changes nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from orchlab.running.runner import ExperimentSpec, prepare

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchlab", "scenarios")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import, at load or inside a function (a lazy import still
    ties two modules together); TYPE_CHECKING blocks are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, names in imports(path):
            for candidate in [target, *(f"{target}.{n}" for n in names)]:
                # `from pkg import mod` loads pkg too: an edge to both
                if candidate in modules and candidate != name:
                    edges[name].add(candidate)
    return edges


LAYERS = ("core", "measure", "scenario", "stats", "store", "backends", "integrations", "judging",
          "running", "present", "cli", "testing")
"""orchlab's subpackages from the bottom up (docs/ARCHITECTURE.md says why this order)."""


def layer(module: str) -> str | None:
    """orchlab.running.runner -> "running"; orchlab itself and its __main__ are no layer."""
    parts = module.split(".")
    return parts[1] if parts[0] == "orchlab" and len(parts) > 1 and parts[1] in LAYERS else None


def upward(edges: dict[str, set[str]]) -> list[str]:
    return [f"{source} -> {target}" for source, targets in sorted(edges.items())
            for target in sorted(targets)
            if (a := layer(source)) and (b := layer(target)) and LAYERS.index(b) > LAYERS.index(a)]


def test_every_orchlab_module_lives_in_a_layer() -> None:
    loose = [m for m in graph() if m.startswith("orchlab.") and m != "orchlab.__main__"
             and layer(m) is None]
    assert loose == []


def test_each_layer_imports_only_the_layers_below_it() -> None:
    assert upward(graph()) == []


def test_the_layer_rule_reports_an_upward_import() -> None:
    """Not vacuous: the edge the move removed (the store's importer reaching up to the runner
    for a new id) is reported, and a downward one is not."""
    assert upward({"orchlab.store.importer": {"orchlab.running.runner"}}) == \
        ["orchlab.store.importer -> orchlab.running.runner"]
    assert upward({"orchlab.running.runner": {"orchlab.store.store"}}) == []


def test_the_architecture_diagram_lists_each_layer_s_modules() -> None:
    """docs/ARCHITECTURE.md's layer diagram stays true to the tree: each layer's line (and its
    continuation lines) names exactly the modules in that subpackage (`local*` covers a prefix;
    parentheses are notes), in the order of LAYERS from the top."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    listed: dict[str, list[str]] = {}
    current = None
    for line in block.splitlines():
        words = line.split(maxsplit=1)
        if words and words[0] in LAYERS:
            current = words[0]
            listed[current] = []
            line = words[1] if len(words) > 1 else ""
        elif not line.startswith(" ") or current is None:
            continue
        names = re.sub(r"\([^)]*\)", "", line).replace(",", " ").split()
        listed[current].extend(n for n in names if n != "__init__")
    assert list(listed) == list(reversed(LAYERS))
    for name, modules in listed.items():
        files = sorted(p.stem for p in (ROOT / "orchlab" / name).glob("*.py")
                       if p.stem != "__init__")
        covered = sorted(f for f in files if any(
            f == m or (m.endswith("*") and f.startswith(m[:-1])) for m in modules))
        assert covered == files, f"{name}: the diagram misses {set(files) - set(covered)}"
        assert all(m.endswith("*") or m in files for m in modules), f"{name}: {modules}"


def test_the_bundled_scenarios_use_only_the_public_scenario_api() -> None:
    """scenarios/ is written as a user would write one: orchlab.scenario is the whole API."""
    reached = sorted({f"{p.name}: {target}" for p in (ROOT / "scenarios").rglob("*.py")
                      for target, _ in imports(p)
                      if target.startswith("orchlab") and target != "orchlab.scenario"})
    assert reached == []


def test_no_import_circles_at_load() -> None:
    edges, state, cycles = graph(), {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_private_names_imported_across_modules() -> None:
    private = [(module_name(p), target, n)
               for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
               for target, names in imports(p) if target.startswith(PACKAGES)
               for n in names if n.startswith("_") and not n.startswith("__")]
    private = [(m, t, n) for m, t, n in private if t != "scenarios"]  # scenario helper modules
    assert private == []


def test_the_product_path_never_imports_the_test_fakes() -> None:
    users = [module_name(p) for pkg in (*PACKAGES, "views") for p in (ROOT / pkg).rglob("*.py")
             if "orchlab.testing" in p.read_text(encoding="utf-8")
             and "orchlab/testing" not in str(p)]
    assert users == []


def test_prepare_changes_nothing_it_is_given() -> None:
    spec = ExperimentSpec("sales_email")
    prepared = prepare(spec)
    assert spec.backend == "" and prepared.spec.backend  # a resolved copy, the original kept
    assert prepared.spec is not spec
