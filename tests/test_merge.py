import json

import pytest

from bench.cli import main
from bench.packed_rows import write_packed
from tests.test_runner import _record

FT = "ft-m:num_steps=2"


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(4)]))
    return f"counterfact:{path}"


def _run(dataset, out, editors, *extra):
    args = ["run", "--editors", editors, "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
            "--out", str(out), "--bootstrap", "50"]
    if "ft-m" in editors:
        args += ["--editor-args", FT]
    return main(args + list(extra))


def _units(out):
    rows = [json.loads(x) for x in (out / "cases.jsonl").read_text().splitlines()]
    return [(r["editor"], r["unit"]) for r in rows if r["kind"] == "rel"]


def test_merging_a_parallel_editor_equals_one_run_of_both(dataset, tmp_path):
    one, target, side = tmp_path / "one", tmp_path / "target", tmp_path / "side"
    assert _run(dataset, one, "noedit,ft-m") == 0
    assert _run(dataset, target, "noedit") == 0
    assert _run(dataset, side, "ft-m") == 0
    assert main(["merge", str(side), "--into", str(target)]) == 0
    assert (target / "per_case.csv").read_text() == (one / "per_case.csv").read_text()
    assert (target / "summary.csv").read_text() == (one / "summary.csv").read_text()
    config = json.loads((target / "config.json").read_text())
    assert config["merged"][0]["from"] == str(side) and config["merged"][0]["editors"] == ["ft-m"]
    assert config["editors"]["ft-m"]["config"] == json.loads((one / "config.json").read_text())["editors"]["ft-m"][
        "config"]


def test_a_shorter_run_merged_then_resumed_equals_the_longer_run(dataset, tmp_path):
    one, target, first = tmp_path / "one", tmp_path / "target", tmp_path / "first"
    assert _run(dataset, one, "noedit,ft-m", "--limit", "4") == 0
    assert _run(dataset, target, "noedit", "--limit", "4") == 0
    assert _run(dataset, first, "ft-m", "--limit", "2") == 0
    assert main(["merge", str(first), "--into", str(target), "--editors", "ft-m"]) == 0
    assert _run(dataset, target, "noedit,ft-m", "--limit", "4", "--resume") == 0
    units = _units(target)
    assert len(units) == len(set(units)) == 8  # two editors x four cases, none run twice
    assert (target / "per_case.csv").read_text() == (one / "per_case.csv").read_text()


def test_merge_refuses_runs_with_different_options(dataset, tmp_path, capsys):
    target, side = tmp_path / "target", tmp_path / "side"
    _run(dataset, target, "noedit")
    _run(dataset, side, "ft-m", "--seed", "1")
    before = (target / "cases.jsonl").read_text()
    assert main(["merge", str(side), "--into", str(target)]) == 2
    err = capsys.readouterr().err
    assert "seed=1 vs 0" in err and str(side) in err and str(target) in err
    assert (target / "cases.jsonl").read_text() == before


def test_merge_refuses_a_unit_twice_and_unknown_editors(dataset, tmp_path, capsys):
    target, side = tmp_path / "target", tmp_path / "side"
    _run(dataset, target, "noedit")
    _run(dataset, side, "ft-m")
    assert main(["merge", str(side), "--into", str(target), "--editors", "rome"]) == 2
    assert "has no editor rome (it has ft-m)" in capsys.readouterr().err
    assert main(["merge", str(side), "--into", str(target)]) == 0
    before = (target / "cases.jsonl").read_text()
    assert main(["merge", str(side), "--into", str(target)]) == 2
    assert "already has 4 unit(s)" in capsys.readouterr().err
    assert (target / "cases.jsonl").read_text() == before


def test_merge_refuses_cases_the_target_does_not_hold(dataset, tmp_path, capsys):
    target, side = tmp_path / "target", tmp_path / "side"
    _run(dataset, target, "noedit", "--limit", "2")
    _run(dataset, side, "ft-m", "--limit", "3")
    assert main(["merge", str(side), "--into", str(target)]) == 2
    assert "are not a subset of the cases" in capsys.readouterr().err


def test_merge_of_a_missing_directory_says_so(tmp_path, capsys):
    assert main(["merge", str(tmp_path / "nope"), "--into", str(tmp_path)]) == 2
    assert "is not a run directory (no config.json)" in capsys.readouterr().err


LEGACY = ("--scoring", "tf", "--side-effects", "off", "--loc-unrelated", "0")


def _as_written_before_the_options(out):
    """config.json as runs made before --scoring, --side-effects and --loc-unrelated existed wrote it."""
    config = json.loads((out / "config.json").read_text())
    for key in ("scoring", "side_effects", "loc_unrelated", "fluency_prompts"):
        config["args"].pop(key)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def test_a_run_made_before_the_scoring_options_takes_rows_made_with_their_old_values(dataset, tmp_path):
    one, target, side = tmp_path / "one", tmp_path / "target", tmp_path / "side"
    assert _run(dataset, one, "noedit,ft-m", *LEGACY) == 0
    assert _run(dataset, target, "noedit", *LEGACY) == 0
    _as_written_before_the_options(target)
    assert _run(dataset, side, "ft-m", *LEGACY) == 0
    assert main(["merge", str(side), "--into", str(target)]) == 0
    assert (target / "per_case.csv").read_text() == (one / "per_case.csv").read_text()


def test_rows_gone_from_cases_jsonl_are_never_summarised_away(dataset, tmp_path, capsys):
    """A committed run whose cases.jsonl was deleted for space keeps its summary: merge, run and resume refuse."""
    target, side = tmp_path / "target", tmp_path / "side"
    assert _run(dataset, target, "noedit", *LEGACY) == 0
    assert _run(dataset, side, "ft-m", *LEGACY) == 0
    rows = [json.loads(x) for x in (target / "cases.jsonl").read_text().splitlines()]
    (target / "cases.jsonl").unlink()
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file() and p.name != ".lock"}
    assert main(["merge", str(side), "--into", str(target)]) == 2
    err = capsys.readouterr().err
    assert "records 1 editor(s) (noedit) whose rows are not in" in err and "Restore cases.jsonl" in err
    write_packed(target, rows)  # packed as results/ commits them: the error says how to unpack
    assert main(["merge", str(side), "--into", str(target)]) == 2
    assert f"Unpack {target / 'cases.jsonl.xz'} first (xz -dk)" in capsys.readouterr().err
    (target / "cases.jsonl.xz").unlink()
    for extra in ((), ("--resume",)):
        assert _run(dataset, target, "ft-m", *LEGACY, *extra) == 2
        assert "would rewrite summary.csv and per_case.csv without them" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file() and p.name != ".lock"} == before
