"""The committed results folder stays a current index: links resolve, no history words, one explorer, < 20 MB."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")

pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no results/ in this install")


def _pages() -> list[Path]:
    return sorted(RESULTS.rglob("*.md")) + [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))


def _files() -> list[Path]:
    ignored = ("cases.jsonl", "/states/")  # .gitignore'd run outputs a local run may leave
    return [p for p in RESULTS.rglob("*") if p.is_file() and not any(i in p.as_posix() for i in ignored)]


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
