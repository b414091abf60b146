"""The generic report (bench/report.py) on summary records: the reference is never bolded, CSV keeps the
intervals with --ci, intervals over fewer than 20 cases are flagged, and the run-end markdown table."""

from __future__ import annotations

import csv
import io

from bench.report import markdown_summary, render

METRICS = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H")


def _record(editor: str, value: float, n: int = 200, protocol: str = "single", model: str = "m") -> dict:
    rec = {"editor": editor, "dataset": "counterfact", "model": model, "protocol": protocol, "n_cases": str(n)}
    for m in METRICS:
        rec[m], rec[f"{m}_lo"], rec[f"{m}_hi"] = value, value - 2, value + 2
    return rec


RECORDS = [_record("noedit", 100.0), _record("ft-m", 60.0), _record("rome", 80.0)]


def test_the_reference_row_is_never_bolded_even_when_it_is_highest():
    md = render(RECORDS)
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert "**" not in rows["noedit"]
    assert rows["rome"].count("**80.00**") == len(METRICS) and "**" not in rows["ft-m"]
    assert "textbf{100.00}" not in render(RECORDS, "latex") and "textbf{80.00}" in render(RECORDS, "latex")


def test_csv_with_ci_keeps_each_metrics_interval_next_to_it():
    rows = list(csv.DictReader(io.StringIO(render(RECORDS, "csv", ci=True))))
    assert list(rows[0])[5:8] == ["Rel", "Rel_lo", "Rel_hi"]
    assert (rows[1]["Rel"], rows[1]["Rel_lo"], rows[1]["Rel_hi"]) == ("60.00", "58.00", "62.00")
    assert rows[1]["few_cases"] == "false"
    assert "Rel_lo" not in render(RECORDS, "csv").splitlines()[0]


def test_csv_interval_columns_follow_a_relabelled_loc():
    head = render([{**r, "Loc_paper": 1.0, "Loc_paper_lo": 0.5, "Loc_paper_hi": 2.0} for r in RECORDS], "csv",
                  ci=True, loc="paper").splitlines()[0].split(",")
    assert "Loc_paper_lo" in head and "Loc_lo" not in head


def test_intervals_over_fewer_than_20_cases_carry_a_warning(caplog):
    few = [_record("noedit", 100.0, n=12), _record("rome", 80.0, n=12)]
    md = render(few, ci=True)
    assert "| rome | 12 | **80.00** [78.0, 82.0] ⚠ |" in md and "fewer than 20 cases" in md
    assert "fewer than 20 cases" in caplog.text
    assert "⚠" not in render(RECORDS, ci=True) and "⚠" not in render(few)  # only where intervals are shown
    assert "dagger" in render(few, "latex", ci=True)
    assert list(csv.DictReader(io.StringIO(render(few, "csv", ci=True))))[0]["few_cases"] == "true"


def test_markdown_summary_is_the_short_run_end_table():
    text = markdown_summary(RECORDS + [_record("rome", 50.0, protocol="sequential/final")])
    lines = text.strip().splitlines()
    assert lines[0] == "| Editor | n | Rel | Gen | Loc | Por_hop | Score | H |"
    assert lines[2] == "| noedit | 200 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |"
    assert lines[-1].startswith("| rome (sequential/final) | 200 | 50.00") and "**" not in text


def test_two_models_get_a_table_each_and_distinct_csv_rows():
    other = [_record("rome", 50.0, model="g"), _record("ft-m", 70.0, model="g"),
             dict(_record("rome", 10.0), dataset="zsre")]
    md = render(RECORDS + other)
    titles = [line for line in md.splitlines() if line.startswith("**")]
    assert titles == ["**counterfact — m**", "**counterfact — g**", "**zsre — m**"]
    second = md.split("**counterfact — g**")[1].split("**zsre")[0]
    assert "| ft-m | 200 | **70.00** |" in second and "| rome | 200 | 50.00 |" in second  # bolded within its model
    rows = list(csv.DictReader(io.StringIO(render(RECORDS + other, "csv"))))
    assert [(r["editor"], r["model"], r["Rel"]) for r in rows if r["editor"] == "rome"] == [
        ("rome", "m", "80.00"), ("rome", "g", "50.00"), ("rome", "m", "10.00")]


def test_loc_unrelated_puts_the_unrelated_prompts_locality_in_every_editors_loc_column():
    records = [{**r, "Loc_unrelated": 42.0, "Score_unrelated": 41.0, "H_unrelated": 40.0} for r in RECORDS]
    md = render(records, loc="unrelated")
    assert "Loc (unrel.)" in md and "randomly selected and unrelated data point" in md
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert rows["rome"].endswith("| **42.00** | **80.00** | **41.00** | **40.00** |")  # and no second Loc column
    assert "rerun it with --loc-unrelated" in render(RECORDS, loc="unrelated")  # a run without the probes says so


def test_unrelated_score_and_h_combine_rel_gen_unrelated_loc_and_portability():
    from bench.metrics import CaseMetrics, aggregate

    values = {"Rel": 100.0, "Gen": 50.0, "Loc": 100.0, "Por_hop": 50.0, "Loc_unrelated": 25.0}
    out = aggregate([CaseMetrics("c1", values)])
    assert out["Score_unrelated"] == (100 + 50 + 25 + 50) / 4
    assert out["H_unrelated"] == 4 / (1 / 100 + 1 / 50 + 1 / 25 + 1 / 50)
