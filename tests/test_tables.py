"""Paper layouts filled from summary records, their rendering, and the significance comparison."""

import csv

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.metrics import CaseMetrics, paired_bootstrap
from bench.report import report
from bench.runlog import RunLog, read_per_case
from bench.summary import per_case, summarize
from bench.tables import LAYOUTS, fill, layout

# per editor: per case (rel, gen, loc, por) accuracies
SCORES = {
    "noedit": [(0, 0, 1, 0.5)] * 4,
    "ike": [(1, 1, 0.2, 0.5), (1, 0, 0.4, 0.5), (1, 1, 0.0, 0.5), (0, 1, 0.2, 0.5)],
    "ft-m": [(1, 0, 0.9, 0.2), (1, 0, 0.9, 0.2), (1, 1, 0.5, 0.2), (1, 0, 0.7, 0.2)],
    "instructed": [(1, 1, 0.6, 0.5), (1, 1, 0.5, 0.5), (1, 1, 0.9, 0.0), (1, 1, 0.6, 0.5)],
    "instructed-retrieval": [(1, 0, 1.0, 0.5)] * 4,
}


def _rows(dataset: str, scores: dict | None = None) -> list[dict]:
    rows = []
    for editor, cases in (scores or SCORES).items():
        for i, (rel, gen, loc, por) in enumerate(cases):
            base = {"editor": editor, "case_id": str(i), "phase": "after-edit", "dataset": dataset}
            rows += [dict(base, kind="rel", acc=rel), dict(base, kind="gen", acc=gen),
                     dict(base, kind="loc", loc=loc, acc=0.0), dict(base, kind="por_hop", acc=por)]
    return rows


def _run_dir(tmp_path, dataset: str, model: str = "tiny", scores: dict | None = None):
    log = RunLog(tmp_path / dataset if model == "tiny" else tmp_path / model / dataset)
    log.prepare(resume=False)
    rows = _rows(dataset, scores)
    meta = {"dataset": dataset, "model": model, "protocol": "single"}
    log.write_summary(summarize(rows, meta, {}, 200, 0))
    log.write_per_case(per_case(rows, "single", {}))
    return str(log.out)


def test_per_case_file_round_trips(tmp_path):
    d = _run_dir(tmp_path, "counterfact")
    back = read_per_case(tmp_path / "counterfact" / "per_case.csv")
    assert set(back) == {(e, "single") for e in SCORES}
    assert [c.values["Loc"] for c in back[("ike", "single")]] == [20.0, 40.0, 0.0, 20.0]  # percent, as summary.csv
    assert d.endswith("counterfact")
    header, first = (tmp_path / "counterfact" / "per_case.csv").read_text().splitlines()[:2]
    assert first == "noedit,single,0,0,0,100,50,,,"  # exact values, in percent


def test_per_case_values_are_written_exactly(tmp_path):
    log = RunLog(tmp_path / "run")
    log.prepare(resume=False)
    third = CaseMetrics("c", {"Rel": 100 / 3, "Gen": 200 / 3, "Loc": 0.1 + 0.2})
    log.write_per_case({("ike", "single"): [third]})
    back = read_per_case(tmp_path / "run" / "per_case.csv")[("ike", "single")][0].values
    assert [back[m] for m in ("Rel", "Gen", "Loc")] == [100 / 3, 200 / 3, 0.1 + 0.2]


def test_table2_groups_rows_marks_best_and_leaves_the_reference_unmarked(tmp_path):
    dirs = [_run_dir(tmp_path, "counterfact"), _run_dir(tmp_path, "zsre")]
    text = report(dirs, "markdown", table="table2")
    lines = text.splitlines()
    body = [ln for ln in lines if ln.startswith("| ") and "Editor" not in ln and "Column" not in ln]
    assert [ln.split(" | ")[1] for ln in body[:4]] == ["noedit", "ft-m", "ike", "instructed"]
    assert body[0].startswith("| reference | noedit") and body[1].startswith("| M | ft-m")
    assert body[2].startswith("| P | ike")
    assert "| 100.00 |" in body[0] and "**100.00**" not in body[0]  # noedit's Loc is not "best"
    instructed_cells = body[3].split(" | ")
    assert instructed_cells[4] == "**100.00**"  # CounterFact Gen: instructed 100 is best
    assert report(dirs, "markdown", table="table2") == text  # deterministic, byte for byte


