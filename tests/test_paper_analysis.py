"""The paper's analyses (bench/paper/analysis/) run on small results folders built here and write what their
results pages quote, into the folder they explain."""

import json
import re

import pytest
import torch

from bench.metrics import CaseMetrics
from bench.paper.analysis import grace_keys, old_vs_new, paper_budget_compare, rome_second_moments
from bench.paper.analysis import sequential_two_models as two_models
from bench.runlog import RunLog

EDITORS = ("instructed", "instructed-retrieval", "instructed-noreweight", "instructed-late", "instructed-ffn",
           "instructed-noprefix", "instructed-ins", "ike", "noedit", "memit", "serac-icl", "rome")
LOW = {"Rel": 100.0, "Gen": 0.0, "Loc": 50.0, "Por_hop": 0.0}  # percent, as per_case.csv; all but HIGH_GEN
HIGH_GEN = ("instructed-noreweight", "instructed-retrieval")  # Gen 100: +100 over the others, on every case


def _run(run, editors=EDITORS, protocols=("single", "sequential/final"), values=None, n=3):
    """per_case.csv (and a summary naming dataset and model) of `editors`, the same values on n cases."""
    run.mkdir(parents=True, exist_ok=True)
    rows = {(e, p): [CaseMetrics(str(i), dict(values or LOW, Gen=100.0 if e in HIGH_GEN else 0.0)) for i in range(n)]
            for e in editors for p in protocols}
    RunLog(run).write_per_case(rows)
    (run / "summary.csv").write_text("editor,dataset,model,protocol,n_cases\n"
                                     + "".join(f"{e},counterfact,gemma3-270m,single,{n}\n" for e in editors))
    return run


def _compare_inputs(root):
    new, base = root / paper_budget_compare.NEW, root / paper_budget_compare.BASE
    for entry in ("counterfact-ablations", "zsre-ablations", "counterfact", "zsre", "mquake-test",
                  "zsre-subject-replace", "counterfact-subject-replace", "counterfact-sequential", "zsre-sequential",
                  "zsre-inverse", "zsre-inverse-newer", "zsre-subject-replace-newer",
                  "counterfact-subject-replace-newer"):
        _run(new / entry, EDITORS + ("instructed-columns",))
        _run(base / entry)


def test_paper_budget_compare_writes_its_two_sections_into_the_paper_budget_folder(tmp_path, capsys):
    _compare_inputs(tmp_path)
    out = paper_budget_compare.main(["--results", str(tmp_path)])
    assert out == tmp_path / "suite-smollm2-instructed-paper-budget" / "compare.txt"
    lines = out.read_text().splitlines()
    assert capsys.readouterr().out == out.read_text()
    assert [ln for ln in lines if ln.startswith("#")] == [
        "# 1. Table 4 at 1 epoch: ablation - control", "# 2. Within the tables: row a - row b on the same cases"]
    assert lines[1] == ("counterfact-ablations | instructed-noreweight - control | n=3 | Rel +0.0 [+0.0, +0.0]; "
                        "Gen +100.0 [+100.0, +100.0]; Loc +0.0 [+0.0, +0.0]; Por_hop +0.0 [+0.0, +0.0]; "
                        "H +0.0 [+0.0, +0.0]")
    assert lines[4].startswith("counterfact-ablations | instructed-columns - control | n=3 | Rel +0.0 [+0.0, +0.0]")
    assert "counterfact | instructed-retrieval - instructed (suite-smollm2-instructed-paper-budget/counterfact) | " \
           "single | n=3 | Rel +0.0 [+0.0, +0.0]; Gen +100.0 [+100.0, +100.0]" in out.read_text()
    assert "zsre-inverse-newer | instructed-retrieval - instructed (suite-smollm2-instructed-paper-budget/zsre-" \
           "inverse) | single | n=3 | Rel +0.0 [+0.0, +0.0]; Gen +100.0 [+100.0, +100.0]" in out.read_text()
    assert lines[-1].startswith("zsre-sequential | instructed-retrieval - serac-icl (suite-smollm2/zsre-"
                                "sequential) | sequential/final | n=3 | Rel +0.0 [+0.0, +0.0]; Gen +100.0")
    (tmp_path / paper_budget_compare.NEW / "zsre-sequential" / "per_case.csv").unlink()
    assert paper_budget_compare.main(["--results", str(tmp_path)]).read_text().splitlines()[-1] == (
        "zsre-sequential | instructed-retrieval - serac-icl (suite-smollm2/zsre-sequential) | sequential/final | "
        "missing: no instructed-retrieval rows in suite-smollm2-instructed-paper-budget/zsre-sequential")


