"""Lifelong sequential runs (issue 38): the sampled evaluation plan, its agreement with full evaluation, the retention
matrix and collapse point (checked by hand on synthetic rows), weight-norm growth, per-edit costs kept out of
cases.jsonl, and a cut-short run resumed to the uninterrupted run's files."""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest
import torch
from conftest import make_case

from bench.cli import main
from bench.errors import BenchError
from bench.lifelong import DEFAULT_SAMPLE, FULL_UP_TO, MAX_COHORTS, EvalOptions, make_plan
from bench.protocols import Baseline, ProtocolConfig, run_protocol
from bench.retention import COLLAPSE_LOC, EditorRows, lifelong_rows, retention_rows
from bench.runlog import EDIT_COST, EDIT_COSTS, RunLog, parse_unit_key_eval, unit_key_eval
from bench.scoring import Scorer
from bench.stream_meters import weight_growth
from editors.ft import FTM, FTMConfig
from editors.grace import GRACE, GRACEConfig
from tests.test_runlog import _record

# -- the plan ---------------------------------------------------------------------------------------------------


def test_short_streams_are_evaluated_in_full_and_longer_ones_sampled_by_default():
    short = make_plan(FULL_UP_TO, 10, EvalOptions())
    assert short.full and short.points == tuple(range(10, 101, 10))
    assert all(short.cases_at(n) == list(range(n)) for n in short.points)
    assert [short.key(n) for n in (10, 100)] == ["eval@10", "eval@100"]  # the keys runs always had
    long = make_plan(FULL_UP_TO + 1, 10, EvalOptions())
    assert not long.full and (long.sample, long.recent, long.panel) == (DEFAULT_SAMPLE, 10, 20)
    assert long.key(10) == "eval@10/sample" and long.key(101) == "eval@101"  # the last point is full


def test_points_come_from_every_or_an_explicit_list_and_always_end_the_stream():
    assert make_plan(25, 10, EvalOptions()).points == (10, 20, 25)
    assert make_plan(25, 0, EvalOptions()).points == (25,)
    assert make_plan(1000, 0, EvalOptions(points=(100, 1, 10))).points == (1, 10, 100, 1000)
    with pytest.raises(BenchError, match="give one of them"):
        make_plan(25, 5, EvalOptions(points=(10,)))
    with pytest.raises(BenchError, match="30 is not an edit count of this stream .1 to 25"):
        make_plan(25, 0, EvalOptions(points=(10, 30)))
    with pytest.raises(BenchError, match="--eval-recent and --eval-panel apply to sampled evaluation.*by default"):
        make_plan(40, 10, EvalOptions(recent=5))
    with pytest.raises(BenchError, match="--eval-sample -1"):
        make_plan(400, 10, EvalOptions(sample=-1))


def test_a_sampled_point_scores_a_stratified_nested_sample_the_newest_edits_and_the_panel():
    plan = make_plan(60, 10, EvalOptions(sample=6, recent=2, panel=3), seed=0)
    assert plan.cohorts() == [(1, 10), (11, 20), (21, 30), (31, 40), (41, 50), (51, 60)]
    panel = plan.panel_indices
    assert len(panel) == 3 and all(i < 10 for i in panel)
    previous: dict[int, set[int]] = {}
    for n in plan.points[:-1]:
        picked = plan.cases_at(n)
        assert picked == sorted(set(picked)) and all(i < n for i in picked)
        assert set(panel) <= set(picked) and {n - 2, n - 1} <= set(picked)
        assert len(picked) <= plan.per_point_bound()
        live = n // 10
        share = math.ceil(6 / live)
        for g in range(live):  # each cohort edited so far gives its share (or all it has)
            mine = {i for i in picked if 10 * g <= i < 10 * (g + 1)} - set(panel) - {n - 2, n - 1}
            assert len(mine) <= share
        for g in range(live - 1):  # nested: a cohort edited before this point keeps a subset of its sample
            assert {i for i in picked if plan.cohort_of(i + 1) == g} <= previous[g]
        previous = {g: {i for i in picked if plan.cohort_of(i + 1) == g} for g in range(live)}
    assert plan.cases_at(60) == list(range(60))
    again = make_plan(60, 10, EvalOptions(sample=6, recent=2, panel=3), seed=0)
    other = make_plan(60, 10, EvalOptions(sample=6, recent=2, panel=3), seed=1)
    assert again.cases_at(40) == plan.cases_at(40) and other.cases_at(40) != plan.cases_at(40)


