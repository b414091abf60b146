"""The analyses behind results/' pages, one module each (`python -m bench.paper.analysis.NAME`), run from the
repository root. Each writes its output into the results folder it explains (a `--out` moves it) and prints it."""

from __future__ import annotations

import argparse
from pathlib import Path


def write_report(lines: list[str], out: Path) -> Path:
    """`lines` printed and written to `out` (its folder made), so a page's numbers come from one command."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def results_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The options every analysis of committed runs takes: where results/ is, and where its report goes (default:
    RESULTS/`out`); a module adds its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=Path("results"), help="the results folder holding the runs")
    p.add_argument("--out", type=Path, default=None, help=f"default RESULTS/{out}")
    return p


def report_main(doc: str, out: str, lines_of, argv: list[str] | None) -> Path:
    """main() of an analysis that reads committed runs only: `lines_of(results folder)` written to RESULTS/`out`."""
    args = results_parser(doc, out).parse_args(argv)
    return write_report(lines_of(args.results), args.out or args.results / out)


def editor_config(editor_cls, text: str):
    """An analysis's `--editor-args key=value,key=value` as the editor's typed, range-checked configuration: the
    parser and checks of `bench run --editor-args` (its defaults when `text` is empty)."""
    from bench.registry import build_config, parse_editor_args

    settings = parse_editor_args(f"{editor_cls.name}:{text}")[editor_cls.name] if text else {}
    return build_config(editor_cls, settings)
