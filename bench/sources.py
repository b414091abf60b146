"""Which run supplies each published row: one source per (editor, dataset, protocol, model).

Reports, tables and the explorer read the summary records of several run directories. Two runs may hold the same
key (a suite's InstructEd rerun beside the paper suite's first run, an ablation folder's control run of the same
editor): a silently chosen row would change a table without a word. So two runs holding one key is an error naming
both, unless a choice names the run that supplies the editor (`--from EDITOR[,EDITOR...]=RUN`, repeatable; with a
`TABLE:` prefix the choice holds in that paper table only, e.g. `--from table4:instructed=RUN` for an ablation
table whose `instructed` row is a control run). A choice is only ever used where two runs hold the same key.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.runlog import RunLog, finished_editors, read_summary

logger = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # (editor, dataset, protocol, model)


@dataclass(frozen=True)
class Choice:
    """`editors` of the run `run` win over any other run holding the same key (in `table` only, when set)."""

    editors: tuple[str, ...]
    run: str
    table: str | None = None

    def spec(self) -> str:
        """The option value that gives this choice back (for COMMANDS.md)."""
        return f"{self.table + ':' if self.table else ''}{','.join(self.editors)}={self.run}"


def parse_choice(spec: str) -> Choice:
    """`[TABLE:]EDITOR[,EDITOR...]=RUN` (the value of `--from`)."""
    names, sep, run = spec.partition("=")
    table, _, names = names.rpartition(":")
    editors = tuple(e.strip() for e in names.split(",") if e.strip())
    if not sep or not run.strip() or not editors:
        raise BenchError(f"--from '{spec}': expected EDITOR[,EDITOR...]=RUN_DIR or TABLE:EDITOR[,EDITOR...]=RUN_DIR "
                         "(e.g. --from instructed=results/suite-smollm2-instructed-paper-budget/counterfact)")
    return Choice(editors, run.strip(), table.strip() or None)


def parse_choices(specs: list[str] | tuple = ()) -> list[Choice]:
    return [c if isinstance(c, Choice) else parse_choice(c) for c in specs or ()]


def same_run(a: str, b: str) -> bool:
    """Whether two spellings of a run directory name one folder."""
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def unique_runs(run_dirs: list[str]) -> list[str]:
    """`run_dirs` with a folder given twice kept once (it is one source, not two)."""
    out: list[str] = []
    for d in run_dirs:
        if not any(same_run(d, seen) for seen in out):
            out.append(str(d))
    return out


def collect(run_dirs: list[str]) -> list[dict]:
    """Every summary record of `run_dirs` (each folder once), each with `run`: the directory it came from."""
    records = []
    for d in unique_runs(run_dirs):
        path = Path(d) / "summary.csv"
        if not path.exists():
            raise BenchError(f"{d}: no summary.csv (is it a run directory? a run writes it when an editor finishes)")
        mine = read_summary(path)
        check_finished(Path(d), mine)
        records += [{**rec, "run": str(d)} for rec in mine]
    return records


def check_finished(run: Path, records: list[dict]) -> None:
    """A summary row of an editor that the run's config.json does not record as finished (`units`) counts a part
    of the cases: refuse it rather than publish it beside complete rows."""
    config = run / "config.json"
    recorded = RunLog(run).read_config()
    if recorded is None:
        return
    finished = finished_editors(recorded)
    for rec in records:
        if rec["editor"] not in finished:
            raise BenchError(f"{run}/summary.csv has a row of {rec['editor']} ({rec['dataset']}, {rec['protocol']},"
                             f" n_cases {rec.get('n_cases')}), but {config} does not record {rec['editor']} as "
                             "finished: the row counts only the cases done before the run stopped. Finish it "
                             "with the run's command and --resume; or leave it out: `bench run --resume` naming "
                             "only the finished editors rewrites summary.csv without it.")


def key(rec: dict) -> Key:
    return (rec["editor"], rec["dataset"], rec["protocol"], rec["model"])


def check_choices(records: list[dict], choices: list[Choice]) -> None:
    """Every choice names a given run that holds each of its editors: a misspelt run or editor is an error, not a
    choice that silently never applies."""
    for c in choices:
        held = {r["editor"] for r in records if same_run(r["run"], c.run)}
        runs = list(dict.fromkeys(r["run"] for r in records))
        if not any(same_run(r, c.run) for r in runs):
            raise BenchError(f"--from {c.spec()}: {c.run} is not one of the run directories given "
                             f"({', '.join(runs)}); add it to the command or correct the path")
        missing = [e for e in c.editors if e not in held]
        if missing:
            raise BenchError(f"--from {c.spec()}: {c.run} has no rows of {', '.join(missing)} (its editors: "
                             f"{', '.join(sorted(held))})")


def select(records: list[dict], choices: list[Choice] | tuple = (), table: str | None = None) -> list[dict]:
    """One record per key, in the order given: the only run holding it, or the run a choice names for its editor
    (a choice for `table` before a choice for every table); two runs and no choice is a BenchError naming both."""
    choices = parse_choices(choices)
    check_choices(records, choices)
    by_key: dict[Key, list[dict]] = defaultdict(list)
    for rec in records:
        by_key[key(rec)].append(rec)
    kept = {id(_pick(recs, choices, table)) for recs in by_key.values()}
    return [r for r in records if id(r) in kept]


def _pick(recs: list[dict], choices: list[Choice], table: str | None) -> dict:
    if len(recs) == 1:
        return recs[0]
    editor = recs[0]["editor"]
    for scope in ([table] if table else []) + [None]:
        named = [r for r in recs for c in choices
                 if c.table == scope and editor in c.editors and same_run(r["run"], c.run)]
        if named:
            return named[0]
    editor, dataset, protocol, model = key(recs[0])
    runs = " and ".join(r["run"] for r in recs)
    raise BenchError(f"{editor} on {dataset} ({protocol}, {model}) is in more than one run: {runs}. A table shows one "
                     f"row per editor, dataset, protocol and model: name the run that supplies it with --from "
                     f"{editor}={recs[-1]['run']} (--from {table or 'TABLE'}:{editor}=RUN for one table only), or "
                     "leave one run out.")


def dropped(records: list[dict], kept: list[dict]) -> set[tuple[str, str, str]]:
    """(run, editor, protocol) of the records `select` left out: their per-case rows must not be shown either."""
    ids = {id(r) for r in kept}
    return {(os.path.normpath(r["run"]), r["editor"], r["protocol"]) for r in records if id(r) not in ids}


def preferring(records: list[dict], rank) -> list[Choice]:
    """The choices that settle every key two runs hold by `rank(run, editor)` (highest wins; a tie goes to the run
    given later): for tools that write their commands out (bench suite's COMMANDS.md), so the rule is spelt in them."""
    by_key: dict[Key, list[dict]] = defaultdict(list)
    for rec in records:
        by_key[key(rec)].append(rec)
    runs = list(dict.fromkeys(r["run"] for r in records))
    picked: dict[str, list[str]] = defaultdict(list)
    for recs in by_key.values():
        if len({r["run"] for r in recs}) > 1:
            run = max((r["run"] for r in recs), key=lambda d: (rank(d, recs[0]["editor"]), runs.index(d)))
            picked[run].append(recs[0]["editor"])
    return [Choice(tuple(dict.fromkeys(eds)), run) for run, eds in picked.items()]
