"""Read a dataset file into a list of raw records, whatever its container format.

`.jsonl` is one JSON object per line. A `.json` file holds a JSON list; if it
turns out to be JSON Lines under a `.json` name (InstructED ships such a file),
it is read as JSON Lines rather than rejected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import DataError


def read_records(path: Path) -> list[Any]:
    """Raw records in file order; raises DataError on unreadable or malformed files."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read file: {exc}") from exc
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(path, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return _read_jsonl(path, text)
        raise DataError(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(data, list):
        raise DataError(path, f"expected a JSON list of records, got a JSON {type(data).__name__}")
    return data


def _read_jsonl(path: Path, text: str) -> list[Any]:
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            message = f"line {lineno} is not valid JSON ({exc.msg}, column {exc.colno}); expected one object"
            raise DataError(path, message, index=len(records)) from exc
    return records