def test_old_vs_new_writes_the_paired_differences_into_the_paper_budget_run_folder(tmp_path):
    for run in ("suite-smollm2-instructed/counterfact", "suite-smollm2-instructed/zsre"):
        _run(tmp_path / run, editors=("instructed", "instructed-retrieval"))
    for run in ("instructed-paper-budget/counterfact-200", "instructed-paper-budget/zsre-200"):
        _run(tmp_path / run, editors=("instructed", "instructed-retrieval"), values=dict(LOW, Rel=50.0))
    out = old_vs_new.main(["--results", str(tmp_path)])
    assert out == tmp_path / "instructed-paper-budget" / "old-vs-new.txt"
    lines = out.read_text().splitlines()
    assert lines[0] == "dataset | editor | metric | paper budget - CPU budget [95% CI], paired bootstrap"
    assert lines[1] == "CounterFact | instructed | Rel | -50.00 [-50.00, -50.00]"
    assert {ln.split(" | ")[0] for ln in lines[1:]} == {"CounterFact", "ZsRE"}
    assert "ZsRE | instructed-retrieval | Gen | +0.00 [+0.00, +0.00]" in lines


def _curve(run, editors):
    run.mkdir(parents=True, exist_ok=True)
    RunLog(run).write_curve([{"editor": e, "n_edits": k, "Rel": 100.0 - k, "Gen": 50.0, "Loc": 90.0}
                             for e in editors for k in (1, 2)])


def test_the_two_model_curve_figure_is_written_below_the_results_folder(tmp_path, capsys):
    for _, run, _ in two_models.SERIES:
        _curve(tmp_path / run, ("rome", "memit", "noedit"))
    points = two_models.all_curves(tmp_path)
    assert [p["editor"] for p in points[:2]] == ["rome · smollm2-135m"] * 2 and len(points) == 10
    written = two_models.main(["--results", str(tmp_path)])
    stem = tmp_path / "suite-gemma3" / "plots" / "sequential-two-models"
    assert written == [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    assert all(p.stat().st_size > 1000 for p in written) and capsys.readouterr().out.split() == list(map(str, written))
    (tmp_path / two_models.SERIES[-1][1] / "curve.csv").unlink()
    with pytest.raises(SystemExit, match="rome-sequential-mom2/curve.csv is missing: make that run first"):
        two_models.main(["--results", str(tmp_path)])


def test_rome_overlap_is_the_off_diagonal_of_u_j_dot_k_i_and_a_scaled_identity_changes_nothing():
    keys = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)  # u_0 = (1, 0), u_1 = (1, 1) / 2
    assert rome_second_moments.overlaps(keys, None).tolist() == [0.5, 1.0]  # |u_1 . k_0|, |u_0 . k_1|
    assert rome_second_moments.overlaps(keys, 2 * torch.eye(2, dtype=torch.float64)).tolist() == [0.5, 1.0]
    assert rome_second_moments.summary(torch.tensor([0.0, 1.0, 2.0])) == "median 1.00, 90th percentile 1.80"


def test_rome_second_moments_measures_keys_of_a_runs_edit_order_and_pairs_the_runs(tmp_path):
    from bench.data import load_dataset

    ids = [c.case_id for c in load_dataset("counterfact", None, limit=100)][5:8]
    run = tmp_path / "tiny" / "counterfact-sequential"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"case_ids": ids}))
    for _, with_moments, without in rome_second_moments.PAIRS:
        _run(tmp_path / with_moments, editors=("rome",), values=dict(LOW, Loc=100.0))
        _run(tmp_path / without, editors=("rome",))
    out = rome_second_moments.main(["--results", str(tmp_path), "--runs", "tiny-llama=tiny/counterfact-sequential",
                                    "--moments", "", "--edits", "3", "--out", str(tmp_path / "out.txt")])
    lines = out.read_text().splitlines()
    assert re.fullmatch(r"tiny-llama, layer \d+: key cosine median -?\d\.\d\d; overlap with C = I: "
                        r"median \d+\.\d\d, 90th percentile \d+\.\d\d", lines[0])
    assert lines[1:3] == ["gemma3-270m, single: ROME with C = second moments minus C = I, Rel: +0.0 [+0.0, +0.0] (n=3)",
                          "gemma3-270m, single: ROME with C = second moments minus C = I, Gen: +0.0 [+0.0, +0.0] (n=3)"]
    assert lines[3] == "gemma3-270m, single: ROME with C = second moments minus C = I, Loc: +50.0 [+50.0, +50.0] (n=3)"
    assert len(lines) == 1 + 2 * 5


