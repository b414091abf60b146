"""`bench report RUN_DIR... --format html --out FILE.html`: one self-contained results explorer.

The page needs no network when viewed: its CSS and JavaScript (bench/explorer_assets/) and its figures (PNG, base64)
are inlined, and the case browser's data is gzipped and base64-encoded in the page (`page_data` reads it back; the
browser unpacks it with DecompressionStream), which keeps a page of many runs' answers a few MB. It holds the summary
table with 95% intervals (sortable, the reference row marked), the paper's layouts named with --table, the overview
and sequential figures of each run, and a case browser (bench/explorer_cases.py) showing each query's prompt,
expected answer and every editor's answer as text with its score.
Runs of several models are kept apart: the summary gains a model column and the browser names each editor with
its model ("rome · gemma3-270m"); a page of one model has neither.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import html
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from bench.atomic import atomic_write_text
from bench.errors import BenchError
from bench.explorer_cases import KIND_METRIC, editor_of, merge_cases, model_label, run_cases
from bench.metrics import SHOWN_METRICS
from bench.plots import bar_charts, curve_figure, ordered, overview_figure, png_bytes
from bench.report import FEW_CASES, check_loc, report, with_loc
from bench.runlog import RunLog, read_curve, read_summary
from bench.sources import Choice, collect, dropped, select, unique_runs
from bench.tables import is_reference, layout

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "explorer_assets"


def report_html(run_dirs: list[str], out: str | None, tables: list[str] | tuple = (), loc: str = "strict",
                plots: str | None = None, choices: list[Choice | str] | tuple = ()) -> Path:
    """`bench report --format html`: the self-contained explorer written to `out`."""
    if not out:
        raise BenchError("--format html writes one self-contained file: give it with --out FILE.html")
    check_loc(loc)
    for name in tables:
        layout(name)  # an unknown --table fails before anything is read
    if plots:
        bar_charts(select(collect(run_dirs), choices), Path(plots))
    return write_explorer(run_dirs, Path(out), tables, loc, choices=choices)


def write_explorer(run_dirs: list[str], out: Path, tables: list[str] | tuple = (), loc: str = "strict",
                   title: str = "", choices: list[Choice | str] | tuple = ()) -> Path:
    """Write the page for `run_dirs` to `out`; returns its path."""
    page = build_page(run_dirs, tables, loc, title, choices)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    logger.info("explorer written to %s (%.1f MB)", out, len(page.encode()) / 1e6)
    return out


def build_page(run_dirs: list[str], tables: list[str] | tuple = (), loc: str = "strict", title: str = "",
               choices: list[Choice | str] | tuple = ()) -> str:
    """The page's HTML. Every row of it has one source: where two runs hold an editor on the same dataset,
    protocol and model, `choices` name the run that supplies it (bench/sources.py), else it is an error."""
    run_dirs = unique_runs(run_dirs)
    everything = collect(run_dirs)
    chosen = select(everything, choices)
    records = with_loc(chosen, loc)
    several = _several_models(records)
    left_out = dropped(everything, chosen)
    cases = merge_cases([_chosen_only(run_cases(Path(d), several), d, left_out) for d in run_dirs], is_reference)
    data = {"cases": cases, "editors": _editor_order(records, cases, several), "kinds": KIND_METRIC,
            "reference": sorted({e for c in cases for e in c["answers"] if is_reference(editor_of(e))}),
            "without_rows": _without_rows(records, cases, several)}
    sections = [_section("Summary", _summary_table(records, loc), "summary"),
                _section("Paper tables", _paper_tables(run_dirs, tables, loc, choices), "tables") if tables else "",
                _section("Figures", _figures(run_dirs, left_out), "figures"),
                _section("Case browser", _browser(cases), "cases")]
    replace = {"{{TITLE}}": html.escape(title or "Knowledge-editing results explorer"),
               "{{RUNS}}": _runs(run_dirs, choices), "{{BODY}}": "\n".join(s for s in sections if s),
               "{{CSS}}": (ASSETS / "explorer.css").read_text(), "{{JS}}": (ASSETS / "explorer.js").read_text(),
               "{{DATA}}": pack_data(data)}
    return re.sub("|".join(re.escape(k) for k in replace), lambda m: replace[m.group(0)],
                  (ASSETS / "page.html").read_text())


def pack_data(data: dict) -> str:
    """The browser's data as the page holds it: compact JSON, gzipped (no timestamp, so the same runs give the same
    page) and base64-encoded."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode()


def page_data(page: str) -> dict:
    """The browser's data of an explorer page's HTML (the inverse of `pack_data`)."""
    found = re.search(r'<script type="application/gzip\+base64" id="data">([^<]*)</script>', page)
    if not found:
        raise BenchError("this page holds no explorer data: not made by `bench report --format html`, or made "
                         "before 2026-12-06, when the data was plain JSON; remake it with its command")
    return json.loads(gzip.decompress(base64.b64decode(found.group(1))))


