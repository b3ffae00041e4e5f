"""Scenarios from outside the lab: the user's folders, installed packages' entry points, and
one sentence for each module that gives no scenario while every other one still loads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents.testing import assistant_message, function_call
from apptest_pages import app_on, open_tab

from orchlab import backends
from orchlab.cli.main import main
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.scenario import Scenario, catalogue, discover, get_scenario
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer
from orchlab.testing.scripted import scripted_backend

ROOT = Path(__file__).resolve().parent.parent
TALLY = '''\
"""Count a word in a stored text: a scenario of the user's, outside the lab."""

from __future__ import annotations

from typing import Any

from agents import RunContextWrapper, function_tool

from orchlab.scenario import FlowEnv, Form, OutcomeInput, RunDeps, Scenario, ScenarioInput

from ._texts import TEXTS


def count_impl(deps: RunDeps, text_id: str, word: str) -> str:
    return str(TEXTS[text_id].lower().split().count(word.lower()))


@function_tool(name_override="count_word")
def _count(ctx: RunContextWrapper[RunDeps], text_id: str, word: str) -> str:
    """Count how often a word appears in a stored text.

    Args:
        text_id: The text's id.
        word: The word to count.
    """
    return count_impl(ctx.context, text_id, word)


async def code_flow(item: ScenarioInput, env: FlowEnv) -> str:
    n = await env.call_tool("count_word", count_impl, text_id=item.data["text_id"],
                            word=item.data["word"])
    return await env.run("reporter", f"The word appears {n} times. Say so.")


async def llm_flow(item: ScenarioInput, env: FlowEnv) -> str:
    return await env.run("counter", f"How often is {item.data['word']} in {item.data['text_id']}?")


def check_outcome(result: OutcomeInput) -> dict[str, Any]:
    ok = str(result.input.data["expected"]) in (result.final_output or "")
    return {"success": ok}


