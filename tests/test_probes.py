from dataclasses import replace

import pytest
from conftest import make_case

from bench.data.schema import FLUENCY, GEN, LOC, LOC_DISTRACT, LOC_UNRELATED, REL
from bench.errors import BenchError
from bench.probes import ProbeConfig, unrelated_queries, with_probes


def _case(i: int, relation: str, subject: str):
    case = make_case(f"c{i}", subject, f"Target{i}")
    edit = replace(case.edits[0], relation_id=relation, target_true=f"True{i}")
    return replace(case, edits=[edit])


def test_unrelated_prompts_have_other_relations_and_subjects_and_a_fixed_draw():
    pool = [_case(0, "P19", "Spike Hughes"), _case(1, "P19", "Toko Yasuda"), _case(2, "P27", "John Lennon"),
            _case(3, "P27", "Max Mosley"), _case(4, "P30", "Ada King")]
    picked = unrelated_queries(pool[0], pool, 5)
    # P19 cases are out; Max Mosley appears in case 0's locality prompt, so case 3 is out too
    assert sorted(q.answer for q in picked) == ["True2", "True4"]
    assert all(q.kind == LOC_UNRELATED for q in picked)
    once, again = unrelated_queries(pool[0], pool, 1), unrelated_queries(pool[0], pool, 1)
    assert once == again and len(once) == 1


def test_the_draw_does_not_depend_on_the_other_cases_evaluated():
    pool = [_case(i, f"P{i}", f"Person {chr(65 + i)}") for i in range(20)]
    alone = with_probes(pool[:1], pool, ProbeConfig(3, False, 0))[0]
    among = with_probes(pool[:5], pool, ProbeConfig(3, False, 0))[0]
    assert alone.queries == among.queries and len(alone.of_kind(LOC_UNRELATED)) == 3


def test_probes_are_appended_so_earlier_query_indices_hold():
    case = make_case()
    probed = with_probes([case], [case], ProbeConfig(unrelated=2, distracting=True, fluency=2))[0]
    assert probed.queries[:len(case.queries)] == case.queries
    distract = probed.of_kind(LOC_DISTRACT)
    assert [q.prompt for q in distract] == ["Spike Hughes originates from Philadelphia. Max Mosley originates from",
                                            "Spike Hughes originates from Philadelphia. Lita Ford was native to"]
    assert [q.answer for q in distract] == [q.answer for q in case.of_kind(LOC)]
    # no generation prompts in the record: the edit and paraphrase prompts are the fallback
    assert [q.prompt for q in probed.of_kind(FLUENCY)] == [case.of_kind(REL)[0].prompt, case.of_kind(GEN)[0].prompt]
    assert probed.of_kind(LOC_UNRELATED) == []  # the only other case is itself


def test_generation_prompts_of_full_records_come_first():
    case = replace(make_case(), extra={"generation_prompts": ("A", "B", "C")})
    probed = with_probes([case], [case], ProbeConfig(0, False, 2))[0]
    assert [q.prompt for q in probed.of_kind(FLUENCY)] == ["A", "B"]


def test_a_record_whose_prompts_are_all_questions_generates_its_fluency_text_from_the_subject():
    case = make_case()  # ZsRE-like: every edit and paraphrase prompt a question
    asked = replace(case, queries=[replace(q, prompt="Where was Spike Hughes born?") if q.kind in (REL, GEN) else q
                                   for q in case.queries])
    probed = with_probes([asked], [asked], ProbeConfig(0, False, 2))[0]
    assert [q.prompt for q in probed.of_kind(FLUENCY)] == ["Spike Hughes"]


def test_nothing_asked_changes_nothing():
    case = make_case()
    assert with_probes([case], [case], ProbeConfig(0, False, 0)) == [case]


def test_negative_counts_are_refused():
    with pytest.raises(BenchError, match="--loc-unrelated -1"):
        ProbeConfig(unrelated=-1)


def test_without_relation_ids_only_the_subject_decides():
    def plain(case_id, subject):
        case = make_case(case_id, subject)
        return replace(case, edits=[replace(case.edits[0], relation_id=None)])

    a, b, c = plain("a", "Spike Hughes"), plain("b", "Spike Hughes"), plain("c", "Ada King")
    assert unrelated_queries(a, [a, b], 3) == []
    assert [q.prompt for q in unrelated_queries(a, [a, b, c], 3)] == ["Ada King originates from"]
