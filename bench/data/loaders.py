"""`load_dataset`: resolve a spec to a file, pick its parser, and turn records into EditCases."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path

from bench.data.fields import Origin, Record, SkipRecord
from bench.data.reader import read_records
from bench.data.registry import DATASETS, format_of, formats, missing_file_error, resolve_data_dir, unknown_name_error
from bench.data.schema import REL, EditCase
from bench.data.splits import split_side, without_rewrites_of
from bench.errors import BenchError, DataError

Parser = Callable[[Record, Origin], EditCase]


def parser_of(fmt: str) -> Parser:
    """The parser function registered for format `fmt` (entry-point group knowledge_edit_bench.formats)."""
    spec = formats()[fmt]
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def load_dataset(spec: str, data_dir: str | Path | None = None, limit: int | None = None) -> list[EditCase]:
    """The cases of a dataset name or `NAME:PATH` spec, in file order, the first `limit` if given."""
    if limit is not None and limit < 0:
        raise BenchError(f"limit must be a non-negative number of cases, got {limit}")
    fmt, path, origin = resolve_spec(spec, data_dir)
    side = DATASETS[origin.dataset].split if origin.dataset in DATASETS and ":" not in spec else None
    if side is None:
        return parse_file(path, fmt, origin, limit)
    if side.startswith("without:"):  # EasyEdit's portability files reuse records of CounterFact's training split
        other = load_dataset(side.removeprefix("without:"), data_dir)
        return without_rewrites_of(parse_file(path, fmt, origin), other)[:limit]
    return split_side(parse_file(path, fmt, origin), side)[:limit]


def resolve_spec(spec: str, data_dir: str | Path | None = None) -> tuple[str, Path, Origin]:
    """(format, file, origin) for a spec; raises BenchError for unknown names or missing files."""
    name, sep, raw_path = spec.partition(":")
    name = name.strip()
    if not sep:
        if name not in DATASETS:
            raise unknown_name_error(name)
        info, root = DATASETS[name], resolve_data_dir(data_dir)
        path = root / info.relative_path
        if not path.is_file():
            raise missing_file_error(info, root)
        return info.format, path, Origin(name, name)
    fmt = format_of(name)
    path = _find_file(Path(raw_path.strip()).expanduser(), data_dir)
    return fmt, path, Origin(f"{name}:{path.stem}", name)


def _find_file(path: Path, data_dir: str | Path | None) -> Path:
    """PATH as given (absolute or relative to the working dir), else relative to the data dir."""
    candidates = [path] if path.is_absolute() else [path.resolve(), resolve_data_dir(data_dir) / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = " or ".join(str(c) for c in candidates)
    raise BenchError(
        f"Dataset file not found: {tried}. Check the path in NAME:PATH "
        f"(a relative PATH is also looked up under --data-dir / $BENCH_DATA_DIR)."
    )


def parse_file(path: Path, fmt: str, origin: Origin, limit: int | None = None) -> list[EditCase]:
    """Parse every record (up to `limit` cases); skipped records are reported in one warning."""
    parse = parser_of(fmt)
    cases: list[EditCase] = []
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(read_records(path)):
        if limit is not None and len(cases) >= limit:
            break
        rec = Record(raw, path, index)
        try:
            case = parse(rec, origin)
        except SkipRecord as skip:
            skipped.append(f"record {index} ({skip})")
            continue
        _check_case(rec, case, seen)
        cases.append(case)
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} unusable record(s): {'; '.join(skipped)}", stacklevel=3
        )
    return cases


def _check_case(rec: Record, case: EditCase, seen: dict[str, int]) -> None:
    """Every case needs a REL query, and ids must be unique (runs resume by case id)."""
    if not case.of_kind(REL):
        raise DataError(rec.path, "case has no reliability (edit prompt) query", index=rec.index)
    if case.case_id in seen:
        message = f"duplicate case_id '{case.case_id}' (first seen at record {seen[case.case_id]})"
        raise DataError(rec.path, message, index=rec.index, field="case_id")
    seen[case.case_id] = rec.index
