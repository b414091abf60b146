"""bench.paper.attach_rows: a rerun's rows are attached to a rows-less committed folder only when they reproduce
every per-case value; the folder's summary and per-case files are left as they were."""

import json
import lzma
import shutil

import pytest

from bench.api import load_run
from bench.cli import main
from bench.errors import BenchError
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
    rows = [json.loads(x) for x in lzma.decompress((folder / "cases.jsonl.xz").read_bytes()).splitlines()]
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
    assert not (folder / "cases.jsonl.xz").exists() and (folder / "config.json").read_bytes() == config
    assert attach_rows.main([str(folder), f"{root / 'rerun'}:rome"]) == 2
    assert "holds no rows of rome" in capsys.readouterr().err


def _change_first(path, prefix, column, value):
    lines = path.read_bytes().decode().split("\r\n")
    i = next(i for i, x in enumerate(lines) if x.startswith(prefix))
    cells = lines[i].split(",")
    cells[column] = value
    lines[i] = ",".join(cells)
    path.write_bytes("\r\n".join(lines).encode())
    return cells


def test_replace_supersedes_an_editor_by_a_rerun_and_lists_what_changed(runs, tmp_path, capsys):
    root, _ = runs
    folder = _committed(root, tmp_path)
    original = {n: (folder / n).read_bytes() for n in ("summary.csv", "per_case.csv")}
    # The folder as another machine wrote it: one per-case value and its summary differ from what this one gives.
    cells = _change_first(folder / "per_case.csv", "ft-m,", 4, "12.5")  # Gen of its first case
    _change_first(folder / "summary.csv", "ft-m,", 6, "99.99")  # Gen
    assert attach_rows.main(["--replace", str(folder), f"{root / 'rerun'}:ft-m"]) == 0
    assert "1 per-case values changed" in capsys.readouterr().out
    assert {n: (folder / n).read_bytes() for n in original} == original  # the rerun's lines, where they stood
    note = json.loads((folder / "config.json").read_text())["rows"]
    assert "ft-m: summary.csv and per_case.csv lines" in note and f"ft-m {cells[2]} Gen: 12.5 -> " in note
    assert {r["editor"] for r in load_run(folder).rows} == {"ft-m"}


def test_replace_refuses_a_rerun_with_other_options_or_an_unfinished_editor(runs, tmp_path, capsys):
    root, dataset = runs
    folder = _committed(root, tmp_path)
    before = {n: (folder / n).read_bytes() for n in ("summary.csv", "per_case.csv", "config.json")}
    other = tmp_path / "other"
    assert main(["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(other), "--bootstrap", "20", "--scoring", "tf", "--side-effects", "off",
                 "--loc-unrelated", "0", "--editor-args", "ft-m:num_steps=1"]) == 0
    assert attach_rows.main(["--replace", str(folder), f"{other}:ft-m"]) == 2
    err = capsys.readouterr().err
    assert "cannot replace ft-m" in err and "ft-m num_steps 2 / 1" in err and "Nothing was written" in err
    config = json.loads((other / "config.json").read_text())
    del config["editors"]["ft-m"]["units"]  # as a run stopped during ft-m records it
    (other / "config.json").write_text(json.dumps(config))
    assert attach_rows.main(["--replace", str(folder), f"{other}:ft-m"]) == 2
    assert "has not finished ft-m" in capsys.readouterr().err
    assert attach_rows.main(["--replace", str(folder), str(other)]) == 2
    assert "--replace takes one RUN:EDITOR" in capsys.readouterr().err
    assert {n: (folder / n).read_bytes() for n in before} == before and not (folder / "cases.jsonl.xz").exists()


def test_replace_in_a_sequential_folder_supersedes_its_curve_too(tmp_path, capsys):
    (tmp_path / "cf.json").write_text(json.dumps([_record(i) for i in range(4)]))
    runs = []
    for name in ("original", "rerun"):
        assert _run(f"counterfact:{tmp_path / 'cf.json'}", tmp_path / name, "--protocol", "sequential",
                    "--num-edits", "4", "--eval-every", "2") == 0
        runs.append(tmp_path / name)
    folder = _committed(tmp_path, tmp_path)
    shutil.copy(runs[0] / "curve.csv", folder / "curve.csv")
    original = {n: (folder / n).read_bytes() for n in ("summary.csv", "per_case.csv", "curve.csv")}
    _change_first(folder / "curve.csv", "ft-m,", 2, "0.5")  # Rel at the first checkpoint, as another machine's
    assert attach_rows.main(["--replace", str(folder), f"{runs[1]}:ft-m"]) == 0
    assert {n: (folder / n).read_bytes() for n in original} == original
    note = json.loads((folder / "config.json").read_text())["rows"]
    assert note.startswith("ft-m: summary.csv, per_case.csv and curve.csv lines")


def test_replace_compares_settings_not_where_or_how_fast_a_machine_read_them(tmp_path):
    site = {"path": "/a/layer4.safetensors", "from_cache": True, "count": 8192, "seconds": 0.01}
    record = {"layers": [4], "hparams_source": "/a/memit.json",
              "statistics": {"n_samples": 8192, "seed": 0, "sites": {"layer4.mlp_out": site}}}
    folder = {"args": {"dataset": "counterfact"}, "editors": {"memit": {"config": record}}}
    elsewhere = {**site, "path": "/b/layer4.safetensors", "from_cache": False, "seconds": 3.2}
    rerun = {"args": {"dataset": "counterfact"}, "editors": {"memit": {"units": 4, "config": {
        **record, "hparams_source": "/b/memit.json",
        "statistics": {**record["statistics"], "sites": {"layer4.mlp_out": elsewhere}}}}}}
    attach_rows._check_same_run(tmp_path / "f", folder, tmp_path / "r", rerun, ["memit"])  # the same settings
    rerun["editors"]["memit"]["config"]["statistics"]["n_samples"] = 4096
    with pytest.raises(BenchError, match=r"memit statistics .* / .*4096"):
        attach_rows._check_same_run(tmp_path / "f", folder, tmp_path / "r", rerun, ["memit"])
