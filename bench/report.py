"""`bench report`: tables (markdown, LaTeX or CSV) from one or more run directories.

Without --table: one generic table per dataset and model. With --table NAME: the
paper's layout (bench/tables.py; one column group per model where the runs hold
several) and, where InstructEd is in it, the paired-bootstrap comparison with the
best other editor of the same model (bench/significance.py).

`--loc` picks the locality definition shown in the Loc column (and used by Score
and H): `strict` (default; agreement with the unedited model on the plain
prompt), `paper` (max of that, agreement with the unedited model on the prompt
the editor saw, and agreement with the gold answer; every editor), or
`asymmetric` (the paper's protocol: the paper definition for InstructEd rows
only, strict for the baselines), or `unrelated` (strict, on unrelated prompts of
other cases: Loc_unrelated, every editor). Non-strict modes relabel the columns
and say so in the caption.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from pathlib import Path

from bench.errors import BenchError
from bench.gap_table import GENERATION, generation_tables
from bench.markdown import pipe_table
from bench.metrics import SHOWN_METRICS
from bench.plots import bar_charts
from bench.significance import Comparison, PerCase, compare, load_per_case
from bench.sources import Choice, collect, select
from bench.summary import is_known, without_known
from bench.tables import OURS, SIX, Grid, belongs_to, fill, is_reference, layout

logger = logging.getLogger(__name__)

LOC_MODES = ("strict", "paper", "asymmetric", "unrelated")
_PAPER = {"Loc": "Loc_paper", "Score": "Score_paper", "H": "H_paper"}  # shown metric -> the paper-definition one
_UNRELATED = {"Loc": "Loc_unrelated", "Score": "Score_unrelated", "H": "H_unrelated"}
_HEADERS = {  # mode -> column label of Loc / Score / H in markdown and LaTeX
    "paper": {m: f"{m} (paper)" for m in _PAPER},
    "asymmetric": {m: f"{m} (asym.)" for m in _PAPER},
    "unrelated": {m: f"{m} (unrel.)" for m in _PAPER},
}
_CSV_HEADERS = {"paper": _PAPER, "asymmetric": {m: f"{m}_asymmetric" for m in _PAPER}, "unrelated": _UNRELATED}
_DEFINITION = ("max of f0 on the instructed prompt, f0 on the plain prompt, and the true label: per locality "
               "answer, the largest of its token agreements with the unedited model's prediction on the prompt the "
               "editor saw (instruction, demonstrations or retrieved fact included), with the unedited model's "
               "prediction on the plain prompt (the strict Loc), and with the gold answer")
LOC_NOTES = {
    "strict": "",
    "paper": f"Loc (paper) = {_DEFINITION}, for every editor; Score (paper) and H (paper) combine Rel, Gen, "
             "Loc (paper) and Por_hop.",
    "asymmetric": "The paper's ASYMMETRIC protocol: Loc (asym.) is the paper's definition (" + _DEFINITION + ") "
                  "for InstructEd rows only and the strict Loc (agreement with the unedited model on the plain "
                  "prompt) for every other editor; Score (asym.) and H (asym.) follow. The rows are not scored "
                  "alike.",
    "unrelated": "Loc (unrel.) = agreement with the unedited model on unrelated prompts: for each case, prompts of "
                 "other cases of the dataset with another relation and subject (the paper's \"randomly selected and "
                 "unrelated data point\"), for every editor; Score (unrel.) and H (unrel.) combine Rel, Gen, Loc "
                 "(unrel.) and Por_hop.",
}
_PREDATES = "– in Loc/Score/H: the run predates the paper-locality fields (rerun it)."
_MISSING = {"paper": _PREDATES, "asymmetric": _PREDATES,  # mode -> the note where a run lacks its fields
            "unrelated": "– in Loc/Score/H: the run scored no unrelated prompts (rerun it with --loc-unrelated N)."}
FORMATS = ("markdown", "latex", "csv", "html")
FEW_CASES = 20  # a bootstrap interval over fewer cases is flagged as unreliable
_FEW_MARK = {"markdown": " ⚠", "latex": r"$^\dagger$"}
_FEW_NOTE = {"markdown": f"⚠ over fewer than {FEW_CASES} cases: this 95% interval is unreliable.",
             "latex": f"$^\\dagger$ over fewer than {FEW_CASES} cases: this 95\\% interval is unreliable."}


def check_loc(loc: str) -> None:
    if loc not in LOC_MODES:
        raise BenchError(f"unknown --loc '{loc}'; use {', '.join(LOC_MODES)}")


def _shown_for(editor: str, loc: str, ours: str = OURS) -> dict[str, str] | None:
    """Shown metric -> the metric `loc` puts in its place for `editor`; None: the strict ones stay."""
    if loc == "unrelated":
        return _UNRELATED
    return _PAPER if loc == "paper" or (loc == "asymmetric" and belongs_to(editor, ours)) else None


def with_loc(records: list[dict], loc: str, ours: str = OURS) -> list[dict]:
    """Records whose Loc, Score and H (and their intervals) hold the definition `loc` picks for their editor."""
    out = []
    for rec in records:
        shown = _shown_for(rec["editor"], loc, ours)
        if shown:
            rec = dict(rec)
            for metric, replacement in shown.items():
                for suffix in ("", "_lo", "_hi"):
                    rec[metric + suffix] = rec.get(replacement + suffix)
                    if loc == "unrelated" and metric == "Loc":  # shown as Loc: not a second time
                        rec.pop(replacement + suffix, None)
        out.append(rec)
    return out


def per_case_with_loc(per_case: PerCase, loc: str, ours: str = OURS) -> PerCase:
    """Per-case metrics whose Loc is the definition `loc` picks (Score and H follow from it in the bootstrap)."""
    out = {}
    for key, cases in per_case.items():
        shown = _shown_for(key[1], loc, ours)
        out[key] = [dataclasses.replace(c, values={**c.values, "Loc": c.values.get(shown["Loc"])})
                    for c in cases] if shown else cases
    return out


def _loc_note(records: list[dict], loc: str, ours: str = OURS) -> str:
    """The caption's explanation of a non-strict Loc, and a warning where a run lacks its fields."""
    missing = any((shown := _shown_for(r["editor"], loc, ours)) and r.get("Loc") is not None
                  and r.get(shown["Loc"]) is None for r in records)
    return " ".join(x for x in (LOC_NOTES[loc], _MISSING[loc] if missing else "") if x)