def test_an_editor_no_installed_package_provides_is_grouped_as_other(tmp_path, monkeypatch):
    monkeypatch.setitem(SCORES, "retired-method", [(1, 1, 0.5, 0.5)] * 4)
    body = [ln for ln in report([_run_dir(tmp_path, "counterfact")], "markdown", table="table2").splitlines()
            if ln.startswith("| ") and "Editor" not in ln]
    assert [ln.split(" | ")[:2] for ln in body[:5]] == [["| reference", "noedit"], ["| M", "ft-m"], ["| P", "ike"],
                                                        ["| ", "instructed"], ["| ", "instructed-retrieval"]]
    assert body[5].startswith("| other | retired-method")


def test_an_ablation_variant_stays_out_of_table2_but_not_out_of_table12(tmp_path, monkeypatch):
    monkeypatch.setitem(SCORES, "instructed-noprefix", [(1, 1, 1.0, 1.0)] * 4)  # would be best in every column
    dirs = [_run_dir(tmp_path, "counterfact")]
    assert "instructed-noprefix" not in report(dirs, "markdown", table="table2")
    assert "| instructed-noprefix | 4 | **100.00** |" in report(dirs, "markdown", table="table12")


def test_significance_equals_a_direct_paired_bootstrap(tmp_path):
    dirs = [_run_dir(tmp_path, "counterfact")]
    text = report(dirs, "markdown", table="table2")
    cases = read_per_case(tmp_path / "counterfact" / "per_case.csv")
    ours, ftm = cases[("instructed", "single")], cases[("ft-m", "single")]
    d, lo, hi = paired_bootstrap(ours, ftm, "Rel", 1000, 0)
    assert f"| instructed | CounterFact | Rel | 100.00 | ft-m | 100.00 | {d:+.2f} [{lo:+.2f}, {hi:+.2f}] | 4 |" in text
    d, lo, hi = paired_bootstrap(ours, ftm, "Loc", 1000, 0)
    assert f"| instructed | CounterFact | Loc | 65.00 | ft-m | 75.00 | {d:+.2f} [{lo:+.2f}, {hi:+.2f}]" in text
    # every InstructEd row is compared, never with another InstructEd row
    assert "| instructed-retrieval | CounterFact | Loc | 100.00 | ft-m | 75.00 | +25.00" in text
    assert "| instructed | CounterFact | Loc | 65.00 | instructed-retrieval" not in text


def test_latex_layout_has_column_groups_and_significance(tmp_path):
    dirs = [_run_dir(tmp_path, "counterfact"), _run_dir(tmp_path, "zsre")]
    tex = report(dirs, "latex", table="table2")
    assert r"\multicolumn{6}{c}{CounterFact} & \multicolumn{6}{c}{ZsRE}" in tex
    assert r"\textbf{100.00}" in tex and r"$\Delta$ [95\% CI]" in tex


def test_table_without_matching_runs_and_unknown_table_are_refused(tmp_path):
    dirs = [_run_dir(tmp_path, "counterfact")]
    with pytest.raises(BenchError, match="table3: none of the given runs"):
        report(dirs, "markdown", table="table3")
    with pytest.raises(BenchError, match="unknown --table 'table99'"):
        layout("table99")


def test_every_layout_names_distinct_columns():
    for lay in LAYOUTS.values():
        labels = [(c.label, m) for c in lay.columns for m in c.metrics]
        assert len(labels) == len(set(labels)), lay.name


def test_two_records_for_one_cell_are_an_error_naming_both():
    rec = {"editor": "ike", "dataset": "counterfact", "protocol": "single", "Rel": 1.0, "n_cases": 1, "run": "a"}
    with pytest.raises(BenchError) as err:
        fill(layout("table2"), [rec, dict(rec, Rel=2.0, dataset="counterfact-edit", run="b")])
    assert str(err.value) == ("table2: ike has two rows for column 'CounterFact' (single): counterfact from a and "
                              "counterfact-edit from b. Report only one of them (leave a run out, or choose with "
                              "--from).")


# a second model on which ike and instructed swap scores: the best Gen is ike's there, instructed's on the first
SWAPPED = {"noedit": SCORES["noedit"], "ike": SCORES["instructed"], "instructed": SCORES["ike"]}


def _two_models(tmp_path) -> list[str]:
    return [_run_dir(tmp_path, "counterfact", "smollm2-135m"), _run_dir(tmp_path, "zsre", "smollm2-135m"),
            _run_dir(tmp_path, "counterfact", "gemma3-270m", SWAPPED)]


