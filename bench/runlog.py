"""The run directory on disk: config.json, the append-only cases.jsonl, summary.csv, per_case.csv (and a sequential
run's curve.csv, lifelong tables and append-only edit_costs.jsonl of per-edit timings, kept out of cases.jsonl).

cases.jsonl is appended unit by unit (a case, a batch, a sequential checkpoint)
with a flush and fsync; the last row of a unit carries its row count, so a unit
is all or nothing: `--resume` discards the rows of a unit cut short (a kill, a
short write) and runs it again, and skips every unit written to the end. The
other files are replaced atomically, and a lock keeps a second writer out.

`config.json`'s `cases_format` versions the unit format: from version 2 every unit, the first included, counts
only with its completion mark (version 1 runs, from before the mark, may start with unmarked rows). The mark row
also records what the unit was written with (`written_with`: the run's options and a digest of the editor's
configuration), so a run whose config.json is lost can still be checked before it is resumed (bench/resume.py).
Nothing here writes through a symbolic link: the lock and cases.jsonl are opened with O_NOFOLLOW, every other file
is replaced.

Units: a cases.jsonl row scores one query (`acc`, `loc`: fractions 0-1 of the answer's tokens); every value
derived from them, per case (per_case.csv) or per dataset (summary.csv, curve.csv, the tables), is in percent.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.atomic import atomic_write, atomic_write_text
from bench.errors import BenchError
from bench.locks import FolderLock
from bench.metrics import ALL_METRICS, CASE_METRICS, EFFECT_METRICS, PAPER_METRICS, RETRIEVAL_METRICS, CaseMetrics
from bench.resume import (
    UNIT_ROWS,
    UNUSABLE_CONFIG_ADVICE,
    WRITTEN_WITH,
    check_resume,
    check_rows_for_resume,
    warn_if_environment_changed,
)

PER_CASE_METRICS = list(ALL_METRICS[:7])  # per-case values in percent; Score and H are computed from their means
# Appended after them only when some case has it, so that runs from before it keep a byte-identical per_case.csv.
PER_CASE_PAPER_METRICS = ["Loc_paper"]
# ... and so are these (probes, generated answers, side effects: bench/metrics.py EFFECT_METRICS; retrieval accuracy).
PER_CASE_EFFECT_METRICS = [m for m in CASE_METRICS if m in EFFECT_METRICS]
OPTIONAL_PER_CASE = PER_CASE_PAPER_METRICS + PER_CASE_EFFECT_METRICS + list(RETRIEVAL_METRICS)
LATER_METRICS = (PAPER_METRICS, EFFECT_METRICS, RETRIEVAL_METRICS)  # summary.csv's groups after the intervals

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["editor", "dataset", "model", "protocol", "n_cases",
                   "Rel", "Gen", "Loc", "Por_hop", "Por_Nhop", "Hop_Acc", "Score", "H"]
EXTRA_METRICS = ["MH_Acc"]  # MQuAKE's official multi-hop accuracy (generation, any question, aliases)

# A sequential run's lifelong tables (bench/retention.py) and the per-edit cost log the tables' costs come from.
LIFELONG_TABLES = ("retention.csv", "lifelong.csv", "edit_costs.csv")
EDIT_COSTS = "edit_costs.jsonl"
EDIT_COST = "edit_cost"  # the field of a unit's row that carries its edit's cost to EDIT_COSTS (`RunLog.append`)

CASES_FORMAT = 2  # config.json's "cases_format" of runs this version writes (module docstring)
_TEMPORARY = re.compile(r"^\..+\.\d+-[0-9a-f]{8}\.tmp$")  # bench.atomic.temporary_sibling's names

# The unit keys of cases.jsonl (its "unit" column), spelt here only: a case or batch of the single and batch
# protocols, one edit of the sequential protocol, and its evaluation after n edits (also those rows' "phase").
_CASES, _EDIT, _EVAL, _SAMPLED = "cases:", "edit:", "eval@", "/sample"


def unit_key_cases(case_ids) -> str:
    """The unit of the cases `case_ids` edited together (single: one id; batch: the batch's ids in order).

    Ids joined by commas, as runs have always been keyed, unless an id holds a comma or the first starts with
    "[": then the ids as a JSON list, so that no two lists of ids share a key (["a,b", "c"] and ["a", "b,c"])."""
    ids = list(case_ids)
    if any("," in i for i in ids) or (ids and ids[0].startswith("[")):
        return _CASES + json.dumps(ids, ensure_ascii=False)
    return _CASES + ",".join(ids)


def unit_key_edit(case_id: str) -> str:
    """The sequential unit of the edit of `case_id` (scored right after it)."""
    return _EDIT + case_id


def unit_key_eval(n: int, sampled: bool = False) -> str:
    """The sequential evaluation after `n` edits (also the phase of its rows): of every case edited so far, or
    `sampled`, of the cases bench/lifelong.py's plan picks ("eval@n/sample": never the key of a full one)."""
    return f"{_EVAL}{n}{_SAMPLED if sampled else ''}"


def is_eval_key(key) -> bool:
    """Whether `key` (a unit key or a row's phase, possibly missing) is a sequential evaluation `unit_key_eval(n)`."""
    return str(key if key is not None else "").startswith(_EVAL)


def parse_unit_key_eval(key: str) -> int | None:
    """The n of `unit_key_eval(n, sampled)`, else None."""
    return int(key[len(_EVAL):].removesuffix(_SAMPLED)) if is_eval_key(key) else None


def parse_unit_key_cases(key: str) -> list[str] | None:
    """The case ids of `unit_key_cases(ids)`, else None."""
    if not str(key).startswith(_CASES):
        return None
    rest = key[len(_CASES):]
    return json.loads(rest) if rest.startswith("[") else rest.split(",")


def parse_unit_key_edit(key: str) -> str | None:
    """The case id of `unit_key_edit(case_id)`, else None."""
    return key[len(_EDIT):] if str(key).startswith(_EDIT) else None


def check_run_folder(out: Path) -> None:
    """Refuse an --out that cannot be a run folder before anything is created or loaded, saying why."""
    text = str(out)
    if not text or text == ".":
        raise BenchError("--out is empty; name a folder for the run (it is created), e.g. --out runs/first")
    if text.startswith("~"):
        raise BenchError(f"--out {text}: '~' names no known home folder here; write the full path")
    for part in out.parts:
        if len(part.encode()) > 255:
            raise BenchError(f"--out: the name '{part[:40]}...' has {len(part.encode())} bytes; a file system "
                             "allows 255 per name. Choose a shorter --out.")
    if out.is_symlink() and not out.is_dir():
        raise BenchError(f"--out {out} is a symbolic link to something that is not a folder; choose a folder")
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} exists and is not a folder (a run is a folder of files); choose a new "
                         "--out, or remove that file")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise BenchError(f"--out {out}: {parent} is a file, so no folder can be made under it; choose another --out")
    if str(out.resolve()).startswith(("/proc/", "/sys/", "/dev/")) or not os.access(parent, os.W_OK | os.X_OK):
        raise BenchError(f"--out {out}: {parent} cannot hold a run folder (a system or read-only place); choose a "
                         "folder you can write, e.g. under runs/")