def _header(metric: str, loc: str) -> str:
    return _HEADERS.get(loc, {}).get(metric, metric)


def _label(rec: dict) -> str:
    return rec["editor"] if rec["protocol"] in ("single",) else f"{rec['editor']} ({rec['protocol']})"


def _columns(records: list[dict]) -> list[str]:
    return [m for m in SHOWN_METRICS if any(r.get(m) is not None for r in records)]


def _best(records: list[dict], metric: str) -> float | None:
    """The best value of `metric` among the editors; the unedited reference is never a contender."""
    values = [r[metric] for r in records if r.get(metric) is not None and not is_reference(r["editor"])]
    return max(values) if values else None


def render(records: list[dict], fmt: str = "markdown", ci: bool = False, loc: str = "strict") -> str:
    """The generic report: one table per dataset (markdown or LaTeX), or every record as CSV; the reference row
    is shown, never bolded; with `ci`, rows over fewer than FEW_CASES cases are flagged."""
    if fmt not in ("markdown", "latex", "csv"):
        raise BenchError(f"unknown --format '{fmt}'; use markdown, latex, csv or html (html needs --out FILE.html)")
    check_loc(loc)
    shown = with_loc(records, loc)
    if ci:
        _warn_few(records)
    if fmt == "csv":
        return _csv(shown, loc, ci)
    blocks = []
    for dataset, model in _sections(records):
        recs = [r for r in shown if (r["dataset"], r["model"]) == (dataset, model)]
        cols = _columns(recs)
        title = f"{dataset} — {model}"
        note = _loc_note([r for r in records if (r["dataset"], r["model"]) == (dataset, model)], loc)
        title += f". {note}" if note else ""
        heads = [_header(m, loc) for m in cols]
        rows = [[_label(r), str(r["n_cases"])] + [_cell(r, m, None if is_reference(r["editor"]) else _best(recs, m),
                                                       fmt, ci) for m in cols] for r in recs]
        block = _markdown(title, heads, rows) if fmt == "markdown" else _latex(title, heads, rows)
        blocks.append(block + _few_note(recs, fmt, ci))
    return "\n\n".join(blocks) + "\n"


