"""The committed explorer of the paper-budget suite shows the numbers its tables and the README publish."""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path

import pytest

from bench.explorer import explorer_commands, markdown_tables_to_html, page_data

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "results" / "suite-smollm2-instructed-paper-budget"
PAGE = SUITE / "explorer.html"

pytestmark = pytest.mark.skipif(not PAGE.exists(), reason="the committed explorer is not in this checkout")


def _summary() -> dict[tuple[str, str, str], dict[str, float]]:
    """(editor, dataset, protocol) -> metric -> value, from the page's summary table."""
    table = re.search(r'<table id="summary-table".*?</table>', PAGE.read_text(), re.S).group(0)
    heads = re.findall(r"<th[^>]*>(.*?)</th>", table)
    out = {}
    for row in re.findall(r"<tr class=\"[^\"]*\" data-editor=\"[^\"]*\">(.*?)</tr>", table):
        cells = dict(zip(heads, re.findall(r"<td[^>]*>(.*?)</td>", row)))
        editor = re.sub(r"<.*", "", cells["editor"]).strip()
        values = {h: float(v.split()[0]) for h, v in cells.items() if re.match(r"^-?\d+\.\d\d", v)}
        out[(editor, cells["dataset"], cells["protocol"])] = values
    return out


def test_instructed_counterfact_is_the_main_run_not_the_ablation_control():
    row = _summary()[("instructed", "counterfact", "single")]
    assert (row["Gen"], row["Loc"]) == (96.17, 10.03)


def test_every_paper_table_in_the_page_is_its_committed_table():
    page = PAGE.read_text()
    shown = re.search(r"--table (\S+)", " ".join(explorer_commands(SUITE)[0])).group(1).split(",")
    assert set(shown) == {"table2", "table3", "table4", "table9", "table10", "table12"}
    for name in shown:
        assert markdown_tables_to_html((SUITE / "tables" / f"{name}.md").read_text()) in page, name


def test_table2_rows_equal_the_summary_rows():
    summary = _summary()
    text = (SUITE / "tables" / "table2.md").read_text()
    metrics = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H")
    checked = 0
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 3 + 2 * len(metrics) or not cells[2].isdigit():
            continue
        for dataset, values in (("counterfact", cells[3:9]), ("zsre", cells[9:15])):
            shown = {m: float(v.split()[0].strip("*")) for m, v in zip(metrics, values)}
            assert {m: summary[(cells[1], dataset, "single")][m] for m in metrics} == shown, (cells[1], dataset)
            checked += 1
    assert checked == 2 * 19  # the paper's 13; SERAC, r-ROME, EMMET, AlphaEdit, WISE (issue 36); Retrieval, one edit


def test_readme_headline_table_rounds_the_explorers_numbers():
    summary = _summary()
    readme = (ROOT / "README.md").read_text()
    head = readme.index("| | Editor | CF Rel | CF Loc | CF Score | CF H |")
    rows = list(itertools.takewhile(lambda ln: ln.startswith("|"), readme[head:].splitlines()[2:]))
    assert len(rows) == 13
    for line in rows:
        cells = [html.unescape(c.strip()) for c in line.strip("|").split("|")]
        editor, numbers = cells[1], [float(x) for x in cells[2:]]
        expected = [round(summary[(editor, dataset, "single")][m], 1)
                    for dataset in ("counterfact", "zsre") for m in ("Rel", "Loc", "Score", "H")]
        assert numbers == pytest.approx(expected, abs=0.051), editor


def test_case_browser_shows_instructed_beside_baselines_scored_without_unrelated_prompts():
    """The baselines (`suite-smollm2/`) were scored without unrelated-prompt probes, InstructEd's runs with them:
    every CounterFact and ZsRE case still shows both, the probes answered by InstructEd alone."""
    data = page_data(PAGE.read_text())
    cases = [c for c in data["cases"] if c["protocol"] == "single" and c["dataset"] in ("counterfact", "zsre")]
    assert len(cases) == 400
    for case in cases:
        assert {"rome", "noedit", "instructed"} <= set(case["answers"]), case["id"]
        kinds = [q["kind"] for q in case["queries"]]
        probe = kinds.index("loc_unrelated")
        assert case["answers"]["rome"][probe] is None and case["answers"]["instructed"][probe] is not None
