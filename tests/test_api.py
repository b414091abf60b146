"""The Python API (bench/api.py): the README's snippets run, and its numbers are the command line's."""

import csv
import gzip
import json
import logging
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import bench
from bench import api
from bench.cli import main
from bench.data import load_dataset, resolve_data_dir
from bench.errors import BenchError
from bench.restore import parameter_hash
from tests.test_runlog import _record  # a CounterFact record without its portability question

README = Path(__file__).resolve().parent.parent / "README.md"
TINY = {'model="smollm2-135m"': 'model="tiny-llama", device="cpu"', "limit=20": "limit=3"}


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(4)]))
    return f"counterfact:{path}"


def readme_snippets() -> list[str]:
    """The fenced python blocks of the README's "Python API" section."""
    text = README.read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _file_rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _same_as_file(frame, path: Path) -> None:
    """Every cell of the DataFrame is the file's value (an empty cell: NaN)."""
    rows = _file_rows(path)
    assert list(frame.columns)[:len(rows[0])] == list(rows[0]) and len(frame) == len(rows)
    for record, row in zip(frame.to_dict("records"), rows):
        for key, text in row.items():
            value = record[key]
            if text == "":
                assert value is None or (isinstance(value, float) and math.isnan(value)), (key, value)
            elif isinstance(value, str):
                assert value == text, key
            else:
                assert float(text) == pytest.approx(value, abs=0, rel=0), key


def test_readme_snippets_run(tmp_path, monkeypatch):
    try:
        load_dataset("counterfact", limit=1)
    except BenchError:
        pytest.skip(f"no counterfact under {resolve_data_dir()} (set BENCH_DATA_DIR)")
    snippets = readme_snippets()
    assert len(snippets) == 3
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for snippet in snippets:
        assert snippet.count("bench.e") == snippet.count('model="smollm2-135m"')  # every call runs on tiny-llama
        for old, new in TINY.items():
            snippet = snippet.replace(old, new)
        exec(compile(snippet, str(README), "exec"), scope)  # noqa: S102 - the README's own code
    first, ft, edited = scope["same"], scope["ft"], scope["edited"]
    assert list(first.summary["editor"]) == ["noedit", "ft-m"] and (first.summary["n_cases"] == 3).all()
    _same_as_file(first.summary, tmp_path / "runs" / "api-demo" / "summary.csv")
    assert ft.out is None and ft.summary["n_cases"][0] == len(scope["cases"]) > 0
    assert edited.summary["n_cases"][0] == 2 and edited.restored and edited.editor.name == "rome"


