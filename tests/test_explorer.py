"""The HTML explorer (`bench report --format html`): its data, and the page itself driven in headless Chromium.

The browser tests talk to Chromium over the DevTools protocol (its --remote-debugging-port, `websocket-client`):
any JavaScript exception or console error fails them, and so does any network request the page makes.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.explorer import build_page, markdown_tables_to_html, pack_data, page_data
from bench.explorer_cases import merge_cases, run_cases, run_rows
from bench.tables import is_reference
from tests.test_runner import _record

EDITORS = ("noedit", "ft-m", "ike")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny-llama run of three editors on 4 cases: the unedited reference, FT-M (every edit succeeds at this
    learning rate) and IKE (every edit fails on a random model)."""
    root = tmp_path_factory.mktemp("explorer")
    data = root / "cf.json"
    data.write_text(json.dumps([_record(i) for i in range(4)]))
    out = root / "run"
    assert main(["run", "--editors", ",".join(EDITORS), "--dataset", f"counterfact:{data}", "--model", "tiny-llama",
                 "--device", "cpu", "--out", str(out), "--bootstrap", "20", "--scoring", "tf", "--side-effects", "off",
                 "--loc-unrelated", "0", "--editor-args", "ft-m:num_steps=8,lr=0.05"]) == 0
    return out


def test_rows_keep_the_decoded_prediction_next_to_the_token_ids(run_dir):
    rows = run_rows(run_dir)
    assert rows and all(isinstance(r["pred_text"], str) for r in rows)
    assert all(r["pred_ids"] for r in rows)


def test_an_older_run_without_text_is_decoded_with_its_models_tokenizer(run_dir, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    rows = [json.loads(x) for x in (old / "cases.jsonl").read_text().splitlines()]
    (old / "cases.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "pred_text"}) + "\n"
                                             for r in rows))
    assert run_cases(old) == run_cases(run_dir)


def test_case_entries_align_every_editors_answers_with_the_queries(run_dir):
    cases = run_cases(run_dir)
    assert len(cases) == 4 and {c["protocol"] for c in cases} == {"single"}
    first = cases[0]
    assert [q["kind"] for q in first["queries"]] == ["rel", "gen", "loc", "loc", "por_hop"]
    assert set(first["answers"]) == set(EDITORS)
    assert all(len(a) == len(first["queries"]) for a in first["answers"].values())
    noedit_loc = first["answers"]["noedit"][2]
    assert isinstance(noedit_loc[0], str) and noedit_loc[1] == 100.0  # the reference agrees with itself (percent)
    # every locality answer carries the unedited model's answer its score compares with; other queries none
    rows = [r for r in run_rows(run_dir) if r["kind"] == "loc" and r["editor"] == "noedit"]
    assert noedit_loc[2] == rows[0]["ref_text"] == noedit_loc[0]
    assert all(a[2] is None for a in first["answers"]["ike"][:2])
    assert all(isinstance(first["answers"][e][2][2], str) for e in EDITORS)


def test_a_gzipped_cases_file_is_read_like_the_plain_one(run_dir, tmp_path):
    import gzip

    packed = tmp_path / "packed"
    shutil.copytree(run_dir, packed)
    with gzip.open(packed / "cases.jsonl.gz", "wb") as fh:
        fh.write((packed / "cases.jsonl").read_bytes())
    (packed / "cases.jsonl").unlink()
    assert run_rows(packed) == run_rows(run_dir)


def test_page_is_self_contained(run_dir):
    page = build_page([str(run_dir)], ["table2"])
    assert "<script src" not in page and "<link" not in page and 'src="http' not in page
    assert "data:image/png;base64," in page and "Table 2" in page
    assert page.count("<script") == 2  # the data and the inlined code


def test_a_run_without_cases_file_still_gets_a_page(run_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "summary.csv", "per_case.csv"):
        shutil.copy(run_dir / name, bare / name)
    page = build_page([str(bare)])
    assert 'id="browser-empty"' in page and 'id="summary-table"' in page


def test_markdown_tables_become_html_tables():
    html = markdown_tables_to_html("**Caption**\n\n| a | b |\n|---|---|\n| **1.00** | x_y |\n\n*a note*")
    assert "<p><b>Caption</b></p>" in html and "<th>a</th>" in html and "<td><b>1.00</b></td>" in html
    assert "<i>a note</i>" in html


# --- runs of two models ---------------------------------------------------------------------------------------

TWIN = "tiny-twin"


