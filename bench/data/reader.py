"""Read a dataset file into a list of raw records, whatever its container format.

`.jsonl` is one JSON object per line. A `.json` file holds a JSON list; if it
turns out to be JSON Lines under a `.json` name (InstructED ships such a file),
it is read as JSON Lines rather than rejected.

Every way a file can fail to parse (bad bytes, bad syntax, an integer beyond
Python's digit limit, nesting beyond its recursion limit) becomes one DataError
naming the record and, where it can be found, the field: never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.data.locate import Span, describe, locate_in_sequence, record_at
from bench.errors import DataError

_PARSE_ERRORS = (ValueError, RecursionError)  # JSONDecodeError is a ValueError


def read_records(path: Path) -> list[Any]:
    """Raw records in file order; raises DataError on unreadable or malformed files."""
    text = _read_text(path)
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(path, text)
    try:
        data = json.loads(text)
    except _PARSE_ERRORS as exc:
        if isinstance(exc, json.JSONDecodeError) and exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return _read_jsonl(path, text)
        failure = locate_in_sequence(text, exc)
        raise DataError(path, failure.message, index=failure.index, field=failure.field) from None
    if not isinstance(data, list):
        raise DataError(path, f"expected a JSON list of records, got a JSON {type(data).__name__}")
    return data


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; bad bytes are reported with the record and field they fall in."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(path, f"cannot read file: {exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, raw, exc) from None


def _encoding_error(path: Path, raw: bytes, exc: UnicodeDecodeError) -> DataError:
    pos = len(raw[:exc.start].decode("utf-8"))
    text = raw.decode("utf-8", errors="replace")  # same characters before the bad byte, so `pos` holds
    if path.suffix.lower() == ".jsonl":
        index, field = _jsonl_record_at(text, pos)
    else:
        index, field = record_at(text, pos)
    bad = raw[exc.start:exc.end].hex(" ").upper()
    message = f"bytes {bad} at {Span(text).where(pos)} are not valid UTF-8; dataset files must be UTF-8 encoded"
    return DataError(path, message, index=index, field=field)


def _jsonl_record_at(text: str, pos: int) -> tuple[int | None, str | None]:
    """(record index, field) of character `pos` in JSON Lines text (the record is its non-blank line)."""
    offset = index = 0
    for line in _lines(text):
        if offset + len(line) >= pos:
            if not line.strip():
                return None, None
            return index, record_at(line, pos - offset)[1]
        index += bool(line.strip())
        offset += len(line) + 1
    return None, None


def _lines(text: str) -> list[str]:
    """JSON Lines split on '\n' only: str.splitlines() would also cut at U+2028, U+0085 or a form feed,
    which JSON allows unescaped inside strings."""
    return text.split("\n")


def _read_jsonl(path: Path, text: str) -> list[Any]:
    records: list[Any] = []
    for lineno, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except _PARSE_ERRORS as exc:
            failure = describe(Span(line, lineno), 0, len(records), exc)
            hint = "; a .jsonl line must hold exactly one JSON object" if isinstance(exc, json.JSONDecodeError) else ""
            raise DataError(path, failure.message + hint, index=len(records), field=failure.field) from None
    return records
