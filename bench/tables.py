"""Table layouts filled from summary.csv rows of any run directories; the layouts come from entry points.

A layout names column groups (dataset patterns x protocol x metrics) and either
row groups of named editors (the ablation tables) or none: then every editor of
the runs is a row, grouped by its capabilities (the unedited reference, M =
modifies parameters, P = preserves them, 'other' for a label no installed editor
has) in the declared row order, then the order the runs list them. Editors that
only a layout's named row groups list (a method's ablation variants) belong to
those tables only. The unedited model is shown for reference but never marked
best. Records of several models are never merged: each column group is split
into one group per model ("CounterFact · gemma3-270m"), so best values and
comparisons stay within one model's columns.

Layouts are declared like editors, in the entry-point group `knowledge_edit_bench.tables`: each entry names a
module holding LAYOUTS (name -> Layout, in the order tables are written) and optionally ROW_ORDER (editor
names, the row order within a capability group). The paper's tables are `bench/paper/tables.py`; the harness
never imports that package, it finds it here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from fnmatch import fnmatch

from bench.entry_points import plugin_modules
from bench.errors import BenchError

TABLES_GROUP = "knowledge_edit_bench.tables"
SIX = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H")
GROUPS = ("reference", "M", "P", "other")  # the order of capability groups in a table
UNEDITED = "noedit"
OURS = "instructed"  # the method the tables study by default (Layout.ours): its rows are compared with the rest


def is_reference(editor: str) -> bool:
    """The unedited model's row: shown, never marked best nor compared."""
    from bench.registry import editor_group  # entry points; imports the editor's module, not the editors package

    return editor_group(editor) == "reference"


def capability_groups(editors: list[str]) -> list[tuple[str, list[str]]]:
    """`editors` grouped by capability (GROUPS), each group in the declared row order, then the given order."""
    from bench.registry import editor_group

    order = catalogue().row_order
    ranked = sorted(editors, key=lambda e: (order.index(e) if e in order else len(order), editors.index(e)))
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


@dataclass(frozen=True)
class TableCatalogue:
    layouts: dict[str, Layout]  # name -> layout, in the order a suite writes them
    row_order: tuple[str, ...]  # editors in row order within a capability group
    variants: frozenset[str]  # editors only named row groups list: they stay out of other tables


@functools.cache
def catalogue() -> TableCatalogue:
    """Every layout declared in the entry-point group TABLES_GROUP (read once per process; `clear_cache()` reads
    again). A module that cannot be loaded is skipped with a warning, so one broken plugin hides no other table."""
    layouts: dict[str, Layout] = {}
    order: list[str] = []
    for module in plugin_modules(TABLES_GROUP, "table module"):
        layouts.update(getattr(module, "LAYOUTS", {}))
        order += [e for e in getattr(module, "ROW_ORDER", ()) if e not in order]
    named = {e for lay in layouts.values() for _, eds in lay.rows or () for e in eds}
    return TableCatalogue(layouts, tuple(order), frozenset(named - {*order}))


def clear_cache() -> None:
    """Forget the layouts read from the entry points (after installing a plugin in a running process)."""
    catalogue.cache_clear()


def layouts() -> dict[str, Layout]:
    """Every registered layout by name, in declaration order."""
    return catalogue().layouts


def __getattr__(name: str):
    """LAYOUTS, as it were a module constant: the dict `layouts()` reads from the entry points."""
    if name == "LAYOUTS":
        return layouts()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")




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
    known = layouts()
    if name not in known:
        listed = ", ".join(known) or f"none (no module is declared in the entry-point group {TABLES_GROUP})"
        raise BenchError(f"unknown --table '{name}'; tables: {listed}")
    return known[name]


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
        variants = catalogue().variants
        groups = capability_groups([e for e in present if e not in variants])
    else:
        named = {e for _, editors in lay.rows for e in editors}
        groups = [(label, [e for e in editors if e in present]) for label, editors in lay.rows]
        if lay.others:
            groups.append(("other", [e for e in present if e not in named and e not in catalogue().variants]))
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
