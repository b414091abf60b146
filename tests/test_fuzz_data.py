"""Fuzzing the loaders: whatever a dataset file holds, loading gives cases or one BenchError, never a traceback.

Each example takes valid records of one format (rome, easyedit, mend, mquake), damages them (a field
replaced by a hostile value or deleted, then optionally the bytes cut or spliced) and writes them as
.json or .jsonl. Accepted cases must also be safe downstream: valid Unicode (the tokenizers reject lone
surrogates) and prompts that are their template filled with the subject (no format-spec blow-up).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data import EditCase, load_dataset
from bench.data.fields import template_problem
from bench.errors import BenchError
from tests.test_data import PORTABILITY, flat_record, mend_record, mquake_record, rome_record

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# Placeholders swapped for raw JSON text after dumping: json.dumps cannot write these values itself.
HUGE, DEEP = "@@HUGE@@", "@@DEEP@@"
RAW = {f'"{HUGE}"': lambda n: "9" * n, f'"{DEEP}"': lambda n: "[" * n + "]" * n}


def base_records(fmt: str) -> list[dict]:
    """Two valid records exercising every optional part of the format (fresh copies: damage mutates them)."""
    return copy.deepcopy(_base_records(fmt))


def _base_records(fmt: str) -> list[dict]:
    if fmt == "rome":
        return [rome_record(1, portability=PORTABILITY), rome_record(2, alternative_subject="Patrick Hughes")]
    if fmt == "easyedit":
        return [flat_record(1), flat_record(2)]
    if fmt == "mend":
        return [mend_record(portability=dict(PORTABILITY)), mend_record(alter_subject_question="q?")]
    return [mquake_record(1), mquake_record(2, answer_extended=["Vince", "McMahon"])]


def lone_surrogate_text() -> st.SearchStrategy[str]:
    return st.builds(lambda a, s, b: a + chr(s) + b, st.text(max_size=4), st.integers(0xD800, 0xDFFF),
                     st.text(max_size=4))


HOSTILE_TEXT = st.sampled_from([
    "", " ", "{}", "{} {}", "{{}}", "{:>100000000} {{}}", "{!r} {{}}", "{0}", "{x}", "{", "}", "{:{}}",
    "\ud800", "a\udfffb", "\u2028", "\x85", "\x00", "\\", '"', "x" * 3000, HUGE, DEEP,
])
SCALARS = st.one_of(
    HOSTILE_TEXT, lone_surrogate_text(), st.text(max_size=12),
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
)
LEAVES = st.one_of(HOSTILE_TEXT, lone_surrogate_text(), SCALARS)  # hostile values first: they find the bugs
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
NEW_VALUES = st.one_of(LEAVES, VALUES)


@st.composite
def damaged_record(draw, record: dict):
    """`record` with one field (at any depth) replaced by a hostile value or deleted."""
    node, key = record, None
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, (dict, list)) or not child or draw(st.booleans()):
            break
        node = child
    if key is not None:
        if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
            del node[key]
        else:
            node[key] = draw(NEW_VALUES)
    return record


@st.composite
def damaged_file(draw) -> tuple[str, str, bytes]:
    """(format, suffix, file bytes) of damaged records, sometimes damaged again byte by byte."""
    fmt = draw(st.sampled_from(["rome", "easyedit", "mend", "mquake"]))
    suffix = draw(st.sampled_from([".json", ".jsonl"]))
    records = base_records(fmt)
    for _ in range(draw(st.integers(1, 3))):
        draw(damaged_record(records[draw(st.integers(0, len(records) - 1))]))
    if not draw(st.integers(0, 9)):
        records = draw(VALUES)  # the container itself is wrong
    text = dump(records, suffix, ascii_only=draw(st.booleans()))
    for placeholder, make in RAW.items():
        text = text.replace(placeholder, make(draw(st.sampled_from([5, 1200, 5000, 60_000]))))
    data = text.encode("utf-8", "surrogatepass")  # raw surrogates become invalid UTF-8 bytes
    return fmt, suffix, draw(byte_damage(data))


def dump(records, suffix: str, ascii_only: bool) -> str:
    if suffix == ".jsonl" and isinstance(records, list):
        return "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)
    return json.dumps(records, ensure_ascii=ascii_only)


JUNK = [b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x00", b"{", b"]", b",", b'"', b"\n", b"9" * 5000, b"[" * 3000]


@st.composite
def byte_damage(draw, data: bytes) -> bytes:
    """Unchanged, cut short, with a span deleted, or with hostile bytes spliced in."""
    kind = draw(st.sampled_from(["none", "none", "none", "truncate", "delete", "insert"]))
    if kind == "none" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 40)):]
    junk = draw(st.sampled_from(JUNK))
    return data[:at] + junk + data[at:]


def assert_safe(case: EditCase) -> None:
    """What later stages rely on: valid Unicode everywhere, prompts filled from a plain template."""
    for text in _strings(dataclasses.asdict(case)):
        text.encode("utf-8")
    for edit in case.edits:
        if edit.template is not None:
            assert edit.template.format(edit.subject) == edit.prompt
            assert template_problem(edit.template) is None


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(damaged_file())
def test_loader_returns_cases_or_raises_bench_error(fuzz_dir, example):
    fmt, suffix, data = example
    path = fuzz_dir / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skipped records warn; that is not a failure
            cases = load_dataset(f"{fmt}:{path}")
    except BenchError as exc:
        str(exc).encode("utf-8")  # the message prints on any terminal
        return
    for case in cases:
        assert_safe(case)