# A committed run's cases.jsonl, packed (bench/packed_rows.py reads and writes them; the newest format first),
# and the tool that unpacks each.
PACKED_FILES = {"cases.jsonl.xz": "xz", "cases.jsonl.gz": "gzip"}


def summary_columns() -> list[str]:
    """The columns above, then MH_Acc, the intervals, then the paper-locality metrics with their intervals, the
    probes', generated answers' and side effects', and last the retrieval accuracy's (appended, so every earlier
    column keeps its position; empty for runs from before them, and for editors that retrieve nothing)."""
    metrics = SUMMARY_COLUMNS[5:] + EXTRA_METRICS
    later = [m for group in LATER_METRICS for m in (*group, *(f"{m}_{b}" for m in group for b in ("lo", "hi")))]
    return SUMMARY_COLUMNS + EXTRA_METRICS + [f"{m}_{b}" for m in metrics for b in ("lo", "hi")] + later


class RunLog:
    """Owner of a run directory's files; `prepare()` takes the directory's lock, `close()` gives it back."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.cases_path = self.out / "cases.jsonl"
        self.lock = FolderLock(self.out, "run directory")

    def prepare(self, resume: bool, editors: tuple[str, ...] = ()) -> None:
        """Lock the run folder and make it ready to append to; `editors`: the ones this command (re)runs."""
        check_run_folder(self.out)
        self.created = not self.out.exists()
        self.lock.acquire()
        self._remove_stray_temporaries()
        if self.cases_path.is_symlink():
            self.close()
            raise BenchError(f"{self.cases_path} is a symbolic link; the harness appends only to a file of the run "
                             "folder itself. Replace the link by the file it points to (or remove it), then rerun.")
        if self.cases_path.exists() and self.cases_path.stat().st_size and not resume:
            self.close()
            raise BenchError(
                f"{self.out} already holds results (cases.jsonl). Pass --resume to continue that run, "
                "or choose a new --out directory; nothing was overwritten."
            )
        if resume:
            self.drop_incomplete_units()
        if self._no_rows() and (self.out / "config.json").exists():
            config, _ = self._load_config()
            if config is not None:  # finished units recorded, their rows gone: never start over them
                try:
                    self.check_rows_kept(config, "--resume" if resume else "bench run", editors)
                except BenchError:
                    self.close()
                    raise
            logger.warning("%s: an earlier run here stopped before writing any row; its config.json is replaced "
                           "(there is nothing to resume)", self.out)
            (self.out / "config.json").unlink()

    def _remove_stray_temporaries(self) -> None:
        """Temporary files of atomic writes cut short by a kill (the lock is held: no writer of ours is live)."""
        for folder in (self.out, self.out / "plots"):
            for path in folder.iterdir() if folder.is_dir() and not folder.is_symlink() else ():
                if _TEMPORARY.match(path.name) and not path.is_dir():
                    path.unlink()
                    logger.info("%s: removed %s, left by a write cut short", self.out, path.name)

    def discard_if_unused(self) -> None:
        """Remove the directory `prepare` created when the run failed before writing a row (a model that did not
        load, a refused option): a failed start leaves nothing behind."""
        if getattr(self, "created", False) and self._no_rows():
            self.close()
            shutil.rmtree(self.out, ignore_errors=True)

    def _no_rows(self) -> bool:
        """No row at all: appends write whole units and a resume drops cut-short ones first, so an empty file
        (or none) is the only way to hold no complete unit."""
        return not self.cases_path.exists() or not self.cases_path.stat().st_size

    def close(self) -> None:
        self.lock.release()

    def drop_incomplete_units(self) -> int:
        """Rewrite cases.jsonl without the rows of units that were not written to the end (a kill or a short
        write mid-unit, the first unit included); they run again. Returns how many rows were dropped."""
        if not self.cases_path.exists():
            return 0
        scan = _scan(self.cases_path, self.strict_units())
        if scan.dropped_rows or scan.torn_bytes:
            kept = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in scan.rows)
            atomic_write_text(self.cases_path, kept)
            logger.warning("%s: discarded %d row(s) of %d unit(s) not written to the end%s; they run again",
                           self.cases_path, scan.dropped_rows, len(scan.dropped_units),
                           f" and a torn last line ({scan.torn_bytes} bytes)" if scan.torn_bytes else "")
        return scan.dropped_rows

    def strict_units(self) -> bool | None:
        """Whether every unit must carry its completion mark (`cases_format` >= 2; module docstring); None without
        a usable config.json, for `_scan` to tell from the rows."""
        config, _ = self._load_config()
        return config.get("cases_format", 1) >= 2 if config is not None else None

    def read_config(self) -> dict | None:
        """config.json, or None if there is none; an unusable one is an error saying what to do."""
        config, problem = self._load_config()
        if problem:
            raise BenchError(f"{problem}. {UNUSABLE_CONFIG_ADVICE}")
        return config

    def _load_config(self) -> tuple[dict | None, str | None]:
        """(config.json, None), (None, None) without one, or (None, what is wrong with it)."""
        path = self.out / "config.json"
        if not path.exists() and not path.is_symlink():
            return None, None
        try:
            config = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            return None, f"{path} is unreadable ({exc.__class__.__name__}: {exc})"
        if not isinstance(config, dict) or not isinstance(config.get("args", {}), dict):
            return None, f"{path} holds {json.dumps(config)[:40]}, not a run's configuration"
        if not isinstance(config.get("cases_format", 1), int) or config.get("cases_format", 1) > CASES_FORMAT:
            raise BenchError(f"{path} has cases_format {config.get('cases_format')!r}; this version of the harness "
                             f"reads formats 1 to {CASES_FORMAT}. Use the version that wrote the run (its config.json "
                             "names it under versions and git), or a new --out.")
        return config, None

    def config_for_resume(self, args: dict) -> tuple[dict | None, dict[str, dict]]:
        """The earlier config.json, checked against this command's `args` before any model loads (a different
        --seed is named as such). When it is missing or unusable but rows exist, the rows' own record is checked
        instead and the unusable file is set aside: returns (None, editor -> what its rows were written with);
        rows without that record (older runs) cannot be checked, and the resume is refused."""
        path = self.out / "config.json"
        config, unusable = self._load_config()
        if config is not None:
            check_resume(path, config, {"args": args}, loaded=False)
            self.check_rows_kept(config, "--resume", args.get("editors") or ())
            return config, {}
        rows = self.rows(with_record=True)
        stamps = check_rows_for_resume(self.out, rows, args, unusable) if rows else {}
        if unusable is not None:
            aside = path.with_name(f"config.json.unusable-{datetime.now():%Y%m%d-%H%M%S-%f}")
            os.replace(path, aside)
            logger.warning("%s; it is kept as %s and config.json is written anew from this command%s", unusable,
                           aside.name, ", whose options match every row's record" if rows else "")
        elif rows:
            logger.warning("%s: config.json is missing; this command's options match every row's record, so the "
                           "run resumes and config.json is written anew", self.out)
        return None, stamps

    def write_config(self, config: dict) -> None:
        previous = self.read_config()
        if previous is not None:
            check_resume(self.out / "config.json", previous, config)
            starts = previous.get("previous_starts", [])
            if previous.get("started") != config.get("started"):  # an earlier start, not this run's last write
                # its wall_seconds: None where that start was killed before its end
                starts = starts + [{key: previous.get(key) for key in ("started", "versions", "git", "wall_seconds")}]
                warn_if_environment_changed(self.out / "config.json", previous, config)
            config["previous_starts"] = starts
            config["cases_format"] = previous.get("cases_format", 1)  # its rows keep the format they were written in
            for key, value in previous.items():  # notes the runner does not write (a merge's) survive a resume
                if key != "wall_seconds":  # this start's, written at its end; an earlier start's is in starts
                    config.setdefault(key, value)
        atomic_write_text(self.out / "config.json", json.dumps(config, indent=2, default=str) + "\n")

    def check_rows_kept(self, config: dict, action: str, rerun: tuple[str, ...] = ()) -> None:
        """Refuse to go on where config.json records an editor's units but cases.jsonl holds none of its rows (the
        file deleted or packed to save space): summary.csv and per_case.csv are rewritten from cases.jsonl, so
        going on would drop that editor from both. Editors in `rerun` (this command runs them) get their rows again."""
        recorded = [name for name in finished_editors(config) if name not in rerun]
        if not recorded:  # the usual resume: every recorded editor is rerun, and cases.jsonl is not read for this
            return
        have = {r["editor"] for r in self.rows()}
        gone = [name for name in recorded if name not in have]
        if gone:
            packed = [self.out / name for name in PACKED_FILES if (self.out / name).exists()]
            fix = (f"Unpack {packed[0]} first ({PACKED_FILES[packed[0].name]} -dk)" if packed
                   else "Restore cases.jsonl (git keeps committed ones)")
            raise BenchError(f"{action}: {self.out}/config.json records {len(gone)} editor(s) ({', '.join(gone[:5])}"
                             f"{', ...' if len(gone) > 5 else ''}) whose rows are not in {self.cases_path}; this "
                             f"would rewrite summary.csv and per_case.csv without them. {fix}, or write "
                             "into a new --out and combine the runs with `bench report --from`.")

    def rows(self, with_record: bool = False) -> list[dict]:
        """Every row of every unit written to the end (rows of a unit in flight or torn are left out); the units'
        `written_with` only `with_record` (it is bookkeeping, like `unit_rows`, and names options like --limit
        that do not change a row)."""
        if not self.cases_path.exists():
            return []
        rows = _scan(self.cases_path, self.strict_units()).rows
        return rows if with_record else [{k: v for k, v in r.items() if k != WRITTEN_WITH} for r in rows]

    def done_units(self, editor: str) -> set[str]:
        return {r["unit"] for r in self.rows() if r["editor"] == editor}

    def append(self, rows: list[dict], written_with: dict | None = None) -> None:
        """Append whole units in one write; the last row of each unit carries `unit_rows`, its row count, which
        is what makes the unit count as done, and `written_with` (`stamp()`) when given. Never through a link.
        A row's `edit_cost` (a sequential edit's seconds and memory) goes to edit_costs.jsonl first, so that
        cases.jsonl holds only what a rerun reproduces (`read_costs`)."""
        costs = [{"editor": r["editor"], "unit": r["unit"], "n_edits": r.get("n_edits"), "case_id": r.get("case_id"),
                  **r[EDIT_COST]} for r in rows if EDIT_COST in r]
        if costs:
            _append_lines(self.out / EDIT_COSTS, costs)
        _append_lines(self.cases_path, _mark_units([{k: v for k, v in r.items() if k != EDIT_COST} for r in rows],
                                                   written_with))

    def read_costs(self) -> list[dict]:
        """edit_costs.jsonl's records of the units in cases.jsonl, the last one per unit (a unit cut short ran
        again); [] without the file. Torn lines (a kill mid-write) are skipped."""
        path = self.out / EDIT_COSTS
        if not path.exists():
            return []
        done = {(r["editor"], r["unit"]) for r in self.rows()}
        last: dict[tuple, dict] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (record.get("editor"), record.get("unit")) in done:
                last[(record["editor"], record["unit"])] = record
        return list(last.values())

    def write_table(self, name: str, rows: list[dict]) -> Path | None:
        """One of a sequential run's lifelong tables (LIFELONG_TABLES, bench/retention.py makes them), as curve.csv
        is written; nothing without rows."""
        if name not in LIFELONG_TABLES:
            raise ValueError(f"{name} is not a table of the run folder ({', '.join(LIFELONG_TABLES)})")
        return _write_rows(self.out / name, rows) if rows else None

    def write_curve(self, rows: list[dict]) -> Path | None:
        """curve.csv of a sequential run: the metrics at every eval@K checkpoint (`read_curve` reads it)."""
        return _write_rows(self.out / "curve.csv", rows) if rows else None

    def write_summary(self, records: list[dict]) -> Path:
        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=summary_columns())
                writer.writeheader()
                for rec in records:
                    writer.writerow({k: summary_text(rec.get(k)) for k in summary_columns()})

        return atomic_write(self.out / "summary.csv", write)

    def write_per_case(self, per_case: dict[tuple[str, str], list[CaseMetrics]]) -> Path:
        """(editor, protocol label) -> per-case metrics in percent, written exactly (the shortest text that reads
        back as the same float): small enough to commit, enough for paired tests."""
        present = [m for m in OPTIONAL_PER_CASE
                   if any(c.values.get(m) is not None for cases in per_case.values() for c in cases)]
        metrics = PER_CASE_METRICS + present

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["editor", "protocol", "case_id"] + metrics)
                for (editor, label), cases in per_case.items():
                    for c in cases:
                        values = [c.values.get(m) for m in metrics]
                        writer.writerow([editor, label, c.case_id] + [per_case_text(v) for v in values])

        return atomic_write(self.out / "per_case.csv", write)


def _write_rows(path: Path, rows: list[dict]) -> Path:
    """A table of dict rows (the first row's keys as columns), floats to 4 decimals, None empty; atomically."""
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: table_text(v) for k, v in r.items()} for r in rows)

    return atomic_write(path, write)