def test_cohorts_are_merged_to_at_most_the_cap_and_cover_the_stream():
    plan = make_plan(1000, 1, EvalOptions())
    cohorts = plan.cohorts()
    assert len(cohorts) == MAX_COHORTS and cohorts[0][0] == 1 and cohorts[-1][1] == 1000
    assert all(b[0] == a[1] + 1 for a, b in zip(cohorts, cohorts[1:]))
    assert [plan.cohort_of(e) for e in (1, 50, 51, 1000)] == [0, 0, 1, MAX_COHORTS - 1]


def test_evaluation_work_is_linear_in_the_edits_when_sampled():
    per_edit = []
    for n in (1000, 2000, 4000):
        plan = make_plan(n, 50, EvalOptions())
        assert plan.planned_cases() <= plan.cases_bound()
        per_edit.append(plan.planned_cases() / n)
    assert max(per_edit) <= 2 + make_plan(1000, 50, EvalOptions()).per_point_bound() / 50  # one constant for all N
    full = [make_plan(n, 50, EvalOptions(sample=0)).planned_cases() / n for n in (1000, 2000)]
    assert full[1] > 1.8 * full[0]  # full evaluation: per-edit work grows with the stream


def test_sampled_unit_keys_are_apart_from_full_ones_and_parse_back():
    assert unit_key_eval(40) != unit_key_eval(40, sampled=True)
    assert parse_unit_key_eval(unit_key_eval(40, sampled=True)) == 40 == parse_unit_key_eval("eval@40")


# -- sampled against full evaluation on a tiny model ------------------------------------------------------------

SCORED = ("case_id", "kind", "qi", "prompt", "answer", "acc", "n_tokens", "logprob", "pred_ids", "pred_text", "loc",
          "ref_text", "loc_e0", "loc_paper", "weight_delta_norm", "weight_norm")


def _cases(n: int):
    subjects = ["Spike Hughes", "Toko Yasuda", "John Lennon", "Lita Ford", "Max Mosley"]
    targets = ["Philadelphia", "Paris", "Berlin", "Rome", "Tokyo"]
    return [make_case(f"c{i}", subjects[i % 5], targets[(i * 2) % 5]) for i in range(n)]


def _units(editor, cases, cfg, done=()):
    return list(run_protocol(editor, cases, Baseline(Scorer(editor.model, editor.tokenizer)), cfg, set(done)))


def test_sampled_rows_equal_the_full_evaluations_rows_for_the_sampled_cases(tiny_lm):
    cases, options = _cases(8), EvalOptions(sample=2, recent=1, panel=1)
    full = dict(_units(FTM(tiny_lm, FTMConfig(num_steps=2)), cases,
                       ProtocolConfig("sequential", eval_every=4, evaluation=EvalOptions(sample=0))))
    sampled = dict(_units(FTM(tiny_lm, FTMConfig(num_steps=2)), cases,
                          ProtocolConfig("sequential", eval_every=4, evaluation=options)))
    plan = make_plan(8, 4, options)
    assert list(sampled) == [f"edit:c{i}" for i in range(4)] + ["eval@4/sample"] + \
        [f"edit:c{i}" for i in range(4, 8)] + ["eval@8"]
    picked = {cases[i].case_id for i in plan.cases_at(4)}
    assert 0 < len(picked) < 4
    want = [{k: r.get(k) for k in SCORED} for r in full["eval@4"] if r["case_id"] in picked]
    assert [{k: r.get(k) for k in SCORED} for r in sampled["eval@4/sample"]] == want
    assert [{k: r.get(k) for k in SCORED} for r in sampled["eval@8"]] == [{k: r.get(k) for k in SCORED}
                                                                          for r in full["eval@8"]]


