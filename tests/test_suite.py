"""The suite: plan and estimate first, runs resumed or skipped, tables written that `report` reproduces."""

import json
import re

import pytest

import bench.paper.suites as paper_suites
import bench.suite as suite_module
from bench.cli import main
from bench.errors import BenchError
from bench.lifecycle import RunConfig
from bench.paper.suites import BASELINES, PAPER
from bench.registry import parse_editor_args
from bench.report import report
from bench.sources import collect
from bench.suite import (
    Suite,
    SuiteRun,
    _page_choices,
    covered_cases,
    entry_folders,
    estimate,
    measured_speeds,
    plan,
    run_suite,
    seconds_per_case,
    writable_folder,
)
from tests.test_runner import _record


@pytest.fixture
def tiny_suite(tmp_path, monkeypatch):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(4)]))
    suite = Suite("tiny", (
        SuiteRun("counterfact", f"counterfact:{path}", ("noedit", "ft-m"), ("table2",)),
        SuiteRun("counterfact-sequential", f"counterfact:{path}", ("noedit",), ("table10",), protocol="sequential",
                 num_edits=100, eval_every=2),
        SuiteRun("counterfact-batch", f"counterfact:{path}", ("noedit",), ("batch",), protocol="batch",
                 batch_size=100),
    ))
    monkeypatch.setitem(suite_module.SUITES, "tiny", suite)
    calls = []
    real_run = suite_module.run
    monkeypatch.setattr(suite_module, "run", lambda cfg: calls.append((cfg.out, cfg.resume)) or real_run(cfg))
    return calls


BASE = RunConfig(editors=[], dataset="", out="", model="tiny-llama", device="cpu", bootstrap=50)


def test_plan_caps_sequential_edits_and_runs_the_mquake_split_in_full():
    runs = {r.name: cfg for r, cfg in plan(PAPER, 30, skip={"mello"})}
    assert runs["counterfact-sequential"].num_edits == 30 and runs["counterfact-sequential"].eval_every == 10
    assert runs["counterfact"].limit == 30 and runs["mquake-test"].limit is None
    assert "mello" not in runs["mquake-test"].editors
    assert {r.name for r, _ in plan(PAPER, 30, skip=set(), only={"zsre"})} == {"zsre"}


def test_baselines_suite_batches_are_capped_by_the_limit():
    runs = {r.name: cfg for r, cfg in plan(BASELINES, 30, skip=set())}
    assert runs["counterfact-batch"].protocol == "batch" and runs["counterfact-batch"].batch_size == 30
    assert {r.name: cfg.batch_size for r, cfg in plan(BASELINES, 300, skip=set())}["zsre-batch"] == 100
    assert runs["counterfact"].batch_size == 1 and runs["counterfact"].editors == [
        "rome", "r-rome", "memit", "pmet", "emmet", "alphaedit", "lora", "serac", "serac-icl", "grace", "wise"]
    assert runs["zsre-batch"].editors == ["memit", "pmet", "emmet", "alphaedit"]


def test_dry_run_prints_the_estimate_and_runs_nothing(tiny_suite, tmp_path, capsys):
    assert run_suite("tiny", str(tmp_path / "s"), 3, set(), dry_run=True, base=BASE) == 0
    err = capsys.readouterr().err
    assert "estimated time still to run:" in err and "counterfact-sequential" in err
    assert tiny_suite == [] and not (tmp_path / "s").exists()


def test_suite_skips_finished_runs_and_its_tables_are_reproduced_by_report(tiny_suite, tmp_path, capsys):
    out = tmp_path / "s"
    assert run_suite("tiny", str(out), 3, set(), only={"counterfact"}, base=BASE) == 0
    assert [o for o, _ in tiny_suite] == [str(out / "counterfact")]
    assert run_suite("tiny", str(out), 3, set(), base=BASE) == 0  # the first run is finished: not run again
    assert [o for o, _ in tiny_suite] == [str(out / n) for n in ("counterfact", "counterfact-sequential",
                                                                  "counterfact-batch")]
    assert json.loads((out / "counterfact-batch" / "config.json").read_text())["args"]["batch_size"] == 3
    table = (out / "tables" / "table2.md").read_text()
    assert table == report([str(out / "counterfact")], "markdown", ci=True, table="table2")
    assert "ft-m" in table and (out / "tables" / "table10.tex").exists() and (out / "tables" / "batch.md").exists()
    assert "--table table2 --format markdown --ci" in (out / "tables" / "COMMANDS.md").read_text()
    err = capsys.readouterr().err
    second = err.split("estimated time")[-2]  # the second estimate marks finished editors with their time
    recorded = json.loads((out / "counterfact" / "config.json").read_text())["editors"]["ft-m"]["seconds"]
    assert re.search(r"counterfact\s+ft-m\s+3\s+done\s+" + re.escape(suite_module.hms(recorded)), second)
    assert "time the finished editors took:" in err


