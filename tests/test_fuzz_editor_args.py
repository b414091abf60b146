"""Fuzzing `--editor-args`: whatever the text, parsing and building configs fail only with a BenchError."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import BenchError
from bench.registry import ALIASES, EDITORS, PRESETS, build_config, get_editor_class, parse_editor_args

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = sorted(EDITORS) + sorted(PRESETS) + sorted(ALIASES)
KEYS = sorted({f.name for n in EDITORS for f in fields(get_editor_class(n).config_class)})
INT_LISTS = sorted({(n, f.name) for n in EDITORS for f in fields(get_editor_class(n).config_class)
                    if str(f.type).startswith("list[int]")})
# Values that once reached an editor: signs, NaN, overflow, ranges, paths, separators, odd characters.
TRICKY = ["", "0", "-1", "1", "99", "nan", "-inf", "inf", "1e309", "2147483648", "9" * 5000, "0:99999999999999999999",
          "3:1", "1:2:3", ":", "1,,2", "true", "off", "attn", "q,v", ",", "auto", "/", "/dev/zero", ".", "~nobody/x",
          "a\x00b", "x" * 5000, "prompts:", "model:x", "README.md", "pyproject.toml", "tests", "é", "١٢", " 5 "]


def build_all(spec: str) -> None:
    for name, args in parse_editor_args(spec).items():
        build_config(get_editor_class(name), args, preset=name)


def only_bench_errors(spec: str) -> None:
    try:
        build_all(spec)
    except BenchError as exc:
        assert str(exc)  # a message to print, never an empty one


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_random_text_gives_only_bench_errors(spec):
    only_bench_errors(spec)


@FUZZ
@given(st.text(alphabet=":;,= -.0123456789abcdeflmnoprstuv", max_size=60))
def test_text_of_the_grammar_characters_gives_only_bench_errors(spec):
    only_bench_errors(spec)


assignment = st.tuples(st.sampled_from(KEYS + ["", "nokey"]), st.one_of(st.sampled_from(TRICKY), st.text(max_size=20)))
entry = st.tuples(st.sampled_from(NAMES), st.lists(assignment, min_size=1, max_size=3), st.sampled_from([",", ", "]))


@FUZZ
@given(st.lists(entry, min_size=1, max_size=3))
def test_well_formed_entries_with_tricky_values_give_only_bench_errors(entries):
    spec = ";".join(f"{name}:" + sep.join(f"{k}={v}" for k, v in pairs) for name, pairs, sep in entries)
    only_bench_errors(spec)


# A range 'lo:hi' is refused before it is built: 20-digit bounds once overflowed, 10-digit ones filled the memory.
int_range = st.from_regex(r"-?[0-9]{1,3}:-?([0-9]{1,3}|[0-9]{20,25})", fullmatch=True)


@FUZZ
@given(st.sampled_from(INT_LISTS), st.one_of(int_range, st.sampled_from(TRICKY)))
def test_layer_lists_and_ranges_give_only_bench_errors(field, value):
    editor, key = field
    only_bench_errors(f"{editor}:{key}={value}")