# -- retention matrix and collapse, by hand -----------------------------------------------------------------------

def _row(case: str, phase: str, n: int, rel: float, loc: float, **extra) -> list[dict]:
    base = {"editor": "e", "case_id": case, "phase": phase, "n_edits": n, "unit": phase}
    return [{**base, "kind": "rel", "acc": rel, **extra}, {**base, "kind": "loc", "acc": 0.0, "loc": loc, **extra}]


def _synthetic():
    """Four edits a..d (cohorts {a,b} and {c,d}), full evaluations after 2 and 4 edits."""
    rows = []
    for n, case in enumerate("abcd", 1):
        rows += _row(case, "after-edit", n, 1.0, 1.0)
    growth = {2: {"weight_delta_norm": 1.0, "weight_norm": 4.0}, 4: {"weight_delta_norm": 3.0, "weight_norm": 4.0}}
    at = {2: {"a": (0.5, 0.8), "b": (1.0, 0.6)},
          4: {"a": (0.0, 0.5), "b": (0.5, 0.2), "c": (1.0, 0.9), "d": (0.5, 0.7)}}
    for n, scores in at.items():
        for case, (rel, loc) in scores.items():
            rows += _row(case, f"eval@{n}", n, rel, loc, **growth[n])
    return rows


def test_retention_matrix_by_hand():
    plan = make_plan(4, 2, EvalOptions())
    got = retention_rows("e", EditorRows(_synthetic()), plan, 0, 0)
    cells = {(r["cohort"], r["n_edits"]): r for r in got}
    assert sorted(cells) == [(1, 2), (1, 4), (2, 4)]  # a cohort has no cell before it is edited
    assert cells[1, 2]["Rel_at_eval"] == 75.0 and cells[1, 2]["Loc_at_eval"] == 70.0
    assert cells[1, 4]["Rel_at_eval"] == 25.0 and cells[1, 4]["Loc_at_eval"] == 35.0
    assert cells[2, 4]["Rel_at_eval"] == 75.0 and cells[2, 4]["Loc_at_eval"] == 80.0
    assert all(c["Rel_after_edit"] == 100.0 and c["Loc_after_edit"] == 100.0 and c["Gen_at_eval"] is None
               for c in got)
    assert (cells[1, 4]["first_edit"], cells[1, 4]["last_edit"], cells[1, 4]["cases"]) == (1, 2, 2)
    with_ci = retention_rows("e", EditorRows(_synthetic()), plan, 200, 0)[0]
    assert with_ci["Rel_at_eval_lo"] <= 75.0 <= with_ci["Rel_at_eval_hi"]


def test_collapse_point_and_weight_growth_by_hand():
    plan = make_plan(4, 2, EvalOptions())
    assert plan.panel_indices == [0, 1]  # full evaluation: the panel is every case edited by the first point
    points = lifelong_rows("e", EditorRows(_synthetic()), plan, 0, 0)
    assert [p["Loc_panel"] for p in points] == [70.0, 35.0]  # cases a and b only
    assert [p["collapsed"] for p in points] == [0, 1] and COLLAPSE_LOC == 50.0
    assert {p["collapse_at"] for p in points} == {4}
    assert [p["weight_norm_growth"] for p in points] == [0.25, 0.75]
    assert [p["Loc_at_eval"] for p in points] == [70.0, 57.5] and points[1]["cases"] == 4


# -- weight growth and per-edit cost ------------------------------------------------------------------------------