@pytest.fixture(scope="module")
def twin_dir(run_dir, tmp_path_factory) -> Path:
    """`run_dir` as if made by a second model: every row and record names TWIN, every answer starts with 'twin:'."""
    twin = tmp_path_factory.mktemp("twin") / "run"
    shutil.copytree(run_dir, twin)
    for name in ("summary.csv", "config.json"):
        (twin / name).write_text((twin / name).read_text().replace("tiny-llama", TWIN))
    rows = [json.loads(x) for x in (twin / "cases.jsonl").read_text().splitlines()]
    (twin / "cases.jsonl").write_text("".join(json.dumps({**r, "model": TWIN, "pred_text": f"twin:{r['pred_text']}"})
                                              + "\n" for r in rows))
    return twin


def _page_data(page: str) -> dict:
    return page_data(page)


def test_packed_data_round_trips_and_keeps_markup_out_of_the_page():
    data = {"cases": [{"id": "1", "answers": {"rome": [["</script><b>x", 100.0, None]]}}], "editors": ["rome"]}
    packed = pack_data(data)
    assert packed == pack_data(data)  # no timestamp in the gzip header: the same runs give the same page
    assert set(packed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    assert page_data(f'<script type="application/gzip+base64" id="data">{packed}</script>') == data


def test_page_data_of_a_page_without_data_says_what_to_do():
    with pytest.raises(BenchError, match="remake it with its command"):
        page_data('<script type="application/json" id="data">{}</script>')


def _summary_rows(page: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(3)) for m in
            re.finditer(r'<tr class="[^"]*" data-editor="([^"]+)"( data-model="([^"]+)")?>', page)]


def test_two_models_keep_their_own_summary_rows_in_a_model_column(run_dir, twin_dir):
    page = build_page([str(run_dir), str(twin_dir)], ["table2"])
    assert sorted(_summary_rows(page)) == sorted((e, m) for e in EDITORS for m in ("tiny-llama", TWIN))
    assert '<th data-type="text">model</th>' in page
    assert f"<td>{TWIN}</td>" in page and "<td>tiny-llama</td>" in page


def test_two_models_answers_stay_apart_in_the_case_browser(run_dir, twin_dir):
    data = _page_data(build_page([str(run_dir), str(twin_dir)]))
    names = {m: [f"{e} · {m}" for e in EDITORS] for m in ("tiny-llama", TWIN)}
    assert data["editors"] == [n for pair in zip(names["tiny-llama"], names[TWIN]) for n in pair]
    assert data["reference"] == sorted(["noedit · tiny-llama", f"noedit · {TWIN}"])
    one = {c["id"]: c for c in merge_cases([run_cases(run_dir)], is_reference)}
    assert len(data["cases"]) == len(one)
    for case in data["cases"]:
        alone = one[case["id"]]
        assert set(case["answers"]) == set(names["tiny-llama"] + names[TWIN])
        for editor in EDITORS:
            assert case["answers"][f"{editor} · tiny-llama"] == alone["answers"][editor]
            assert [a[0] for a in case["answers"][f"{editor} · {TWIN}"]] == [f"twin:{a[0]}"
                                                                            for a in alone["answers"][editor]]
        assert sorted(case["failed"]) == sorted(f"{e} · {m}" for e in alone["failed"] for m in ("tiny-llama", TWIN))
        # each model's editors compared among themselves: the twin's different texts are no disagreement
        assert [q["disagree"] for q in case["queries"]] == [q["disagree"] for q in alone["queries"]]


def test_a_page_of_one_model_has_no_model_column(run_dir):
    page = build_page([str(run_dir), str(run_dir)])
    assert ">model</th>" not in page and "data-model" not in page
    assert sorted(_summary_rows(page)) == sorted((e, None) for e in EDITORS)
    data = _page_data(page)
    assert data["editors"] == list(EDITORS) and data["reference"] == ["noedit"]
    assert all(set(c["answers"]) == set(EDITORS) for c in data["cases"])


def test_html_needs_an_output_file(run_dir, capsys):
    assert main(["report", str(run_dir), "--format", "html"]) == 2
    assert "--out FILE.html" in capsys.readouterr().err


# --- in a real browser ---------------------------------------------------------------------------------------

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install "
                                                              "chromium; .ci/run installs it)")