def test_an_absolute_out_below_the_working_directory_is_written_relative(tiny_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_suite("tiny", str(tmp_path / "s"), 3, set(), only={"counterfact"}, base=BASE) == 0
    commands = (tmp_path / "s" / "tables" / "COMMANDS.md").read_text()
    assert str(tmp_path) not in commands and "report s/counterfact --table table2" in commands
    assert str(tmp_path) not in (tmp_path / "s" / "explorer.html").read_text()


def test_an_interrupted_run_is_resumed(tiny_suite, tmp_path):
    out = tmp_path / "s"
    (out / "counterfact").mkdir(parents=True)
    assert main(["run", "--editors", "noedit", "--dataset", tiny_dataset(tmp_path),
                 "--model", "tiny-llama", "--device", "cpu", "--limit", "3", "--out", str(out / "counterfact"),
                 "--bootstrap", "50"]) == 0
    # noedit finished, ft-m never started: the suite resumes that directory instead of refusing it
    assert run_suite("tiny", str(out), 3, set(), only={"counterfact"}, base=BASE) == 0
    assert tiny_suite == [(str(out / "counterfact"), True)]
    rows = [json.loads(x) for x in (out / "counterfact" / "cases.jsonl").read_text().splitlines()]
    assert sorted({r["editor"] for r in rows}) == ["ft-m", "noedit"]


def test_an_editor_interrupted_midway_is_not_finished(tiny_suite, tmp_path, monkeypatch):
    """An interrupted editor has no summary row but keeps its rows: the suite counts them, and runs the rest."""
    import bench.runner as runner

    out, real = tmp_path / "s", runner.run_protocol

    def stopped_after_two(*args):
        for i, unit in enumerate(real(*args)):
            if i == 2:
                raise KeyboardInterrupt("stopped by SIGTERM")
            yield unit

    monkeypatch.setattr(runner, "run_protocol", stopped_after_two)
    assert main(["run", "--editors", "noedit", "--dataset", tiny_dataset(tmp_path), "--model", "tiny-llama",
                 "--device", "cpu", "--limit", "3", "--out", str(out / "counterfact"), "--bootstrap", "50"]) != 0
    assert covered_cases(out / "counterfact") == {"noedit": 2}
    (planned,) = suite_module.plan(suite_module.SUITES["tiny"], 3, set(), {"counterfact"})
    (row,) = [r for r in estimate([planned], {"counterfact": 3}, {"noedit": 10.0},
                                  {"counterfact": covered_cases(out / "counterfact")}, {}) if r[1] == "noedit"]
    assert row[3] == 10.0  # the one case still to run, not all three
    monkeypatch.setattr(runner, "run_protocol", real)
    assert run_suite("tiny", str(out), 3, set(), only={"counterfact"}, base=BASE) == 0
    rows = [json.loads(x) for x in (out / "counterfact" / "cases.jsonl").read_text().splitlines()]
    assert len({r["case_id"] for r in rows if r["editor"] == "noedit"}) == 3


def tiny_dataset(tmp_path) -> str:
    return f"counterfact:{tmp_path / 'cf.json'}"


def test_the_estimate_uses_the_models_own_speeds_and_says_when_it_has_none(tiny_suite, tmp_path, capsys):
    tables = suite_module.MEASURED_CPU_SECONDS
    gemma, smollm = tables["gemma3-270m"], tables["smollm2-135m"]
    assert seconds_per_case("rome", {}, "gemma3-270m") == gemma["rome"] != smollm["rome"]
    assert seconds_per_case("instructed-late", {}, "gemma3-270m") == gemma["instructed"]
    assert seconds_per_case("rome", {"rome": 1.5}, "gemma3-270m") == 1.5  # measured in OUT wins
    assert seconds_per_case("rome", {}, "tiny-llama") == smollm["rome"]
    for model, says in (("gemma3-270m", "gemma3-270m speeds"), ("tiny-llama", "none measured for tiny-llama")):
        base = RunConfig(**{**vars(BASE), "model": model})
        run_suite("tiny", str(tmp_path / model), 3, set(), dry_run=True, base=base)
        assert says in capsys.readouterr().err


def test_measured_speeds_are_per_case_also_for_a_batch_unit(tmp_path):
    run = tmp_path / "counterfact-batch"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"editors": {"memit": {"seconds": 100.0}, "pmet": {}}}))
    rows = [{"editor": "memit", "unit": "cases:a,b", "case_id": c, "kind": "rel"} for c in ("a", "a", "b")]
    (run / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert measured_speeds(tmp_path) == {"memit": 50.0}  # 2 cases in one unit; pmet has no timing yet
    (run / "summary.csv").write_text("editor,protocol,n_cases\nmemit,single,4\n")
    (run / "cases.jsonl").unlink()  # a committed run: summary.csv kept, cases.jsonl packed
    assert measured_speeds(tmp_path) == {"memit": 25.0}


def test_a_runs_own_editor_args_name_its_model_and_the_command_line_wins(tmp_path, monkeypatch):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(2)]))
    suite = Suite("args", (SuiteRun("cf", f"counterfact:{path}", ("ft-m",), ("table2",),
                                    editor_args="ft-m:steps=3;ft-m:note={model}"),))
    monkeypatch.setitem(suite_module.SUITES, "args", suite)
    seen = []
    monkeypatch.setattr(suite_module, "run", lambda cfg: seen.append(cfg.editor_args))
    base = RunConfig(**{**vars(BASE), "editor_args": "ft-m:steps=5"})
    assert run_suite("args", str(tmp_path / "s"), 2, set(), base=base) == 0
    assert seen == ["ft-m:steps=3;ft-m:note=tiny-llama;ft-m:steps=5"]
    assert parse_editor_args(seen[0])["ft-m"]["steps"] == "5"
    ablations = {r.name: r for r in PAPER.runs}["zsre-ablations"]
    assert parse_editor_args(ablations.editor_args) == {
        "instructed": {"checkpoint": "results/checkpoints/instructed/{model}/control"}}  # the others: their presets