SCENARIO = Scenario(
    name="{name}",
    description="Count a word in a text.",
    inputs=[ScenarioInput("fox", "fox in t1", {{"text_id": "t1", "word": "fox", "expected": 2}})],
    tools=lambda: {{"count_word": _count}},
    forms=[Form("code", "code", "Code counts, the reporter says it.", code_flow),
           Form("llm", "llm", "A counter agent with the tool.", llm_flow)],
    check_outcome=check_outcome,
    rule="the answer states the right count",
)
'''
TEXTS = 'TEXTS = {"t1": "The fox saw another fox"}\n'
REPORTER = "---\nname: reporter\ndescription: Reports a count.\n---\nSay the count in words.\n"
COUNTER = ("---\nname: counter\ndescription: Counts words.\ntools: [count_word]\n---\n"
           "Use count_word, then answer with the count.\n")


def tally_text(name: str) -> str:
    """The module's text for a scenario of this name."""
    return TALLY.replace("{name}", name).replace("{{", "{").replace("}}", "}")


def user_folder(root: Path, name: str = "tally", texts: str = TEXTS) -> Path:
    """A folder as a user writes it from docs/SCENARIOS.md: module, helper, agent files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.py").write_text(tally_text(name), encoding="utf-8")
    (root / "_texts.py").write_text(texts, encoding="utf-8")
    agents = root / "agents" / name
    agents.mkdir(parents=True)
    (agents / "reporter.md").write_text(REPORTER, encoding="utf-8")
    (agents / "counter.md").write_text(COUNTER, encoding="utf-8")
    return root


def tally_backend(backend_id: str = "tscripted:x") -> backends.Backend:
    return scripted_backend({
        "reporter": lambda: [{"output": [assistant_message("It appears 2 times.")]}],
        "counter": lambda: [
            {"output": [function_call("count_word", {"text_id": "t1", "word": "fox"},
                                       call_id="c1")]},
            {"output": [assistant_message("fox appears 2 times.")]},
        ],
    }, backend_id=backend_id)


@pytest.fixture
def tscripted() -> Iterator[None]:
    backends.register("tscripted", lambda _rest: tally_backend(), "tally test backend")
    yield
    backends.unregister("tscripted")


def test_a_folder_scenario_runs_from_the_cli_in_every_form(
    tmp_path: Path, tscripted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = user_folder(tmp_path / "mine")
    store = tmp_path / "s.sqlite"
    code = main(["--scenarios", str(folder), "run", "--scenario", "tally", "--forms", "code,llm",
                 "--backend", "tscripted:x", "--store", str(store)])
    assert code == 0, capsys.readouterr().err
    runs = Store(store).load_runs().sort_values("form")
    assert list(runs["path"]) == ["count_word > reporter", "counter > count_word"]
    assert list(runs["status"]) == ["ok", "ok"] and runs["success"].all()
    assert "ORCHLAB_SCENARIOS" not in os.environ  # --scenarios held for the command only


def test_a_folder_scenario_replays_from_its_recording(
    tmp_path: Path, tscripted: None, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = user_folder(tmp_path / "mine")
    store = str(tmp_path / "s.sqlite")
    base = ["--scenarios", str(folder)]
    assert main([*base, "run", "--scenario", "tally", "--forms", "code,llm", "--repeat", "2",
                 "--backend", "tscripted:x", "--store", store]) == 0
    source = Store(store).list_experiments()[0].experiment_id
    capsys.readouterr()
    assert main([*base, "replay", source, "--speed", "0", "--store", store]) == 0, \
        capsys.readouterr().err
    replayed = Store(store).list_experiments()[0]
    assert replayed.replay_of == source and replayed.scenario == "tally"
    runs = Store(store).load_runs()
    paths = runs.groupby("experiment_id")["path"].apply(sorted).to_dict()
    assert paths[replayed.experiment_id] == paths[source] == [
        "count_word > reporter"] * 2 + ["counter > count_word"] * 2
    assert runs["success"].all()


def test_folders_from_the_environment_each_with_its_own_helpers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = user_folder(tmp_path / "one", "tally")
    two = user_folder(tmp_path / "two", "tally2", 'TEXTS = {"t1": "no such word here"}\n')
    monkeypatch.setenv("ORCHLAB_SCENARIOS", os.pathsep.join([str(one), str(two)]))
    found = catalogue()
    assert found.problems == [] and found.folders == [one, two]
    assert {"tally", "tally2", "sales_email", "weather", "troubleshooting"} <= set(found.scenarios)
    assert found.origins["tally"] == str(one / "tally.py")
    # Each folder is a package of its own: two `_texts.py` do not collide.
    from orchlab.scenario.tools import RunDeps

    deps = RunDeps()
    impl = [vars(__import__(s.forms[0].flow.__module__, fromlist=["x"]))["count_impl"]
            for s in (found.scenarios["tally"], found.scenarios["tally2"])]
    assert [f(deps, "t1", "fox") for f in impl] == ["2", "0"]
    assert found.scenarios["tally"].agents_home == one / "agents"


BROKEN = {
    "crash.py": ("import os\n\nraise RuntimeError('the database is down')\n",
                 "{f} cannot be loaded: RuntimeError: the database is down (line 3)."),
    "typo.py": ("def broken(:\n    pass\n",
                "{f} cannot be loaded: SyntaxError: invalid syntax (typo.py, line 1) (line 1)."),
    "missing.py": ("import not_a_module_anywhere\n",
                   "{f} cannot be loaded: ModuleNotFoundError: No module named "
                   "'not_a_module_anywhere' (line 1)."),
    "empty.py": ("X = 1\n", "{f} exposes no SCENARIO; a scenario module sets "
                 "SCENARIO = Scenario(...)."),
    "wrong.py": ("SCENARIO = 3\n", "{f} exposes SCENARIO of type int; a scenario module sets "
                 "SCENARIO = Scenario(...)."),
}


def test_each_broken_module_is_one_sentence_and_the_rest_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = user_folder(tmp_path / "mine")
    for name, (text, _) in BROKEN.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "orphan.py").write_text(tally_text("orphan"), encoding="utf-8")
    monkeypatch.setenv("ORCHLAB_SCENARIOS", str(folder))
    found = catalogue()
    expected = [sentence.format(f=folder / name) for name, (_, sentence) in BROKEN.items()]
    expected.append(f"{folder / 'orphan.py'}: scenario 'orphan' has no agent folder "
                    f"{folder / 'agents' / 'orphan'}.")
    assert sorted(found.problems) == sorted(expected)
    assert "tally" in found.scenarios and "sales_email" in found.scenarios
    with pytest.raises(LookupError) as info:  # asked for by name: the reason comes with it
        get_scenario("crash")
    assert str(info.value).endswith(BROKEN["crash.py"][1].format(f=folder / "crash.py"))
    assert str(info.value).startswith("Unknown scenario 'crash'; scenarios: ")


def test_a_name_defined_twice_names_both_places_and_keeps_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = user_folder(tmp_path / "one", "tally")
    two = user_folder(tmp_path / "two", "tally")
    (two / "weather.py").write_text(tally_text("weather"), encoding="utf-8")
    (two / "agents" / "weather").mkdir()
    monkeypatch.setenv("ORCHLAB_SCENARIOS", os.pathsep.join([str(one), str(two)]))
    found = catalogue()
    bundled = ROOT / "scenarios" / "weather.py"
    assert sorted(found.problems) == sorted([
        f"Scenario 'tally' is defined twice, in {one / 'tally.py'} and in {two / 'tally.py'}; "
        "the second is not loaded.",
        f"Scenario 'weather' is defined twice, in {bundled} and in {two / 'weather.py'}; the "
        "second is not loaded.",
    ])
    assert found.origins["weather"] == str(bundled)
    assert get_scenario("weather").agents_home == ROOT / "scenarios" / "agents"


def test_installed_packages_register_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    package = user_folder(site / "tallypkg", "tally")
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "tally.py").write_text((package / "tally.py").read_text().replace(
        "from ._texts", "from tallypkg._texts"), encoding="utf-8")
    (package / "counted.py").write_text(
        "import dataclasses\nfrom tallypkg.tally import SCENARIO as BASE\n"
        "COUNTED = dataclasses.replace(BASE, name='counted')\n", encoding="utf-8")
    (package / "agents" / "counted").mkdir()
    for agent in ("reporter.md", "counter.md"):
        (package / "agents" / "counted" / agent).write_text(
            (package / "agents" / "tally" / agent).read_text())
    info = site / "tallypkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tallypkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[orchlab.scenarios]\ntally = tallypkg.tally\ncounted = tallypkg.counted:COUNTED\n"
        "gone = tallypkg.nowhere:SCENARIO\nnumber = tallypkg.tally:count_impl\n")
    monkeypatch.syspath_prepend(str(site))
    found = catalogue()
    assert {"tally", "counted"} <= set(found.scenarios)
    assert found.scenarios["counted"].agents_home == package / "agents"
    assert sorted(found.problems) == [
        "entry point 'gone' (tallypkg.nowhere:SCENARIO) cannot be loaded: "
        "ModuleNotFoundError: No module named 'tallypkg.nowhere'.",
        "entry point 'number' (tallypkg.tally:count_impl) names no Scenario; it must name a "
        "Scenario object or a module exposing SCENARIO.",
    ]


def test_the_cli_warns_of_what_did_not_load_and_refuses_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = user_folder(tmp_path / "mine")
    (folder / "empty.py").write_text("X = 1\n", encoding="utf-8")
    assert main(["forms", "--scenarios", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "tally\n  code      code    Code counts" in out and "sales_email" in out
    assert err == (f"warning: {folder / 'empty.py'} exposes no SCENARIO; a scenario module "
                   "sets SCENARIO = Scenario(...).\n")
    missing = tmp_path / "nowhere"
    assert main(["--scenarios", str(missing), "forms"]) == 2
    assert capsys.readouterr().err == f"error: --scenarios {missing}: no such folder.\n"


def test_register_needs_the_agents_folder() -> None:
    from orchlab.scenario import register

    bare = Scenario(name="bare", description="", inputs=[], tools=dict, forms=get_scenario(
        "weather").forms[:1], check_outcome=lambda _r: {"success": True})
    with pytest.raises(LookupError, match=r"register\(\): scenario 'bare' needs agents_dir"):
        register(bare)
    assert "bare" not in discover()


@pytest.mark.slow  # worker processes
def test_worker_processes_find_a_folder_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = user_folder(tmp_path / "mine")
    monkeypatch.setenv("ORCHLAB_SCENARIOS", str(folder))
    store = Store(tmp_path / "w.sqlite")
    with FakeOpenAIServer(latency_s=0.0) as server:
        spec = ExperimentSpec("tally", forms=["code"], repetitions=4, concurrency=2, workers=2,
                              backend=f"compat:fake-model@{server.base_url}")
        result = run_experiment(spec, store)
    assert result.worker_cpu_s > 0.0  # the runs left this process
    assert [r.status for r in result.records] == ["ok"] * 4, result.records[0].error_message
    assert set(store.load_runs([result.experiment_id])["path"]) == {"count_word > reporter"}


def test_the_sidebar_and_the_agents_page_show_a_folder_scenario(
    tmp_path: Path, store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = user_folder(tmp_path / "mine")
    (folder / "empty.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.setenv("ORCHLAB_SCENARIOS", str(folder))
    at = app_on("views/agents.py")
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert f"Scenario folders read: {folder}" in captions.replace("\\", "")
    assert [w.value.replace("\\", "") for w in at.sidebar.warning] == [
        f"{folder / 'empty.py'} exposes no SCENARIO; a scenario module sets "
        "SCENARIO = Scenario(...)."]
    at.selectbox(key="agents_scenario").set_value("tally").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="agents_agent").options == ["counter", "reporter"]
    assert "count_word" in at.text_area[0].value
    assert str(folder / "agents" / "tally") in " ".join(c.value for c in at.caption).replace(
        "\\", "")
    area = at.text_area[0]
    area.set_value(area.value.replace("then answer", "then answer briefly")).run()
    at.text_input(key="agents_variant_name").set_value("brief").run()
    next(b for b in at.button if b.label == "Save as variant").click().run()
    assert not at.exception and not at.error, at.error
    assert set(Store(store_path).load_variant("tally", "brief")) == {"counter"}


@pytest.mark.parametrize("name", ["../../etc", "my scenario", "", "a/b", "-x"])
def test_a_scenario_name_that_is_no_folder_name_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The name is the agents' folder under agents_dir: `../..` would read prompts from
    anywhere on disk."""
    folder = user_folder(tmp_path / "mine")
    (folder / "odd.py").write_text(tally_text("odd").replace('name="odd"', f"name={name!r}"),
                                   encoding="utf-8")
    monkeypatch.setenv("ORCHLAB_SCENARIOS", str(folder))
    found = catalogue()
    line = tally_text("odd").splitlines().index("SCENARIO = Scenario(") + 1
    assert found.problems == [
        f"{folder / 'odd.py'} cannot be loaded: ScenarioError: Scenario name {name!r} must be "
        f"letters, digits, _ and -, starting with a letter or digit (line {line})."]
    assert "tally" in found.scenarios


def test_compare_shows_stored_runs_of_a_scenario_this_dashboard_did_not_load(
    tmp_path: Path, app_env: Path, tscripted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs are stored whole: when the folder is no longer read (another machine, an imported
    file, ORCHLAB_SCENARIOS unset), Compare still offers them, and says why the scenario is
    missing from the Run page."""
    from sales_scripts import sales_backend

    folder = user_folder(tmp_path / "mine")
    store = Store(app_env)
    run_experiment(ExperimentSpec("sales_email", inputs=["dana-acme"],
                                  backend="scripted:sales"), store, backend=sales_backend())
    monkeypatch.setenv("ORCHLAB_SCENARIOS", str(folder))
    theirs = run_experiment(ExperimentSpec("tally", backend="tscripted:x"), store,
                            backend=tally_backend()).experiment_id
    monkeypatch.delenv("ORCHLAB_SCENARIOS")
    at = app_on("views/compare.py")
    box = at.selectbox(key="compare_scenario")
    assert sorted(box.options) == ["sales_email", "tally"]
    box.set_value("tally").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="compare_experiments_tally").value[0].endswith(theirs)
    assert any("tally is not loaded by this dashboard" in c.value.replace("\\", "")
               for c in at.caption)
    open_tab(at, "compare_tab", "Paths")
    assert any("LLM-orchestrated runs deviated from the code-orchestrated path" in m.value
               for m in at.markdown)  # its runs, compared
