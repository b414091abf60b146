"""The paper's table layouts (Tables 2, 3, 4, 9, 10, 12), filled from summary.csv rows of any run directories.

A layout names column groups (dataset patterns x protocol x metrics) and either
row groups of named editors (the ablation tables) or none: then every editor of
the runs is a row, grouped by its capabilities (the unedited reference, M =
modifies parameters, P = preserves them, 'other' for a label no installed editor
has) in the paper's row order, then the order the runs list them. InstructEd's
ablation variants belong to their own tables only. The unedited model is shown
for reference but never marked best. Records of several models are never merged:
each column group is split into one group per model ("CounterFact · gemma3-270m"),
so best values and comparisons stay within one model's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatch

from bench.errors import BenchError

SIX = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H")
# The paper's row order (data only: the M / P group of a row comes from its editor's capabilities).
PAPER_ORDER = ("noedit", "ft-l", "ft-m", "lora", "rome", "memit", "pmet",
               "serac", "ike", "grace", "mello", "instructed", "instructed-retrieval", "instructed-paper")
GROUPS = ("reference", "M", "P", "other")  # the order of capability groups in a table
UNEDITED = "noedit"
OURS = "instructed"  # the method these tables study (the paper's), the default of Layout.ours


def is_reference(editor: str) -> bool:
    """The unedited model's row: shown, never marked best nor compared."""
    from bench.registry import editor_group  # entry points; imports the editor's module, not the editors package

    return editor_group(editor) == "reference"


def capability_groups(editors: list[str]) -> list[tuple[str, list[str]]]:
    """`editors` grouped by capability (GROUPS), each group in the paper's order, then the given order."""
    from bench.registry import editor_group

    ranked = sorted(editors, key=lambda e: (PAPER_ORDER.index(e) if e in PAPER_ORDER else len(PAPER_ORDER),
                                            editors.index(e)))
    groups = {label: [] for label in GROUPS}
    for editor in ranked:
        groups[editor_group(editor)].append(editor)
    return [(label, eds) for label, eds in groups.items() if eds]


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
    model: str | None = None  # set when a table shows several models: this group holds this model's records only

    def matches(self, rec: dict) -> bool:
        name = rec["dataset"].split(":")[0]
        return (rec["protocol"] == self.protocol and any(fnmatch(name, p) for p in self.datasets)
                and self.model in (None, rec.get("model")))


@dataclass(frozen=True)
class Layout:
    name: str
    caption: str
    columns: tuple[Columns, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...] | None = None  # (group label, editors); None: by capability
    others: bool = True  # with `rows`: editors of matching records not named there go to an "other" group
    ours: str = OURS  # the method under study: its rows are compared with the best other editor