def test_weight_growth_is_the_norm_of_the_change_of_the_edited_tensors(tiny_llama):
    editor = FTM(tiny_llama, FTMConfig(num_steps=3, lr=1e-2))
    (name,) = editor.weight_names()
    before = dict(tiny_llama.model.named_parameters())[name].detach().clone()
    editor.edit(_cases(2))
    after = dict(tiny_llama.model.named_parameters())[name].detach()
    got = weight_growth(editor)
    assert got["weight_delta_norm"] == pytest.approx(float((after.double() - before.double()).norm()), rel=1e-6)
    assert got["weight_norm"] == pytest.approx(float(before.double().norm()), rel=1e-12)
    assert got["weight_delta_norm"] > 0
    editor.reset()
    assert weight_growth(editor) == {"weight_delta_norm": 0.0, "weight_norm": 0.0}
    grace = GRACE(tiny_llama, GRACEConfig(n_iter=1))
    grace.edit(_cases(1))
    assert weight_growth(grace) == {"weight_delta_norm": 0.0, "weight_norm": 0.0}  # a memory, no weight changed
    grace.reset()


def test_lora_reports_its_adapters_effective_change(tiny_llama):
    from editors.lora import LoRA, LoRAConfig

    editor = LoRA(tiny_llama, LoRAConfig(num_steps=2))
    editor.edit(_cases(1))
    deltas = editor.weight_deltas()
    assert len(deltas) == len(editor.targets)
    assert all(d.shape == w.shape for w, d in deltas.values()) and weight_growth(editor)["weight_delta_norm"] > 0
    editor.reset()
    assert weight_growth(editor) == {"weight_delta_norm": 0.0, "weight_norm": 0.0}


def test_edit_costs_stay_out_of_cases_jsonl_and_the_last_record_of_each_done_unit_is_read(tmp_path):
    log = RunLog(tmp_path)
    cost = {"edit_seconds": 0.5, "edit_peak_mb": 10.0, "edit_memory": "m"}
    rows = [{"editor": "e", "unit": "edit:a", "case_id": "a", "n_edits": 1, "acc": 1.0, EDIT_COST: cost},
            {"editor": "e", "unit": "edit:a", "case_id": "a", "n_edits": 1, "acc": 0.0}]
    log.append(rows)
    assert all(EDIT_COST not in r and "edit_seconds" not in r for r in log.rows())
    log.append([{"editor": "e", "unit": "edit:b", "case_id": "b", "n_edits": 2, "acc": 1.0,
                 EDIT_COST: {**cost, "edit_seconds": 0.7}}])
    with (tmp_path / EDIT_COSTS).open("a") as fh:  # a unit whose rows never made it to cases.jsonl, and a torn line
        fh.write(json.dumps({"editor": "e", "unit": "edit:c", "n_edits": 3, **cost}) + "\n{\"edi")
    assert [(c["unit"], c["edit_seconds"]) for c in log.read_costs()] == [("edit:a", 0.5), ("edit:b", 0.7)]


def test_the_protocol_times_every_edit_it_scores(tiny_llama):
    units = _units(GRACE(tiny_llama, GRACEConfig(n_iter=1)), _cases(3), ProtocolConfig("sequential", eval_every=2))
    for key, rows in units:
        assert (EDIT_COST in rows[0]) == key.startswith("edit:")
        if key.startswith("edit:"):
            assert rows[0][EDIT_COST]["edit_seconds"] > 0 and rows[0][EDIT_COST]["edit_peak_mb"] > 0


# -- a run, cut short and resumed -----------------------------------------------------------------------------------

TABLES = ("per_case.csv", "retention.csv", "lifelong.csv", "curve.csv", "summary.csv")


