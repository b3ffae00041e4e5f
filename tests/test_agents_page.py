"""Agents page: saving onto an existing variant name never drops agents without being told to."""

from __future__ import annotations

from pathlib import Path

from apptest_pages import app_on
from streamlit.testing.v1 import AppTest

from orchlab.store.store import Store

NAME = "terse-manager"
MANAGER_OLD = "Never send more than one email."
MANAGER_NEW = "Never, ever send more than one email."
PICKER_OLD = "Answer with exactly one word"
PICKER_NEW = "Answer with one single word"




def edit(at: AppTest, agent: str, old: str, new: str) -> None:
    at.selectbox(key="agents_agent").set_value(agent).run()
    area = at.text_area[0]
    assert old in area.value
    area.set_value(area.value.replace(old, new)).run()


def press(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def save_new(at: AppTest, agent: str, old: str, new: str, name: str = NAME) -> None:
    edit(at, agent, old, new)
    at.text_input(key="agents_variant_name").set_value(name).run()
    press(at, "Save as variant")


def saved(store_path: Path) -> dict[str, str]:
    return Store(store_path).load_variant("sales_email", NAME)


def picker_edit_onto_the_manager_variant(app_env: Path) -> AppTest:
    """The issue's scenario: terse-manager holds a sales_manager edit; a new session then
    edits picker and aims the save at the same name."""
    save_new(app_on("views/agents.py"), "sales_manager", MANAGER_OLD, MANAGER_NEW)
    assert set(saved(app_env)) == {"sales_manager"}
    at = app_on("views/agents.py")
    edit(at, "picker", PICKER_OLD, PICKER_NEW)
    at.text_input(key="agents_variant_name").set_value(NAME).run()
    return at


def test_a_plain_save_onto_an_existing_name_writes_nothing(app_env: Path) -> None:
    at = picker_edit_onto_the_manager_variant(app_env)
    press(at, "Save as variant")
    assert set(saved(app_env)) == {"sales_manager"}
    assert MANAGER_NEW in saved(app_env)["sales_manager"]
    assert any("Nothing saved" in w.value and NAME in w.value for w in at.warning)


def test_the_page_shows_what_the_name_holds_and_what_the_save_changes(app_env: Path) -> None:
    at = picker_edit_onto_the_manager_variant(app_env)
    text = " ".join(m.value for m in at.markdown) + " ".join(w.value for w in at.warning)
    assert f"{NAME!r} already exists" in text
    assert "adds picker" in text and "sales_manager" in text


def test_merge_keeps_the_agents_of_both(app_env: Path) -> None:
    at = picker_edit_onto_the_manager_variant(app_env)
    press(at, f"Merge into {NAME}")
    texts = saved(app_env)
    assert set(texts) == {"sales_manager", "picker"}
    assert MANAGER_NEW in texts["sales_manager"] and PICKER_NEW in texts["picker"]
    assert any(f"Merged into {NAME!r}" in s.value for s in at.success)


def test_merge_lets_the_new_text_win_for_an_agent_in_both(app_env: Path) -> None:
    at = picker_edit_onto_the_manager_variant(app_env)
    at.selectbox(key="agents_agent").set_value("sales_manager").run()
    area = at.text_area[0]
    area.set_value(area.value.replace("Ledgerly", "Ledgerly Inc")).run()
    press(at, f"Merge into {NAME}")
    texts = saved(app_env)
    assert "Ledgerly Inc" in texts["sales_manager"] and MANAGER_NEW not in texts["sales_manager"]
    assert PICKER_NEW in texts["picker"]


def test_replace_needs_its_own_confirmation_then_keeps_only_the_new_text(app_env: Path) -> None:
    at = picker_edit_onto_the_manager_variant(app_env)
    replace = next(b for b in at.button if b.label == f"Replace {NAME}")
    assert replace.disabled
    assert set(saved(app_env)) == {"sales_manager"}
    at.checkbox(key=f"agents_replace_confirm_sales_email_{NAME}_0").check().run()
    assert not next(b for b in at.button if b.label == f"Replace {NAME}").disabled
    press(at, f"Replace {NAME}")
    assert set(saved(app_env)) == {"picker"}
    assert any(f"Replaced {NAME!r}" in s.value for s in at.success)


def test_the_replace_confirmation_resets_when_the_name_changes(app_env: Path) -> None:
    at = picker_edit_onto_the_manager_variant(app_env)
    Store(app_env).save_variant("sales_email", "other", {"sales_manager": saved(app_env)[
        "sales_manager"]})
    at.checkbox(key=f"agents_replace_confirm_sales_email_{NAME}_0").check().run()
    at.text_input(key="agents_variant_name").set_value("other").run()
    box = next(c for c in at.checkbox if "replace" in c.label.lower())
    assert "other" in box.label and not box.value
    assert next(b for b in at.button if b.label == "Replace other").disabled


def test_start_from_a_variant_and_merge_under_its_name_keeps_loaded_and_edits(
    app_env: Path,
) -> None:
    save_new(app_on("views/agents.py"), "sales_manager", MANAGER_OLD, MANAGER_NEW)
    at = app_on("views/agents.py")
    at.selectbox(key="agents_base").set_value(NAME).run()
    edit(at, "picker", PICKER_OLD, PICKER_NEW)
    at.text_input(key="agents_variant_name").set_value(NAME).run()
    press(at, f"Merge into {NAME}")
    texts = saved(app_env)
    assert set(texts) == {"sales_manager", "picker"}
    assert MANAGER_NEW in texts["sales_manager"]


def test_switching_start_from_shows_the_variants_text_not_the_last_one(app_env: Path) -> None:
    """The definition box follows "Start from": a text left from the original must not become
    an edit that would overwrite the variant's own text on the next save."""
    save_new(app_on("views/agents.py"), "sales_manager", MANAGER_OLD, MANAGER_NEW)
    at = app_on("views/agents.py")
    at.selectbox(key="agents_agent").set_value("sales_manager").run()
    assert MANAGER_OLD in at.text_area[0].value
    at.selectbox(key="agents_base").set_value(NAME).run()
    assert MANAGER_NEW in at.text_area[0].value
    assert any("Edited in this variant: sales_manager" in c.value for c in at.caption)
    edit(at, "picker", PICKER_OLD, PICKER_NEW)
    at.text_input(key="agents_variant_name").set_value(NAME).run()
    press(at, f"Merge into {NAME}")
    assert MANAGER_NEW in saved(app_env)["sales_manager"]


def test_a_new_name_saves_at_once(app_env: Path) -> None:
    at = app_on("views/agents.py")
    save_new(at, "picker", PICKER_OLD, PICKER_NEW, name="fresh")
    assert set(Store(app_env).load_variant("sales_email", "fresh")) == {"picker"}
    assert any("Saved variant 'fresh'" in s.value for s in at.success)


def test_bad_yaml_on_the_page_is_one_sentence_naming_the_line(app_env: Path) -> None:
    at = app_on("views/agents.py")
    at.selectbox(key="agents_agent").set_value("picker").run()
    bad = "---\nname: picker\ndescription: picks\ntools: a: b\n---\nPick."
    at.text_area[0].set_value(bad).run()
    at.text_input(key="agents_variant_name").set_value("broken").run()
    press(at, "Save as variant")
    assert [e.value for e in at.error] == [
        "variant of picker: the front matter is not valid YAML at line 4, field 'tools' "
        "(mapping values are not allowed here)."]
    assert Store(app_env).list_variants("sales_email") == []
