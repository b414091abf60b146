"""Training data never shares a locality prompt or a rewrite with an evaluation set; the editor refuses cases
whose neighbourhood prompts the checkpoint was trained on."""

from __future__ import annotations

import os

import pytest

from bench.data.schema import LOC, Query
from editors.instructed.data import build_pairs
from editors.instructed.overlap import EvalTexts, normalise, seen_locality, text_digest, trained_locality_digests
from editors.instructed.testing import fixture_cases
from editors.instructed.train import load_pairs


def test_a_record_sharing_a_locality_prompt_or_rewrite_with_an_eval_case_is_dropped():
    cases = fixture_cases()
    pairs = build_pairs(cases)
    evaluation = EvalTexts()
    evaluation.locality.add(normalise("  " + pairs[0].loc.question.upper()))  # case and spacing do not hide it
    evaluation.rewrites.add(normalise(cases[1].edits[0].sentence))
    assert evaluation.overlaps([pairs[0].loc.question], [e.sentence for e in cases[0].edits])
    assert evaluation.overlaps([pairs[1].loc.question], [e.sentence for e in cases[1].edits])
    assert not evaluation.overlaps([pairs[2].loc.question], [e.sentence for e in cases[2].edits])
    pool = [Query(LOC, pairs[0].loc.question, "x"), Query(LOC, "Something else entirely", "y")]
    assert [q.prompt for q in evaluation.clean_pool(pool)] == ["Something else entirely"]


def test_seen_locality_matches_trained_digests():
    cases = fixture_cases()
    digests = set(trained_locality_digests(build_pairs(cases[:1])))
    assert digests == {text_digest(cases[0].of_kind(LOC)[0].prompt)}
    assert seen_locality(cases[0], digests) and not seen_locality(cases[2], digests)


@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="needs the real data (BENCH_DATA_DIR)")
def test_the_default_training_data_shares_nothing_with_the_evaluation_sets():
    evaluation = EvalTexts.load(None)
    assert {"counterfact", "zsre", "mquake-test"} <= set(evaluation.datasets)
    pairs, exclusion = load_pairs(["counterfact-train", "mquake"], None, 0.5, 0, 0, evaluation)
    assert exclusion.records_removed > 3000 and exclusion.records_kept == len(pairs)
    assert not any(normalise(p.loc.question) in evaluation.locality for p in pairs)
    assert not any(normalise(p.edit.instruction) in evaluation.rewrites for p in pairs if p.dataset != "mquake")
