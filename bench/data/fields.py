"""Typed access to one raw JSON record, so every format validates fields the same way.

A bad field raises `DataError` naming file, record index and the dotted field
path (e.g. `requested_rewrite.target_new.str`), with what was expected.
Strings are stripped: several real files carry stray leading spaces in answers
and subjects (e.g. zsRE `alt`: " MAT-49"), which would otherwise change tokens.
"""

from __future__ import annotations

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


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


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
        return value.strip()

    def case_id(self, key: str = "case_id") -> str:
        value = self._get(key, required=True)
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
            raise self.error(key, f"expected an integer or non-empty string id, got {value!r}")
        return str(value).strip()

    def texts(self, key: str, required: bool = True) -> list[str]:
        """A list of strings; an empty list is fine (it just yields fewer queries)."""
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of strings, got {_kind(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", f"expected a string, got {_kind(item)}")
        return [item.strip() for item in value]

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
    """`template.format(subject)`, with a clear error for templates without exactly one '{}' slot."""
    try:
        if "{}" not in template:
            raise ValueError("no '{}' slot")
        return template.format(subject)
    except (IndexError, KeyError, ValueError) as exc:
        raise rec.error(
            key, f"expected a template with one '{{}}' for the subject, got {template!r}"
        ) from exc


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
