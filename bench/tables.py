"""The paper's table layouts (Tables 2, 3, 4, 9, 10, 12), filled from summary.csv rows of any run directories.

A layout names column groups (dataset patterns x protocol x metrics) and row
groups (editors). Rows keep the order of the layout, then any other editor in
the order the runs list them (except InstructEd's ablation variants, which belong
to their own tables). The unedited model is shown for reference but never
marked best.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch

from bench.errors import BenchError

SIX = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H")
MODIFYING = ("ft-l", "ft-m", "lora", "rome", "memit", "pmet")
PRESERVING = ("serac", "ike", "grace", "mello", "instructed", "instructed-retrieval", "instructed-paper")
REFERENCE = ("noedit",)
OURS = "instructed"  # the method these tables study (the paper's), the default of Layout.ours


def belongs_to(editor: str, ours: str) -> bool:
    """Whether row `editor` is the method `ours` or one of its presets (a variant run under its own label)."""
    from bench.registry import PRESETS  # entry points only: no editor is imported

    return editor == ours or PRESETS.get(editor, ("",))[0] == ours


@dataclass(frozen=True)
class Columns:
    label: str
    datasets: tuple[str, ...]  # fnmatch patterns on the summary's `dataset` (NAME of a NAME:PATH spec)
    metrics: tuple[str, ...]
    protocol: str = "single"

    def matches(self, rec: dict) -> bool:
        name = rec["dataset"].split(":")[0]
        return rec["protocol"] == self.protocol and any(fnmatch(name, p) for p in self.datasets)


@dataclass(frozen=True)
class Layout:
    name: str
    caption: str
    columns: tuple[Columns, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (group label, editors); the last group may take others
    others: bool = True  # editors of matching records not named in `rows` go to an "other" group
    ours: str = OURS  # the method under study: its rows are compared with the best other editor


_CF, _ZS = ("counterfact", "counterfact-edit"), ("zsre",)
_INSTRUCTED_ROWS = (("InstructEd", (OURS, "instructed-retrieval", "instructed-paper")),)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("table2", "Table 2: CounterFact and ZsRE, one edit at a time. M = modifies the model's parameters, "
                     "P = preserves them.",
           (Columns("CounterFact", _CF, SIX), Columns("ZsRE", _ZS, SIX)),
           (("reference", REFERENCE), ("M", MODIFYING), ("P", PRESERVING))),
    Layout("table3", "Table 3: MQuAKE (multi-hop). MH_Acc is MQuAKE's official multi-hop accuracy (generation, "
                     "any of the case's questions, aliases).",
           (Columns("MQuAKE", ("mquake*",), ("Por_Nhop", "Hop_Acc", "MH_Acc")),),
           (("reference", REFERENCE), ("M", MODIFYING), ("P", PRESERVING))),
    Layout("table4", "Table 4: InstructEd ablations (re-weighting off, prefixes in later layers, FFN adapter).",
           (Columns("CounterFact", _CF, SIX), Columns("ZsRE", _ZS, SIX)),
           (("ablation", (OURS, "instructed-noreweight", "instructed-late", "instructed-ffn")),), others=False),
    Layout("table9", "Table 9: portability. Rev = reversed relation (zsre-inverse), Rep = subject replaced; "
                     "'instructed-ins' adds \"s is also known as s'\" to the instruction.",
           (Columns("ZsRE Rev", ("zsre-inverse",), ("Por_hop",)),
            Columns("ZsRE Rep", ("zsre-subject-replace",), ("Por_hop",)),
            Columns("CT Rep", ("counterfact-subject-replace*",), ("Por_hop",))),
           (("reference", REFERENCE), ("InstructEd", (OURS, "instructed-ins"))), others=True),
    Layout("table10", "Table 10: sequential editing, 100 edits, all edited cases scored on the final model.",
           (Columns("CounterFact", _CF, SIX, "sequential/final"), Columns("ZsRE", _ZS, SIX, "sequential/final")),
           (("reference", REFERENCE), ("M", MODIFYING), ("P", PRESERVING))),
    Layout("batch", "Batch editing: all cases edited at once (batches of --batch-size), then each scored; not a "
                    "table of the paper (it discusses batch editing only in words, with its sequential results).",
           (Columns("CounterFact", _CF, SIX, "batch"), Columns("ZsRE", _ZS, SIX, "batch")),
           (("reference", REFERENCE), ("M", MODIFYING), ("P", PRESERVING))),
    Layout("table12", "Table 12: InstructEd with and without its prefixes (instruction only) on CounterFact.",
           (Columns("CounterFact", _CF, ("Rel", "Gen", "Loc", "Por_hop", "Score")),),
           (("", (OURS, "instructed-noprefix")),), others=False),
)}
# InstructEd's ablation variants: the editors only Tables 4, 9 and 12 name. They belong to those tables, not to
# another table's "other" group, where they would be marked best or compared as InstructEd rows.
VARIANTS = frozenset(e for lay in LAYOUTS.values() for _, eds in lay.rows for e in eds) - {
    *REFERENCE, *MODIFYING, *PRESERVING}


@dataclass
class Grid:
    """A layout filled in: rows[(group, editor)][column index][metric] -> the summary record."""

    layout: Layout
    groups: list[tuple[str, list[str]]]
    cells: dict[tuple[str, int], dict]  # (editor, column index) -> summary record

    def record(self, editor: str, col: int) -> dict | None:
        return self.cells.get((editor, col))

    def best(self, col: int, metric: str) -> float | None:
        values = [r[metric] for (e, c), r in self.cells.items()
                  if c == col and e not in REFERENCE and r.get(metric) is not None]
        return max(values) if values else None


def layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise BenchError(f"unknown --table '{name}'; tables: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def fill(lay: Layout, records: list[dict]) -> Grid:
    """Place records into the layout; a later run directory's record replaces an earlier one for the same cell."""
    cells: dict[tuple[str, int], dict] = {}
    for rec in records:
        for i, cols in enumerate(lay.columns):
            if cols.matches(rec):
                cells[(rec["editor"], i)] = rec
    if not cells:
        wanted = "; ".join(f"{c.label}: dataset {'/'.join(c.datasets)}, protocol {c.protocol}" for c in lay.columns)
        raise BenchError(f"{lay.name}: none of the given runs has rows for this table ({wanted})")
    present = list(dict.fromkeys(e for e, _ in cells))
    named = {e for _, editors in lay.rows for e in editors}
    groups = [(label, [e for e in editors if e in present]) for label, editors in lay.rows]
    if lay.others:
        groups.append(("other", [e for e in present if e not in named and e not in VARIANTS]))
    shown = {e for _, eds in groups for e in eds}
    return Grid(lay, [(label, eds) for label, eds in groups if eds], {k: r for k, r in cells.items() if k[0] in shown})
