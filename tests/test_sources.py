"""One source per published row (bench/sources.py): two runs holding one editor, dataset, protocol and model stop
`bench report` (markdown and html) with an error naming both, unless --from names the run."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.report import report
from bench.sources import Choice, parse_choice
from tests.test_tables import _run_dir

# a later control run of `instructed` (say an ablation folder's), worse on Gen than the main run
CONTROL = {"instructed": [(1, 0, 0.6, 0.5)] * 4}


@pytest.fixture
def runs(tmp_path):
    main_run = _run_dir(tmp_path / "main", "counterfact")
    control = _run_dir(tmp_path / "control", "counterfact", scores=CONTROL)
    return main_run, control


def _gen(text: str, editor: str) -> str:
    row = next(ln for ln in text.splitlines() if ln.startswith("| ") and f" | {editor} | " in ln)
    return row.split(" | ")[4]


def test_two_runs_holding_one_row_stop_every_report_naming_both(runs, capsys):
    main_run, control = runs
    for kwargs in ({}, {"table": "table2"}, {"fmt": "csv"}):
        with pytest.raises(BenchError) as err:
            report([main_run, control], **kwargs)
        assert f"instructed on counterfact (single, tiny) is in more than one run: {main_run} and {control}" \
               in str(err.value) and "--from instructed=" in str(err.value)
    assert main(["report", main_run, control, "--format", "html", "--out", str(control) + ".html"]) != 0
    err = capsys.readouterr().err
    assert f"{main_run} and {control}" in err and "This is a bug" not in err


def test_from_names_the_run_and_the_paired_test_reads_its_rows(runs):
    main_run, control = runs
    alone = report([main_run], table="table2")
    chosen = report([main_run, control], table="table2", choices=[f"instructed={main_run}"])
    assert chosen == alone and _gen(chosen, "instructed") == "**100.00**"
    other = report([main_run, control], table="table2", choices=[f"instructed={control}"])
    assert _gen(other, "instructed") == "0.00"
    # the paired comparison follows the chosen row: control's Gen (0) against ike's (75)
    assert "| instructed | CounterFact | Gen | 0.00 | ike | 75.00 | -75.00" in other


def test_a_choice_for_one_table_holds_in_that_table_only(runs):
    main_run, control = runs
    choices = [f"instructed={main_run}", f"table2:instructed={control}"]
    assert _gen(report([main_run, control], table="table2", choices=choices), "instructed") == "0.00"
    assert _gen(report([main_run, control], table="table12", choices=choices), "instructed") == "**100.00**"


def test_a_choice_naming_an_absent_run_or_editor_is_refused(runs, tmp_path):
    main_run, control = runs
    with pytest.raises(BenchError, match=r"is not one of the run directories given"):
        report([main_run, control], choices=[f"instructed={tmp_path / 'elsewhere'}"])
    with pytest.raises(BenchError, match=r"has no rows of rome"):
        report([main_run, control], choices=[f"rome={main_run}"])
    with pytest.raises(BenchError, match=r"expected EDITOR"):
        parse_choice("instructed")
    assert parse_choice("table4:a,b=x/y") == Choice(("a", "b"), "x/y", "table4")
    assert Choice(("a", "b"), "x/y", "table4").spec() == "table4:a,b=x/y"


def test_the_cli_takes_repeated_from_options(runs, capsys):
    main_run, control = runs
    assert main(["report", main_run, control, "--table", "table2", "--from", f"instructed={main_run}"]) == 0
    assert capsys.readouterr().out == report([main_run], table="table2") + ""


def test_the_explorers_figures_draw_only_the_rows_each_run_supplies(runs, monkeypatch):
    """The figures once drew every run's whole summary, so a row --from replaced still showed in a heat map."""
    import bench.explorer as explorer

    main_run, control = runs
    drawn = []
    monkeypatch.setattr(explorer, "overview_figure", lambda records: drawn.append([r["editor"] for r in records]))
    monkeypatch.setattr(explorer, "png_bytes", lambda figure: b"")
    explorer.build_page([main_run, control], choices=[f"instructed={main_run}"])
    assert "instructed" in drawn[0] and drawn[1:] == []  # control's only row is replaced: no figure of it


def test_a_summary_row_of_an_editor_the_run_never_finished_is_refused(runs, capsys):
    """A hand-trimmed or older run folder: summary.csv still holds a row of an editor stopped part-way."""
    import csv
    import json
    from pathlib import Path

    main_run, _ = runs
    editors = [r["editor"] for r in csv.DictReader((Path(main_run) / "summary.csv").open())]
    config = Path(main_run) / "config.json"
    finished = {e: {"units": 4} for e in editors}
    config.write_text(json.dumps({"editors": finished}))
    assert report([main_run], table="table2")  # every row finished: reads as before
    config.write_text(json.dumps({"editors": {**finished, "instructed": {"config": {}}}}))  # begun, never ended
    with pytest.raises(BenchError) as err:
        report([main_run], table="table2")
    assert f"{main_run}/summary.csv has a row of instructed (counterfact, single, n_cases 4)" in str(err.value)
    assert f"{config} does not record instructed as finished" in str(err.value) and "--resume" in str(err.value)
    assert main(["report", main_run]) != 0
    assert "This is a bug" not in capsys.readouterr().err
