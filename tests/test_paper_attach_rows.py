"""bench.paper.attach_rows: a rerun's rows are attached to a rows-less committed folder only when they reproduce
every per-case value; the folder's summary and per-case files are left as they were."""

import gzip
import json
import shutil

import pytest

from bench.api import load_run
from bench.cli import main
from bench.paper import attach_rows
from tests.test_runlog import _record


def _run(dataset, out, *extra):
    return main(["run", "--editors", "noedit,ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "20", "--scoring", "tf", "--side-effects", "off",
                 "--loc-unrelated", "0", "--editor-args", "ft-m:num_steps=2", *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("attach")
    (root / "cf.json").write_text(json.dumps([_record(i) for i in range(3)]))
    dataset = f"counterfact:{root / 'cf.json'}"
    assert _run(dataset, root / "original") == 0
    assert _run(dataset, root / "rerun") == 0
    return root, dataset


def _committed(root, tmp_path):
    """The original run as committed: its rows removed for space."""
    folder = tmp_path / "committed"
    folder.mkdir()
    for name in ("config.json", "summary.csv", "per_case.csv"):
        shutil.copy(root / "original" / name, folder / name)
    return folder


def test_a_reproducing_rerun_gives_the_folder_its_rows_and_nothing_else_changes(runs, tmp_path):
    root, _ = runs
    folder = _committed(root, tmp_path)
    before = {n: (folder / n).read_bytes() for n in ("summary.csv", "per_case.csv")}
    assert load_run(folder).rows == []
    assert attach_rows.main([str(folder), f"{root / 'rerun'}:ft-m"]) == 0
    assert attach_rows.main([str(folder), str(root / "rerun") + ":noedit"]) == 0  # a second editor joins the first
    rows = [json.loads(x) for x in gzip.decompress((folder / "cases.jsonl.gz").read_bytes()).splitlines()]
    original = [json.loads(x) for x in (root / "original" / "cases.jsonl").read_text().splitlines()]
    strip = ("written_with",)
    assert sorted(json.dumps({k: v for k, v in r.items() if k not in strip}, sort_keys=True) for r in rows) == \
        sorted(json.dumps({k: v for k, v in r.items() if k not in strip}, sort_keys=True) for r in original)
    assert {n: (folder / n).read_bytes() for n in before} == before
    notes = json.loads((folder / "config.json").read_text())["rows"]
    assert len(notes) == 2 and "rows of ft-m" in notes[0] and "rows of noedit" in notes[1]
    assert {r["editor"] for r in load_run(folder).rows} == {"noedit", "ft-m"}


def test_a_rerun_that_differs_writes_nothing_and_says_where(runs, tmp_path, capsys):
    root, dataset = runs
    folder = _committed(root, tmp_path)
    other = tmp_path / "other"
    assert main(["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(other), "--bootstrap", "20", "--scoring", "tf", "--side-effects", "off",
                 "--loc-unrelated", "0", "--editor-args", "ft-m:num_steps=1,lr=0.5"]) == 0
    config = (folder / "config.json").read_bytes()
    assert attach_rows.main([str(folder), str(other)]) == 2
    err = capsys.readouterr().err
    assert f"{other}: ft-m case " in err and "does not reproduce the folder" in err and "Nothing was written" in err
    assert not (folder / "cases.jsonl.gz").exists() and (folder / "config.json").read_bytes() == config
    assert attach_rows.main([str(folder), f"{root / 'rerun'}:rome"]) == 2
    assert "holds no rows of rome" in capsys.readouterr().err
