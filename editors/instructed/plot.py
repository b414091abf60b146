"""The training curve: loss.csv (one row per step) and loss.png (matplotlib, Agg backend)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

COLUMNS = ("step", "epoch", "lr", "loss", "edit_loss", "loc_loss")


def write_losses(directory: Path, history: list[dict], columns: tuple[str, ...] = COLUMNS) -> None:
    """loss.csv, one row per step (`columns`: InstructEd's by default; SERAC's training writes its own)."""
    with (directory / "loss.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: row[k] for k in columns} for row in history)


def read_losses(directory: Path) -> list[dict]:
    """loss.csv, or loss.csv.gz (how results/ commits the curves of finished checkpoints); [] without either."""
    path, packed = directory / "loss.csv", directory / "loss.csv.gz"
    if path.is_file():
        with path.open() as f:
            rows = list(csv.DictReader(f))
    elif packed.is_file():
        with gzip.open(packed, "rt") as f:
            rows = list(csv.DictReader(f))
    else:
        return []
    return [{k: (int(v) if k in ("step", "epoch") else float(v)) for k, v in row.items()} for row in rows]


def _smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def plot_losses(directory: Path, history: list[dict]) -> Path | None:
    if not history:
        return None
    import matplotlib.pyplot as plt

    from bench.plots import save_figure  # sets the Agg backend

    steps = [row["step"] for row in history]
    window = max(1, len(history) // 50)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("loss", "all"), ("edit_loss", "edit examples"), ("loc_loss", "locality examples")):
        ax.plot(steps, _smooth([row[key] for row in history], window), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"answer-token cross-entropy\n(mean of {window} steps)")
    ax.set_title("InstructEd training")
    ax.legend()
    fig.tight_layout()
    (path,) = save_figure(fig, directory / "loss", formats=("png",), dpi=100)
    return path
