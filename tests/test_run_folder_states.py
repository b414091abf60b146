"""Fuzzing the run folder a resume finds: whatever state a kill, a hand edit or a planted link left, `--resume`
either gives the uninterrupted run exactly or refuses in one paragraph, and writes nothing outside the folder
(docs/reliability.md)."""

import json
import shutil
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.runlog import RunLog
from tests.test_runlog import _record

CONFIGS = ["ok", "missing", "empty", "null", "list", "number", "torn", "foreign-model", "foreign-seed",
           "newer-format", "link-outside"]
CASES = ["whole", "cut-mid-unit", "cut-at-unit", "empty", "missing", "link-outside", "not-a-row"]
LOCKS = ["none", "stale-other-host", "link-outside", "folder"]


def _command(dataset, out):
    return ["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
            "--out", str(out), "--bootstrap", "20", "--limit", "3", "--editor-args", "ft-m:num_steps=2"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    root = tmp_path_factory.mktemp("states")
    path = root / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(3)]))
    dataset, out = f"counterfact:{path}", root / "whole"
    assert main(_command(dataset, out)) == 0
    return dataset, out


def _lay(run, outside, config: str, cases: str, lock: str, stray: bool) -> None:
    """Put the run folder into one state."""
    conf, data = run / "config.json", (run / "cases.jsonl").read_bytes()
    original = json.loads(conf.read_text())
    writes = {"empty": "", "null": "null", "list": "[]", "number": "42", "torn": conf.read_text()[:50],
              "foreign-model": json.dumps({**original, "args": {**original["args"], "model": "tiny-gpt2"}}),
              "foreign-seed": json.dumps({**original, "args": {**original["args"], "seed": 7}}),
              "newer-format": json.dumps({**original, "cases_format": 99})}
    if config in writes:
        conf.write_text(writes[config])
    elif config == "missing":
        conf.unlink()
    elif config == "link-outside":
        (outside / "config.json").write_text(conf.read_text())
        conf.unlink()
        conf.symlink_to(outside / "config.json")
    lines = data.splitlines(keepends=True)
    cut = {"cut-mid-unit": data[: len(b"".join(lines[:5])) + 7], "cut-at-unit": b"".join(lines[:4]), "empty": b"",
           "not-a-row": data + b"[1, 2]\n"}
    if cases in cut:
        (run / "cases.jsonl").write_bytes(cut[cases])
    elif cases == "missing":
        (run / "cases.jsonl").unlink()
    elif cases == "link-outside":
        (outside / "cases.jsonl").write_bytes(data)
        (run / "cases.jsonl").unlink()
        (run / "cases.jsonl").symlink_to(outside / "cases.jsonl")
    (run / ".lock").unlink(missing_ok=True)  # the finished run's own, released
    if lock == "stale-other-host":
        (run / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}))
    elif lock == "link-outside":
        (outside / "lock-victim").write_text("victim")
        (run / ".lock").symlink_to(outside / "lock-victim")
    elif lock == "folder":
        (run / ".lock").mkdir()
    if stray:
        (run / ".summary.csv.99-0badcafe.tmp").write_text("half")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(CONFIGS), st.sampled_from(CASES), st.sampled_from(LOCKS), st.booleans())
def test_a_resume_is_exact_or_a_clear_refusal(whole, tmp_path, capsys, config, cases, lock, stray):
    dataset, out = whole
    case = tmp_path / f"{config}-{cases}-{lock}-{stray}-{uuid.uuid4().hex[:6]}"  # hypothesis may repeat an example
    run, outside = case / "run", case / "outside"
    outside.mkdir(parents=True)
    shutil.copytree(out, run)
    _lay(run, outside, config, cases, lock, stray)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    complete = RunLog(run).rows() if cases not in ("link-outside", "not-a-row") and config != "newer-format" else None
    capsys.readouterr()
    code = main(_command(dataset, run) + ["--resume"])
    err = capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before, "wrote outside the run folder"
    assert "This is a bug" not in err and "Traceback" not in err
    if code == 0:
        assert (run / "per_case.csv").read_bytes() == (out / "per_case.csv").read_bytes()
        assert RunLog(run).rows() == RunLog(out).rows()
        assert not (run / ".summary.csv.99-0badcafe.tmp").exists()
    else:
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
        if complete is not None:
            assert RunLog(run).rows() == complete  # a refusal loses no complete unit
    shutil.rmtree(case)