_CF, _ZS = ("counterfact", "counterfact-edit"), ("zsre",)
_INSTRUCTED_ROWS = (("InstructEd", (OURS, "instructed-retrieval", "instructed-paper")),)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("table2", "Table 2: CounterFact and ZsRE, one edit at a time. M = modifies the model's parameters, "
                     "P = preserves them.",
           (Columns("CounterFact", _CF, SIX), Columns("ZsRE", _ZS, SIX))),
    Layout("table3", "Table 3: MQuAKE (multi-hop). MH_Acc is MQuAKE's official multi-hop accuracy (generation, "
                     "any of the case's questions, aliases).",
           (Columns("MQuAKE", ("mquake*",), ("Por_Nhop", "Hop_Acc", "MH_Acc")),)),
    Layout("table4", "Table 4: InstructEd ablations (re-weighting off, prefixes in later layers, FFN adapter).",
           (Columns("CounterFact", _CF, SIX), Columns("ZsRE", _ZS, SIX)),
           (("ablation", (OURS, "instructed-noreweight", "instructed-late", "instructed-ffn")),), others=False),
    Layout("table9", "Table 9: portability. Rev = reversed relation (zsre-inverse), Rep = subject replaced; "
                     "'instructed-ins' adds \"s is also known as s'\" to the instruction.",
           (Columns("ZsRE Rev", ("zsre-inverse",), ("Por_hop",)),
            Columns("ZsRE Rep", ("zsre-subject-replace",), ("Por_hop",)),
            Columns("CT Rep", ("counterfact-subject-replace*",), ("Por_hop",))),
           (("reference", (UNEDITED,)), ("InstructEd", (OURS, "instructed-ins"))), others=True),
    Layout("table10", "Table 10: sequential editing, 100 edits, all edited cases scored on the final model.",
           (Columns("CounterFact", _CF, SIX, "sequential/final"), Columns("ZsRE", _ZS, SIX, "sequential/final"))),
    Layout("batch", "Batch editing: all cases edited at once (batches of --batch-size), then each scored; not a "
                    "table of the paper (it discusses batch editing only in words, with its sequential results).",
           (Columns("CounterFact", _CF, SIX, "batch"), Columns("ZsRE", _ZS, SIX, "batch"))),
    Layout("table12", "Table 12: InstructEd with and without its prefixes (instruction only) on CounterFact.",
           (Columns("CounterFact", _CF, ("Rel", "Gen", "Loc", "Por_hop", "Score")),),
           (("", (OURS, "instructed-noprefix")),), others=False),
)}
# InstructEd's ablation variants: the editors only Tables 4, 9 and 12 name. They belong to those tables, not to
# another table's "other" group, where they would be marked best or compared as InstructEd rows.
VARIANTS = frozenset(e for lay in LAYOUTS.values() for _, eds in lay.rows or () for e in eds) - {*PAPER_ORDER}


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
                  if c == col and not is_reference(e) and r.get(metric) is not None]
        return max(values) if values else None


def layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise BenchError(f"unknown --table '{name}'; tables: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def per_model(lay: Layout, records: list[dict]) -> Layout:
    """`lay` itself when its records are of one model; else each column group split into one group per model
    (in the order the models first appear) that has records there, so that no model's cell replaces another's."""
    matching = [r for r in records if any(c.matches(r) for c in lay.columns)]
    models = list(dict.fromkeys(r.get("model") for r in matching))
    if len(models) < 2:
        return lay
    split = [replace(c, label=f"{c.label} · {m}", model=m) for c in lay.columns for m in models]
    return replace(lay, columns=tuple(c for c in split if any(c.matches(r) for r in matching)))


def fill(lay: Layout, records: list[dict]) -> Grid:
    """Place records into the layout (split per model, see per_model); two records for one cell are an error
    (bench/sources.py chooses between runs before this)."""
    lay = per_model(lay, records)
    cells: dict[tuple[str, int], dict] = {}
    for rec in records:
        for i, cols in enumerate(lay.columns):
            if cols.matches(rec):
                _check_free(cells.get((rec["editor"], i)), rec, lay, cols)
                cells[(rec["editor"], i)] = rec
    if not cells:
        wanted = "; ".join(f"{c.label}: dataset {'/'.join(c.datasets)}, protocol {c.protocol}" for c in lay.columns)
        raise BenchError(f"{lay.name}: none of the given runs has rows for this table ({wanted})")
    present = list(dict.fromkeys(e for e, _ in cells))
    if lay.rows is None:
        groups = capability_groups([e for e in present if e not in VARIANTS])
    else:
        named = {e for _, editors in lay.rows for e in editors}
        groups = [(label, [e for e in editors if e in present]) for label, editors in lay.rows]
        if lay.others:
            groups.append(("other", [e for e in present if e not in named and e not in VARIANTS]))
    shown = {e for _, eds in groups for e in eds}
    return Grid(lay, [(label, eds) for label, eds in groups if eds], {k: r for k, r in cells.items() if k[0] in shown})


def _check_free(held: dict | None, rec: dict, lay: Layout, cols: Columns) -> None:
    """A cell takes one record: a second (another dataset the column also matches, or a run not chosen between) is
    an error naming both, never a silent replacement."""
    if held is None:
        return
    where = [f"{r['dataset']} from {r.get('run', 'a run')}" for r in (held, rec)]
    raise BenchError(f"{lay.name}: {rec['editor']} has two rows for column '{cols.label}' ({cols.protocol}): "
                     f"{' and '.join(where)}. Report only one of them (leave a run out, or choose with --from).")