def test_grace_keys_writes_one_line_per_model(tmp_path):
    out = tmp_path / "grace-keys.txt"
    grace_keys.main(["--models", "tiny-llama,tiny-gpt2", "--cases", "3", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["tiny-llama", "tiny-gpt2"]
    assert all(re.fullmatch(r"[\w-]+: layer \d+, key norm \d+\.\d\d, distance to paraphrase \d+\.\d\d, to locality "
                            r"prompt \d+\.\d\d, paraphrases within eps: \d of 3", ln) for ln in lines)


def test_heldout_multi_is_seeded_and_its_check_finds_a_planted_overlap(tmp_path):
    from bench.paper.analysis import heldout_multi

    empty = tmp_path / "empty"
    empty.mkdir()
    cases = heldout_multi.build(empty)
    assert cases == heldout_multi.build(empty)  # the same draw every time
    assert {len(c["requested_rewrite"]) for c in cases} == {3, 4}
    assert heldout_multi.check(cases, empty) == []
    planted = tmp_path / "planted"
    planted.mkdir()
    asked = heldout_multi.case_prompts(cases[0])[0]
    (planted / "data.json").write_text(json.dumps([{"prompt": asked.upper()}]))
    problems = heldout_multi.check(cases[:1], planted)
    assert f"{cases[0]['case_id']}: text in the shared data: {asked!r}" in problems
    assert any("first subject in the shared data" in p for p in problems)  # the planted text names it


def test_multi_edit_orders_move_only_the_asked_rewrite():
    from bench.paper.analysis.multi_edit import ORDERS

    s = ["a", "b", "c", "d"]
    assert ORDERS["own-only"](s, 2) == ["c"] and ORDERS["own-first"](s, 2) == ["c", "a", "b", "d"]
    assert ORDERS["own-last"](s, 1) == ["a", "c", "d", "b"] and ORDERS["reversed"](s, 0) == ["d", "c", "b", "a"]
    assert all(ORDERS[v](s, -1) == s for v in ("own-only", "own-first", "own-last"))  # multi-hop questions


def test_newer_editors_pairs_each_claim_by_case_and_names_the_runs_still_missing(tmp_path, capsys):
    from bench.paper.analysis import newer_editors

    results = tmp_path / "results"
    high = {"Rel": 100.0, "Gen": 100.0, "Loc": 100.0, "Por_hop": 100.0}
    _run(results / "suite-smollm2/counterfact-newer", ("serac",), ("single",), values=high)
    _run(results / "suite-smollm2/counterfact", ("serac-icl",), ("single",))
    out = newer_editors.main(["--results", str(results)])
    lines = out.read_text().splitlines()
    assert out == results / newer_editors.OUT and len(lines) == 1 + len(newer_editors.CLAIMS)
    serac = next(x for x in lines if x.startswith("SERAC as published against our in-context variant, CounterFact"))
    assert serac.endswith("| n=3 | Rel +0.0 [+0.0, +0.0]; Gen +0.0 [+0.0, +0.0]; Loc +50.0 [+50.0, +50.0]; "
                          "Por_hop +100.0 [+100.0, +100.0]; H +0.0 [+0.0, +0.0]")  # _run sets Gen 0 for both
    assert "missing: no alphaedit rows in suite-smollm2/counterfact-sequential-alphaedit" in lines[1]


def test_wise_routing_scores_every_edit_prompt_three_ways_and_forcing_off_is_the_unedited_model(tmp_path, tiny_llama):
    from bench.data.schema import LOC, REL, Edit, EditCase, Query
    from bench.editor import Request
    from bench.paper.analysis import wise_routing
    from editors.wise import WISE, WISEConfig

    records = [{"src": f"q{i}", "alt": "x", "rephrase": "r", "loc": p, "loc_ans": a, "subject": ""}
               for i, (p, a) in enumerate([("Rome is the capital of", "Italy"), ("Berlin is in", "Germany")])]
    (tmp_path / "irrelevant.json").write_text(json.dumps(records))
    cases = [EditCase(f"c{i}", "fixture", [Edit(p, "", t)], [Query(REL, p, t), Query(LOC, "Max Mosley is from", "UK")])
             for i, (p, t) in enumerate([("Toko Yasuda plays the", "Italy"), ("Danielle Darrieux speaks", "guitar"),
                                         ("Spike Hughes originates from", "Paris")])]
    editor = WISE(tiny_llama, WISEConfig(irrelevant=f"mend:{tmp_path / 'irrelevant.json'}", alpha=0.05, beta=0.5,
                                         gamma=0.25, edit_lr=10.0, n_iter=10))
    unedited = [editor.score([Request(c, c.queries[0])])[0].accuracy for c in cases]
    immediate, final, loc = wise_routing.run(cases, editor)
    assert [len(x) for x in immediate] == [1, 1, 1] and [len(x) for x in loc] == [1, 1, 1]
    assert all(p.routed for case in final["side"] for p in case)
    assert not any(p.routed for case in final["main"] for p in case)
    assert [case[0].accuracy for case in final["main"]] == unedited
    assert all(p.routed == (p.ratio >= 1) for case in final["routed"] for p in case)
    assert editor.config.act_ratio == WISEConfig().act_ratio  # forcing is undone
    lines = wise_routing.cohort_table(immediate, final, loc, size=2)
    assert len(lines) == 3 and lines[1].split()[0] == "1-2" and lines[2].split()[0] == "3-3"
    editor.reset()
    assert editor.last_routing is None


def test_an_analysis_s_editor_args_are_typed_and_checked_as_bench_run_s():
    from bench.errors import BenchError
    from bench.paper.analysis import editor_config
    from editors.wise import WISE, WISEConfig

    config = editor_config(WISE, "save_freq=10,mask_ratio=0.1")
    assert (config.save_freq, config.mask_ratio) == (10, 0.1) and editor_config(WISE, "") == WISEConfig()
    with pytest.raises(BenchError, match="Did you mean 'save_freq'"):
        editor_config(WISE, "save_freqq=3")


def test_generation_ranking_names_each_flip_and_calls_it_real_only_where_both_intervals_exclude_zero(tmp_path):
    from bench.paper.analysis import generation_ranking

    def cases(tf, gen, noisy=False):  # (Rel, Gen, Loc, Por_hop) teacher-forced and generated, on 20 cases
        out = []
        for i in range(20):
            wobble = (30.0 if i % 2 else -30.0) if noisy else 0.0
            values = dict(zip(("Rel", "Gen", "Loc", "Por_hop"), (tf[0] + wobble, *tf[1:])))
            values.update(zip(("Rel_gen", "Gen_gen", "Loc_gen", "Por_gen"), (gen[0] - wobble, *gen[1:])))
            out.append(CaseMetrics(str(i), values))
        return out

    run = tmp_path / "generation-smollm2" / "counterfact"
    run.mkdir(parents=True)
    RunLog(run).write_per_case({
        ("noedit", "single"): cases((0, 0, 100, 10), (0, 0, 100, 10)),
        ("rome", "single"): cases((100, 90, 80, 40), (40, 30, 80, 20)),    # first teacher-forced, last generated
        ("ike", "single"): cases((90, 80, 90, 40), (85, 75, 90, 35)),
        ("memit", "single"): cases((60, 50, 85, 30), (58, 45, 85, 30), noisy=True),
        ("ft-m", "single"): cases((89, 80, 90, 40), (86, 75, 90, 35), noisy=True)})  # just behind ike, then ahead
    out = generation_ranking.main(["--results", str(tmp_path)])
    text = out.read_text()
    assert out == run.parent / "ranking.txt"
    assert generation_ranking.kendall_tau(["a", "b", "c"], ["c", "b", "a"]) == -1.0
    assert generation_ranking.kendall_tau(["a", "b", "c"], ["a", "c", "b"]) == pytest.approx(1 / 3)
    by_h = text.split("## by H ")[1].split("## by Rel")[0]
    assert "Kendall tau -0.33" in by_h and "noedit" not in by_h  # rome 1 -> 4, ike 2 -> 2, ft-m 3 -> 1, memit
    assert "   1 ->  4  rome" in by_h and "   3 ->  1  ft-m" in by_h
    assert re.search(r"rome - ike: H \+\d+\.\d \[\+[\d.]+, \+[\d.]+\]; H_gen -\d+\.\d \[-[\d.]+, -[\d.]+\]; real flip",
                     by_h)
    assert "rome - memit" in by_h and "ike - memit" not in by_h
    assert re.search(r"ike - ft-m: .*; within noise on at least one side", by_h)
    assert "# zsre: missing" in text


def test_scaling_compare_pairs_rows_against_columns_per_table_and_editor(tmp_path):
    from bench.paper.analysis import scaling_compare

    results = tmp_path / "results"
    folder = results / scaling_compare.FOLDER
    high = {"Rel": 100.0, "Gen": 100.0, "Loc": 100.0, "Por_hop": 100.0}
    rows_suite = results / scaling_compare.ROWS_SUITE  # the rows runs are the paper-budget suite's entries
    _run(rows_suite / "counterfact", ("instructed", "instructed-retrieval"), ("single",), values=high)
    _run(folder / "columns-counterfact", ("instructed", "instructed-retrieval"), ("single",))
    _run(folder / "columns-zsre", ("instructed",), ("single",))
    lines = scaling_compare.main(["--results", str(results)]).read_text().splitlines()
    assert len(lines) == 2 + 2 * len(scaling_compare.TABLES)
    assert lines[-1] == "# default: undecided, no instructed rows in suite-smollm2-instructed-paper-budget/zsre yet"
    lines = lines[:-1]
    assert lines[1] == ("Table 2 | counterfact | instructed | n=3 | Rel +0.0 [+0.0, +0.0]; Gen +0.0 [+0.0, +0.0]; "
                        "Loc +50.0 [+50.0, +50.0]; Por_hop +100.0 [+100.0, +100.0]; H +0.0 [+0.0, +0.0]")  # Gen 0 both
    assert lines[2].endswith("instructed-retrieval | n=3 | Rel +0.0 [+0.0, +0.0]; Gen +0.0 [+0.0, +0.0]; "
                             "Loc +50.0 [+50.0, +50.0]; Por_hop +100.0 [+100.0, +100.0]; H +100.0 [+100.0, +100.0]")
    assert lines[3] == ("Table 2 | zsre | instructed | missing: no instructed rows in "
                        "suite-smollm2-instructed-paper-budget/zsre")
    assert lines[-1].endswith("missing: no instructed-retrieval rows in "
                              "suite-smollm2-instructed-paper-budget/mquake-test")


@pytest.mark.parametrize("rows_hop, picked", [(50.0, "rows (the rule is met)"),
                                              (0.0, "columns stay (the rule is not met)")])
def test_scaling_compare_applies_its_rule(tmp_path, rows_hop, picked):
    """Rows become the default only with gold-mode H above zero on one Table 2 dataset, not below on the other, and
    Hop_Acc not below zero; here rows gain H on CounterFact, tie on ZsRE, and tie or lose Hop_Acc."""
    from bench.paper.analysis import scaling_compare

    def write(scaling, dataset, values):
        rows = [CaseMetrics(str(i), dict(values)) for i in range(3)]
        RunLog(tmp_path / scaling_compare.run_folder(scaling, dataset)).write_per_case({("instructed", "single"): rows})

    low, high = LOW, {"Rel": 100.0, "Gen": 100.0, "Loc": 100.0, "Por_hop": 100.0}
    write("rows", "counterfact", high)
    write("columns", "counterfact", low)
    for scaling in ("rows", "columns"):
        write(scaling, "zsre", low)
        write(scaling, "mquake-test", {"Hop_Acc": rows_hop if scaling == "rows" else 50.0})
    hop = rows_hop - 50.0
    assert scaling_compare.verdict(tmp_path) == (
        f"# default: {picked}: counterfact H +100.0 [+100.0, +100.0]; zsre H +0.0 [+0.0, +0.0]; "
        f"mquake-test Hop_Acc {hop:+.1f} [{hop:+.1f}, {hop:+.1f}]")


def test_heldout_compare_pairs_instructed_with_ike_on_four_edit_cases_and_all(tmp_path):
    from bench.paper.analysis import heldout_compare

    results = tmp_path / "results"
    cases = [{"case_id": i, "requested_rewrite": [{}] * (4 if i < 2 else 3)} for i in range(3)]
    (results / heldout_compare.CASES).parent.mkdir(parents=True)
    (results / heldout_compare.CASES).write_text(json.dumps(cases))
    runs = results / heldout_compare.HELDOUT / "multi-runs"
    values = [{"Rel": 100.0, "Por_Nhop": 50.0, "Hop_Acc": 50.0}, {"Rel": 50.0, "Por_Nhop": 50.0, "Hop_Acc": 0.0},
              {"Rel": 0.0, "Por_Nhop": 0.0, "Hop_Acc": 0.0}]
    ike = [CaseMetrics(str(i), {"Rel": 50.0, "Por_Nhop": 50.0, "Hop_Acc": 0.0}) for i in range(3)]
    ours = [CaseMetrics(str(i), v) for i, v in enumerate(values)]
    RunLog(runs / heldout_compare.IKE_RUN).write_per_case({("instructed", "single"): ours, ("ike", "single"): ike})
    lines = heldout_compare.main(["--results", str(results)]).read_text().splitlines()
    assert lines[1].startswith("instruction | 4-edit (2) | Rel 75.0 (+25.0 [")  # by hand: (100 + 50) / 2 - 50
    assert lines[1].endswith("Hop_Acc 25.0 (+25.0 [+0.0, +50.0]) | IKE 50.0 / 50.0 / 0.0")
    assert lines[2].startswith("instruction | all (3) | Rel 50.0 (+0.0 [")
    assert lines[3] == f"fact | missing: {runs / 'fact' / 'per_case.csv'}"
    (results / heldout_compare.CASES).unlink()
    with pytest.raises(SystemExit, match="python -m bench.paper.analysis.heldout_multi"):
        heldout_compare.main(["--results", str(results)])


def test_scaling_multifact_reads_each_hop_answer_s_first_token_by_facts_in_the_instruction(tmp_path):
    """Cases 1 and 14 of mquake-test hold one edit, case 24 two. Rows open with ' the' where columns answer, but only
    under several facts (case 24 in gold mode, every case under + Retrieval's three). The rows run, the suite's entry,
    also holds instructed-retrieval-one, which the comparison leaves out."""
    from bench.explorer_cases import load_tokenizer
    from bench.paper.analysis import scaling_multifact as multifact
    from bench.runlog import RunLog

    tok = load_tokenizer("tiny-llama")
    answer, opener = tok(" what", add_special_tokens=False)["input_ids"][0], tok(" the")["input_ids"][-1]
    assert multifact.first_token_kind(tok, [answer, 9], "what is it") == "answer"
    assert multifact.first_token_kind(tok, [tok("\n")["input_ids"][-1]], "what") == "opener"
    assert multifact.first_token_kind(tok, [tok(" Paris", add_special_tokens=False)["input_ids"][0]], "what") == "other"

    def hop(editor, case_id, first):
        return {"case_id": case_id, "kind": "hop", "qi": 0, "prompt": "q", "answer": "what", "acc": 1.0,
                "pred_ids": [first], "editor": editor, "unit": f"cases:{case_id}", "model": "tiny-llama",
                "dataset": "mquake-test", "protocol": "single", "phase": "after-edit"}

    results = tmp_path / "results"
    assert multifact.main(["--results", str(results)]).read_text().startswith("# missing: no rows in ")
    for scaling in multifact.SCALINGS:
        several = opener if scaling == "rows" else answer
        rows = [hop("instructed", "1", answer), hop("instructed", "14", answer), hop("instructed", "24", several)]
        rows += [hop("instructed-retrieval", c, several) for c in ("1", "14", "24")]
        rows += [hop("instructed-retrieval-one", "1", answer)] if scaling == "rows" else []
        run = results / multifact.run_folder(scaling, multifact.DATASET)
        run.mkdir(parents=True)
        RunLog(run).append(rows)
        recorded = {"editors": {"instructed-retrieval": {"config": {"multihop_k": 3}}}}
        (run / "config.json").write_text(json.dumps(recorded))  # the facts + Retrieval joined, as a run records it
    lines = multifact.main(["--results", str(results)]).read_text().splitlines()
    assert lines[2:] == [
        "instructed | 1 | 2 / 2 | 100.0, 100.0, +0.0 [+0.0, +0.0] | 0.0, 0.0, +0.0 [+0.0, +0.0]",
        "instructed | 2 | 1 / 1 | 0.0, 100.0, -100.0 [-100.0, -100.0] | 100.0, 0.0, +100.0 [+100.0, +100.0]",
        "instructed-retrieval | 3 | 3 / 3 | 0.0, 100.0, -100.0 [-100.0, -100.0] | 100.0, 0.0, +100.0 [+100.0, +100.0]"]
