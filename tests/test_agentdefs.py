"""Agent files: the shipped ones load; broken ones fail with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchlab.scenario.agentdefs import AgentDefError, load_scenario_agents, parse_agent_text

BUNDLED = Path(__file__).parent.parent / "scenarios" / "agents"
"""The bundled scenarios' agent files."""
GOOD = "---\nname: w\ndescription: writes\n---\nWrite well.\n"


def write(folder: Path, name: str, text: str) -> Path:
    (folder / "demo").mkdir(exist_ok=True)
    path = folder / "demo" / name
    path.write_text(text)
    return path


def test_shipped_sales_agents_load() -> None:
    defs = load_scenario_agents("sales_email", {"send_email"}, None, BUNDLED)
    assert set(defs) == {"professional_writer", "humorous_writer", "concise_writer", "picker",
                         "sales_manager", "planner", "critic"}
    manager = defs["sales_manager"]
    assert manager.tools == ["professional_writer", "humorous_writer", "concise_writer",
                             "send_email"]
    assert "exactly once" in manager.instructions


def test_no_init_file_shadows_the_sdk() -> None:
    assert not (BUNDLED / "__init__.py").exists()


@pytest.mark.parametrize("text,needle", [
    ("name: w\n", "missing YAML front matter"),
    ("---\nname: [unclosed\n---\nbody", "the front matter is not valid YAML at line"),
    ("---\ndescription: d\n---\nbody", "field 'name'"),
    ("---\nname: w\n---\nbody", "field 'description'"),
    ("---\nname: w\ndescription: d\ncolour: red\n---\nbody", "unknown field 'colour'"),
    ("---\nname: w\ndescription: d\nmodel_settings:\n  temperature: hot\n---\nbody",
     "model_settings.temperature"),
    ("---\nname: w\ndescription: d\nmodel_settings:\n  warmth: 1\n---\nbody",
     "model_settings.warmth"),
    ("---\nname: w\ndescription: d\n---\n", "field 'instructions'"),
])
def test_malformed_files_name_the_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, "broken.md", text)
    with pytest.raises(AgentDefError) as info:
        load_scenario_agents("demo", set(), None, tmp_path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_unknown_tool_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "m.md", "---\nname: m\ndescription: d\ntools: [teleport]\n---\nGo.")
    with pytest.raises(AgentDefError, match="unknown tool 'teleport'") as info:
        load_scenario_agents("demo", {"send_email"}, None, tmp_path)
    assert str(path) in str(info.value)


def test_variant_text_overrides_a_shipped_agent(tmp_path: Path) -> None:
    write(tmp_path, "w.md", GOOD)
    defs = load_scenario_agents("demo", set(), {"w": GOOD.replace("well", "badly")},
                                agents_dir=tmp_path)
    assert defs["w"].instructions == "Write badly."
    assert parse_agent_text(GOOD, "x").model_settings == {}


def test_run_overrides_win_but_unset_ones_keep_the_agents_own_settings() -> None:
    from sales_scripts import sales_backend

    from orchlab.scenario.agentdefs import build_agents

    defs = load_scenario_agents("sales_email", {"send_email"}, None, BUNDLED)
    from scenarios.sales_email import tools

    built = build_agents(defs, tools(), sales_backend(), {"temperature": 0.1, "max_tokens": None})
    assert built["picker"].model_settings.temperature == 0.1
    assert built["picker"].model_settings.max_tokens == 20  # from picker.md, not erased
    assert built["sales_manager"].model_settings.max_tokens == 600


def test_bad_yaml_names_the_line_and_the_field_in_one_sentence() -> None:
    text = "---\nname: picker\ndescription: picks\ntools: a: b\n---\nPick."
    with pytest.raises(AgentDefError) as info:
        load_scenario_agents("sales_email", {"send_email"}, {"picker": text}, BUNDLED)
    message = str(info.value)
    assert message == ("variant of picker: the front matter is not valid YAML at line 4, "
                       "field 'tools' (mapping values are not allowed here).")


def test_bad_yaml_without_a_field_still_names_the_line() -> None:
    with pytest.raises(AgentDefError) as info:
        parse_agent_text("---\nname: w\ndescription: d\n  - x: 'open\n---\nbody", "f.md")
    message = str(info.value)
    assert message.startswith("f.md: the front matter is not valid YAML at line ")
    assert "<unicode string>" not in message and "column" not in message
    assert message.endswith(").") and message.count(".") <= 2