def test_a_suite_with_tables_with_puts_its_rows_over_the_other_folders(tmp_path, monkeypatch):
    """The InstructEd suite's tables list the paper suite's run first, so its own rows replace the same editors'."""
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(3)]))
    older = Suite("older", (SuiteRun("counterfact", f"counterfact:{path}", ("noedit", "ft-m"), ("table2",)),))
    newer = Suite("newer", (SuiteRun("counterfact", f"counterfact:{path}", ("ft-m",), ("table2",)),),
                  tables_with=str(tmp_path / "old"))
    monkeypatch.setitem(suite_module.SUITES, "older", older)
    monkeypatch.setitem(suite_module.SUITES, "newer", newer)
    assert run_suite("older", str(tmp_path / "old"), 2, set(), base=BASE) == 0
    assert run_suite("newer", str(tmp_path / "new"), 3, set(), base=BASE) == 0
    dirs = [str(tmp_path / "old" / "counterfact"), str(tmp_path / "new" / "counterfact")]
    table = (tmp_path / "new" / "tables" / "table2.md").read_text()
    choice = [f"ft-m={dirs[1]}"]  # the suite's own row, named in its commands (no run wins silently)
    assert table == report(dirs, "markdown", ci=True, table="table2", choices=choice)
    assert "| noedit | 2 |" in table and "| ft-m | 3 |" in table  # noedit from the old folder, ft-m from the new
    commands = (tmp_path / "new" / "tables" / "COMMANDS.md").read_text()
    assert f"{' '.join(dirs)} --table table2 --format markdown --ci --from ft-m={dirs[1]} --output" in commands
    paper = (tmp_path / "new" / "tables" / "table2-loc-paper.md").read_text()
    assert paper == report(dirs, "markdown", ci=True, table="table2", loc="paper", choices=choice)
    assert "--loc paper" in commands


