"""MeLLo: continuation parsing, the bounded decompose-retrieve-check loop (scripted LM), editor plumbing."""

from __future__ import annotations

import os

import pytest

from bench.data.schema import HOP, LOC, NHOP, REL, Edit, EditCase, Query
from bench.editor import Request, Resources
from bench.errors import BenchError
from editors.ike.demos import fact_block
from editors.mello import MeLLo, MeLLoConfig, parse_continuation, run_mello
from tests.fakes import BagOfWords

PROMPT = ("Question: Who is the spouse of the head of state in Canada?\n"
          "Subquestion: Who is the head of state in Canada?\n"
          "Generated answer: The head of state in Canada is Charles III.\n"
          "Retrieved fact: The head of state in Canada is Justin Trudeau.\n"
          "Retrieved fact contradicts to generated answer, so the intermediate answer is: Justin Trudeau\n"
          "Final answer: Sophie Trudeau\n")




def mquake_case() -> EditCase:
    edits = [Edit("Ellie Kemper is a citizen of", "Ellie Kemper", "Croatia"),
             Edit("The head of state of Croatia is", "Croatia", "Kolinda Grabar-Kitarović")]
    question = "Who is the head of state of the country where Ellie Kemper holds a citizenship?"
    return EditCase("m1", "fixture", edits, [
        Query(REL, edits[0].prompt, "Croatia"),
        Query(NHOP, question, "Kolinda Grabar-Kitarović", ("Grabar-Kitarović",)),
        Query(HOP, "What is the country of citizenship of Ellie Kemper?", "Croatia"),
        Query(LOC, "Paris is the capital of", "France"),
    ])


class ScriptedLM:
    """Answers by how many facts the transcript has received so far; records every call."""

    def __init__(self, script: list[str]):
        self.script, self.calls = script, []

    def __call__(self, prompts: list[str]) -> list[str]:
        self.calls.append(prompts)
        return [self.script[min(p.split("\nQuestion: ")[-1].count("Retrieved fact: "), len(self.script) - 1)]
                for p in prompts]


TWO_HOPS = [
    "Subquestion: What is the country of citizenship of Ellie Kemper?\n"
    "Generated answer: Ellie Kemper is a citizen of United States.\nRetrieved fact: (made up by the model)",
    "Retrieved fact contradicts to generated answer, so the intermediate answer is: Croatia\n"
    "Subquestion: Who is the head of state of Croatia?\nGenerated answer: The head of state of Croatia is Zoran.",
    "Retrieved fact contradicts to generated answer, so the intermediate answer is: Kolinda\n"
    "Final answer: Kolinda Grabar-Kitarović\n\nQuestion: another example the model invents",
]


def test_parse_continuation_cuts_and_reads():
    step = parse_continuation(TWO_HOPS[0])
    assert step.subquestion == "What is the country of citizenship of Ellie Kemper?" and step.final is None
    assert step.lines[-1].startswith("Generated answer:")  # the model's own fact line is cut
    step = parse_continuation(TWO_HOPS[2])
    assert step.final == "Kolinda Grabar-Kitarović" and len(step.lines) == 2
    assert parse_continuation("I do not know.\nMaybe.").subquestion is None


def test_loop_retrieves_a_fact_per_subquestion_and_stops_at_the_final_answer():
    lm, asked = ScriptedLM(TWO_HOPS), []

    def retrieve(subqs):
        asked.extend(subqs)
        return [f"Fact {len(asked)}." for _ in subqs]

    trace, = run_mello(["Q?"], PROMPT, lm, retrieve, max_steps=5)
    assert trace.answer == "Kolinda Grabar-Kitarović" and trace.done
    assert len(lm.calls) == 3 and asked[1] == "Who is the head of state of Croatia?"
    assert trace.transcript.startswith(PROMPT.rstrip() + "\n\nQuestion: Q?\n")
    assert "Retrieved fact: Fact 1.\nRetrieved fact contradicts" in trace.transcript
    assert "(made up by the model)" not in trace.transcript and "another example" not in trace.transcript


def test_loop_is_bounded_and_fails_without_a_final_answer():
    looping = ScriptedLM(["Subquestion: Again?\nGenerated answer: Again."])
    traces = run_mello(["A?", "B?"], PROMPT, looping, lambda qs: [None] * len(qs), max_steps=3)
    assert len(looping.calls) == 3 and [t.answer for t in traces] == ["", ""]
    assert "Retrieved fact: There is no edited fact." in traces[0].transcript
    rambling = ScriptedLM(["The answer is obvious."])
    trace, = run_mello(["C?"], PROMPT, rambling, lambda qs: [None] * len(qs), max_steps=3)
    assert len(rambling.calls) == 1 and trace.answer == "" and trace.done