def _command(dataset, out, *extra):
    return ["run", "--editors", "ft-m,grace", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
            "--out", str(out), "--bootstrap", "20", "--protocol", "sequential", "--eval-every", "3",
            "--eval-sample", "2", "--eval-recent", "1", "--eval-panel", "1",
            "--editor-args", "ft-m:num_steps=2;grace:n_iter=2", *extra]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    root = tmp_path_factory.mktemp("lifelong")
    path = root / "cf.json"
    path.write_text(json.dumps([_record(i % 5) | {"case_id": f"k{i}"} for i in range(9)]))
    dataset, out = f"counterfact:{path}", root / "whole"
    assert main(_command(dataset, out)) == 0
    return dataset, out


def test_a_sampled_run_writes_the_lifelong_tables_and_its_evaluation_work(whole):
    _, out = whole
    with (out / "lifelong.csv").open() as fh:
        points = list(csv.DictReader(fh))
    assert [(p["editor"], p["n_edits"], p["evaluation"]) for p in points] == [
        (e, n, "sampled" if n != "9" else "full") for e in ("ft-m", "grace") for n in ("3", "6", "9")]
    assert {"collapsed", "collapse_at", "Loc_panel", "weight_norm_growth", "Rel_at_eval_lo"} <= set(points[0])
    assert float(points[2]["weight_norm_growth"]) > 0 and float(points[5]["weight_norm_growth"]) == 0.0
    with (out / "edit_costs.csv").open() as fh:
        costs = list(csv.DictReader(fh))
    assert [(c["editor"], c["edit"]) for c in costs] == [(e, str(i)) for e in ("ft-m", "grace") for i in range(1, 10)]
    with (out / "retention.csv").open() as fh:
        assert {(r["cohort"], r["n_edits"]) for r in csv.DictReader(fh)} == {
            ("1", "3"), ("1", "6"), ("1", "9"), ("2", "6"), ("2", "9"), ("3", "9")}
    config = json.loads((out / "config.json").read_text())
    assert config["evaluation_plan"]["mode"] == "sampled" and config["evaluation_plan"]["points"] == [3, 6, 9]
    work = config["editors"]["ft-m"]["evaluation_work"]
    assert work["edits"] == 9 and work["cases_scored"] == config["evaluation_plan"]["planned_cases"]
    assert work["cases_scored"] <= work["cases_bound"] and work["queries_scored"] == len(
        [r for r in RunLog(out).rows() if r["editor"] == "ft-m"])
    assert (out / "plots" / "retention.png").exists() and (out / "plots" / "edit_cost.png").exists()


def test_a_run_cut_mid_unit_resumes_to_the_same_tables(whole, tmp_path):
    dataset, out = whole
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(out / "config.json", cut / "config.json")
    data = (out / "cases.jsonl").read_bytes()
    (cut / "cases.jsonl").write_bytes(data[:len(data) * 2 // 5 + 7])  # mid-unit: a kill while appending
    assert main(_command(dataset, cut, "--resume")) == 0
    for name in TABLES:
        assert (cut / name).read_bytes() == (out / name).read_bytes(), name
    assert (cut / "cases.jsonl").read_bytes() == data


def test_a_resume_with_another_sample_is_refused(whole, tmp_path, capsys):
    dataset, out = whole
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    command = _command(dataset, copy, "--resume")
    command[command.index("--eval-sample") + 1] = "3"
    assert main(command) != 0
    assert "eval_sample=2" in capsys.readouterr().err


def test_sampling_options_need_the_sequential_protocol(tmp_path, capsys):
    assert main(["run", "--editors", "noedit", "--dataset", "counterfact", "--model", "tiny-llama",
                 "--eval-sample", "5", "--out", str(tmp_path / "x")]) != 0
    assert "only apply to --protocol sequential" in capsys.readouterr().err


def test_the_cuda_peak_is_read_only_on_a_gpu():
    from bench.stream_meters import CPU_MEMORY, measure_edit

    with measure_edit(torch.device("cpu")) as cost:
        pass
    assert cost["edit_memory"] == CPU_MEMORY and cost["edit_seconds"] >= 0 and cost["edit_peak_mb"] > 0
