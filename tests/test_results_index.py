"""The committed results folder stays a current index: links resolve, no history words, one explorer, < 20 MB, and
every summary row is its per-case rows."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")

pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no results/ in this install")


def _pages() -> list[Path]:
    return sorted(RESULTS.rglob("*.md")) + [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))


def _files() -> list[Path]:
    """results/ as a clone has it: what git tracks or would add, so .gitignore alone says which of a local run's
    outputs (its rows, states, explorer page, bar charts) are left out."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "results"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode()
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_every_relative_link_of_the_results_pages_resolves():
    broken = [f"{page.relative_to(REPO)}: {m[1]}" for page in _pages() for m in LINK.finditer(page.read_text())
              if not m[1].startswith(("http:", "https:", "mailto:")) and not (page.parent / m[1]).exists()]
    assert broken == []


def test_no_results_page_names_a_session():
    named = [str(p.relative_to(REPO)) for p in _files() if p.suffix in (".md", ".sh", ".txt", ".log")
             and re.search(r"session[ -]?[0-9]", p.read_text(errors="replace"), re.IGNORECASE)]
    assert named == []


def test_one_explorer_is_committed_and_results_stay_under_20_mb():
    explorers = [p.relative_to(RESULTS).as_posix() for p in _files() if p.name == "explorer.html"]
    assert explorers == ["suite-smollm2-instructed-paper-budget/explorer.html"]
    assert sum(p.stat().st_size for p in _files()) < 20 * 2**20


def test_every_committed_summary_row_is_the_mean_of_its_per_case_rows_of_a_finished_editor():
    """One source per number: each summary.csv row counts exactly its per_case.csv rows (n_cases), each rate is
    their mean, and config.json records the editor as finished (a part-way editor once published a 7-case row)."""
    import csv

    from bench.sources import check_finished

    wrong, checked = [], 0
    for summary in sorted(RESULTS.rglob("summary.csv")):
        run = summary.parent
        check_finished(run, list(csv.DictReader(summary.open())))
        per_case: dict[tuple[str, str], list[dict]] = {}
        for row in csv.DictReader((run / "per_case.csv").open()):
            per_case.setdefault((row["editor"], row["protocol"]), []).append(row)
        for rec in csv.DictReader(summary.open()):
            rows = per_case.get((rec["editor"], rec["protocol"]), [])
            if len(rows) != int(rec["n_cases"]):
                wrong.append(f"{run.name} {rec['editor']}: n_cases {rec['n_cases']}, per-case rows {len(rows)}")
            for metric in ("Rel", "Gen", "Loc", "Por_hop", "Por_Nhop", "Hop_Acc", "MH_Acc"):
                values = [float(r[metric]) for r in rows if r.get(metric)]
                if values and rec.get(metric):
                    checked += 1
                    if abs(sum(values) / len(values) - float(rec[metric])) > 0.006:  # summary.csv: 2 decimals
                        wrong.append(f"{run.name} {rec['editor']} {metric}: {rec[metric]}")
                elif bool(values) != bool(rec.get(metric)):
                    wrong.append(f"{run.name} {rec['editor']} {metric}: in one file only")
    assert wrong == [] and checked > 900
