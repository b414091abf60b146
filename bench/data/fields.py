"""Typed access to one raw JSON record, so every format validates fields the same way.

A bad field raises `DataError` naming file, record index and the dotted field
path (e.g. `requested_rewrite.target_new.str`), with what was expected.
Strings are stripped: several real files carry stray leading spaces in answers
and subjects (e.g. zsRE `alt`: " MAT-49"), which would otherwise change tokens.
Strings must be valid Unicode: JSON's `\ud800` escape yields a lone surrogate,
which the tokenizers reject with a TypeError long after loading.
"""

from __future__ import annotations

import reprlib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.schema import POR_HOP, Query
from bench.errors import DataError


class SkipRecord(Exception):
    """A record that is legitimately unusable (e.g. an empty edit target); the loader warns and skips it."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"field '{field}': {reason}")
        self.field, self.reason = field, reason


_SHOW = reprlib.Repr()
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxlevel = 80, 80, 4, 4, 3


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def show(value: Any) -> str:
    """A short repr for messages: a bad value may be megabytes long or nested hundreds deep."""
    return _SHOW.repr(value)


def surrogate_problem(text: str) -> str | None:
    """Why `text` is not valid Unicode (a lone surrogate), or None when it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone surrogate {show(text[exc.start])} at character {exc.start} of {show(text)} "
            "(an unpaired \\ud800-\\udfff escape); text must be valid Unicode"
        )
    return None


class Record:
    """One JSON object of a dataset file (or a nested object inside it)."""

    def __init__(self, data: Any, path: Path, index: int, prefix: str = ""):
        if not isinstance(data, dict):
            name = prefix.rstrip(".") or None
            raise DataError(path, f"expected a JSON object, got {_kind(data)}", index=index, field=name)
        self.data, self.path, self.index, self.prefix = data, path, index, prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, message: str) -> DataError:
        return DataError(self.path, message, index=self.index, field=self.name(key))

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.error(key, "required field is missing")
            return None
        return self.data[key]

    def text(self, key: str) -> str:
        """A required string (may be empty; callers decide what empty means)."""
        return self._as_text(key, self._get(key, required=True))

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, required=False)
        return None if value is None else self._as_text(key, value)

    def _as_text(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_kind(value)}")
        return self.valid_text(key, value).strip()

    def valid_text(self, key: str, value: str) -> str:
        """`value`, unless it holds a lone surrogate (see the module doc)."""
        problem = surrogate_problem(value)
        if problem:
            raise self.error(key, problem)
        return value

    def case_id(self, key: str = "case_id") -> str:
        value = self._get(key, required=True)
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
            raise self.error(key, f"expected an integer or non-empty string id, got {show(value)}")
        return self.valid_text(key, str(value)).strip()

    def texts(self, key: str, required: bool = True) -> list[str]:
        """A list of strings; an empty list is fine (it just yields fewer queries)."""
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of strings, got {_kind(value)}")
        return [self._as_text(f"{key}[{i}]", item) for i, item in enumerate(value)]

    def obj(self, key: str) -> Record:
        """A required nested object."""
        return Record(self._get(key, required=True), self.path, self.index, self.name(key) + ".")

    def objs(self, key: str, required: bool = True) -> list[Record]:
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of objects, got {_kind(value)}")
        return [
            Record(item, self.path, self.index, f"{self.name(key)}[{i}].") for i, item in enumerate(value)
        ]

    def nonempty(self, key: str, value: str) -> str:
        """An edit prompt or target must not be empty: skip the record rather than score nothing."""
        if not value:
            raise SkipRecord(self.name(key), "empty string")
        return value


@dataclass(frozen=True)
class Origin:
    """Where parsed cases come from: `dataset` labels them, `id_prefix` names index-based case ids."""

    dataset: str
    id_prefix: str


def fill_template(rec: Record, key: str, template: str, subject: str) -> str:
    """`template.format(subject)` for a template checked first by `template_problem`."""
    problem = template_problem(template)
    if problem:
        raise rec.error(key, f"expected a template with one '{{}}' for the subject, got {show(template)}: {problem}")
    return template.format(subject)


def template_problem(template: str) -> str | None:
    """Why `template` is not a plain one-slot template, or None.

    Every real template has exactly one bare '{}' (CounterFact, MQuAKE). Anything else str.format
    understands is refused before formatting: a format spec ('{:>100000000}') builds a huge prompt,
    a conversion or field name ('{!r}', '{0.x}') changes the text; '{{' and '}}' stay literal braces."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"unbalanced braces ({exc})"
    if len(fields) != 1:
        return f"it has {len(fields)} '{{...}}' slots"
    name, spec, conversion = fields[0]
    if name or spec or conversion:
        return "the slot must be a bare '{}', without a name, conversion or format spec"
    return None


def make_template(prompt: str, subject: str) -> str | None:
    """The prompt with the first occurrence of the subject as '{}' (other braces escaped), or None."""
    if not subject or subject not in prompt:
        return None
    before, after = prompt.split(subject, 1)
    escape = str.maketrans({"{": "{{", "}": "}}"})
    return f"{before.translate(escape)}{{}}{after.translate(escape)}"


def make_queries(kind: str, prompts: list[str], answer: str, aliases: tuple[str, ...] = ()) -> list[Query]:
    """One query per prompt; blank prompts or a blank answer give no query (nothing to score)."""
    if not answer:
        return []
    return [Query(kind, prompt, answer, aliases) for prompt in prompts if prompt]


def portability_queries(rec: Record) -> list[Query]:
    """EasyEdit's `portability` {"New Question", "New Answer"} (a list of them also works; empty is fine)."""
    value = rec.data.get("portability")
    if value is None or value == {} or value == []:
        return []
    items = rec.objs("portability") if isinstance(value, list) else [rec.obj("portability")]
    queries: list[Query] = []
    for item in items:
        queries += make_queries(POR_HOP, [item.text("New Question")], item.text("New Answer"))
    return queries
