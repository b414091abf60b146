"""`bench report`: a Table-2-style table (markdown, LaTeX or CSV) from one or more run directories."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bench.errors import BenchError
from bench.metrics import ALL_METRICS
from bench.plots import bar_charts
from bench.runlog import read_summary


def collect(run_dirs: list[str]) -> list[dict]:
    records = []
    for d in run_dirs:
        path = Path(d) / "summary.csv"
        if not path.exists():
            raise BenchError(f"{d}: no summary.csv (is it a run directory? a run writes it when an editor finishes)")
        records += read_summary(path)
    return records


def _label(rec: dict) -> str:
    return rec["editor"] if rec["protocol"] in ("single",) else f"{rec['editor']} ({rec['protocol']})"


def _columns(records: list[dict]) -> list[str]:
    return [m for m in ALL_METRICS if any(r.get(m) is not None for r in records)]


def _best(records: list[dict], metric: str) -> float | None:
    values = [r[metric] for r in records if r.get(metric) is not None]
    return max(values) if values else None


def render(records: list[dict], fmt: str = "markdown", ci: bool = False) -> str:
    if fmt not in ("markdown", "latex", "csv"):
        raise BenchError(f"unknown --format '{fmt}'; use markdown, latex or csv")
    if fmt == "csv":
        return _csv(records)
    blocks = []
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        recs = [r for r in records if r["dataset"] == dataset]
        cols = _columns(recs)
        title = f"{dataset} — {', '.join(dict.fromkeys(r['model'] for r in recs))}"
        rows = [[_label(r), str(r["n_cases"])] + [_cell(r, m, _best(recs, m), fmt, ci) for m in cols] for r in recs]
        blocks.append(_markdown(title, cols, rows) if fmt == "markdown" else _latex(title, cols, rows))
    return "\n\n".join(blocks) + "\n"


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
    return text


def _markdown(title: str, cols: list[str], rows: list[list[str]]) -> str:
    head = ["Editor", "n"] + cols
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _latex(title: str, cols: list[str], rows: list[list[str]]) -> str:
    esc = [c.replace("_", r"\_") for c in cols]
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l r " + "r " * len(cols) + "}", r"\toprule",
             "Editor & n & " + " & ".join(esc) + r" \\", r"\midrule"]
    lines += [" & ".join([r[0].replace("_", r"\_")] + r[1:]) + r" \\" for r in rows]
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{title.replace('_', chr(92) + '_')}}}",
              r"\end{table}"]
    return "\n".join(lines)


def _csv(records: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["editor", "dataset", "model", "protocol", "n_cases"] + _columns(records)
    writer = csv.writer(buf)
    writer.writerow(cols)
    for r in records:
        writer.writerow(["" if r.get(c) is None else (f"{r[c]:.2f}" if isinstance(r[c], float) else r[c])
                         for c in cols])
    return buf.getvalue()


def report(run_dirs: list[str], fmt: str = "markdown", ci: bool = False, plots: str | None = None) -> str:
    records = collect(run_dirs)
    if plots:
        bar_charts(records, Path(plots))
    return render(records, fmt, ci)
