"""Training-example builders, the deterministic MQuAKE split, fingerprints and the compat=paper query subset."""

from __future__ import annotations

import dataclasses
import os

import pytest

from bench.data.schema import GEN, LOC, Query
from bench.data.splits import mquake_split
from bench.errors import BenchError
from editors.instructed.compat import fired_only, paper_queries
from editors.instructed.data import Example, build_pairs, case_fingerprint, locality_pool
from editors.instructed.testing import fixture_cases, mquake_case


def test_counterfact_record_gives_an_edit_and_a_locality_example():
    pairs = build_pairs(fixture_cases())
    first = pairs[0]
    instruction = "The mother tongue of Danielle Darrieux is English."
    assert first.edit == Example(instruction, "Danielle Darrieux spoke the language", "English", "edit")
    assert first.loc == Example(instruction, "The mother tongue of Paris is", "French", "loc")
    assert (first.dataset, first.case_id) == ("fixture-cf", "1")
    assert len(pairs) == 3


def test_mquake_record_uses_the_multihop_question_and_borrows_a_locality_prompt():
    pool = locality_pool(fixture_cases())
    pair = build_pairs([mquake_case()], pool, seed=0)[0]
    assert pair.edit.instruction == "Ellie Kemper is a citizen of Croatia. The head of state of Croatia is Toyota."
    assert pair.edit.question.startswith("Who is the head of state of the country") and pair.edit.answer == "Toyota"
    assert pair.loc.instruction == pair.edit.instruction
    assert Query(LOC, pair.loc.question, pair.loc.answer) in pool
    assert build_pairs([mquake_case()], pool, seed=0)[0] == pair  # deterministic
    with pytest.raises(BenchError, match="no locality prompt"):
        build_pairs([mquake_case()], [])


def test_mquake_split_is_deterministic_disjoint_and_subset_stable():
    ids = [str(i) for i in range(1, 355)]
    train, test = mquake_split(ids, 0.5)
    assert (train, test) == mquake_split(list(ids), 0.5)
    assert not set(train) & set(test) and sorted(train + test, key=int) == ids
    assert 140 < len(train) < 215
    sub_train, sub_test = mquake_split(ids[::3], 0.5)  # a case's side does not depend on the others
    assert set(sub_train) <= set(train) and set(sub_test) <= set(test)
    assert mquake_split(list(reversed(ids)), 0.5)[0] == list(reversed(train))
    with pytest.raises(BenchError):
        mquake_split(ids, 1.0)


def test_fingerprint_identifies_the_rewrites_not_the_file():
    case = fixture_cases()[0]
    moved = dataclasses.replace(case, case_id="999", dataset="other-file")
    assert case_fingerprint(moved) == case_fingerprint(case)
    assert case_fingerprint(fixture_cases()[1]) != case_fingerprint(case)


def test_paper_queries_keep_one_paraphrase_and_one_neighbour():
    case = fixture_cases()[0]
    case = dataclasses.replace(case, queries=case.queries + [Query(GEN, "Darrieux speaks", "English"),
                                                             Query(LOC, "Paris is in", "France")])
    picked = paper_queries(case, seed=3)
    assert [q.kind for q in picked].count(GEN) == 1 and [q.kind for q in picked].count(LOC) == 1
    assert picked == paper_queries(case, seed=3)
    assert fired_only([1.0, 0.0, 0.5], [True, False, True]) == [1.0, 0.5]


@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="needs the real data (BENCH_DATA_DIR)")
def test_real_data_builders():
    from bench.data import load_dataset

    cf = load_dataset("counterfact-train", limit=20)
    mq = load_dataset("mquake")
    train, test = mquake_split([c.case_id for c in mq])
    assert len(train) + len(test) == 354
    pairs = build_pairs(mq[:5], locality_pool(cf))
    assert all(p.edit.answer == c.of_kind("nhop")[0].answer for p, c in zip(pairs, mq[:5]))