def make_mello(lm, tmp_path, **kw) -> MeLLo:
    prompt = tmp_path / "mello.txt"
    prompt.write_text(PROMPT)
    enc = BagOfWords()
    return MeLLo(lm, MeLLoConfig(prompt_file=str(prompt), **kw), Resources(encoder_name=enc.name,
                                                                           _encoders={enc.name: enc}))


def test_generate_answers_nhop_with_mello_and_retrieves_from_the_edits(tiny_lm, tmp_path, monkeypatch):
    mello, case = make_mello(tiny_lm, tmp_path, max_steps=4, max_new_tokens=16), mquake_case()  # fits 512 tokens
    mello.edit([case])
    lm = ScriptedLM(TWO_HOPS)
    monkeypatch.setattr(mello, "_lm", lm)
    nhop = Request(case, case.of_kind(NHOP)[0], "Q: framed by the protocol A:")
    out = mello.generate([nhop, Request(case, case.of_kind(LOC)[0])], 4)
    assert out[0] == "Kolinda Grabar-Kitarović" and isinstance(out[1], str)
    assert "Question: " + case.of_kind(NHOP)[0].prompt in lm.calls[0][0]  # the raw question, not the framing
    transcript = mello.last_traces[0].transcript
    assert "Retrieved fact: Ellie Kemper is a citizen of Croatia.\n" in transcript
    assert "Retrieved fact: The head of state of Croatia is Kolinda Grabar-Kitarović.\n" in transcript
    assert mello.answer_multihop(case) == "Kolinda Grabar-Kitarović"


def test_real_lm_calls_go_through_the_scorer_and_are_bounded(tiny_lm, tmp_path, monkeypatch):
    mello, case = make_mello(tiny_lm, tmp_path, max_steps=2, max_new_tokens=8), mquake_case()
    mello.edit([case])
    calls = []
    real = mello.scorer.generate
    monkeypatch.setattr(mello.scorer, "generate", lambda items, n, *a, **k: calls.append(n) or real(items, n, *a, **k))
    answer = mello.answer_multihop(case)
    assert isinstance(answer, str) and 1 <= len(calls) <= 2 and set(calls) == {8}


def test_scores_condition_on_the_nearest_edit_and_reset_forgets(tiny_lm, tmp_path):
    mello, case = make_mello(tiny_lm, tmp_path, score_facts=1), mquake_case()
    hop = Request(case, case.of_kind(HOP)[0])
    plain = mello.score([hop])[0]
    mello.edit([case])
    assert mello.prepare([hop]).prompts[0] == fact_block("Ellie Kemper is a citizen of Croatia.", hop.query.prompt)
    assert mello.nearest_facts([hop.query.prompt], 3) == [[e.sentence for e in case.edits]]  # nearest first
    assert len(mello.score([hop, Request(case, case.of_kind(REL)[0])])) == 2
    mello.reset()
    assert mello.prepare([hop]).prompts == [hop.query.prompt]
    assert mello.score([hop])[0].logprobs == plain.logprobs


def test_missing_prompt_and_bad_bounds_are_refused(tiny_llama, tmp_path):
    with pytest.raises(BenchError, match="max_steps"):
        MeLLo(tiny_llama, MeLLoConfig(max_steps=0))
    mello = MeLLo(tiny_llama, MeLLoConfig(prompt_file=str(tmp_path / "none.txt")))
    with pytest.raises(BenchError, match="MeLLo prompt .* not found"):
        mello.answer_questions(["Q?"])
    long = tmp_path / "long.txt"
    long.write_text(PROMPT * 40)
    with pytest.raises(BenchError, match="context"):
        MeLLo(tiny_llama, MeLLoConfig(prompt_file=str(long))).answer_questions(["Q?"])  # 512 positions
    with pytest.raises(BenchError, match="no multi-hop"):
        mello.answer_multihop(EditCase("x", "f", [], [Query(REL, "a", "b")]))


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="needs BENCH_DATA_DIR (MeLLo prompt, MQuAKE)")
def test_smollm2_follows_the_mello_format_on_one_mquake_question():
    from bench.data import load_dataset
    from bench.models import load_model

    lm = load_model("smollm2-135m", device="cpu")
    case = load_dataset("mquake", limit=1)[0]
    mello = MeLLo(lm, MeLLoConfig(max_steps=1, max_new_tokens=40))
    mello.edit([case])
    answer = mello.answer_multihop(case)
    trace = mello.last_traces[0]
    assert isinstance(answer, str) and len(trace.steps) == 1
    assert trace.steps[0].subquestion  # the 135M model does produce a sub-question in MeLLo's format
    assert any(f"Retrieved fact: {e.sentence}" in trace.transcript for e in case.edits)