def _sections(records: list[dict]) -> list[tuple[str, str]]:
    """(dataset, model) of each generic table: datasets in order of appearance, each split per model (two models'
    rows in one table would look alike and be bolded against each other)."""
    pairs = list(dict.fromkeys((r["dataset"], r["model"]) for r in records))
    datasets = list(dict.fromkeys(d for d, _ in pairs))
    return sorted(pairs, key=lambda p: datasets.index(p[0]))


def _few(rec: dict) -> bool:
    return int(rec["n_cases"]) < FEW_CASES


def _few_note(recs: list[dict], fmt: str, ci: bool) -> str:
    return f"\n\n{_FEW_NOTE[fmt]}" if ci and any(_few(r) for r in recs) else ""


def _warn_few(records: list[dict]) -> None:
    few = [f"{_label(r)} on {r['dataset']} (n={r['n_cases']})" for r in records if _few(r)]
    if few:
        logger.warning("intervals over fewer than %d cases are unreliable: %s", FEW_CASES, "; ".join(few))


def markdown_summary(records: list[dict]) -> str:
    """The short table a run ends with: editor x Rel, Gen, Loc, Por_hop, Score, H (strict definitions, nothing
    bolded), one row per summary record, the protocol added where it is not `single`."""
    rows = [[_label(r), str(r["n_cases"]), *("–" if r.get(m) is None else f"{r[m]:.2f}" for m in SIX)]
            for r in records]
    return "\n".join(pipe_table(["Editor", "n", *SIX], rows)) + "\n"


def _cell(rec: dict, metric: str, best: float | None, fmt: str, ci: bool) -> str:
    value = rec.get(metric)
    if value is None:
        return "–" if fmt == "markdown" else "--"
    text = f"{value:.2f}"
    if best is not None and abs(value - best) < 1e-9:
        text = f"**{text}**" if fmt == "markdown" else f"\\textbf{{{text}}}"
    lo, hi = rec.get(f"{metric}_lo"), rec.get(f"{metric}_hi")
    if ci and lo is not None and hi is not None:
        text += f" [{lo:.1f}, {hi:.1f}]" if fmt == "markdown" else f" \\tiny{{[{lo:.1f}, {hi:.1f}]}}"
        text += _FEW_MARK[fmt] if _few(rec) else ""  # an interval over too few cases is flagged
    return text


def _markdown(title: str, cols: list[str], rows: list[list[str]]) -> str:
    return "\n".join([f"**{title}**", "", *pipe_table(["Editor", "n"] + cols, rows)])


def _latex(title: str, cols: list[str], rows: list[list[str]]) -> str:
    esc = [c.replace("_", r"\_") for c in cols]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l r " + "r " * len(cols) + "}", r"\toprule",
             "Editor & n & " + " & ".join(esc) + r" \\", r"\midrule"]
    lines += [" & ".join([r[0].replace("_", r"\_")] + r[1:]) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{title.replace('_', chr(92) + '_')}}}",
              r"\end{table}"]
    return "\n".join(lines)