def test_fill_keeps_each_models_record_in_its_own_column_group():
    rec = {"editor": "ike", "dataset": "counterfact", "protocol": "single", "Rel": 1.0, "n_cases": 1, "model": "a"}
    grid = fill(layout("table2"), [rec, dict(rec, Rel=2.0, model="b"), dict(rec, dataset="zsre")])
    assert [c.label for c in grid.layout.columns] == ["CounterFact · a", "CounterFact · b", "ZsRE · a"]
    assert [grid.record("ike", i)["Rel"] for i in range(2)] == [1.0, 2.0]
    assert fill(layout("table2"), [rec, dict(rec, dataset="zsre")]).layout == layout("table2")  # one model: as is


def test_two_models_side_by_side_bold_and_compare_within_each_model(tmp_path):
    dirs = _two_models(tmp_path)
    text = report(dirs, "markdown", table="table2")
    head = next(ln for ln in text.splitlines() if ln.startswith("|  | Editor"))
    groups = list(dict.fromkeys(h.rsplit(" ", 1)[0] for h in head.strip("| ").split(" | ")[3:]))
    assert groups == ["CounterFact · smollm2-135m", "CounterFact · gemma3-270m", "ZsRE · smollm2-135m"]
    gen_small, gen_gemma = 4, 10  # cell index of CounterFact Gen per model (after group, editor, n)
    assert _cells(text, "instructed")[gen_small] == "**100.00**" and _cells(text, "instructed")[gen_gemma] == "75.00"
    assert _cells(text, "ike")[gen_small] == "75.00" and _cells(text, "ike")[gen_gemma] == "**100.00**"
    assert _cells(text, "ft-m")[9:15] == [""] * 6  # ft-m has no gemma3-270m run
    # each model's significance uses its own per-case rows: instructed vs ike on gemma3-270m, vs ft-m on smollm2
    gemma = read_per_case(tmp_path / "gemma3-270m" / "counterfact" / "per_case.csv")
    d, lo, hi = paired_bootstrap(gemma[("instructed", "single")], gemma[("ike", "single")], "Gen", 1000, 0)
    row = f"| instructed | CounterFact · gemma3-270m | Gen | 75.00 | ike | 100.00 | {d:+.2f} [{lo:+.2f}, {hi:+.2f}] |"
    assert row in text
    assert "| instructed | CounterFact · smollm2-135m | Loc | 65.00 | ft-m | 75.00 |" in text
    tex = report(dirs, "latex", table="table2")
    assert r"{CounterFact $\cdot$ smollm2-135m} & \multicolumn{6}{c}{CounterFact $\cdot$ gemma3-270m}" in tex
    assert "·" not in report(dirs[:2], "markdown", table="table2")  # one model: no split


def test_ablation_table_compares_instructed_with_its_best_variant(tmp_path):
    rows = _rows("counterfact")
    rows = [dict(r, editor="instructed-noprefix") if r["editor"] == "ike" else r for r in rows]
    rows = [r for r in rows if r["editor"] in ("instructed", "instructed-noprefix")]
    log = RunLog(tmp_path / "cf")
    log.prepare(resume=False)
    log.write_summary(summarize(rows, {"dataset": "counterfact", "model": "tiny", "protocol": "single"}, {}, 200, 0))
    log.write_per_case(per_case(rows, "single", {}))
    text = report([str(log.out)], "markdown", table="table12")
    assert "| instructed | CounterFact | Loc | 65.00 | instructed-noprefix | 20.00 | +45.00" in text


def _paper_run_dir(tmp_path, dataset: str, name: str = "paper"):
    """A run whose LOC rows carry loc_paper: 1.0 for InstructEd rows, max(loc, 0.5) for the others."""
    rows = _rows(dataset)
    for r in rows:
        if r["kind"] == "loc":
            r["loc_paper"] = 1.0 if r["editor"].startswith("instructed") else max(r["loc"], 0.5)
    log = RunLog(tmp_path / name / dataset)
    log.prepare(resume=False)
    records = summarize(rows, {"dataset": dataset, "model": "tiny", "protocol": "single"}, {}, 200, 0)
    log.write_summary(records)
    log.write_per_case(per_case(rows, "single", {}))
    return str(log.out), {r["editor"]: r for r in records}


def _cells(text: str, editor: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if f"| {editor} |" in ln and "CounterFact" not in ln)
    return [c.strip() for c in line.strip("|").split("|")]


