"""Figures of a run, as PNG and SVG (for papers): an overview heat map, per-metric bars, sequential curves, and a
sequential run's retention matrix and cost per edit.

Editors are ordered and coloured by their table group (bench.tables.capability_groups: the unedited reference,
M = modifies parameters, P = preserves them, other) so that a figure reads like the paper's tables; the
reference is drawn grey and hatched, never as a competitor. Every title says how many cases a value is over.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from bench.atomic import atomic_write  # noqa: E402
from bench.metrics import ALL_METRICS  # noqa: E402

logger = logging.getLogger(__name__)

plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: small files, editable labels
GROUP_COLOURS = {"reference": "#9a9a9a", "M": "#3b6ea8", "P": "#d9822b", "other": "#5a9e5a"}
GROUP_NAMES = {"reference": "reference (unedited)", "M": "M: modifies parameters", "P": "P: preserves parameters",
               "other": "other"}
FORMATS = ("png", "svg")


def ordered(records: list[dict]) -> list[tuple[str, dict]]:
    """(group, record) in table order: by group, then the paper's editor order, then the given order."""
    from bench.tables import capability_groups

    editors = list(dict.fromkeys(r["editor"] for r in records))
    out = []
    for group, eds in capability_groups(editors):
        for editor in eds:
            out += [(group, r) for r in records if r["editor"] == editor]
    return out


def label(rec: dict) -> str:
    """An editor's row label; the protocol is added where it is not the plain single-edit one."""
    return rec["editor"] if rec["protocol"] in ("single", "batch") else f"{rec['editor']} ({rec['protocol']})"


def _metrics(records: list[dict]) -> list[str]:
    return [m for m in ALL_METRICS if any(r.get(m) is not None for r in records)]


def _n_text(records: list[dict]) -> str:
    ns = sorted({int(r["n_cases"]) for r in records})
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"


def _title(records: list[dict], what: str) -> str:
    first = records[0]
    return f"{what} — {first['dataset']}, {first['model']} ({_n_text(records)} cases per editor)"


def overview_figure(records: list[dict]):
    """Editors x metrics as a heat map with each value written in its cell; rows grouped, labels coloured by
    group, the reference row hatched and marked."""
    rows, metrics = ordered(records), _metrics(records)
    fig, ax = plt.subplots(figsize=(1.0 * len(metrics) + 3.2, 0.42 * len(rows) + 1.6))
    values = [[r.get(m) if r.get(m) is not None else float("nan") for m in metrics] for _, r in rows]
    ax.imshow(values, cmap="YlGnBu", vmin=0, vmax=100, aspect="auto")
    for i, (group, rec) in enumerate(rows):
        for j, m in enumerate(metrics):
            v = rec.get(m)
            text = "–" if v is None else f"{v:.1f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if v is not None and v > 60 else "black")
        if group == "reference":
            ax.add_patch(plt.Rectangle((-0.5, i - 0.5), len(metrics), 1, fill=False, hatch="//", edgecolor="#666",
                                       linewidth=0))
    ax.set_xticks(range(len(metrics)), metrics, fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), [label(r) + (" (reference)" if g == "reference" else "") for g, r in rows],
                  fontsize=9)
    for tick, (group, _) in zip(ax.get_yticklabels(), rows):
        tick.set_color(GROUP_COLOURS[group])
        tick.set_fontweight("bold")
    for i in range(1, len(rows)):  # a rule between groups
        if rows[i][0] != rows[i - 1][0]:
            ax.axhline(i - 0.5, color="black", linewidth=1.5)
    _group_legend(fig, {g for g, _ in rows}, loc="lower center", ncol=4)
    ax.set_title(_title(records, "All metrics (%)"), fontsize=10, pad=22)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def metric_figure(records: list[dict], metric: str):
    """One metric: a bar per editor with its 95% bootstrap interval, coloured by group, value on top; the
    reference bar is grey and hatched and its value a dashed line across."""
    rows = [(g, r) for g, r in ordered(records) if r.get(metric) is not None]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.62 * len(rows) + 1.8), 3.8))
    for x, (group, rec) in enumerate(rows):
        v = rec[metric]
        lo, hi = rec.get(f"{metric}_lo"), rec.get(f"{metric}_hi")
        # a derived metric (H, Score of means) can lie outside its own bootstrap interval: no negative bar
        err = [[max(v - lo, 0.0)], [max(hi - v, 0.0)]] if lo is not None and hi is not None else None
        ax.bar(x, v, yerr=err, capsize=3, color=GROUP_COLOURS[group], edgecolor="#444",
               hatch="//" if group == "reference" else None, linewidth=0.6)
        ax.text(x, min(v + (err[1][0] if err else 0) + 1.5, 103), f"{v:.1f}", ha="center", va="bottom", fontsize=7)
        if group == "reference":
            ax.axhline(v, color=GROUP_COLOURS[group], linestyle="--", linewidth=1, zorder=0)
    ax.set_xticks(range(len(rows)), [label(r) for _, r in rows], rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 124)  # room above 100 for the values and the legend
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(_title([r for _, r in rows], f"{metric}, 95% bootstrap CI"), fontsize=9)
    _group_legend(ax, {g for g, _ in rows}, loc="upper center", ncol=4, fontsize=7)
    fig.tight_layout()
    return fig