def _chosen_only(entries: list[dict], run: str, left_out: set[tuple[str, str, str]]) -> list[dict]:
    """The browser entries of one run without the editors whose summary record another run supplies."""
    run = os.path.normpath(run)
    out = []
    for e in entries:
        answers = {name: a for name, a in e["answers"].items()
                   if (run, editor_of(name), e["protocol"]) not in left_out}
        if answers:
            out.append({**e, "answers": answers})
    return out


def _without_rows(records: list[dict], cases: list[dict], several: bool) -> list[str]:
    """Summary rows (editor, dataset, protocol) whose runs keep no per-query rows, as "editor on dataset
    (protocol)": the browser names each gap instead of leaving it out without a word; an editor with rows on one
    dataset and none on another is named for the other."""
    def protocol(label: str) -> str:  # a sequential run's rows hold both views: "sequential/final" -> "sequential"
        return label.split("/")[0]

    shown = {(e, c["dataset"], protocol(c["protocol"])) for c in cases for e in c["answers"]}
    gaps = []
    for r in records:
        name, kind = model_label(r["editor"], r["model"]) if several else r["editor"], protocol(r["protocol"])
        if (name, r["dataset"], kind) not in shown:
            gaps.append(f"{name} on {r['dataset']}" + ("" if kind == "single" else f" ({kind})"))
    return list(dict.fromkeys(gaps))


def _several_models(records: list[dict]) -> bool:
    return len({r["model"] for r in records}) > 1


def _editor_order(records: list[dict], cases: list[dict], several: bool = False) -> list[str]:
    """Editors of the browser in table order (those with rows but no summary record last), named with their
    model where the page holds several."""
    known = list(dict.fromkeys(model_label(r["editor"], r["model"]) if several else r["editor"]
                               for _, r in ordered(records)))
    return known + sorted({e for c in cases for e in c["answers"]} - set(known))


