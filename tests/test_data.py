"""Dataset loaders: exact queries per format, validation messages, name resolution.

Fixtures are tiny records modelled on the real schemas (see the data README);
tests marked `real_data` read the shared data dir and run only with BENCH_DATA_DIR set.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import warnings
from pathlib import Path

import pytest

from bench.data import DATASETS, FORMATS, DatasetInfo, load_dataset, resolve_data_dir
from bench.data.schema import GEN, HOP, KINDS, LOC, NHOP, POR_HOP, REL, Query
from bench.errors import BenchError, DataError

# ---------------------------------------------------------------- fixtures


def rome_record(case_id: int = 4482, **extra) -> dict:
    return {
        "case_id": case_id,
        "pararel_idx": 14235,
        "requested_rewrite": {
            "prompt": "{} originates from",
            "relation_id": "P19",
            "target_new": {"str": "Philadelphia", "id": "Q935334"},
            "target_true": {"str": "London", "id": "Q84"},
            "subject": "Spike Hughes",
        },
        "paraphrase_prompts": [
            "Amateur Athletic Union (AAU). Spike Hughes was born in",
            "Spike Hughes is from",
        ],
        "neighborhood_prompts": ["Max Mosley originates from", "William Hogarth originated from"],
        "attribute_prompts": ["Mike Dennis originates from"],
        "generation_prompts": ["Spike Hughes currently lives in"],
        **extra,
    }


PORTABILITY = {
    "Recalled Relation": "(Philadelphia, known for, cheesesteaks)",
    "New Question": "What famous food is associated with the city where Spike Hughes originates from?",
    "New Answer": "Cheesesteaks",
}


def flat_record(case_id: int = 2, **changes) -> dict:
    record = {
        "case_id": case_id,
        "prompt": "Toko Yasuda, the",
        "target_new": "piano",
        "subject": "Toko Yasuda",
        "ground_truth": "guitar",
        "rephrase_prompt": "Toko Yasuda is incredible at",
        "locality_prompt": "John Lennon performs on the",
        "locality_ground_truth": "guitar",
    }
    return {**record, **changes}


def mend_record(**changes) -> dict:
    record = {
        "subject": "IAAF Combined Events Challenge",
        "src": "When was the inception of IAAF Combined Events Challenge?",
        "pred": "2011",
        "rephrase": "When was the IAAF Combined Events Challenge launched?",
        "alt": "2006",
        "answers": ["1998"],
        "loc": "nq question: what is the name of the last episode of spongebob",
        "loc_ans": "The String",
        "cond": "2011 >> 2006 || When was the inception of IAAF Combined Events Challenge?",
    }
    return {**record, **changes}


def mquake_rewrite(subject: str, prompt: str, new: str, true: str, question: str | None = None) -> dict:
    rewrite = {
        "prompt": prompt,
        "relation_id": "P27",
        "target_new": {"str": new, "id": "Q1"},
        "target_true": {"str": true, "id": "Q2"},
        "subject": subject,
    }
    if question is not None:  # AKEW / official question key
        rewrite.update(question=question, fact_new=f"{subject} x {new}.", verify_unsfact_GPT=True)
    return rewrite


def mquake_record(case_id: int = 1, rewrites: list | None = None, **changes) -> dict:
    record = {
        "case_id": case_id,
        "requested_rewrite": rewrites
        or [
            mquake_rewrite(
                "Ellie Kemper",
                "{} is a citizen of",
                "Croatia",
                "United States of America",
                question="What is the country of citizenship of Ellie Kemper?",
            )
        ],
        "questions": [
            "Who is the head of state of the country where Ellie Kemper holds a citizenship?",
            "Who leads the country of Ellie Kemper's citizenship?",
        ],
        "answer": "Donald Trump",
        "answer_alias": ["Trump", "DJT"],
        "new_answer": "Kolinda Grabar-Kitarović",
        "new_answer_alias": ["Grabar-Kitarović"],
        "single_hops": [
            {"question": "q", "cloze": "c", "answer": "United States of America", "answer_alias": []}
        ],
        "new_single_hops": [
            {
                "question": "What is the country of citizenship of Ellie Kemper?",
                "cloze": "Ellie Kemper is a citizen of",
                "answer": "Croatia",
                "answer_alias": ["HR", "Republic of Croatia"],
            },
            {
                "question": "What is the name of the current head of state in Croatia?",
                "cloze": "c",
                "answer": "Kolinda Grabar-Kitarović",
                "answer_alias": [],
            },
        ],
        "orig": {"triples": [], "edit_triples": []},
    }
    return {**record, **changes}


def write(path: Path, records: list, jsonl: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return path


def load_file(fmt: str, path: Path, **kwargs):
    return load_dataset(f"{fmt}:{path}", **kwargs)


def query(kind: str, prompt: str, answer: str, *aliases: str) -> Query:
    return Query(kind, prompt, answer, tuple(aliases))


# ---------------------------------------------------------------- CounterFact (ROME format)


def test_rome_format_queries_edit_and_extra(tmp_path):
    path = write(tmp_path / "cf.json", [rome_record(portability=PORTABILITY), rome_record(7, portability={})])
    first, second = load_file("counterfact", path)
    assert (first.case_id, second.case_id) == ("4482", "7")
    assert first.dataset == "counterfact:cf"
    (edit,) = first.edits
    assert edit.prompt == "Spike Hughes originates from"
    assert edit.template == "{} originates from"
    assert (edit.subject, edit.target_new, edit.target_true) == ("Spike Hughes", "Philadelphia", "London")
    assert edit.relation_id == "P19"
    assert edit.sentence == "Spike Hughes originates from Philadelphia."
    assert first.queries == [
        query(REL, "Spike Hughes originates from", "Philadelphia"),
        query(GEN, "Amateur Athletic Union (AAU). Spike Hughes was born in", "Philadelphia"),
        query(GEN, "Spike Hughes is from", "Philadelphia"),
        query(LOC, "Max Mosley originates from", "London"),
        query(LOC, "William Hogarth originated from", "London"),
        query(POR_HOP, PORTABILITY["New Question"], "Cheesesteaks"),
    ]
    assert first.extra == {"relation_id": "P19", "generation_prompts": ("Spike Hughes currently lives in",)}
    assert not second.of_kind(POR_HOP)  # empty portability: just fewer queries


def test_rome_subject_replace_probes_template_with_alternative_subject(tmp_path):
    path = write(
        tmp_path / "sr.json", [rome_record(alternative_subject="Patrick Hughes", neighborhood_prompts=[])]
    )
    (case,) = load_file("counterfact-subject-replace", path)
    assert case.of_kind(POR_HOP) == [query(POR_HOP, "Patrick Hughes originates from", "Philadelphia")]
    assert case.of_kind(LOC) == []
    assert case.extra == {"relation_id": "P19", "alternative_subject": "Patrick Hughes",
                          "generation_prompts": ("Spike Hughes currently lives in",)}


def test_registered_name_reads_from_data_dir(tmp_path):
    write(tmp_path / DATASETS["counterfact"].relative_path, [rome_record(1), rome_record(2), rome_record(3)])
    cases = load_dataset("counterfact", data_dir=tmp_path, limit=2)
    assert [c.case_id for c in cases] == ["1", "2"]
    assert {c.dataset for c in cases} == {"counterfact"}
    assert load_dataset("counterfact", data_dir=tmp_path, limit=0) == []


# ---------------------------------------------------------------- CounterFact (EasyEdit flat format)


def test_flat_format_queries_and_template(tmp_path):
    odd = flat_record(5, subject="Yasuda Toko")  # subject absent from the prompt
    (case, other) = load_file("counterfact-train", write(tmp_path / "train.json", [flat_record(), odd]))
    assert case.case_id == "2"
    (edit,) = case.edits
    assert (edit.prompt, edit.template, edit.target_true) == ("Toko Yasuda, the", "{}, the", "guitar")
    assert case.queries == [
        query(REL, "Toko Yasuda, the", "piano"),
        query(GEN, "Toko Yasuda is incredible at", "piano"),
        query(LOC, "John Lennon performs on the", "guitar"),
    ]
    assert other.edits[0].template is None


# ---------------------------------------------------------------- zsRE (MEND format)


def test_mend_eval_with_portability(tmp_path):
    records = [
        mend_record(
            portability={"Recalled Relation": "r", "New Question": "What sport?", "New Answer": "Athletics"}
        ),
        mend_record(answers=[], portability={}),
    ]
    write(tmp_path / DATASETS["zsre"].relative_path, records)
    first, second = load_dataset("zsre", data_dir=tmp_path)
    assert (first.case_id, second.case_id) == ("zsre-0", "zsre-1")
    (edit,) = first.edits
    assert edit.template == "When was the inception of {}?"
    assert (edit.target_new, edit.target_true) == ("2006", "1998")
    assert edit.sentence == "When was the inception of IAAF Combined Events Challenge? 2006."
    assert first.queries == [
        query(REL, "When was the inception of IAAF Combined Events Challenge?", "2006"),
        query(GEN, "When was the IAAF Combined Events Challenge launched?", "2006"),
        query(LOC, "nq question: what is the name of the last episode of spongebob", "The String"),
        query(POR_HOP, "What sport?", "Athletics"),
    ]
    assert second.edits[0].target_true is None and not second.of_kind(POR_HOP)


def test_mend_subject_replace_and_inverse(tmp_path):
    base = {k: v for k, v in mend_record().items() if k not in ("loc", "loc_ans")}
    sr = {
        **base,
        "subject": "IAAF Combined Events Challenge ",
        "alt": " 2006",  # real files have stray spaces
        "alternative_subject": "Combined Events Challenge",
        "alter_subject_question": "When did CEC start?",
    }
    (case,) = load_file("zsre-subject-replace", write(tmp_path / "sr.json", [sr]))
    assert case.edits[0].template == "When was the inception of {}?"
    assert case.queries[2:] == [query(POR_HOP, "When did CEC start?", "2006")]
    assert case.extra == {"alternative_subject": "Combined Events Challenge"}
    inv = {
        **base,
        "src": "Who is Claire Clairmont's sister?",
        "subject": "Claire Clairmont",
        "alt": "Marian Clairmont",
        "inverse question": "Who is Marian Clairmont's sister?",
    }
    (case,) = load_file("zsre-inverse", write(tmp_path / "inv.json", [inv]))
    assert case.case_id == "zsre-inverse-0"
    assert case.of_kind(LOC) == []
    assert case.of_kind(POR_HOP) == [query(POR_HOP, "Who is Marian Clairmont's sister?", "Claire Clairmont")]


def test_template_escapes_braces_and_is_none_without_subject(tmp_path):
    records = [mend_record(src="Is {x} IAAF Combined Events Challenge?"), mend_record(subject="Nowhere")]
    braces, absent = load_file("zsre", write(tmp_path / "z.json", records))
    template = braces.edits[0].template
    assert template == "Is {{x}} {}?" and template.format(braces.edits[0].subject) == braces.edits[0].prompt
    assert absent.edits[0].template is None


def test_empty_edit_target_is_skipped_with_warning(tmp_path):
    path = write(tmp_path / "train.json", [mend_record(), mend_record(alt="")])
    with pytest.warns(UserWarning, match=r"train.json: skipped 1 .*record 1 \(field 'alt'"):
        cases = load_file("zsre-train", path)
    assert [c.case_id for c in cases] == ["zsre-train-0"]


# ---------------------------------------------------------------- MQuAKE


def test_mquake_akew_record(tmp_path):
    (case,) = load_file("mquake", write(tmp_path / "m.json", [mquake_record()]))
    assert case.case_id == "1"
    (edit,) = case.edits
    assert (edit.prompt, edit.template, edit.relation_id) == (
        "Ellie Kemper is a citizen of",
        "{} is a citizen of",
        "P27",
    )
    assert edit.sentence == "Ellie Kemper is a citizen of Croatia."
    assert case.queries == [
        query(REL, "Ellie Kemper is a citizen of", "Croatia"),
        query(GEN, "What is the country of citizenship of Ellie Kemper?", "Croatia"),
        query(
            NHOP,
            "Who is the head of state of the country where Ellie Kemper holds a citizenship?",
            "Kolinda Grabar-Kitarović",
            "Grabar-Kitarović",
        ),
        query(
            NHOP,
            "Who leads the country of Ellie Kemper's citizenship?",
            "Kolinda Grabar-Kitarović",
            "Grabar-Kitarović",
        ),
        query(
            HOP, "What is the country of citizenship of Ellie Kemper?", "Croatia", "HR", "Republic of Croatia"
        ),
        query(HOP, "What is the name of the current head of state in Croatia?", "Kolinda Grabar-Kitarović"),
    ]
    assert case.extra == {"n_hops": 2, "answer": "Donald Trump", "answer_alias": ("Trump", "DJT")}


def test_mquake_official_record_without_akew_keys(tmp_path):
    rewrites = [
        mquake_rewrite("Triple H", "{} works for", "BBC", "WWE"),
        mquake_rewrite("BBC", "The chief executive officer of {} is", "Tim Davie", "Someone"),
    ]
    record = mquake_record(2500, rewrites, answer_extended=["Vince", "McMahon"])
    del record["answer_alias"], record["new_answer_alias"]
    (case,) = load_file("mquake", write(tmp_path / "MQuAKE-T.jsonl", [record], jsonl=True))
    assert [e.sentence for e in case.edits] == [
        "Triple H works for BBC.",
        "The chief executive officer of BBC is Tim Davie.",
    ]
    assert case.instruction == "Triple H works for BBC. The chief executive officer of BBC is Tim Davie."
    assert [q.prompt for q in case.of_kind(REL)] == [
        "Triple H works for",
        "The chief executive officer of BBC is",
    ]
    assert case.of_kind(GEN) == []
    assert {q.aliases for q in case.of_kind(NHOP)} == {()}
    assert case.extra["answer_alias"] == () and case.extra["answer_extended"] == ("Vince", "McMahon")


# ---------------------------------------------------------------- containers


@pytest.mark.parametrize(
    "fmt, record",
    [
        ("rome", rome_record()),
        ("easyedit", flat_record()),
        ("mend", mend_record()),
        ("mquake", mquake_record()),
    ],
)
def test_jsonl_and_json_give_the_same_cases(tmp_path, fmt, record):
    other = copy.deepcopy(record)
    if "case_id" in other:
        other["case_id"] = 99
    as_json = load_file(fmt, write(tmp_path / "a.json", [record, other]))
    as_jsonl = load_file(fmt, write(tmp_path / "a.jsonl", [record, other], jsonl=True))
    assert len(as_json) == 2 and [c.queries for c in as_json] == [c.queries for c in as_jsonl]
    assert all(q.kind in KINDS for c in as_json for q in c.queries)


def test_jsonl_content_under_json_name_is_read(tmp_path):
    path = tmp_path / "dec.json"
    write(path, [mend_record(), mend_record()], jsonl=True)
    assert len(load_file("zsre", path)) == 2


def test_relative_path_is_found_under_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data" / "sub" / "f.json", [flat_record()])
    assert len(load_dataset("easyedit:sub/f.json", data_dir=tmp_path / "data")) == 1


# ---------------------------------------------------------------- validation


_DELETE = object()


def _edited(record: dict, dotted: str, value=_DELETE) -> dict:
    """A copy of `record` with the field at a dotted path (list items by number) replaced or deleted."""
    record = copy.deepcopy(record)
    *parents, last = dotted.split(".")
    node = record
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return record


MALFORMED = [
    ("rome", _edited(rome_record(), "requested_rewrite.subject"), "requested_rewrite.subject", "missing"),
    (
        "rome",
        _edited(rome_record(), "requested_rewrite.target_new", "Paris"),
        "requested_rewrite.target_new",
        "expected a JSON object",
    ),
    (
        "rome",
        _edited(rome_record(), "requested_rewrite.prompt", "no slot here"),
        "requested_rewrite.prompt",
        "one '{}'",
    ),
    (
        "rome",
        _edited(rome_record(), "paraphrase_prompts", "one string"),
        "paraphrase_prompts",
        "list of strings",
    ),
    (
        "rome",
        _edited(rome_record(), "portability", {"New Question": "q"}),
        "portability.New Answer",
        "missing",
    ),
    ("rome", _edited(rome_record(), "case_id", 1.5), "case_id", "integer or non-empty string"),
    ("easyedit", _edited(flat_record(), "rephrase_prompt"), "rephrase_prompt", "missing"),
    ("easyedit", _edited(flat_record(), "target_new", 3), "target_new", "expected a string, got int"),
    ("mend", _edited(mend_record(), "alt"), "alt", "missing"),
    ("mend", _edited(mend_record(), "loc_ans"), "loc_ans", "missing"),
    ("mend", _edited(mend_record(), "answers", [1]), "answers[0]", "expected a string"),
    ("mquake", _edited(mquake_record(), "new_answer"), "new_answer", "missing"),
    (
        "mquake",
        _edited(mquake_record(), "requested_rewrite", []),
        "requested_rewrite",
        "at least one rewrite",
    ),
    (
        "mquake",
        _edited(mquake_record(), "requested_rewrite.0.target_new"),
        "requested_rewrite[0].target_new",
        "missing",
    ),
    (
        "mquake",
        _edited(mquake_record(), "new_single_hops.1.answer_alias", "HR"),
        "new_single_hops[1].answer_alias",
        "list of strings",
    ),
]


@pytest.mark.parametrize("fmt, bad, field, expected", MALFORMED, ids=[f"{m[0]}-{m[2]}" for m in MALFORMED])
def test_malformed_record_names_file_record_and_field(tmp_path, fmt, bad, field, expected):
    good = {
        "rome": rome_record(7),
        "easyedit": flat_record(7),
        "mend": mend_record(),
        "mquake": mquake_record(7),
    }
    path = write(tmp_path / f"broken-{fmt}.json", [good[fmt], bad])
    with pytest.raises(DataError) as info:
        load_file(fmt, path)
    message = str(info.value)
    assert f"broken-{fmt}.json" in message and "record 1" in message
    assert f"'{field}'" in message and expected in message
    assert (info.value.index, info.value.field) == (1, field)


def test_invalid_json_and_wrong_container(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"case_id": 1,}]', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.json, record 0: not valid JSON \(.*line 1, column 16"):
        load_file("rome", bad)
    obj = tmp_path / "obj.json"
    obj.write_text('{"case_id": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="expected a JSON list of records"):
        load_file("rome", obj)
    lines = tmp_path / "bad.jsonl"
    lines.write_text(json.dumps(mend_record()) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl, record 1: not valid JSON \(.* at line 2, column 2\); a .jsonl"):
        load_file("zsre", lines)
    scalars = write(tmp_path / "scalars.json", [mend_record(), "text"])
    with pytest.raises(DataError, match=r"record 1: expected a JSON object, got str"):
        load_file("zsre", scalars)


# ---------------------------------------------------------------- malformed input the parser itself chokes on


def _raw(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_huge_integer_names_record_and_field(tmp_path, suffix):
    """json turns a 5,000-digit integer into a bare ValueError (Python's int digit limit)."""
    record = json.dumps(rome_record(pararel_idx="HUGE")).replace('"HUGE"', "7" * 5000)
    first = json.dumps(rome_record(1))
    text = f"{first}\n{record}\n" if suffix == ".jsonl" else f"[{first}, {record}]"
    with pytest.raises(DataError, match=r"5000-digit integer at line \d+, column \d+, longer than .* 4300") as info:
        load_file("rome", _raw(tmp_path / f"huge{suffix}", text))
    assert (info.value.index, info.value.field) == (1, "pararel_idx")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_deep_nesting_names_record_and_field(tmp_path, suffix):
    """json raises RecursionError on nesting deeper than the interpreter's recursion limit."""
    deep = "[" * 50_000 + "]" * 50_000
    record = json.dumps(mend_record(answers="DEEP")).replace('"DEEP"', deep)
    text = f"{record}\n" if suffix == ".jsonl" else f"[{record}]"
    with pytest.raises(DataError, match=r"record 0, field 'answers\[0\]\[0\].*nested 50001 levels deep") as info:
        load_file("zsre", _raw(tmp_path / f"deep{suffix}", text))
    assert info.value.index == 0 and info.value.field.startswith("answers[0]")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_non_utf8_bytes_name_record_and_field(tmp_path, suffix):
    first, second = json.dumps(flat_record(1)), json.dumps(flat_record(2, target_new="caf\u00e9"), ensure_ascii=False)
    text = f"{first}\n{second}\n" if suffix == ".jsonl" else f"[{first},\n{second}]"
    path = tmp_path / f"latin{suffix}"
    path.write_bytes(text.encode("latin-1"))  # a Latin-1 file: 'é' is the lone byte E9
    with pytest.raises(DataError, match=r"bytes E9 at line 2, column \d+ are not valid UTF-8") as info:
        load_file("easyedit", path)
    assert (info.value.index, info.value.field) == (1, "target_new")


def test_syntax_error_inside_a_record_names_its_field(tmp_path):
    text = f'[{json.dumps(flat_record(1))}, {{"case_id": 2, "prompt": "Toko", "subject": tru}}]'
    with pytest.raises(DataError, match=r"record 1, field 'subject': not valid JSON \(Expecting value"):
        load_file("easyedit", _raw(tmp_path / "syntax.json", text))


def test_jsonl_splits_records_on_newlines_only(tmp_path):
    """JSON allows U+2028 / U+0085 unescaped in strings; str.splitlines() would cut the record there."""
    record = flat_record(1, rephrase_prompt="Toko Yasuda\u2028is incredible\x85at")
    path = _raw(tmp_path / "sep.jsonl", json.dumps(record, ensure_ascii=False) + "\n")
    (case,) = load_file("easyedit", path)
    assert case.of_kind(GEN)[0].prompt == "Toko Yasuda\u2028is incredible\x85at"


# ---------------------------------------------------------------- records json accepts but that break later


LONE_SURROGATES = [
    ("rome", rome_record, "requested_rewrite.target_new.str", "requested_rewrite.target_new.str"),
    ("rome", rome_record, "requested_rewrite.subject", "requested_rewrite.subject"),
    ("rome", rome_record, "requested_rewrite.prompt", "requested_rewrite.prompt"),
    ("rome", rome_record, "paraphrase_prompts.1", "paraphrase_prompts[1]"),
    ("rome", rome_record, "case_id", "case_id"),
    ("easyedit", flat_record, "locality_ground_truth", "locality_ground_truth"),
    ("mend", mend_record, "answers.0", "answers[0]"),
    ("mend", mend_record, "src", "src"),
    ("mquake", mquake_record, "new_answer_alias.0", "new_answer_alias[0]"),
    ("mquake", mquake_record, "new_single_hops.0.answer_alias.1", "new_single_hops[0].answer_alias[1]"),
    ("mquake", mquake_record, "answer_extended", "answer_extended[1]"),
]


def _with_surrogate(record: dict, dotted: str) -> dict:
    *parents, last = dotted.split(".")
    node = record
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key = int(last) if isinstance(node, list) else last
    node[key] = ["Vince", "Mc\udc80Mahon"] if last == "answer_extended" else f"{node[key]} \ud800x"
    return record


@pytest.mark.parametrize("fmt, make, dotted, field", LONE_SURROGATES, ids=[f"{m[0]}-{m[3]}" for m in LONE_SURROGATES])
def test_lone_surrogate_is_rejected_naming_the_field(tmp_path, fmt, make, dotted, field):
    """A '\\ud800' escape parses to a lone surrogate; the tokenizer's TypeError came only at scoring time."""
    path = write(tmp_path / "surrogate.json", [_with_surrogate(make(), dotted)])
    with pytest.raises(DataError, match=r"lone surrogate '\\ud[89a-f][0-9a-f]{2}' at character \d+") as info:
        load_file(fmt, path)
    assert (info.value.index, info.value.field) == (0, field)
    str(info.value).encode("utf-8")  # the message itself is printable


@pytest.mark.parametrize(
    "template, problem",
    [
        ("{:>100000000} {{}}", "without a name, conversion or format spec"),  # accepted today: a 100M-char prompt
        ("{!r} {{}}", "without a name, conversion or format spec"),  # accepted today: the subject's repr
        ("{:>100000000} {}", "2 '{...}' slots"),
        ("{0} originates from", "without a name"),
        ("{subject} originates from", "without a name"),
        ("{} originates from {", "unbalanced braces"),
        ("originates from", "0 '{...}' slots"),
    ],
)
def test_template_with_format_spec_or_conversion_is_rejected(tmp_path, template, problem):
    rome = _edited(rome_record(), "requested_rewrite.prompt", template)
    rewrite = mquake_rewrite("Ellie Kemper", template, "Croatia", "USA")
    for fmt, record in [("rome", rome), ("mquake", mquake_record(rewrites=[rewrite]))]:
        with pytest.raises(DataError, match=re.escape(problem)) as info:
            load_file(fmt, write(tmp_path / f"{fmt}.json", [record]))
        assert info.value.field in ("requested_rewrite.prompt", "requested_rewrite[0].prompt")


def test_template_keeps_escaped_braces_literal(tmp_path):
    record = _edited(rome_record(), "requested_rewrite.prompt", "{} originates from {{x}}")
    (case,) = load_file("rome", write(tmp_path / "braces.json", [record]))
    assert case.edits[0].prompt == "Spike Hughes originates from {x}"


# ---------------------------------------------------------------- queries longer than the model's context


def _long_case(words: int):
    from conftest import make_case

    case = make_case("long-1")
    prompt = "Spike Hughes originates from London. " * words + "Spike Hughes originates from"
    case.queries.append(Query(GEN, prompt, "Philadelphia"))
    return case


def test_context_length_reads_the_model_config(tiny_gpt2, tiny_llama):
    from types import SimpleNamespace

    from bench.data.validate import context_length

    assert context_length(tiny_gpt2.model.config) == 512  # GPT-2: n_positions
    assert context_length(tiny_llama.model.config) == 512  # LLaMA: max_position_embeddings
    assert context_length(SimpleNamespace(text_config=SimpleNamespace(max_position_embeddings=4096))) == 4096
    assert context_length(SimpleNamespace(n_ctx=2048)) == 2048
    assert context_length(SimpleNamespace(hidden_size=64)) is None


def test_over_long_query_is_refused_before_it_reaches_the_model(tiny_lm, cases):
    from bench.data.validate import check_context, context_length, token_lengths
    from bench.scoring import join_prompt_target

    limit = context_length(tiny_lm.model.config)
    check_context(cases, tiny_lm.tokenizer, limit, "fixture")  # ordinary cases pass
    long = _long_case(120)
    with pytest.raises(BenchError) as info:
        check_context([*cases, long], tiny_lm.tokenizer, limit, "fixture")
    message = str(info.value)
    query = long.queries[-1]
    total = token_lengths(tiny_lm.tokenizer, [join_prompt_target(query.prompt, query.answer)])[0]
    prompt = token_lengths(tiny_lm.tokenizer, [query.prompt])[0]
    assert total > limit and not isinstance(info.value, DataError)
    assert f"Dataset 'fixture': 1 query is longer than the model's context of {limit} tokens" in message
    assert "case long-1, gen query 'Spike Hughes" in message and f"{total} tokens (prompt {prompt})" in message
    check_context([long], tiny_lm.tokenizer, total, "fixture")  # exactly at the limit is fine
    with pytest.raises(BenchError, match=f"context of {total - 1} tokens"):
        check_context([long], tiny_lm.tokenizer, total - 1, "fixture")
    check_context([long], tiny_lm.tokenizer, None, "fixture")  # a model without a stated context: no check


def test_over_long_queries_are_counted_and_the_first_shown(tiny_gpt2):
    from bench.data.validate import check_context

    long = [_long_case(120) for _ in range(5)]
    for i, case in enumerate(long):
        case.case_id = f"long-{i}"
    with pytest.raises(BenchError, match=r"5 queries are longer .*case long-0.*case long-2.*\(and 2 more\)"):
        check_context(long, tiny_gpt2.tokenizer, 512, "fixture")


def test_duplicate_case_id_is_rejected(tmp_path):
    path = write(tmp_path / "dup.json", [flat_record(3), flat_record(3)])
    with pytest.raises(
        DataError, match=r"record 1, field 'case_id': duplicate case_id '3' \(first seen at record 0\)"
    ):
        load_file("easyedit", path)


def test_negative_limit_is_rejected(tmp_path):
    with pytest.raises(BenchError, match="limit"):
        load_dataset("zsre", data_dir=tmp_path, limit=-1)


# ---------------------------------------------------------------- names, paths, registry


def test_unknown_name_suggests_closest():
    with pytest.raises(
        BenchError, match=r"Unknown dataset 'counterfakt'\. Did you mean 'counterfact'\?"
    ) as info:
        load_dataset("counterfakt")
    assert "zsre-inverse" in str(info.value) and not isinstance(info.value, DataError)
    with pytest.raises(BenchError, match=r"Did you mean 'mquake'\?"):
        load_dataset("mquak:/x.json")
    with pytest.raises(BenchError, match=r"use NAME:PATH"):
        load_dataset("/tmp/some/file.json")


def test_missing_file_names_path_source_and_settings(tmp_path):
    with pytest.raises(BenchError) as info:
        load_dataset("mquake", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mquake/subsets/MQuAKE-CF-3k-subset354_akew.json") in message
    assert "princeton-nlp/MQuAKE" in message and "BobXWu/AKEW" in message
    assert "BENCH_DATA_DIR" in message and "--data-dir" in message
    with pytest.raises(BenchError, match=r"not found: .*nope.json"):
        load_dataset(f"zsre:{tmp_path / 'nope.json'}")


def test_resolve_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("BENCH_DATA_DIR")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert resolve_data_dir() == (tmp_path / "shared" / "data").resolve()


def test_registry_entries_are_consistent():
    for name, info in DATASETS.items():
        assert isinstance(info, DatasetInfo) and info.name == name
        assert info.format in FORMATS and info.relative_path.endswith(".json")
        assert info.description and info.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["zsre"].name = "x"  # type: ignore[misc]


# ---------------------------------------------------------------- real data (only with BENCH_DATA_DIR)

real_data = pytest.mark.skipif(
    not os.environ.get("BENCH_DATA_DIR"),
    reason="set BENCH_DATA_DIR to the shared data dir to check the real files",
)

REAL_COUNTS = {
    "counterfact": 1031,
    "zsre": 1037,
    "mquake": 354,
    "counterfact-subject-replace": 213,
    "counterfact-subject-replace-test": 165,
    "zsre-subject-replace": 293,
    "zsre-inverse": 385,
    "counterfact-train": 10000,
}


PORTABILITY_SETS = {
    "counterfact",
    "zsre",
    "mquake",
    "counterfact-subject-replace",
    "counterfact-subject-replace-test",
    "zsre-subject-replace",
    "zsre-inverse",
}


@real_data
@pytest.mark.parametrize("name, count", REAL_COUNTS.items())
def test_real_counts(name, count):
    cases = load_dataset(name)
    assert len(cases) == count
    assert all(c.of_kind(REL) for c in cases)


@real_data
@pytest.mark.parametrize("name", list(DATASETS))
def test_real_datasets_load(name):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        cases = load_dataset(name)
    assert cases and len({c.case_id for c in cases}) == len(cases)
    for case in cases:
        for edit in case.edits:
            assert edit.template is None or edit.template.format(edit.subject) == edit.prompt
    if name in PORTABILITY_SETS:  # every case of these sets carries its portability / multi-hop probe
        assert all(c.of_kind(POR_HOP) or c.of_kind(NHOP) for c in cases)


@real_data
def test_real_quirks_are_handled():
    """zsre-train has two records with an empty `alt` (skipped); some subjects differ from the prompt."""
    with pytest.warns(UserWarning, match=r"skipped 2 .*record 534 .*record 723"):
        assert len(load_dataset("zsre-train")) == 998
    assert sum(c.edits[0].template is None for c in load_dataset("zsre-inverse")) == 5
    assert load_dataset("zsre", limit=27)[26].edits[0].target_new == "MAT-49"  # source: " MAT-49"


def test_official_mquake_source_is_documented():
    assert "princeton-nlp/MQuAKE" in DATASETS["mquake"].source


def test_mquake_train_and_test_sides_partition_the_subset(tmp_path):
    from bench.data.splits import mquake_split

    def record(i: int) -> dict:
        rewrite = mquake_rewrite(f"Person {i}", "{} is a citizen of", "Croatia", "Peru", question="q?")
        return mquake_record(i, [rewrite])

    write(tmp_path / DATASETS["mquake"].relative_path, [record(i) for i in range(1, 41)])
    every = [c.case_id for c in load_dataset("mquake", data_dir=tmp_path)]
    train = [c.case_id for c in load_dataset("mquake-train", data_dir=tmp_path)]
    test = [c.case_id for c in load_dataset("mquake-test", data_dir=tmp_path)]
    assert (train, test) == mquake_split(every)
    assert train and test and not set(train) & set(test)
    assert {c.dataset for c in load_dataset("mquake-test", data_dir=tmp_path)} == {"mquake-test"}
    assert [c.case_id for c in load_dataset("mquake-test", data_dir=tmp_path, limit=3)] == test[:3]


def test_mquake_test_side_leaves_out_cases_whose_rewrites_train_saw(tmp_path):
    from bench.data.splits import mquake_split

    ids = [str(i) for i in range(1, 41)]
    train, test = mquake_split(ids)
    twin = train[0]  # a test case repeating this train case's rewrite must not count as held out
    records = [mquake_record(int(i), [mquake_rewrite(f"Person {twin if i == test[0] else i}", "{} is a citizen of",
                                                     "Croatia", "Peru", question="q?")]) for i in ids]
    write(tmp_path / DATASETS["mquake"].relative_path, records)
    held_out = [c.case_id for c in load_dataset("mquake-test", data_dir=tmp_path)]
    assert held_out == test[1:]


@real_data
def test_subject_replace_test_set_leaves_out_the_training_splits_rewrites():
    from bench.data.splits import case_fingerprint

    every = load_dataset("counterfact-subject-replace")
    held_out = load_dataset("counterfact-subject-replace-test")
    trained = {case_fingerprint(c) for c in load_dataset("counterfact-train")}
    assert len(every) == 213 and len(held_out) == 165
    assert [c.case_id for c in every if case_fingerprint(c) not in trained] == [c.case_id for c in held_out]
    assert {c.dataset for c in held_out} == {"counterfact-subject-replace-test"}
    assert load_dataset("counterfact-subject-replace-test", limit=10) == held_out[:10]