def _csv(records: list[dict], loc: str = "strict", ci: bool = False) -> str:
    """Every record as a CSV row; with `ci`, each metric's interval bounds follow it (`<metric>_lo`, `_hi`) and
    `few_cases` says where there are fewer than FEW_CASES cases behind them."""
    buf = io.StringIO()
    metrics = _columns(records)
    cols = ["editor", "dataset", "model", "protocol", "n_cases"]
    cols += [c for m in metrics for c in ((m, f"{m}_lo", f"{m}_hi") if ci else (m,))]
    names = {m: _CSV_HEADERS.get(loc, {}).get(m, m) for m in metrics}
    writer = csv.writer(buf)
    writer.writerow([names.get(c) or _bound_name(c, names) for c in cols] + (["few_cases"] if ci else []))
    for r in records:
        writer.writerow(["" if r.get(c) is None else (f"{r[c]:.2f}" if isinstance(r[c], float) else r[c])
                         for c in cols] + ([str(_few(r)).lower()] if ci else []))
    return buf.getvalue()


def _bound_name(col: str, names: dict) -> str:
    """`Loc_lo` under a relabelled Loc is `<its label>_lo`; other columns keep their name."""
    metric, _, bound = col.rpartition("_")
    return f"{names[metric]}_{bound}" if metric in names and bound in ("lo", "hi") else col


def report(run_dirs: list[str], fmt: str = "markdown", ci: bool = False, plots: str | None = None,
           table: str | None = None, loc: str = "strict", choices: list[Choice | str] | tuple = (),
           exclude_known: bool = False) -> str:
    """The generic report or the paper layout `table` of `run_dirs`; `choices` (`--from`) name the run that
    supplies an editor held by several runs (bench/sources.py): without one, two such runs are an error."""
    check_loc(loc)
    if fmt == "html":
        raise BenchError("--format html writes a file: use bench.explorer.report_html (python -m bench report ... "
                         "--format html --out FILE.html)")
    if table is not None and table != GENERATION:
        layout(table)  # an unknown --table fails before anything is read
    records = select(collect(run_dirs), choices, table)
    # per-case metrics only where they are used: paired tests (layouts), the generation table, --exclude-known
    per_case = load_per_case(run_dirs, records) if table is not None or exclude_known else {}
    known_note = ""
    if exclude_known:
        records = without_known(records, per_case)
        per_case = {key: [c for c in cases if not is_known(c)] for key, cases in per_case.items()}
        left = "; ".join(f"{r['editor']} on {r['dataset']}: {r['n_known']}" for r in records)
        known_note = f"\n*Left out, as the unedited model already gives the new target (--exclude-known): {left}.*\n"
    return _report_body(records, per_case, fmt, ci, plots, table, loc) + (known_note if fmt == "markdown" else "")


def _report_body(records: list[dict], per_case: PerCase, fmt: str, ci: bool, plots: str | None, table: str | None,
                 loc: str) -> str:
    if table == GENERATION:
        return generation_tables(records, per_case, fmt)
    if plots:
        bar_charts(records, Path(plots))  # the strict definitions, as the charts label them
    if table is None:
        return render(records, fmt, ci, loc)
    if fmt == "csv":
        raise BenchError("--table renders markdown or latex; for CSV use report without --table")
    chosen = layout(table)
    grid = fill(chosen, with_loc(records, loc, chosen.ours))
    note = _loc_note([r for r in records if any(r["editor"] == e for _, eds in grid.groups for e in eds)
                      and any(c.matches(r) for c in grid.layout.columns)], loc, chosen.ours)
    if note:
        grid = dataclasses.replace(grid, layout=dataclasses.replace(grid.layout,
                                                                    caption=f"{grid.layout.caption} {note}"))
    comparisons = compare(grid, per_case_with_loc(per_case, loc, chosen.ours))
    return render_layout(grid, fmt, ci, loc) + "\n\n" + render_significance(comparisons, fmt, loc) + "\n"