class Browser:
    """Headless Chromium driven over the DevTools protocol; collects JS errors and network requests."""

    def __init__(self, profile: Path):
        import websocket

        port = _free_port()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             f"--remote-debugging-port={port}", "--remote-allow-origins=*", f"--user-data-dir={profile}",
             "--window-size=1400,1000", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws = websocket.create_connection(_page_socket(port), timeout=60, suppress_origin=True)
        self.next_id, self.errors, self.requests = 0, [], []
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def _event(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("exception", {}).get("description")
                               or params["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(params["entry"].get("text"))
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        deadline = time.time() + 60
        while not self.eval("document.readyState === 'complete'") and time.time() < deadline:
            time.sleep(0.1)
        # an explorer unpacks its data after loading; it marks the body ready when done
        while (self.eval("!!document.getElementById('data') && document.body.dataset.ready !== '1'")
               and time.time() < deadline):
            time.sleep(0.1)
        self.eval("0")  # drain the events of loading (errors) before the caller checks

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png",
                                                    captureBeyondViewport=True)["data"]))
        return path

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _page_socket(port: int) -> str:
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                pages = [t for t in json.load(resp) if t["type"] == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("chromium did not open its DevTools port within 60 s")
        time.sleep(0.2)


def _set(browser: Browser, control: str, value) -> None:
    """Set a filter control as a user would (a checkbox ticked or a choice picked), firing its change event."""
    prop = "checked" if isinstance(value, bool) else "value"
    browser.eval(f"(() => {{ const c = document.getElementById({json.dumps(control)}); c.{prop} = {json.dumps(value)};"
                 " c.dispatchEvent(new Event('change')); })()")


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


@needs_chromium
def test_the_browser_harness_catches_a_javascript_error(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>noSuchFunction();</script></body></html>")
    browser.open(page.as_uri())
    assert any("noSuchFunction" in e for e in browser.errors)


@needs_chromium
def test_explorer_in_headless_chromium(run_dir, browser, tmp_path):
    out = tmp_path / "explorer.html"
    assert main(["report", str(run_dir), "--format", "html", "--out", str(out), "--table", "table2"]) == 0
    browser.open(out.as_uri())
    assert browser.eval("document.body.dataset.ready") == "1"

    rows = browser.eval("[...document.querySelectorAll('#summary-table tbody tr')].map(r => r.dataset.editor)")
    assert sorted(rows) == sorted(EDITORS)
    assert browser.eval("document.querySelector('#summary-table tr.ref').dataset.editor") == "noedit"

    # sorting: a click on Loc orders the rows by it, a second click reverses them
    column = browser.eval("[...document.querySelectorAll('#summary-table th')].findIndex(h => h.textContent == 'Loc')")
    values = (f"[...document.querySelectorAll('#summary-table tbody tr')]"
              f".map(r => parseFloat(r.cells[{column}].dataset.value))")
    browser.eval(f"document.querySelectorAll('#summary-table th')[{column}].click()")
    first = browser.eval(values)
    assert first == sorted(first, reverse=True)
    browser.eval(f"document.querySelectorAll('#summary-table th')[{column}].click()")
    assert browser.eval(values) == sorted(first)

    # the case filter: the cases where the chosen editor's edit failed (all of IKE's, none of FT-M's)
    cases = {c["id"]: c for c in merge_cases([run_cases(run_dir)], is_reference)}
    assert all(c["failed"] == ["ike"] for c in cases.values())
    listed = "[...document.querySelectorAll('#case-list li')].map(li => li.dataset.case.split('|')[2]).sort()"
    assert browser.eval(listed) == sorted(cases)
    _set(browser, "f-failed", True)
    _set(browser, "f-editor", "ft-m")
    assert browser.eval(listed) == [] and "No case matches" in browser.eval("document.getElementById('case-detail')"
                                                                            ".textContent")
    _set(browser, "f-editor", "ike")
    assert browser.eval(listed) == sorted(cases)
    _set(browser, "f-failed", False)
    _set(browser, "f-metric", "loc")
    assert browser.eval("document.querySelectorAll('#query-table tbody tr').length") == 2

    # a chosen case shows each query's prompt, expected answer and every editor's answer as text
    _set(browser, "f-metric", "")
    _set(browser, "f-editor", "")
    chosen = sorted(cases)[-1]
    browser.eval(f"[...document.querySelectorAll('#case-list li')].find(li => li.dataset.case.endsWith('|{chosen}'))"
                 ".click()")
    table = browser.eval("[...document.querySelectorAll('#query-table tr')].map(r => [...r.cells].map(c => "
                         "c.querySelector('.answer') ? c.querySelector('.answer').textContent : c.textContent))")
    head, body = table[0], table[1:]
    assert head[:4] == ["metric", "prompt", "expected", "noedit (unedited)"] and set(head[4:]) == {"ft-m", "ike"}
    case = cases[chosen]
    assert [r[1] for r in body] == [q["prompt"] for q in case["queries"]]
    assert [r[2] for r in body] == [q["answer"] for q in case["queries"]]
    for k, editor in enumerate(head[3:], 3):
        name = editor.replace(" (unedited)", "")
        assert [r[k] for r in body] == [a[0] for a in case["answers"][name]]

    # each locality cell shows the unedited model's answer beside the editor's, the score in percent
    unedited = browser.eval("[...document.querySelectorAll('#query-table tbody tr')].map(r => [...r.cells].slice(3)"
                            ".map(c => c.querySelector('.unedited') ? c.querySelector('.unedited').textContent "
                            ": null))")
    for q, cells in zip(case["queries"], unedited):
        names = [h.replace(" (unedited)", "") for h in head[3:]]
        assert cells == ([f"unedited: {case['answers'][n][case['queries'].index(q)][2]}" for n in names]
                         if q["kind"] == "loc" else [None] * len(names))
    scores = browser.eval("[...document.querySelectorAll('#query-table .score')].map(s => s.textContent)")
    assert scores and all(re.fullmatch(r"\(\d{1,3}%\)", s) for s in scores) and "(100%)" in scores
    assert browser.eval("document.getElementById('without-rows')") is None  # every editor has rows here

    shot = browser.screenshot(tmp_path / "explorer.png")
    assert shot.stat().st_size > 10_000
    assert browser.errors == []
    assert [u for u in browser.requests if not u.startswith(("file:", "data:"))] == []


@needs_chromium
def test_the_browser_takes_each_editor_from_its_chosen_run_and_names_those_without_rows(run_dir, browser, tmp_path):
    again, bare = tmp_path / "again", tmp_path / "bare"
    shutil.copytree(run_dir, again)
    bare.mkdir()
    for name in ("config.json", "summary.csv", "per_case.csv"):
        shutil.copy(run_dir / name, bare / name)
    rows = [json.loads(x) for x in (again / "cases.jsonl").read_text().splitlines()]
    (again / "cases.jsonl").write_text("".join(json.dumps({**r, "pred_text": "again:" + r["pred_text"]}) + "\n"
                                               for r in rows))
    out = tmp_path / "chosen.html"
    assert main(["report", str(run_dir), str(again), "--format", "html", "--out", str(out)]) != 0  # no choice
    choose = ["--from", f"noedit,ft-m={run_dir}", "--from", f"ike={again}"]
    assert main(["report", str(run_dir), str(again), "--format", "html", "--out", str(out), *choose]) == 0
    browser.open(out.as_uri())
    head = browser.eval("[...document.querySelectorAll('#query-table th')].map(h => h.textContent)")
    answers = browser.eval("[...document.querySelectorAll('#query-table tbody tr')].map(r => [...r.cells].slice(3)"
                           ".map(c => c.querySelector('.answer').textContent))")
    for k, editor in enumerate(head[3:]):
        assert all(row[k].startswith("again:") == (editor == "ike") for row in answers), editor
    # a run that keeps no rows: its editors are named above the browser, not left out without a word
    out = tmp_path / "bare.html"
    choose = ["--from", f"noedit,ft-m={run_dir}", "--from", f"ike={bare}"]
    assert main(["report", str(run_dir), str(bare), "--format", "html", "--out", str(out), *choose]) == 0
    browser.open(out.as_uri())
    note = browser.eval("document.getElementById('without-rows').textContent")
    assert re.search(r": ike on [\w.:-]+\.$", note) and "keep no per-query rows" in note
    assert browser.errors == []


@needs_chromium
def test_two_models_in_headless_chromium(run_dir, twin_dir, browser, tmp_path):
    out = tmp_path / "two.html"
    assert main(["report", str(run_dir), str(twin_dir), "--format", "html", "--out", str(out)]) == 0
    browser.open(out.as_uri())
    assert browser.eval("document.body.dataset.ready") == "1"
    models = browser.eval("[...document.querySelectorAll('#summary-table tbody tr')].map(r => r.cells[3].textContent)")
    assert sorted(models) == sorted(["tiny-llama", TWIN] * len(EDITORS))

    head = "[...document.querySelectorAll('#query-table th')].map(h => h.textContent).slice(3)"
    refs = ["noedit · tiny-llama (unedited)", f"noedit · {TWIN} (unedited)"]
    assert browser.eval(head) == refs + [f"{e} · {m}" for e in EDITORS[1:] for m in ("tiny-llama", TWIN)]
    _set(browser, "f-editor", f"ike · {TWIN}")
    assert browser.eval(head) == refs + [f"ike · {TWIN}"]
    answers = browser.eval("[...document.querySelectorAll('#query-table tbody tr')].map(r => "
                           "r.cells[r.cells.length - 1].querySelector('.answer').textContent)")
    assert answers and all(a.startswith("twin:") for a in answers)
    assert browser.errors == []
    assert [u for u in browser.requests if not u.startswith(("file:", "data:"))] == []


def test_the_suite_writes_its_explorer_next_to_its_tables(run_dir, tmp_path):
    from bench.suite import Suite, SuiteRun, write_tables

    shutil.copytree(run_dir, tmp_path / "counterfact")
    written = write_tables(Suite("tiny", (SuiteRun("counterfact", "counterfact", EDITORS, ("table2",)),)), tmp_path)
    page = tmp_path / "explorer.html"
    assert page in written and "Table 2" in page.read_text() and 'id="browser"' in page.read_text()
    assert f"--format html --table table2 --out {page}" in (tmp_path / "tables" / "COMMANDS.md").read_text()


def test_a_generated_answer_is_shown_with_its_verdict():
    from bench.explorer_cases import _answer

    rel = {"kind": "rel", "pred_text": " Paris", "acc": 1.0, "generated": "Paris, France", "gen_acc": 1.0}
    loc = {"kind": "loc_distract", "pred_text": " the", "loc": 0.5, "ref_text": " a"}
    fluency = {"kind": "fluency", "generated": "a b c", "entropy": 1.2}
    assert _answer(rel) == [" Paris | generated: Paris, France ✓", 100.0, None]
    assert _answer(loc) == [" the", 50.0, " a"]  # every locality kind is scored against the unedited answer
    assert _answer(fluency) == ["generated: a b c", None, None]


def test_the_browser_names_each_dataset_and_protocol_an_editor_has_no_rows_for():
    from bench.explorer import _without_rows

    def rec(editor, dataset, protocol="single", model="m"):
        return {"editor": editor, "dataset": dataset, "protocol": protocol, "model": model}

    records = [rec("rome", "counterfact"), rec("rome", "zsre"), rec("rome", "counterfact", "sequential/final"),
               rec("rome", "counterfact", "sequential/after-edit"), rec("ike", "counterfact"),
               rec("ike", "zsre", "sequential/final")]
    cases = [{"dataset": "counterfact", "protocol": "single", "answers": {"rome": [], "ike": []}},
             {"dataset": "zsre", "protocol": "sequential/after-edit", "answers": {"ike": []}}]
    assert _without_rows(records, cases, several=False) == ["rome on zsre", "rome on counterfact (sequential)"]
    assert _without_rows([rec("ike", "zsre", model="g")], cases, several=True) == ["ike · g on zsre"]


def test_a_run_with_attached_rows_says_its_browser_rows_come_from_a_reproducing_rerun(run_dir, tmp_path):
    from bench.explorer import build_page

    copy = tmp_path / "attached"
    shutil.copytree(run_dir, copy)
    assert "rows-note" not in build_page([str(copy)])
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "rows": ["first <note>", "second"]}))
    page = build_page([str(copy)])
    assert 'title="first &lt;note&gt; second">browser rows from a rerun that reproduces its per_case.csv' in page