def _group_legend(where, groups: set[str], **kwargs) -> None:
    handles = [Patch(facecolor=GROUP_COLOURS[g], edgecolor="#444", hatch="//" if g == "reference" else None,
                     label=GROUP_NAMES[g]) for g in GROUP_COLOURS if g in groups]
    kwargs.setdefault("fontsize", 8)
    where.legend(handles=handles, frameon=False, **kwargs)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _by_dataset(records: list[dict]) -> dict[str, list[dict]]:
    """Records per (dataset, model); the file suffix is empty when there is only one."""
    keys = list(dict.fromkeys((r["dataset"], r["model"]) for r in records))
    out = {}
    for dataset, model in keys:
        suffix = "" if len(keys) == 1 else "-" + _slug(f"{dataset}-{model}" if len({k[1] for k in keys}) > 1
                                                       else dataset)
        out[suffix] = [r for r in records if (r["dataset"], r["model"]) == (dataset, model)]
    return out


def bar_charts(records: list[dict], out_dir: Path) -> list[Path]:
    """overview.png/.svg and one bar chart per metric (<metric>.png/.svg) into `out_dir`; with several
    datasets, one set per dataset (file names suffixed with it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, recs in _by_dataset(records).items():
        if not recs:
            continue
        written += save_figure(overview_figure(recs), out_dir / f"overview{suffix}")
        for metric in _metrics(recs):
            written += save_figure(metric_figure(recs, metric), out_dir / f"{metric}{suffix}")
    return written


def curve_figure(curve: list[dict], title: str = ""):
    """Metric vs number of sequential edits: one panel per metric (three to a row), one line per editor with its
    final value written at its last point, one shared legend."""
    metrics = [m for m in ALL_METRICS if any(p.get(m) is not None for p in curve)]
    groups = {r["editor"]: g for g, r in ordered([{"editor": e, "protocol": "single"}
                                                   for e in dict.fromkeys(p["editor"] for p in curve)])}
    editors = list(groups)
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.1 * nrows + 0.9), squeeze=False)
    colours = plt.get_cmap("tab10" if len(editors) <= 10 else "tab20")
    for k, ax in enumerate(axes.flat):
        if k >= len(metrics):
            ax.axis("off")
            continue
        for i, editor in enumerate(editors):
            pts = [(p["n_edits"], p[metrics[k]]) for p in curve if p["editor"] == editor
                   and p.get(metrics[k]) is not None]
            if pts:
                xs, ys = zip(*pts)
                ref = groups[editor] == "reference"
                ax.plot(xs, ys, marker="o", markersize=3, color=GROUP_COLOURS["reference"] if ref else colours(i),
                        linestyle="--" if ref else "-", label=editor + (" (reference)" if ref else ""))
                ax.annotate(f"{ys[-1]:.0f}", (xs[-1], ys[-1]), xytext=(4, 0), textcoords="offset points",
                            fontsize=7, color=ax.lines[-1].get_color(), va="center")
        ax.set_title(metrics[k], fontsize=10)
        ax.set_ylim(-3, 105)
        ax.grid(alpha=0.3)
        ax.set_xlabel("edits so far", fontsize=8)
        if k % ncols == 0:
            ax.set_ylabel("% on cases edited so far", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False)
    fig.suptitle(title or "sequential editing", fontsize=11)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * (len(labels) > 6), 1, 1))
    return fig


def curve_plots(curve: list[dict], out_dir: Path, title: str = "") -> list[Path]:
    """sequential_curve.png/.svg: see `curve_figure`."""
    if not curve:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_figure(curve_figure(curve, title), out_dir / "sequential_curve")


RETENTION_METRICS = ("Rel", "Gen", "Loc")


def retention_figure(matrix: list[dict], title: str = ""):
    """The retention matrix (bench/retention.py): per editor (rows of panels) and metric (columns), a heat map of
    cohorts of edits (y) x evaluation points (x), each cell's value written in it; empty before a cohort exists."""
    editors = list(dict.fromkeys(r["editor"] for r in matrix))
    points = sorted({r["n_edits"] for r in matrix})
    cohorts = sorted({(r["cohort"], r["first_edit"], r["last_edit"]) for r in matrix})
    fig, axes = plt.subplots(len(editors), len(RETENTION_METRICS), squeeze=False,
                             figsize=(min(4 + 0.45 * len(points), 9) * len(RETENTION_METRICS) / 2,
                                      (1.2 + 0.3 * len(cohorts)) * len(editors) + 0.8))
    for i, editor in enumerate(editors):
        cells = {(r["cohort"], r["n_edits"]): r for r in matrix if r["editor"] == editor}
        for j, metric in enumerate(RETENTION_METRICS):
            ax = axes[i][j]
            grid = [[_value(cells.get((c, n)), f"{metric}_at_eval") for n in points] for c, _, _ in cohorts]
            ax.imshow(grid, cmap="YlGnBu", vmin=0, vmax=100, aspect="auto")
            if len(points) * len(cohorts) <= 400:  # values stay legible
                for y, row in enumerate(grid):
                    for x, v in enumerate(row):
                        if v == v:  # not NaN
                            ax.text(x, y, f"{v:.0f}", ha="center", va="center", fontsize=6,
                                    color="white" if v > 60 else "black")
            ax.set_xticks(range(len(points)), [str(n) for n in points], fontsize=6, rotation=90)
            ax.set_yticks(range(len(cohorts)), [f"{a}-{b}" for _, a, b in cohorts], fontsize=6)
            ax.set_title(f"{editor}: {metric} at each point (%)", fontsize=8)
            ax.set_xlabel("edits made (evaluation point)", fontsize=7)
            if j == 0:
                ax.set_ylabel("cohort (edits)", fontsize=7)
    fig.suptitle(title or "retention of earlier edits", fontsize=10)
    fig.tight_layout()
    return fig


