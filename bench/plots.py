"""Bar charts per metric across editors, and sequential-editing curves (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.atomic import atomic_write  # noqa: E402
from bench.metrics import ALL_METRICS  # noqa: E402


def bar_charts(records: list[dict], out_dir: Path) -> list[Path]:
    """One chart per metric: a bar per (editor, protocol) with its 95% bootstrap interval."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for metric in ALL_METRICS:
        recs = [r for r in records if r.get(metric) is not None]
        if not recs:
            continue
        labels = [r["editor"] if r["protocol"] in ("single", "batch") else f"{r['editor']}\n{r['protocol']}"
                  for r in recs]
        values = [r[metric] for r in recs]
        lo = [v - (r.get(f"{metric}_lo") if r.get(f"{metric}_lo") is not None else v) for v, r in zip(values, recs)]
        hi = [(r.get(f"{metric}_hi") if r.get(f"{metric}_hi") is not None else v) - v for v, r in zip(values, recs)]
        fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(recs) + 1), 3.5))
        ax.bar(range(len(recs)), values, yerr=[lo, hi], capsize=4, color="#4C72B0")
        ax.set_xticks(range(len(recs)), labels, fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(f"{metric} on {recs[0]['dataset']} ({recs[0]['model']}), 95% bootstrap CI", fontsize=9)
        fig.tight_layout()
        written.append(_save(fig, out_dir / f"{metric}.png"))
    return written


def curve_plots(curve: list[dict], out_dir: Path, title: str = "") -> list[Path]:
    """Metric vs number of sequential edits, one line per editor."""
    if not curve:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = [m for m in ALL_METRICS if any(p.get(m) is not None for p in curve)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for editor in dict.fromkeys(p["editor"] for p in curve):
            pts = [(p["n_edits"], p[metric]) for p in curve if p["editor"] == editor and p.get(metric) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=editor)
        ax.set_title(metric)
        ax.set_xlabel("edits so far")
        ax.set_ylim(0, 105)
    axes[0][0].set_ylabel("% on all cases edited so far")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title or "sequential editing", fontsize=10)
    fig.tight_layout()
    return [_save(fig, out_dir / "sequential_curve.png")]


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path
