"""Training data never shares a prompt (in any role) or a rewrite with an evaluation set; the editor refuses cases
that show the model a prompt the checkpoint was trained on, whatever the role on either side."""

from __future__ import annotations

import os

import pytest

from bench.data.overlap import (
    EvalTexts,
    Exclusion,
    Overlap,
    evaluated_prompts,
    filtered_across_roles,
    normalise,
    roles_by_digest,
    seen_prompts,
    text_digest,
)
from bench.data.schema import LOC, Edit, EditCase, Query
from editors.instructed.data import build_pairs
from editors.instructed.overlap import record_overlaps, trained_prompt_digests, trained_prompts
from editors.instructed.testing import fixture_cases
from editors.instructed.train import load_pairs


def test_a_record_sharing_a_locality_prompt_or_rewrite_with_an_eval_case_is_dropped():
    cases = fixture_cases()
    pairs = build_pairs(cases)
    evaluation = EvalTexts()
    evaluation.prompts.add(normalise("  " + pairs[0].loc.question.upper()))  # case and spacing do not hide it
    evaluation.rewrites.add(normalise(cases[1].edits[0].sentence))
    assert evaluation.overlaps([pairs[0].loc.question], [e.sentence for e in cases[0].edits])
    assert evaluation.overlaps([pairs[1].loc.question], [e.sentence for e in cases[1].edits])
    assert not evaluation.overlaps([pairs[2].loc.question], [e.sentence for e in cases[2].edits])
    pool = [Query(LOC, pairs[0].loc.question, "x"), Query(LOC, "Something else entirely", "y")]
    assert [q.prompt for q in evaluation.clean_pool(pool)] == ["Something else entirely"]


@pytest.mark.parametrize("trained_role", ["edit", "loc", "rewrite"])
@pytest.mark.parametrize("evaluated_role", ["rel", "gen", "loc", "por_hop", "rewrite"])
def test_a_record_is_dropped_whatever_the_roles_a_prompt_has_on_either_side(trained_role, evaluated_role):
    """Issue 37: a neighbourhood prompt that is a training rewrite prompt, an edit prompt trained as a locality
    prompt, ... The filter once compared locality prompts with locality prompts only."""
    case = fixture_cases()[0]
    (pair,) = build_pairs([case])
    prompt = {"edit": pair.edit.question, "loc": pair.loc.question, "rewrite": case.edits[0].prompt}[trained_role]
    shown = fixture_cases()[2]
    if evaluated_role == "rewrite":
        shown.edits.append(Edit(prompt, "Spike Hughes", "Rome", "London"))
    else:
        shown.queries.append(Query(evaluated_role, prompt, "x"))
    evaluation = EvalTexts()
    evaluation.add([shown])
    assert record_overlaps(evaluation, pair, [])
    assert not record_overlaps(evaluation, build_pairs([fixture_cases()[1]])[0], [])


def test_the_prompts_of_a_record_and_of_an_evaluation():
    case = fixture_cases()[0]
    (pair,) = build_pairs([case])
    assert trained_prompts(pair) == [("edit", "Danielle Darrieux spoke the language"),
                                     ("loc", "The mother tongue of Paris is"),
                                     ("rewrite", "The mother tongue of Danielle Darrieux is")]
    assert evaluated_prompts(case) == [("rel", "The mother tongue of Danielle Darrieux is"),
                                       ("gen", "Danielle Darrieux spoke the language"),
                                       ("loc", "The mother tongue of Paris is"),
                                       ("rewrite", "The mother tongue of Danielle Darrieux is")]


def test_seen_prompts_match_trained_digests_in_any_role_and_name_both_roles():
    cases = fixture_cases()
    by_role = trained_prompt_digests(build_pairs(cases[:1]))
    assert by_role == {"edit": [text_digest("Danielle Darrieux spoke the language")],
                       "loc": [text_digest(cases[0].of_kind(LOC)[0].prompt)],
                       "rewrite": [text_digest("The mother tongue of Danielle Darrieux is")]}
    lookup = roles_by_digest([(role, d) for role, ds in by_role.items() for d in ds])
    found = seen_prompts(cases[0], lookup)
    assert [(o.role, o.trained_as) for o in found] == [("rel", ("rewrite",)), ("gen", ("edit",)), ("loc", ("loc",)),
                                                        ("rewrite", ("rewrite",))]
    assert [o.same_role for o in found] == [False, False, True, False]  # only what the guard of 42a5d1a compared
    assert found[2].describe() == "its loc prompt 'The mother tongue of Paris is' was a training loc prompt"
    assert seen_prompts(cases[2], lookup) == []


def test_a_prompt_trained_in_two_roles_counts_as_same_role_when_one_is_locality():
    lookup = roles_by_digest([("rewrite", text_digest("X is")), ("loc", text_digest("x  IS"))])
    (overlap,) = seen_prompts(EditCase("9", "d", [], [Query(LOC, "X is", "y")], {}), lookup)
    assert overlap == Overlap("loc", "X is", ("loc", "rewrite")) and overlap.same_role
    assert overlap.describe() == "its loc prompt 'X is' was a training loc/rewrite prompt"


def test_the_record_of_a_filter_across_roles():
    assert Exclusion(["zsre"], 1, 2, 3).to_json()["roles"] == "cross"
    assert filtered_across_roles(Exclusion(["zsre"], 1, 2, 3).to_json())
    assert not filtered_across_roles({"datasets": ["zsre"], "records_removed": 1})  # trained before 2026-12-06
    assert not filtered_across_roles({})  # --no-overlap-filter


@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="needs the real data (BENCH_DATA_DIR)")
def test_the_default_training_data_shares_nothing_with_the_evaluation_sets():
    evaluation = EvalTexts.load(None)
    assert {"counterfact", "zsre", "mquake-test"} <= set(evaluation.datasets)
    pairs, exclusion = load_pairs(["counterfact-train", "mquake"], None, 0.5, 0, 0, evaluation)
    assert exclusion.records_removed > 3000 and exclusion.records_kept == len(pairs)
    assert not any(normalise(q) in evaluation.prompts for p in pairs for _, q in trained_prompts(p))
    assert not any(normalise(p.edit.instruction) in evaluation.rewrites for p in pairs if p.dataset != "mquake")
