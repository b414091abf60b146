import pytest

from bench.metrics import (
    CaseMetrics,
    aggregate,
    bootstrap,
    case_metrics,
    harmonic_mean,
    locality_agreement,
    paired_bootstrap,
)


def _rows():
    # case A: rel 1/2 tokens right, gen 1.0 and 0.0, loc agreement 0.75, por 1/3
    a = [
        {"kind": "rel", "acc": 0.5}, {"kind": "gen", "acc": 1.0}, {"kind": "gen", "acc": 0.0},
        {"kind": "loc", "acc": 0.0, "loc": 0.75}, {"kind": "por_hop", "acc": 1 / 3},
    ]
    # case B: everything perfect
    b = [{"kind": "rel", "acc": 1.0}, {"kind": "gen", "acc": 1.0}, {"kind": "loc", "acc": 1.0, "loc": 1.0},
         {"kind": "por_hop", "acc": 1.0}]
    return a, b


def test_hand_computed_case_and_dataset_metrics():
    a, b = _rows()
    ca, cb = case_metrics("A", a), case_metrics("B", b)
    # per-case values are percent, the unit of summary.csv and the tables
    assert ca.values["Rel"] == 50.0 and ca.values["Gen"] == 50.0 and ca.values["Loc"] == 75.0
    assert ca.values["Por_hop"] == pytest.approx(100 / 3) and ca.values["Por_Nhop"] is None
    agg = aggregate([ca, cb])
    assert agg["Rel"] == pytest.approx(75.0)
    assert agg["Gen"] == pytest.approx(75.0)
    assert agg["Loc"] == pytest.approx(87.5)
    assert agg["Por_hop"] == pytest.approx(100 * (1 / 3 + 1) / 2)
    four = [75.0, 75.0, 87.5, 100 * (2 / 3)]
    assert agg["Score"] == pytest.approx(sum(four) / 4)
    assert agg["H"] == pytest.approx(4 / sum(1 / v for v in four))
    assert agg["Por_Nhop"] is None and agg["MH_Acc"] is None


def test_mquake_metrics_by_hand():
    rows = [
        {"kind": "nhop", "acc": 1.0, "em": False}, {"kind": "nhop", "acc": 0.5, "em": True},
        {"kind": "nhop", "acc": 0.0, "em": False},
        {"kind": "hop", "acc": 1.0}, {"kind": "hop", "acc": 0.0},
    ]
    c = case_metrics("m", rows)
    assert c.values["Por_Nhop"] == pytest.approx(50.0)
    assert c.values["Hop_Acc"] == pytest.approx(50.0)
    assert c.values["MH_Acc"] == 100.0  # any question answered exactly
    agg = aggregate([c, case_metrics("n", [{"kind": "nhop", "acc": 0.0, "em": False}])])
    assert agg["MH_Acc"] == 50.0 and agg["Score"] is None


def test_rel_fired_only():
    rows = [{"kind": "rel", "acc": 1.0, "fired": True}, {"kind": "rel", "acc": 0.0, "fired": False}]
    assert case_metrics("x", rows).values["Rel"] == 50.0
    assert case_metrics("x", rows, rel_fired_only=True).values["Rel"] == 100.0


def test_retrieval_accuracy_by_hand_leaves_locality_rows_out():
    a = [{"kind": "rel", "acc": 1.0, "retrieved_ok": True}, {"kind": "gen", "acc": 0.0, "retrieved_ok": False},
         {"kind": "gen", "acc": 1.0, "retrieved_ok": True}, {"kind": "por_hop", "acc": 0.0, "retrieved_ok": True},
         {"kind": "loc", "acc": 0.0, "loc": 1.0, "retrieved_ok": False},  # a locality prompt that fired
         {"kind": "loc_unrelated", "acc": 0.0, "loc": 1.0, "retrieved_ok": False},  # the probes are locality too
         {"kind": "loc_distract", "acc": 0.0, "loc": 0.0, "retrieved_ok": False}]
    b = [{"kind": "rel", "acc": 0.0, "retrieved_ok": False}, {"kind": "loc", "acc": 0.0, "loc": 1.0,
                                                              "retrieved_ok": True}]
    ca, cb = case_metrics("A", a), case_metrics("B", b)
    assert ca.values["Ret_Acc"] == 75.0 and cb.values["Ret_Acc"] == 0.0
    assert aggregate([ca, cb])["Ret_Acc"] == 37.5
    low, high = bootstrap([ca, cb], 200, 0)["Ret_Acc"]
    assert 0.0 <= low <= 37.5 <= high <= 75.0
    plain = case_metrics("C", _rows()[0])  # an editor that retrieves nothing
    assert plain.values["Ret_Acc"] is None and aggregate([plain])["Ret_Acc"] is None