def render_layout(grid: Grid, fmt: str, ci: bool, loc: str = "strict") -> str:
    cols = [(i, m) for i, c in enumerate(grid.layout.columns) for m in c.metrics]
    body = []
    for label, editors in grid.groups:
        for j, editor in enumerate(editors):
            cells = [_layout_cell(grid, editor, i, m, fmt, ci) for i, m in cols]
            recs = [r for i in range(len(grid.layout.columns)) if (r := grid.record(editor, i))]
            body.append((label if j == 0 else "", editor, "/".join(sorted({str(r["n_cases"]) for r in recs})), cells))
    text = _layout_markdown(grid, body, loc) if fmt == "markdown" else _layout_latex(grid, body, loc)
    return text + _few_note(list(grid.cells.values()), fmt, ci)


def _layout_cell(grid: Grid, editor: str, col: int, metric: str, fmt: str, ci: bool) -> str:
    rec = grid.record(editor, col)
    if rec is None:
        return "" if fmt == "markdown" else "--"
    best = None if is_reference(editor) else grid.best(col, metric)  # the reference is shown, never marked
    return _cell(rec, metric, best, fmt, ci)


def _layout_markdown(grid: Grid, body: list, loc: str = "strict") -> str:
    groups = grid.layout.columns
    head = ["", "Editor", "n"] + [f"{c.label} {_header(m, loc)}" if len(groups) > 1 else _header(m, loc)
                                  for c in groups for m in c.metrics]
    rows = [[g, e, n] + cells for g, e, n, cells in body]
    return "\n".join([f"**{grid.layout.caption}**", "", *pipe_table(head, rows)])


def _layout_latex(grid: Grid, body: list, loc: str = "strict") -> str:
    groups = grid.layout.columns
    n_metrics = sum(len(c.metrics) for c in groups)
    spans = " & ".join(f"\\multicolumn{{{len(c.metrics)}}}{{c}}{{{_tex(c.label)}}}" for c in groups)
    metrics = " & ".join(_header(m, loc).replace("_", r"\_") for c in groups for m in c.metrics)
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l l r " + "r " * n_metrics + "}", r"\toprule",
             f" & & & {spans} \\\\", f" & Editor & n & {metrics} \\\\", r"\midrule"]
    for k, (g, e, n, cells) in enumerate(body):
        if g and k:
            lines.append(r"\midrule")
        lines.append(" & ".join([g, e.replace("_", r"\_"), n] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{_tex(grid.layout.caption)}}}", r"\end{table}"]
    return "\n".join(lines)


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("%", r"\%").replace(" · ", r" $\cdot$ ")


def render_significance(comparisons: list[Comparison], fmt: str, loc: str = "strict") -> str:
    title = "Significance: each InstructEd row minus the best other editor per column (paired bootstrap, same cases)"
    if loc != "strict":
        which = {"paper": "the paper's definition", "asymmetric": "the paper's asymmetric protocol",
                 "unrelated": "on unrelated prompts"}[loc]
        title += f"; Loc, Score and H as in the table above ({which})"
    if not comparisons:
        return f"*{title}: not applicable (no InstructEd row, or no other editor in the table).*"
    head = ["InstructEd row", "Column", "Metric", "Value", "Best other", "Its value", "Δ [95% CI]", "n", "Significant"]
    rows = []
    for c in comparisons:
        delta = "–" if c.diff is None else f"{c.diff:+.2f} [{c.lo:+.2f}, {c.hi:+.2f}]"
        rows.append([c.ours, c.column, _header(c.metric, loc), f"{c.ours_value:.2f}", c.other,
                     f"{c.other_value:.2f}", delta, str(c.n_shared), c.verdict])
    if fmt == "markdown":
        return "\n".join([f"**{title}**", "", *pipe_table(head, rows)])
    esc = [[_tex(x).replace("Δ", r"$\Delta$") for x in r] for r in [head] + rows]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l l l r l r l r l}", r"\toprule",
             " & ".join(esc[0]) + r" \\", r"\midrule"] + [" & ".join(r) + r" \\" for r in esc[1:]]
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{_tex(title)}}}", r"\end{table}"]
    return "\n".join(lines)
