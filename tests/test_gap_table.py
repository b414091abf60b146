"""`report --table generation` and `--exclude-known` on hand-made runs: values, the paired gap, ranks, the note."""

import csv

import pytest

from bench.errors import BenchError
from bench.gap_table import generation_tables
from bench.metrics import CaseMetrics, aggregate, metric_gap
from bench.summary import without_known


def _case(cid, rel, rel_gen, known=0.0):
    return CaseMetrics(cid, {"Rel": rel, "Rel_gen": rel_gen, "Gen": 50.0, "Gen_gen": 50.0, "Loc": 100.0,
                             "Loc_gen": 100.0, "Por_hop": 10.0, "Por_gen": 10.0, "Known": known, "Known_gen": 0.0,
                             "NKL": 0.5, "Leak": 0.0})


def test_metric_gap_is_the_difference_of_means_with_a_paired_interval():
    cases = [_case("a", 100.0, 0.0), _case("b", 100.0, 100.0), _case("c", 50.0, 50.0)]
    diff, lo, hi = metric_gap(cases, "Rel", "Rel_gen", n_resamples=200)
    assert diff == pytest.approx((250 - 150) / 3) and lo <= diff <= hi
    assert metric_gap(cases, "Rel", "Rel", n_resamples=50) == (0.0, 0.0, 0.0)


def _record(editor, cases):
    return {"editor": editor, "dataset": "counterfact", "model": "tiny", "protocol": "single",
            "n_cases": len(cases), **aggregate(cases)}


def test_the_generation_table_pairs_each_view_and_ranks_by_both():
    a = [_case("1", 100.0, 0.0), _case("2", 100.0, 0.0)]
    b = [_case("1", 50.0, 50.0), _case("2", 50.0, 50.0)]
    records = [_record("rome", a), _record("ike", b)]
    per_case = {("counterfact", "rome", "single", "tiny"): a, ("counterfact", "ike", "single", "tiny"): b}
    text = generation_tables(records, per_case)
    rome = next(line for line in text.splitlines() if line.startswith("| rome"))
    cells = [c.strip() for c in rome.strip("|").split("|")]
    assert cells[2:5] == ["100.00", "0.00", "+100.00 [+100.00, +100.00]"]
    assert "1→2" in cells  # first by teacher-forced H, second (H_gen 0) once answers are generated
    assert "Generated vs teacher-forced answers" in text and "NKL" in text


def test_runs_without_generated_answers_are_refused():
    with pytest.raises(BenchError, match="--scoring both"):
        generation_tables([{"editor": "rome", "dataset": "x", "model": "m", "protocol": "single", "Rel": 1.0}], {})


def test_known_cases_are_left_out_and_counted():
    cases = [_case("1", 100.0, 100.0, known=100.0), _case("2", 0.0, 0.0)]
    (rec,) = without_known([_record("rome", cases)], {("counterfact", "rome", "single", "tiny"): cases},
                           n_resamples=20)
    assert rec["n_cases"] == 1 and rec["n_known"] == 1 and rec["Rel"] == 0.0
    old = [CaseMetrics("1", {"Rel": 100.0})]
    with pytest.raises(BenchError, match="no per-case Known marks"):
        without_known([_record("rome", old)], {("counterfact", "rome", "single", "tiny"): old})


def test_per_case_csv_keeps_only_the_columns_a_run_has(tmp_path):
    from bench.runlog import RunLog, read_per_case

    log = RunLog(tmp_path)
    log.write_per_case({("rome", "single"): [CaseMetrics("1", {"Rel": 100.0, "Loc_gen": 50.0})]})
    with (tmp_path / "per_case.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header[-1] == "Loc_gen" and "NKL" not in header and "Loc_paper" not in header
    assert read_per_case(tmp_path / "per_case.csv")[("rome", "single")][0].values["Loc_gen"] == 50.0


def test_a_run_from_before_the_options_resumes_only_as_it_was_made(tmp_path):
    from bench.resume import RESUME_OPTIONS, check_resume

    old = {"args": {k: None for k in RESUME_OPTIONS if k not in ("scoring", "side_effects", "loc_unrelated",
                                                                 "fluency_prompts")}}
    same = {"args": {**old["args"], "scoring": "tf", "side_effects": False, "loc_unrelated": 0,
                     "fluency_prompts": 0}}
    check_resume(tmp_path, old, same, loaded=False)  # the legacy values: teacher forcing, no probes
    with pytest.raises(BenchError, match="scoring='tf'.*--scoring tf"):
        check_resume(tmp_path, old, {"args": {**same["args"], "scoring": "both"}}, loaded=False)