def test_evaluate_gives_the_command_line_numbers(dataset, tmp_path):
    assert main(["run", "--editors", "noedit,ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(tmp_path / "cli"), "--bootstrap", "50", "--limit", "3"]) == 0
    res = bench.evaluate("noedit,ft-m", dataset, model="tiny-llama", device="cpu", bootstrap=50, limit=3,
                         out=tmp_path / "api")
    _same_as_file(res.summary, tmp_path / "cli" / "summary.csv")
    _same_as_file(res.per_case, tmp_path / "cli" / "per_case.csv")
    for name in ("summary.csv", "per_case.csv", "cases.jsonl"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    noedit_rows = [r for r in res.rows if r["editor"] == "noedit"]
    assert res.config["args"]["limit"] == 3 and res.out == tmp_path / "api"
    assert len(res.rows) == 2 * len(noedit_rows) > 2 * 3 * 4  # the dataset's 4 queries a case, and the probes

    assert bench.load_run(tmp_path / "api") == res  # the round trip
    assert bench.load_run(tmp_path / "cli").summary.equals(res.summary)

    cases = load_dataset(dataset, limit=3)  # a list of cases: the same numbers, in a temporary directory
    listed = bench.evaluate(["noedit", "ft-m"], cases, model="tiny-llama", device="cpu", bootstrap=50)
    assert listed.out is None and listed.summary.equals(res.summary) and listed.rows == res.rows
    assert listed.config["args"]["dataset"] == cases[0].dataset


EDIT = dict(prompts=["Spike Hughes originates from", "Toko Yasuda plays the"],
            target_new=["Philadelphia", "piano"], subject=["Spike Hughes", "Toko Yasuda"],
            ground_truth=["London", "guitar"], rephrase_prompts=["Spike Hughes was born in", None],
            locality_prompts=[["Max Mosley originates from", "John Lennon was born in"], None],
            locality_ground_truth=["London", None], editor="ft-m",
            editor_args={"ft-m": {"lr": 2e-2, "num_steps": 40}}, bootstrap=50)


@pytest.fixture
def tiny():
    from bench.models import load_model

    return load_model("tiny-llama", "cpu")


def test_edit_hands_back_the_edited_model_and_restores_it(tiny, monkeypatch):
    import bench.models
    import bench.runner

    def no_loading(*args, **kwargs):
        raise AssertionError("a model in memory must not be loaded again")

    monkeypatch.setattr(bench.models, "load_model", no_loading)
    monkeypatch.setattr(bench.runner, "load_model", no_loading)
    before = parameter_hash(tiny.model)
    unedited = bench.api.in_memory_model(tiny.model, tiny.tokenizer)
    with bench.edit(**EDIT, model=tiny.model, tokenizer=tiny.tokenizer) as edited:
        summary = edited.summary.iloc[0]
        assert summary["editor"] == "ft-m" and summary["n_cases"] == 2 and summary["dataset"] == "edit"
        assert summary["Rel"] == 100.0 and 0 <= summary["Loc"] <= 100 and math.isnan(summary["Por_hop"])
        kinds = [(r["case_id"], r["kind"]) for r in edited.rows if r["kind"] in ("rel", "gen", "loc")]
        assert kinds == [("edit-0", "rel"), ("edit-0", "gen"), ("edit-0", "loc"), ("edit-0", "loc"),
                         ("edit-1", "rel")]  # the cases' own queries (the probes follow each case's)
        assert edited.model is tiny.model and parameter_hash(tiny.model) != before  # edited in place
        answers = edited.ask(["Spike Hughes originates from", "Toko Yasuda plays the"])
        assert answers[0].startswith("Philadelphia") and answers[1].startswith("piano"), answers
        assert edited.ask("Spike Hughes originates from") == answers[:1]  # asked again: the same edited model
        assert edited.out is None and edited.config["model"]["name"] == unedited.name
    assert edited.restored and parameter_hash(tiny.model) == before
    with pytest.raises(BenchError, match="was restored"):
        edited.ask("Spike Hughes originates from")


def test_edit_by_name_loads_the_model_once_and_says_it_is_random(monkeypatch, caplog):
    import bench.models
    import bench.runner

    loads = []
    real = bench.models.load_model
    monkeypatch.setattr(bench.models, "load_model", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(bench.runner, "load_model", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    with caplog.at_level(logging.WARNING, logger="bench.api"):
        edited = bench.edit(**EDIT, model="tiny-llama", device="cpu")
    assert loads == ["tiny-llama"] and edited.summary["Rel"][0] == 100.0
    assert "'tiny-llama' is a random-weight test model" in caplog.text and "smollm2-135m" in caplog.text
    assert edited.ask("Toko Yasuda plays the")[0].startswith("piano") and loads == ["tiny-llama"]
    edited.restore()
    assert edited.restored


def test_restore_refuses_a_model_that_is_not_the_original(tiny):
    edited = bench.edit(**EDIT, model=tiny.model, tokenizer=tiny.tokenizer)
    with pytest.raises(BenchError, match=r"^editor 'ft-m': after restore\(\) the model is not the original "
                                         r"\(parameters differ\)"):
        with edited:
            with torch.no_grad():
                tiny.model.get_input_embeddings().weight[0, 0] += 1  # a change no editor made


def test_mistakes_are_one_line_errors(dataset):
    with pytest.raises(BenchError, match="unknown option"):
        bench.evaluate("noedit", dataset, model="tiny-llama", batchsize=2)
    with pytest.raises(BenchError, match="target_new has 1 entries for 2"):
        bench.edit(prompts=["a b", "c d"], target_new=["x"], subject=["a", "c"], model="tiny-llama")
    with pytest.raises(BenchError, match=r"edited.ask\(questions\)"):
        bench.edit(prompts=["a b"], target_new=["x"], subject=["a"], model="tiny-llama", questions=["a?"])
    with pytest.raises(BenchError, match="a transformers model in memory with its tokenizer=.*got a dict"):
        bench.edit(prompts=["a b"], target_new=["x"], subject=["a"], model={"not": "a model"})
    cases = load_dataset(dataset)
    with pytest.raises(BenchError, match="duplicate case_id"):
        bench.evaluate("noedit", [cases[0], cases[0]], model="tiny-llama", device="cpu")
    with pytest.raises(BenchError, match="not a run directory"):
        bench.load_run(Path(dataset.split(":", 1)[1]).parent)


def test_import_bench_stays_light():
    code = ("import sys, bench; from bench import Results, load_run; "
            "print(sorted({'torch', 'pandas'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_load_run_reads_the_gzipped_rows_results_commit(dataset, tmp_path):
    res = bench.evaluate("noedit", dataset, model="tiny-llama", device="cpu", bootstrap=20, limit=2,
                         out=tmp_path / "run", scoring="tf", side_effects=False, loc_unrelated=0)
    plain = tmp_path / "run" / "cases.jsonl"
    with plain.open("rb") as src, gzip.open(plain.with_suffix(".jsonl.gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()
    packed = bench.load_run(tmp_path / "run")
    assert len(packed.rows) == 2 * 4 and packed.rows == res.rows


def test_load_run_refuses_a_summary_row_of_an_editor_the_run_never_finished(dataset, tmp_path):
    bench.evaluate("noedit", dataset, model="tiny-llama", device="cpu", bootstrap=20, limit=2, out=tmp_path / "run",
                   scoring="tf", side_effects=False, loc_unrelated=0)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    del config["editors"]["noedit"]["units"]  # as a run stopped part-way recorded it
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(BenchError, match="does not record noedit as finished"):
        bench.load_run(tmp_path / "run")


def test_load_run_of_a_committed_run_has_rows():
    committed = sorted(Path(README.parent, "results").glob("**/cases.jsonl.xz"))
    assert committed, "results/ commits the rows of the runs its explorer shows"
    res = bench.load_run(committed[0].parent)
    assert res.rows and {r["editor"] for r in res.rows} == set(res.summary["editor"])


def test_tables_render_as_markdown_without_tabulate(monkeypatch):
    import pandas as pd

    monkeypatch.setitem(sys.modules, "tabulate", None)  # as where it is not installed
    table = api._table_class()({"editor": ["rome", "a|b"], "Rel": [99.5, float("nan")], "n": [200, 3]})
    assert table[["editor", "Rel"]].to_markdown(index=False) == (
        "| editor | Rel |\n| --- | ---: |\n| rome | 99.5 |\n| a\\|b |  |")
    assert table.to_markdown().splitlines()[2] == "| 0 | rome | 99.5 | 200 |"
    assert isinstance(table.head(1), type(table)) and isinstance(table, pd.DataFrame)