def test_editors_added_to_an_entry_that_packed_its_rows_run_beside_it_and_join_its_tables(tmp_path, monkeypatch):
    """A committed entry keeps summary.csv without cases.jsonl, and a run into it is refused; an editor added to
    the suite later runs into <name>-newer, counts as done there, and its row joins the entry's tables."""
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(2)]))
    first = Suite("first", (SuiteRun("counterfact", f"counterfact:{path}", ("noedit",), ("table2",)),))
    later = Suite("later", (SuiteRun("counterfact", f"counterfact:{path}", ("noedit", "ike"), ("table2",)),))
    monkeypatch.setitem(suite_module.SUITES, "first", first)
    monkeypatch.setitem(suite_module.SUITES, "later", later)
    out = tmp_path / "s"
    assert run_suite("first", str(out), 2, set(), base=BASE) == 0
    (out / "counterfact" / "cases.jsonl").unlink()  # packed away, as results/ commits it
    calls = []
    real_run = suite_module.run
    monkeypatch.setattr(suite_module, "run", lambda cfg: calls.append((cfg.out, cfg.editors)) or real_run(cfg))
    assert run_suite("later", str(out), 2, set(), base=BASE) == 0
    assert calls == [(str(out / "counterfact-newer"), ["ike"])]
    assert run_suite("later", str(out), 2, set(), base=BASE) == 0 and len(calls) == 1  # done across both folders
    dirs = [str(out / "counterfact"), str(out / "counterfact-newer")]
    table = (out / "tables" / "table2.md").read_text()
    assert table == report(dirs, "markdown", ci=True, table="table2") and "| ike | 2 |" in table
    assert f"report {' '.join(dirs)} --table table2" in (out / "tables" / "COMMANDS.md").read_text()


def test_a_folder_beside_an_entry_counts_only_with_its_options_and_editor_args(tmp_path):
    args = {"dataset": "zsre", "protocol": "sequential", "limit": 200, "num_edits": 100, "eval_every": 10,
            "batch_size": 1, "model": "smollm2-135m", "editor_args": None}
    folders = {"zsre-sequential-wise": ({}, ["wise"]),
               "zsre-sequential-wise-shard10": ({"editor_args": "wise:save_freq=10"}, ["wise"]),
               "zsre-sequential-short": ({"num_edits": 50}, ["grace"]),
               "zsre-sequential-batch": ({}, ["memit"])}  # named like a folder beside it, but an entry itself
    for name, (changed, editors) in folders.items():
        (tmp_path / name).mkdir()
        config = {"args": {**args, **changed}, "editors": {e: {} for e in editors}}
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    found = entry_folders(tmp_path, "zsre-sequential", args, {"zsre-sequential", "zsre-sequential-batch"})
    assert found == [tmp_path / "zsre-sequential", tmp_path / "zsre-sequential-wise"]


def test_no_suite_pins_the_superseded_cpu_budget_checkpoints():
    """The CPU-budget InstructEd checkpoints and their suite's results are deleted: no suite runs them any more."""
    assert list(suite_module.suites()) == ["paper", "baselines", "instructed-paper-budget"]
    pinned = [r.editor_args for s in suite_module.suites().values() for r in s.runs if "cpu-budget" in r.editor_args]
    assert pinned == []


def test_the_paper_budget_suite_gives_table4_its_equal_budget_control():
    """InstructEd's entries of the paper suite; only Table 4's two entries name a control (the 1-epoch `control/`
    trained beside the ablations), resolved per model in the run's --editor-args."""
    same = paper_suites.INSTRUCTED_RUNS
    runs = suite_module.SUITES["instructed-paper-budget"].runs
    assert [r.name for r in runs] == [r.name for r in same]
    for new, old in zip(runs, same):
        assert (new.editors, new.dataset, new.protocol) == (old.editors, old.dataset, old.protocol)
        assert bool(new.editor_args) == ("table4" in new.tables)
    base = RunConfig(editors=[], dataset="", out="", model="smollm2-135m", editor_args="rome:layers=5")
    ablations = next(r for r in runs if r.name == "zsre-ablations")
    assert suite_module._editor_args(ablations, base) == (
        "instructed:checkpoint=results/checkpoints/instructed/smollm2-135m/control;rome:layers=5")


def test_a_suite_scores_with_its_own_options_and_the_command_line_wins(tmp_path, monkeypatch):
    """The paper's suites score as the paper does (teacher forcing, no side effects) with Loc_unrelated: before,
    every entry ran bench run's defaults (generated answers and side effects too, several times the cost)."""
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(2)]))
    suite = Suite("scored", (SuiteRun("cf", f"counterfact:{path}", ("noedit",), ("table2",)),),
                  options=paper_suites.PAPER_SCORING)
    monkeypatch.setitem(suite_module.SUITES, "scored", suite)
    seen = []
    monkeypatch.setattr(suite_module, "run", lambda cfg: seen.append(
        (cfg.scoring, cfg.side_effects, cfg.loc_unrelated, cfg.fluency_prompts)))
    assert run_suite("scored", str(tmp_path / "a"), 2, set(), base=BASE) == 0
    assert run_suite("scored", str(tmp_path / "b"), 2, set(), base=BASE, scoring={"scoring": "both"}) == 0
    assert seen == [("tf", False, 5, 0), ("both", False, 5, 0)]
    assert {s.name: s.options for s in paper_suites.SUITES.values()} == dict.fromkeys(
        ("paper", "baselines", "instructed-paper-budget"), {"scoring": "tf", "side_effects": False, "loc_unrelated": 5})
    with pytest.raises(BenchError, match="suite odd: options dtype are not scoring options"):
        Suite("odd", (), options={"dtype": "float16"})