def _value(row: dict | None, key: str) -> float:
    return float("nan") if row is None or row.get(key) is None else row[key]


def retention_plots(matrix: list[dict], out_dir: Path, title: str = "") -> list[Path]:
    """retention.png/.svg: see `retention_figure`."""
    if not matrix:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_figure(retention_figure(matrix, f"{title}: retention of earlier edits" if title else ""),
                       out_dir / "retention")


def edit_cost_figure(costs: list[dict], title: str = ""):
    """Seconds and peak memory of each edit against the edits made before it, one line per editor: a cost that
    grows with the stream shows as a rising line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = plt.get_cmap("tab10")
    for i, editor in enumerate(dict.fromkeys(r["editor"] for r in costs)):
        mine = [r for r in costs if r["editor"] == editor]
        xs = [r["edit"] for r in mine]
        left.plot(xs, [r["edit_seconds"] for r in mine], ".", markersize=3, alpha=0.5, color=colours(i % 10))
        left.plot(xs, _running_median([r["edit_seconds"] for r in mine]), "-", color=colours(i % 10), label=editor)
        right.plot(xs, [r["edit_peak_mb"] for r in mine], "-", color=colours(i % 10), label=editor)
    left.set(xlabel="edit number", ylabel="seconds per edit (dots; line: running median of 9)")
    memory = {r.get("edit_memory") for r in costs} - {None}
    right.set(xlabel="edit number", ylabel="peak memory (MB)")
    right.set_title(", ".join(sorted(memory)), fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title or "cost per edit", fontsize=10)
    fig.tight_layout()
    return fig


def _running_median(values: list[float], width: int = 9) -> list[float]:
    import statistics

    half = width // 2
    return [statistics.median(values[max(0, i - half):i + half + 1]) for i in range(len(values))]


def edit_cost_plots(costs: list[dict], out_dir: Path, title: str = "") -> list[Path]:
    """edit_cost.png/.svg: see `edit_cost_figure`."""
    if not costs:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_figure(edit_cost_figure(costs, f"{title}: cost per edit" if title else ""), out_dir / "edit_cost")


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as palette PNG bytes (for a page that inlines it), closed afterwards."""
    png = palette_png(fig, dpi)
    plt.close(fig)
    return png


def palette_png(fig, dpi: int) -> bytes:
    """The figure as a PNG reduced to a 256-colour palette: the explorer inlines dozens of figures and results/
    keeps others, and a palette PNG of a flat-coloured plot is a third of the size with no visible change (Pillow
    comes with matplotlib)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    buf.seek(0)
    palette = Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def save_figure(fig, stem: Path, formats: tuple[str, ...] = FORMATS, dpi: int = 110) -> list[Path]:
    """The figure as <stem>.png (a palette PNG) and <stem>.svg, each written atomically; closed afterwards."""
    written = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "png":
            png = palette_png(fig, dpi)
            atomic_write(path, lambda tmp, png=png: tmp.write_bytes(png))
        else:
            atomic_write(path, lambda tmp, fmt=fmt: fig.savefig(tmp, dpi=dpi, format=fmt))
        written.append(path)
    plt.close(fig)
    return written
