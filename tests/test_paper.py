"""The paper study (bench/paper/) apart from the harness: found through entry points, never imported by bench/."""

import ast
import sys
import textwrap
from pathlib import Path

import pytest

import bench.suite as suite_module
import bench.tables as tables_module
from bench.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
from bench.suite import Suite, SuiteRun
from bench.tables import SIX, Columns, Layout

SUITES = {"mine": Suite("mine", (SuiteRun("cf", "counterfact", ("noedit",), ("mytable",)),))}
LAYOUTS = {"mytable": Layout("mytable", "My table.", (Columns("CounterFact", ("counterfact",), SIX),))}
ROW_ORDER = ("zzz-editor",)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A distribution `mystudy` 0.1 whose module declares a suite and a table, with a real dist-info folder."""
    site = tmp_path / "site"
    (site / "mystudy").mkdir(parents=True)
    (site / "mystudy" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "mystudy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mystudy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[knowledge_edit_bench.suites]\nmine = mystudy\n\n"
                                           "[knowledge_edit_bench.tables]\nmine = mystudy\n")
    monkeypatch.syspath_prepend(str(site))
    suite_module.suites.cache_clear()
    tables_module.clear_cache()
    yield
    suite_module.suites.cache_clear()
    tables_module.clear_cache()
    sys.modules.pop("mystudy", None)


def test_a_suite_and_a_table_of_another_distribution_are_found_through_entry_points(plugin):
    assert suite_module.get_suite("mine").tables == {"mytable": ["cf"]}
    assert tables_module.layout("mytable").caption == "My table."
    assert "zzz-editor" in tables_module.catalogue().row_order and "table2" in tables_module.layouts()


def test_an_unknown_suite_lists_the_registered_ones():
    with pytest.raises(BenchError, match=r"^unknown suite .nope.; suites: paper, baselines, instructed-paper-budget$"):
        suite_module.get_suite("nope")


def test_pyproject_declares_the_paper_study_in_the_suite_and_table_groups():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry_points["knowledge_edit_bench.suites"] == {"paper": "bench.paper.suites"}
    assert entry_points["knowledge_edit_bench.tables"] == {"paper": "bench.paper.tables"}


def test_the_paper_tables_and_suites_are_what_the_engine_reads():
    from bench.paper import suites, tables

    assert tables_module.layouts() == tables.LAYOUTS and list(tables.LAYOUTS)[:2] == ["table2", "table3"]
    assert tables_module.catalogue().row_order == tables.ROW_ORDER
    assert suite_module.suites() == suites.SUITES
    assert tables_module.catalogue().variants == {"instructed-noreweight", "instructed-late", "instructed-ffn",
                                                  "instructed-columns", "instructed-ins", "instructed-noprefix"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_module_of_the_harness_or_the_editors_imports_the_paper_study():
    paper = ROOT / "bench" / "paper"
    offenders = [str(p.relative_to(ROOT)) for folder in ("bench", "editors") for p in (ROOT / folder).rglob("*.py")
                 if paper not in p.parents and any(n == "bench.paper" or n.startswith("bench.paper.")
                                                   for n in _imports(p))]
    assert offenders == []