def test_loc_paper_puts_the_paper_definition_in_the_loc_column(tmp_path, capsys):
    d, recs = _paper_run_dir(tmp_path, "counterfact")
    assert recs["ike"]["Loc"] == pytest.approx(20.0) and recs["ike"]["Loc_paper"] == pytest.approx(50.0)
    strict = report([d], "markdown", table="table2")
    assert strict == report([d], "markdown", table="table2", loc="strict") and "(paper)" not in strict
    text = report([d], "markdown", table="table2", loc="paper")
    assert "| CounterFact Rel | CounterFact Gen | CounterFact Loc (paper) | CounterFact Por_hop | " \
           "CounterFact Score (paper) | CounterFact H (paper) |" in text
    assert "Loc (paper) = max of f0 on the instructed prompt, f0 on the plain prompt, and the true label" in text
    for editor in ("ike", "ft-m", "instructed"):  # columns: group, editor, n, Rel, Gen, Loc, Por_hop, Score, H
        loc, score, h = _cells(text, editor)[5], _cells(text, editor)[7], _cells(text, editor)[8]
        rec = recs[editor]
        assert [x.strip("*") for x in (loc, score, h)] == [
            f"{rec['Loc_paper']:.2f}", f"{rec['Score_paper']:.2f}", f"{rec['H_paper']:.2f}"]
    assert _cells(text, "ike")[5] == "50.00" and _cells(strict, "ike")[5] == "20.00"
    # significance uses the same definition: instructed's paper Loc (100) against the best other's (ft-m, 75)
    cases = read_per_case(tmp_path / "paper" / "counterfact" / "per_case.csv")
    assert [c.values["Loc_paper"] for c in cases[("ike", "single")]] == [50.0, 50.0, 50.0, 50.0]
    assert "| instructed | CounterFact | Loc (paper) | 100.00 | ft-m | 75.00 | +25.00" in text
    # the CLI flag, and the generic (no --table) summary and CSV
    assert main(["report", d, "--table", "table2", "--loc", "paper"]) == 0
    assert capsys.readouterr().out == text
    generic = report([d], "markdown", loc="paper")
    assert "| Editor | n | Rel | Gen | Loc (paper) | Por_hop | Score (paper) | H (paper) |" in generic
    assert "| ike | 4 | 75.00 | 75.00 | 50.00 |" in generic
    assert report([d], "csv", loc="paper").splitlines()[0] == \
        "editor,dataset,model,protocol,n_cases,Rel,Gen,Loc_paper,Por_hop,Score_paper,H_paper"


def test_loc_asymmetric_is_the_paper_definition_for_instructed_rows_only(tmp_path):
    d, recs = _paper_run_dir(tmp_path, "counterfact")
    text = report([d], "markdown", table="table2", loc="asymmetric", ci=True)
    assert "The paper's ASYMMETRIC protocol" in text and "CounterFact Loc (asym.)" in text
    assert _cells(text, "ike")[5].startswith("20.00 [")  # strict for the baselines
    assert _cells(text, "ft-m")[5].startswith("75.00 [")
    lo, hi = recs["instructed"]["Loc_paper_lo"], recs["instructed"]["Loc_paper_hi"]
    assert _cells(text, "instructed")[5] == f"**100.00** [{lo:.1f}, {hi:.1f}] ⚠"  # the paper's; 4 cases: flagged
    assert "| instructed | CounterFact | Loc (asym.) | 100.00 | ft-m | 75.00 | +25.00" in text
    tex = report([d], "latex", table="table2", loc="asymmetric")
    assert "Loc (asym.)" in tex and "ASYMMETRIC" in tex.split(r"\caption{")[1]


def test_an_old_run_without_loc_paper_still_summarises_and_reports(tmp_path):
    d = _run_dir(tmp_path, "counterfact")  # rows without loc_paper, as every run before it
    header = (tmp_path / "counterfact" / "per_case.csv").read_text().splitlines()[0]
    assert header == "editor,protocol,case_id,Rel,Gen,Loc,Por_hop,Por_Nhop,Hop_Acc,MH_Acc"  # the old file, unchanged
    with (tmp_path / "counterfact" / "summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["Loc"] != "" and all(rows[0][c] == "" for c in ("Loc_paper", "Loc_paper_lo", "Loc_paper_hi",
                                                                  "Score_paper", "H_paper", "H_paper_hi"))
    text = report([d], "markdown", table="table2", loc="paper")
    assert _cells(text, "ike")[5] == "–" and "predates the paper-locality fields" in text
    assert "(paper)" not in report([d], "markdown", table="table2")
    new, _ = _paper_run_dir(tmp_path, "counterfact")
    header = (tmp_path / "paper" / "counterfact" / "per_case.csv").read_text().splitlines()[0]
    assert header.endswith(",MH_Acc,Loc_paper")  # the new column comes after the old ones