def _entry(editor: str, *prompts: str) -> dict:
    return {"id": "7", "dataset": "counterfact", "protocol": "single",
            "queries": [{"kind": "loc_unrelated" if p.startswith("unrelated") else "rel", "prompt": p, "answer": "x"}
                        for p in prompts],
            "answers": {editor: [[f"{editor}:{p}", 100.0, None] for p in prompts]}}


def test_runs_that_scored_more_queries_of_a_case_keep_every_answer_beside_its_own_query():
    """A baseline run without unrelated-prompt probes and a later run with them: both editors' answers are shown,
    each beside the query it was given (the union of the two runs' queries; None where an editor had none)."""
    baseline = _entry("rome", "Q", "Q", "P")  # a repeated query stays two queries
    later = _entry("instructed", "Q", "P", "unrelated A", "Q")
    (case,) = merge_cases([[baseline], [later]], is_reference)
    assert [q["prompt"] for q in case["queries"]] == ["Q", "Q", "P", "unrelated A"]
    assert case["answers"]["rome"] == [["rome:Q", 100.0, None], ["rome:Q", 100.0, None], ["rome:P", 100.0, None],
                                       None]
    assert [a and a[0] for a in case["answers"]["instructed"]] == ["instructed:Q", "instructed:Q", "instructed:P",
                                                                    "instructed:unrelated A"]
