"""The analyses behind results/' pages, one module each (`python -m bench.paper.analysis.NAME`), run from the
repository root. Each writes its output into the results folder it explains (a `--out` moves it) and prints it."""

from __future__ import annotations

from pathlib import Path


def write_report(lines: list[str], out: Path) -> Path:
    """`lines` printed and written to `out` (its folder made), so a page's numbers come from one command."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
