"""Where in a JSON text a parse failed: which record, which field, which line.

Runs only after the fast `json.loads` has failed, so valid files pay nothing.
Python's json fails in three ways: JSONDecodeError (syntax, with a position),
ValueError for an integer longer than `sys.get_int_max_str_digits()` and
RecursionError for deep nesting (both without a position); the latter two are
found again by scanning the failing record's text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_NUMBER = "-0123456789+.eE"
_MAX_PATH = 6  # components of a field path shown; deeper nesting ends in '…'


@dataclass(frozen=True)
class Failure:
    """A located parse failure: the record (None outside any record), the field (None if unknown), why."""

    index: int | None
    field: str | None
    message: str


@dataclass(frozen=True)
class Span:
    """Where `doc` sits in the file: `line` is the file line of doc[0], for messages."""

    doc: str
    line: int = 1

    def where(self, pos: int) -> str:
        line = self.line + self.doc.count("\n", 0, pos)
        column = pos - (self.doc.rfind("\n", 0, pos) + 1) + 1
        return f"line {line}, column {column}"


def describe(span: Span, start: int, index: int | None, error: Exception) -> Failure:
    """The failure of the JSON value at doc[start:] (record `index`) that raised `error`."""
    if isinstance(error, json.JSONDecodeError):
        field = _field(span.doc, start, until=error.pos)
        return Failure(index, field, f"not valid JSON ({error.msg} at {span.where(error.pos)})")
    if isinstance(error, RecursionError):
        return _too_deep(span, start, index)
    return _long_number(span, start, index, error)


def _too_deep(span: Span, start: int, index: int | None) -> Failure:
    depth = max_depth(span.doc, start)
    found = _scan(span.doc, start, deeper_than=depth - 1)
    pos, field = found if found else (start, None)
    message = (
        f"nested {depth} levels deep at {span.where(pos)}, deeper than Python's JSON parser allows "
        f"(about {sys.getrecursionlimit()}); no dataset field nests more than a few levels"
    )
    return Failure(index, field, message)


def _long_number(span: Span, start: int, index: int | None, error: Exception) -> Failure:
    limit = sys.get_int_max_str_digits()
    found = _scan(span.doc, start, digits_over=limit) if limit else None
    if found is None:
        return Failure(index, None, f"not valid JSON ({error})")
    pos, field = found
    digits = len(_number_at(span.doc, pos).lstrip("-"))
    message = f"a {digits}-digit integer at {span.where(pos)}, longer than Python's limit of {limit} digits"
    return Failure(index, field, message)


def locate_in_sequence(text: str, error: Exception) -> Failure:
    """The failing record of a JSON list (or of whitespace-separated objects) that json.loads rejected."""
    span = Span(text)
    pos = skip_whitespace(text, 0)
    in_list = text.startswith("[", pos)
    if not in_list and not text.startswith("{", pos):
        return describe(span, pos, None, error)
    for _, _, _, failure in _records(text, pos + in_list, in_list):
        if failure is not None:
            return failure
    return describe(span, pos, None, error)  # the records parse alone: the container itself is broken


def _records(text: str, pos: int, in_list: bool) -> Iterator[tuple[int, int, int, Failure | None]]:
    """(index, start, end, failure) per record, stopping at the first failure or the container's end."""
    index = 0
    pos = skip_whitespace(text, pos)
    while pos < len(text) and not (in_list and text[pos] == "]"):
        try:
            _, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            yield index, pos, len(text), describe(Span(text), pos, index, exc)
            return
        yield index, pos, end, None
        index, pos = index + 1, skip_whitespace(text, end)
        if in_list and text.startswith(",", pos):
            pos = skip_whitespace(text, pos + 1)
        elif in_list and not text.startswith("]", pos):
            where = Span(text).where(pos)
            yield index, pos, pos, Failure(index, None, f"not valid JSON (expected ',' or ']' before {where})")
            return


def record_at(text: str, pos: int) -> tuple[int | None, str | None]:
    """(record index, field) of character `pos` in a JSON list or object stream; None where not found."""
    start = skip_whitespace(text, 0)
    in_list = text.startswith("[", start)
    if not in_list and not text.startswith("{", start):
        return None, None
    for index, record_start, end, _ in _records(text, start + in_list, in_list):
        if record_start > pos:
            break
        if pos < end:
            return index, _field(text, record_start, until=pos)
    return None, None