def table_text(value):
    """A cell of curve.csv and the lifelong tables: floats to 4 decimals, None empty."""
    return "" if value is None else round(value, 4) if isinstance(value, float) else value


def _append_lines(path: Path, records: list[dict]) -> None:
    """Append JSON lines in one write with fsync, never through a link (cases.jsonl, edit_costs.jsonl)."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise BenchError(f"cannot append to {path} ({exc.strerror}); it must be a plain file of the run folder. "
                         "Nothing of this unit was written; fix it and rerun with --resume.") from None
    try:
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:  # a full disk, a file size limit: the unit is cut short, and rerun on --resume
        raise BenchError(f"writing {path} failed ({exc.strerror}). Every unit written before is kept; free space "
                         "(or raise the file size limit), then rerun with --resume: the unit cut short is run "
                         "again.") from None


@dataclass
class _Scan:
    rows: list[dict] = field(default_factory=list)
    dropped_rows: int = 0
    dropped_units: set = field(default_factory=set)
    torn_bytes: int = 0


def _scan(path: Path, strict: bool | None = True) -> _Scan:
    """Rows of complete units. A unit is complete when its last row carries `unit_rows` equal to its row count.
    Not `strict` (a `cases_format` 1 run): rows from before the mark existed (no row of the file carries one
    before them) count as complete. None: strict when rows record what they were written with (version 2)."""
    scan, pending, marked = _Scan(), [], False
    data = path.read_bytes()
    if strict is None:
        strict = f'"{WRITTEN_WITH}"'.encode() in data
    end = data.rfind(b"\n") + 1
    scan.torn_bytes = len(data) - end
    for number, line in enumerate(data[:end].decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise BenchError(f"{path}, line {number}: not a JSON row ({exc}); the file was changed by something "
                             "other than the harness. Restore it or remove that line, then rerun.") from None
        if not (isinstance(row, dict) and isinstance(row.get("editor"), str) and isinstance(row.get("unit"), str)):
            raise BenchError(f"{path}, line {number}: {line[:60]!r} is not a row of the harness (a JSON object with "
                             "'editor' and 'unit'); the file was changed by something other than the harness. "
                             "Restore it or remove that line, then rerun.")
        if UNIT_ROWS not in row:
            pending.append(row)
            continue
        key = _unit_key(row)
        start = len(pending)
        while start and _unit_key(pending[start - 1]) == key:  # the unit's rows are written together, last
            start -= 1
        before, unit = pending[:start], pending[start:] + [row]
        if marked or strict:
            _drop(scan, before)  # rows that no mark closes: a unit cut short, then rerun
        else:
            scan.rows += before
        marked = True
        if len(unit) == row[UNIT_ROWS]:
            scan.rows += unit
        else:
            _drop(scan, unit)
        pending = []
    if marked or strict:
        _drop(scan, pending)
    else:
        scan.rows += pending
    return scan


def _unit_key(row: dict) -> tuple:
    return row.get("editor"), row.get("unit")


def _drop(scan: _Scan, rows: list[dict]) -> None:
    scan.dropped_rows += len(rows)
    scan.dropped_units |= {_unit_key(r) for r in rows}


def _mark_units(rows: list[dict], written_with: dict | None = None) -> list[dict]:
    """Rows of one or more whole units, each unit's last row marked with the unit's row count (and with
    `written_with` when given; rows merged from another run keep their own)."""
    counts: dict[tuple, int] = {}
    for r in rows:
        counts[(r["editor"], r["unit"])] = counts.get((r["editor"], r["unit"]), 0) + 1
    seen: dict[tuple, int] = {}
    out = []
    for r in rows:
        key = (r["editor"], r["unit"])
        seen[key] = seen.get(key, 0) + 1
        r = {k: v for k, v in r.items() if k != UNIT_ROWS}
        if seen[key] == counts[key]:
            r[UNIT_ROWS] = counts[key]
            if written_with is not None:
                r[WRITTEN_WITH] = written_with
        else:
            r.pop(WRITTEN_WITH, None)
        out.append(r)
    return out


def finished_editors(config: dict) -> list[str]:
    """The editors config.json records as finished (their `units`); one begun or stopped part-way has none."""
    return [name for name, rec in (config.get("editors") or {}).items() if isinstance(rec, dict) and rec.get("units")]


def per_case_text(value: float | None) -> str:
    """A per-case value as the shortest text that reads back as the same float ("100", "66.66666666666667")."""
    if value is None:
        return ""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def read_per_case(path: Path) -> dict[tuple[str, str], list[CaseMetrics]]:
    """per_case.csv as (editor, protocol label) -> per-case metrics, in percent as the file holds them."""
    out: dict[tuple[str, str], list[CaseMetrics]] = {}
    with Path(path).open() as fh:
        for row in csv.DictReader(fh):
            values = {m: float(row[m]) if row.get(m) not in ("", None) else None
                      for m in PER_CASE_METRICS + PER_CASE_PAPER_METRICS
                      + [m for m in OPTIONAL_PER_CASE if m in row and m not in PER_CASE_PAPER_METRICS]}
            out.setdefault((row["editor"], row["protocol"]), []).append(CaseMetrics(row["case_id"], values))
    return out


def summary_text(value) -> str:
    """A summary.csv cell: rates to 2 decimals, counts and names as they are."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def read_summary(path: Path) -> list[dict]:
    with Path(path).open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        metrics = [m for group in (ALL_METRICS, *LATER_METRICS) for m in group]
        for m in metrics + [f"{m}_{b}" for m in metrics for b in ("lo", "hi")]:
            if m in row:
                row[m] = float(row[m]) if row[m] not in ("", None) else None
    return rows


def read_curve(path: Path) -> list[dict]:
    """curve.csv of a sequential run (editor, n_edits, metrics), or [] without one."""
    if not path.exists():
        return []
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    return [{"editor": r["editor"], "n_edits": int(r["n_edits"]),
             **{m: float(r[m]) if r.get(m) not in ("", None) else None for m in ALL_METRICS}} for r in rows]