def test_locality_agreement_and_harmonic_mean():
    assert locality_agreement([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    assert locality_agreement([1, 2], [1, 2, 3]) == pytest.approx(2 / 3)
    assert harmonic_mean([50.0, 100.0]) == pytest.approx(200 / 3) and harmonic_mean([0.0, 10.0]) == 0.0


def test_bootstrap_interval_contains_the_mean_and_is_deterministic():
    cases = [case_metrics(str(i), [{"kind": "rel", "acc": float(i % 2)}]) for i in range(40)]
    ci = bootstrap(cases, 500, seed=3)
    lo, hi = ci["Rel"]
    assert lo < 50.0 < hi and 30 < lo and hi < 70
    assert bootstrap(cases, 500, seed=3)["Rel"] == (lo, hi)
    assert ci["Gen"] is None
    constant = [case_metrics(str(i), [{"kind": "rel", "acc": 1.0}]) for i in range(5)]
    assert bootstrap(constant, 100)["Rel"] == (100.0, 100.0)


def test_paired_bootstrap_difference():
    a = [case_metrics(str(i), [{"kind": "rel", "acc": 1.0}]) for i in range(10)]
    b = [case_metrics(str(i), [{"kind": "rel", "acc": 0.0 if i < 5 else 1.0}]) for i in range(10)]
    diff, lo, hi = paired_bootstrap(a, b, "Rel", 500)
    assert diff == pytest.approx(50.0) and lo <= 50.0 <= hi and lo > 0


def _four(case_id: str, rel: float, gen: float, loc: float, por: float) -> CaseMetrics:
    rows = [{"kind": "rel", "acc": rel}, {"kind": "gen", "acc": gen}, {"kind": "loc", "loc": loc},
            {"kind": "por_hop", "acc": por}]
    return case_metrics(case_id, rows)


def test_paired_bootstrap_of_h_equals_hand_computation_and_pairs_by_case_id():
    a = [_four("x", 1.0, 1.0, 0.5, 0.5), _four("y", 1.0, 0.5, 0.5, 0.5)]
    b = [_four("y", 0.5, 0.5, 1.0, 0.5), _four("x", 0.5, 0.5, 1.0, 0.5), _four("z", 1.0, 1.0, 1.0, 1.0)]
    h_a = 4 / (1 / 100 + 1 / 75 + 1 / 50 + 1 / 50)
    h_b = 4 / (1 / 50 + 1 / 50 + 1 / 100 + 1 / 50)
    diff, lo, hi = paired_bootstrap(a, b, "H", 200, seed=1)
    assert diff == pytest.approx(h_a - h_b)
    assert lo <= hi
    score_diff, _, _ = paired_bootstrap(a, b, "Score", 200)
    assert score_diff == pytest.approx((100 + 75 + 50 + 50) / 4 - (50 + 50 + 100 + 50) / 4)
    assert paired_bootstrap(a, [_four("w", 1, 1, 1, 1)], "Rel") is None


def _paper_rows():
    # loc rows carry e0 (loc_e0), e1 (loc), e2 (acc) and loc_paper = max of the three (bench/protocols.py)
    a = [
        {"kind": "rel", "acc": 0.5}, {"kind": "gen", "acc": 1.0},
        {"kind": "loc", "acc": 0.5, "loc": 0.25, "loc_e0": 0.75, "loc_paper": 0.75},  # e0 wins
        {"kind": "loc", "acc": 1.0, "loc": 0.0, "loc_e0": 0.0, "loc_paper": 1.0},  # the gold label wins
        {"kind": "por_hop", "acc": 0.5},
    ]
    b = [{"kind": "rel", "acc": 1.0}, {"kind": "gen", "acc": 0.5},
         {"kind": "loc", "acc": 0.0, "loc": 0.5, "loc_e0": 0.5, "loc_paper": 0.5}, {"kind": "por_hop", "acc": 1.0}]
    return a, b


def test_paper_locality_by_hand():
    a, b = _paper_rows()
    ca, cb = case_metrics("A", a), case_metrics("B", b)
    assert ca.values["Loc"] == 12.5 and ca.values["Loc_paper"] == 87.5 and cb.values["Loc_paper"] == 50.0
    agg = aggregate([ca, cb])
    assert agg["Loc"] == pytest.approx(31.25) and agg["Loc_paper"] == pytest.approx(68.75)
    strict, paper = [75.0, 75.0, 31.25, 75.0], [75.0, 75.0, 68.75, 75.0]
    assert agg["Score"] == pytest.approx(sum(strict) / 4) and agg["H"] == pytest.approx(4 / sum(1 / v for v in strict))
    assert agg["Score_paper"] == pytest.approx(73.4375)
    assert agg["H_paper"] == pytest.approx(4 / sum(1 / v for v in paper))
    ci = bootstrap([ca, cb], 200, seed=1)
    assert ci["Loc_paper"][0] <= agg["Loc_paper"] <= ci["Loc_paper"][1]
    assert ci["Score_paper"] is not None and ci["H_paper"] is not None
    # the paired bootstrap works on the paper metrics as on the others
    d, lo, hi = paired_bootstrap([ca, cb], [case_metrics("A", b), case_metrics("B", b)], "Score_paper", 200, 0)
    assert d == pytest.approx(73.4375 - (100 + 50 + 50 + 100) / 4) and lo <= d <= hi


def test_rows_without_loc_paper_give_no_paper_metrics():
    a, b = _rows()  # the format of runs from before loc_paper
    cases = [case_metrics("A", a), case_metrics("B", b)]
    assert all(c.values["Loc_paper"] is None for c in cases)
    agg = aggregate(cases)
    assert agg["Loc_paper"] is None and agg["Score_paper"] is None and agg["H_paper"] is None
    assert agg["Loc"] == pytest.approx(87.5)
    ci = bootstrap(cases, 100)
    assert ci["Loc_paper"] is None and ci["Score_paper"] is None and ci["H_paper"] is None
    assert ci["Loc"] is not None