def _section(heading: str, body: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{heading}</h2>\n{body}\n</section>'


def _runs(run_dirs: list[str], choices: list[Choice | str] | tuple = ()) -> str:
    items = []
    for d in run_dirs:
        config = RunLog(Path(d)).read_config() or {}
        git = config.get("git", {}) or {}
        rev = (git.get("revision") or "")[:10]
        items.append(f"<li><code>{html.escape(str(d))}</code>: {config.get('n_cases', '?')} cases, model "
                     f"{html.escape(str(config.get('args', {}).get('model', '?')))}"
                     + (f", git {rev}{' (dirty)' if git.get('dirty') else ''}" if rev else "")
                     + _rows_note(config.get("rows")) + "</li>")
    made = datetime.now().isoformat(timespec="seconds")
    chosen = "".join(f"<li><code>--from {html.escape(c if isinstance(c, str) else c.spec())}</code></li>"
                     for c in choices)
    note = f"<p>Where two runs hold the same editor, dataset and protocol, the row comes from:</p><ul class='runs'>" \
           f"{chosen}</ul>" if chosen else ""
    return f"<p>Made {made} from {len(run_dirs)} run(s):</p><ul class='runs'>{''.join(items)}</ul>{note}"


def _rows_note(rows: str | list | None) -> str:
    """A run whose per-query rows were attached from a rerun (bench.paper.attach_rows) says so: the browser's
    answers for it are the rerun's, which reproduce its per-case values."""
    if not rows:
        return ""
    full = " ".join(rows) if isinstance(rows, list) else str(rows)
    return f'; <span class="rows-note" title="{html.escape(full)}">browser rows from a rerun that reproduces ' \
           "its per_case.csv</span>"


def _summary_table(records: list[dict], loc: str) -> str:
    """Every summary record, grouped as the tables group editors; cells carry their value for sorting."""
    metrics = [m for m in SHOWN_METRICS if any(r.get(m) is not None for r in records)]
    several = _several_models(records)  # a model column only then: a page of one model stays as it was
    head = "".join(f'<th data-type="{t}">{h}</th>' for h, t in
                   [("group", "text"), ("editor", "text"), ("dataset", "text")]
                   + ([("model", "text")] if several else []) + [("protocol", "text"), ("n", "num")]
                   + [(m if loc == "strict" or m not in ("Loc", "Score", "H") else f"{m} ({loc})", "num")
                      for m in metrics])
    body = []
    for group, rec in ordered(records):
        texts = [rec["dataset"]] + ([rec["model"]] if several else []) + [rec["protocol"]]
        cells = [f"<td>{group}</td>", f"<td>{html.escape(rec['editor'])}"
                 + (' <span class="badge">reference</span>' if group == "reference" else "") + "</td>"] \
            + [f"<td>{html.escape(t)}</td>" for t in texts] \
            + [_n_cell(int(rec["n_cases"]))] + [_metric_cell(rec, m) for m in metrics]
        model = f' data-model="{html.escape(rec["model"])}"' if several else ""
        body.append(f'<tr class="{"ref" if group == "reference" else ""}" data-editor="{html.escape(rec["editor"])}"'
                    f"{model}>" + "".join(cells) + "</tr>")
    note = ("<p class='note'>Values in %, with the 95% percentile bootstrap interval over cases. Click a column to "
            f"sort. ⚠ marks intervals over fewer than {FEW_CASES} cases (unreliable). The reference row (the "
            "unedited model) is shown for comparison, never ranked.</p>")
    return f'{note}<table id="summary-table" class="sortable"><thead><tr>{head}</tr></thead><tbody>' \
           + "\n".join(body) + "</tbody></table>"


def _n_cell(n: int) -> str:
    warn = f' <span class="warn" title="fewer than {FEW_CASES} cases: the interval is unreliable">⚠</span>'
    return f'<td data-value="{n}">{n}{warn if n < FEW_CASES else ""}</td>'


def _metric_cell(rec: dict, metric: str) -> str:
    value = rec.get(metric)
    if value is None:
        return '<td data-value="">–</td>'
    lo, hi = rec.get(f"{metric}_lo"), rec.get(f"{metric}_hi")
    interval = f'<span class="ci">[{lo:.1f}, {hi:.1f}]</span>' if lo is not None and hi is not None else ""
    return f'<td data-value="{value}">{value:.2f} {interval}</td>'


def _paper_tables(run_dirs: list[str], tables, loc: str, choices: list[Choice | str] | tuple = ()) -> str:
    blocks = []
    for name in tables:
        try:
            text = report(run_dirs, "markdown", True, table=name, loc=loc, choices=choices)
            blocks.append(markdown_tables_to_html(text))
        except Exception as exc:  # noqa: BLE001 - one table the runs cannot fill must not lose the page
            logger.warning("%s: %s", name, exc)
            blocks.append(f"<p class='note'>{html.escape(name)}: {html.escape(str(exc))}</p>")
    return "\n".join(blocks)


def markdown_tables_to_html(text: str) -> str:
    """The report's markdown (bold captions, pipe tables, italic notes) as HTML."""
    out, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not re.fullmatch(r"\|(---\|)+", line.strip()):
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if rows:
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
            out.append(f'<table class="paper"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
            rows = []
        if line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    return "\n".join(out)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<!\w)\*(.+?)\*(?!\w)", r"<i>\1</i>", text)


def _figures(run_dirs: list[str], left_out: set[tuple[str, str, str]]) -> str:
    """Each run's overview and, for sequential runs, its curves, inlined as PNG: only the rows the run supplies to
    the page (`left_out`: those another run supplies), so no figure shows a row the summary replaced."""
    blocks = []
    for d in run_dirs:
        run = os.path.normpath(d)
        records = [r for r in read_summary(Path(d) / "summary.csv")
                   if (run, r["editor"], r["protocol"]) not in left_out]
        if records:
            blocks.append(_img(png_bytes(overview_figure(records)), f"{d}: overview"))
        shown = {r["editor"] for r in records}
        curve = [c for c in read_curve(Path(d) / "curve.csv") if c["editor"] in shown]
        if curve:
            blocks.append(_img(png_bytes(curve_figure(curve, f"{d}: sequential editing")), f"{d}: sequential"))
    return "\n".join(blocks)


def _img(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _browser(cases: list[dict]) -> str:
    if cases:
        return '<div id="browser"></div>'
    return ('<p class="note" id="browser-empty">No per-query rows: these runs keep no cases.jsonl (results/ '
            "commits only summary.csv and per_case.csv for most runs). Rerun a run's command, or report a run "
            "directory that has cases.jsonl or cases.jsonl.xz, to browse its cases.</p>")


def explorer_commands(root: Path) -> list[list[str]]:
    """The `bench report ... --format html` commands of every COMMANDS.md under `root`, as argument lists."""
    found = []
    for path in sorted(Path(root).rglob("COMMANDS.md")):
        for line in path.read_text().splitlines():
            args = shlex.split(line) if line.startswith("python -m bench report ") else []
            if "--format" in args and args[args.index("--format") + 1] == "html":
                found.append(args[3:])
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.explorer results/`: rebuild every explorer the COMMANDS.md files under a folder name
    (generated pages are not committed, save one; this remakes all of them)."""
    parser = argparse.ArgumentParser(prog="python -m bench.explorer", description=main.__doc__)
    parser.add_argument("roots", nargs="+", help="folders searched for COMMANDS.md files (e.g. results/)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    commands = [c for root in args.roots for c in explorer_commands(Path(root))]
    for command in commands:
        print("python -m bench " + shlex.join(command), flush=True)
        if not args.dry_run:
            subprocess.run([sys.executable, "-m", "bench", *command], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