def skip_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def max_depth(text: str, start: int) -> int:
    """The deepest container nesting of the JSON value at text[start:] (strings skipped)."""
    deepest = 0
    for _, depth in _containers(text, start):
        deepest = max(deepest, depth)
    return deepest


def _containers(text: str, start: int) -> Iterator[tuple[int, int]]:
    """(position, depth after it) of each bracket of the value at text[start:]."""
    depth, pos = 0, start
    while pos < len(text):
        char = text[pos]
        if char == '"':
            pos = _string_end(text, pos)
            continue
        if char in "{[":
            depth += 1
            yield pos, depth
        elif char in "}]":
            depth -= 1
            yield pos, depth
            if depth <= 0:
                return
        pos += 1


def _field(text: str, start: int, until: int) -> str | None:
    found = _scan(text, start, until=until)
    return found[1] if found else None


def _scan(
    text: str, start: int, until: int | None = None, deeper_than: int | None = None, digits_over: int | None = None
) -> tuple[int, str | None] | None:
    """(position, field path) of the first point of the value at text[start:] that meets a condition.

    Conditions: position `until`, a container opening below depth `deeper_than`, or an integer with
    more than `digits_over` digits. The path is relative to the value (the record) itself."""
    frames: list[list] = []  # per open container: [kind, key or index, expecting a key]
    pos = start
    while pos < len(text):
        if until is not None and pos >= until:
            return pos, _path(frames)
        char = text[pos]
        if char == '"':
            end = _string_end(text, pos)
            if frames and frames[-1][0] == "{" and frames[-1][2]:
                frames[-1][1] = _key(text[pos:end])
            pos = end
            continue
        if char in "{[":
            if deeper_than is not None and len(frames) >= deeper_than:
                return pos, _path(frames)
            frames.append([char, 0 if char == "[" else None, char == "{"])
        elif char in "}]":
            if frames:
                frames.pop()
            if not frames:
                return (pos, None) if until is not None else None
        elif char in ",:" and frames:
            _separator(frames[-1], char)
        elif char in "-0123456789":
            number = _number_at(text, pos)
            if digits_over is not None and number.lstrip("-").isdigit() and len(number.lstrip("-")) > digits_over:
                return pos, _path(frames)
            pos += len(number)
            continue
        pos += 1
    return (pos, _path(frames)) if until is not None else None


def _separator(frame: list, char: str) -> None:
    if char == ":":
        frame[2] = False
    elif frame[0] == "[":
        frame[1] += 1
    else:
        frame[2] = True


def _path(frames: list[list]) -> str | None:
    """'a.b[2].c' (the style of Record field names); stops where an object still awaits its next key."""
    parts: list[str] = []
    for kind, key, expecting_key in frames:
        if kind == "{" and (expecting_key or key is None):
            break
        parts.append(f"[{key}]" if kind == "[" else f"{'.' if parts else ''}{key}")
    if len(parts) > _MAX_PATH:
        parts = [*parts[:_MAX_PATH], "…"]
    return "".join(parts) or None


def _string_end(text: str, pos: int) -> int:
    """The index just past the string literal opening at text[pos]."""
    end = pos + 1
    while True:
        end = text.find('"', end)
        if end < 0:
            return len(text)
        before = end - 1
        while before > pos and text[before] == "\\":
            before -= 1
        if (end - 1 - before) % 2 == 0:  # an even run of backslashes does not escape the quote
            return end + 1
        end += 1


def _number_at(text: str, pos: int) -> str:
    end = pos
    while end < len(text) and text[end] in _NUMBER:
        end += 1
    return text[pos:end]


def _key(literal: str) -> str:
    try:
        key = json.loads(literal)
    except (ValueError, RecursionError):
        key = literal.strip('"')
    if not isinstance(key, str):
        return literal
    return key if _printable_unicode(key) else ascii(key)


def _printable_unicode(key: str) -> bool:
    """A key the terminal can show as is (a lone surrogate or control character gets ascii() instead)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return key.isprintable()