def test_cli_scoring_flags_reach_the_suite_only_when_given(monkeypatch):
    seen = []

    def fake_run_suite(*args):
        seen.append(args[-1])  # the scoring options, run_suite's last argument
        return 0

    monkeypatch.setattr("bench.suite.run_suite", fake_run_suite)
    assert main(["suite", "--name", "paper", "--dry-run", "--side-effects", "on", "--loc-unrelated", "0"]) == 0
    assert seen == [{"side_effects": True, "loc_unrelated": 0}]


def test_an_entry_run_with_other_scoring_takes_no_more_editors(tmp_path):
    """A resume with other scoring options is refused, so the suite's new editors go beside the entry; an entry
    written before the options existed ran with teacher forcing alone and no probes (LEGACY_OPTIONS)."""
    old = tmp_path / "cf"
    old.mkdir()
    (old / "cases.jsonl").write_text("")
    (old / "config.json").write_text(json.dumps({"args": {"dataset": "counterfact", "limit": 2}}))
    legacy = {"scoring": "tf", "side_effects": False, "loc_unrelated": 0, "fluency_prompts": 0}
    assert writable_folder(tmp_path, "cf", legacy) == old
    assert writable_folder(tmp_path, "cf", {**legacy, "loc_unrelated": 5}) == tmp_path / "cf-newer"
    (tmp_path / "cf-newer").mkdir()
    (tmp_path / "cf-newer" / "config.json").write_text(json.dumps({"args": {**legacy, "loc_unrelated": 5}}))
    assert writable_folder(tmp_path, "cf", {**legacy, "loc_unrelated": 5}) == tmp_path / "cf-newer"
    assert writable_folder(tmp_path, "cf", {**legacy, "scoring": "both"}) == tmp_path / "cf-newer-2"


def test_the_estimate_keeps_its_columns_aligned_for_long_editor_names(capsys):
    rows = [("counterfact", "noedit", 200, 480, 0), ("counterfact", "instructed-retrieval-one", 200, 720, 0)]
    suite_module.print_estimate(rows, {})
    header, *lines = capsys.readouterr().err.splitlines()[:3]
    ends = {header.index("cases") + len("cases")} | {line.index(" 200 ") + len(" 200") for line in lines}
    assert len(ends) == 1  # every case count ends under the header's "cases"


def test_the_page_shows_an_editor_from_the_entry_that_runs_it_as_it_is_and_a_table_keeps_its_own(tmp_path,
                                                                                                   monkeypatch):
    """An ablation entry runs `ft-m` with arguments of its own (as Table 4's control runs `instructed` with another
    checkpoint): the page's summary takes the plain entry's row however many tables use each, and the table that
    shows the ablation's row keeps it through a choice scoped to it."""
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(2)]))
    suite = Suite("abl", (SuiteRun("cf", f"counterfact:{path}", ("noedit", "ft-m"), ("table2",)),
                          SuiteRun("cf-abl", f"counterfact:{path}", ("ft-m",), ("table4",),
                                   editor_args="ft-m:num_steps=1")))
    monkeypatch.setitem(suite_module.SUITES, "abl", suite)
    assert run_suite("abl", str(tmp_path / "s"), 2, set(), base=BASE) == 0
    plain, ablation = str(tmp_path / "s" / "cf"), str(tmp_path / "s" / "cf-abl")
    records = collect([plain, ablation])
    per_table = {"table2": (collect([plain]), []), "table4": (collect([ablation]), [])}
    choices = _page_choices(suite, records, None, per_table, {plain: "cf", ablation: "cf-abl"})
    assert [c.spec() for c in choices] == [f"ft-m={plain}", f"table4:ft-m={ablation}"]
    beside = {plain: "cf-abl", ablation: "cf"}  # a folder beside an entry counts as the entry it holds runs of
    assert [c.spec() for c in _page_choices(suite, records, None, per_table, beside)][0] == f"ft-m={ablation}"
    page_command = (tmp_path / "s" / "tables" / "COMMANDS.md").read_text().splitlines()[-2]
    assert "--format html" in page_command
    assert re.findall(r"--from (\S+)", page_command) == [f"ft-m={plain}", f"table4:ft-m={ablation}"]
