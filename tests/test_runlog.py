"""The run directory under short writes, concurrent writers, mismatched resumes and interruptions."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import bench.cli
import bench.runner
from bench.atomic import atomic_write, atomic_write_text
from bench.cli import main
from bench.locks import FolderLock, LockHeld
from bench.metrics import CaseMetrics
from bench.runlog import UNIT_ROWS, RunLog, read_per_case, summary_columns
from tests.test_runner import TF_ONLY
from tests.test_runner import _record as runner_record


def _record(i: int) -> dict:
    """test_runner's CounterFact record without its portability question (four queries a case)."""
    record = runner_record(i)
    del record["portability"]
    return record


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(5)]))
    return f"counterfact:{path}"


def _run(dataset, out, *extra, editors="noedit"):
    return main(["run", "--editors", editors, "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "20", *TF_ONLY, *extra])


def _lines(out):
    return (out / "cases.jsonl").read_text().splitlines(keepends=True)


def _rows(out):
    return [json.loads(x) for x in _lines(out)]


def test_each_unit_ends_with_its_row_count(dataset, tmp_path):
    out = tmp_path / "run"
    assert _run(dataset, out) == 0
    rows = _rows(out)
    assert len(rows) == 20  # 5 cases x 4 queries
    assert [r.get(UNIT_ROWS) for r in rows[:4]] == [None, None, None, 4]


def test_a_unit_cut_short_runs_again_on_resume(dataset, tmp_path, caplog):
    """The review's `truncate`: rows of the last unit were on disk but not all of them; the old resume kept them
    and skipped the unit for good (rows lost). Now the unit is discarded, rerun, and the results are whole."""
    full, out = tmp_path / "full", tmp_path / "cut"
    assert _run(dataset, full) == 0 and _run(dataset, out) == 0
    data = (out / "cases.jsonl").read_bytes()
    (out / "cases.jsonl").write_bytes(data[:-200])  # the last unit's mark and more are gone, a line is torn
    assert _run(dataset, out, "--resume") == 0
    assert re.search(r"discarded [1-3] row\(s\) of 1 unit\(s\) not written to the end and a torn last line",
                     caplog.text)
    assert len(_rows(out)) == 20
    assert (out / "per_case.csv").read_bytes() == (full / "per_case.csv").read_bytes()


def test_legacy_and_marked_rows_scan(tmp_path):
    log = RunLog(tmp_path)
    legacy = [{"editor": "e", "unit": f"cases:{i}"} for i in range(3)]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in legacy))
    log.append([{"editor": "e", "unit": "cases:3"}] * 2)
    log.append([{"editor": "e", "unit": "cases:4"}] * 3)
    with (tmp_path / "cases.jsonl").open("a") as fh:  # a unit in flight: one of its rows, no mark
        fh.write(json.dumps({"editor": "e", "unit": "cases:5"}) + "\n")
    assert [r["unit"] for r in log.rows()] == ["cases:0", "cases:1", "cases:2"] + ["cases:3"] * 2 + ["cases:4"] * 3
    assert log.drop_incomplete_units() == 1
    assert len(_rows(tmp_path)) == 8


def test_a_corrupt_line_is_a_clear_error(tmp_path):
    (tmp_path / "cases.jsonl").write_text('{"editor": "e", "unit": "u", "unit_rows": 1}\nnot json\n{"a": 1}\n')
    with pytest.raises(Exception, match=r"cases.jsonl, line 2: not a JSON row"):
        RunLog(tmp_path).rows()


@pytest.mark.parametrize("content", ["", '{"args": {"dataset": "counter', "null", "[]", "42", '{"args": 3}'])
def test_an_unusable_config_is_set_aside_when_the_rows_vouch_for_the_command(dataset, tmp_path, caplog, content):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "3") == 0
    (out / "config.json").write_text(content)
    assert _run(dataset, out, "--resume") == 2  # --limit 5: the rows say 3
    assert (out / "config.json").read_text() == content
    assert _run(dataset, out, "--limit", "3", "--resume") == 0
    assert "config.json is written anew" in caplog.text
    assert [p.read_text() for p in out.glob("config.json.unusable-*")] == [content]
    assert json.loads((out / "config.json").read_text())["args"]["limit"] == 3


@pytest.mark.parametrize("content", [None, "", "null", "[]"])
def test_rows_that_cannot_vouch_make_a_resume_without_config_a_refusal(dataset, tmp_path, capsys, content):
    out = tmp_path / "run"
    assert _run(dataset, out) == 0
    legacy = [json.loads(line) for line in _lines(out)]
    for row in legacy:  # rows written before they recorded their options
        row.pop("written_with", None)
    (out / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in legacy))
    if content is None:
        (out / "config.json").unlink()
    else:
        (out / "config.json").write_text(content)
    before = (out / "cases.jsonl").read_bytes()
    capsys.readouterr()
    assert _run(dataset, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "cannot be checked against them" in err and "restore config.json or start a new --out" in err
    assert "This is a bug" not in err and (out / "cases.jsonl").read_bytes() == before


def test_resume_refuses_other_editor_args_and_dtype(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "5", editors="ft-m") == 0
    before = (out / "cases.jsonl").read_bytes()
    capsys.readouterr()
    assert _run(dataset, out, "--limit", "5", "--resume", "--editor-args", "ft-m:lr=0.5", editors="ft-m") == 2
    assert "editor ft-m ran in" in capsys.readouterr().err
    assert _run(dataset, out, "--limit", "5", "--resume", "--dtype", "bfloat16", editors="ft-m") == 2
    assert "written with dtype 'float32'" in capsys.readouterr().err
    assert (out / "cases.jsonl").read_bytes() == before
    assert _run(dataset, out, "--limit", "5", "--resume", "--device", "auto", editors="ft-m") == 0  # auto is cpu here


def test_an_editor_that_fills_its_config_from_the_model_resumes(dataset, tmp_path, capsys):
    """ROME records the values its hyper-parameter file gives; a resume with the same command compares those
    (it was refused, every field 'now None'), and one with another layer (the file's is 1 here) is refused."""
    out, args = tmp_path / "run", "rome:mom2_adjustment=false,v_num_grad_steps=1,contexts_per_length=0"
    assert _run(dataset, out, "--limit", "2", "--editor-args", args, editors="rome") == 0
    lines = _lines(out)
    (out / "cases.jsonl").write_text("".join(lines[:-2]))  # the last unit cut short
    assert _run(dataset, out, "--limit", "2", "--resume", "--editor-args", args, editors="rome") == 0
    assert _lines(out) == lines
    capsys.readouterr()
    assert _run(dataset, out, "--limit", "2", "--resume", "--editor-args", args + ",layers=3", editors="rome") == 2
    assert "editor rome ran in" in capsys.readouterr().err


def test_a_second_writer_is_refused_naming_the_holder(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    holder = FolderLock(out, "run directory").acquire()
    try:
        assert _run(dataset, out) == 2
        err = capsys.readouterr().err
        assert "being written by another process" in err and f"pid {os.getpid()}" in err
        assert not (out / "cases.jsonl").exists()
    finally:
        holder.release()
    assert _run(dataset, out) == 0


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    code = ("import sys, time; from bench.locks import FolderLock; FolderLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
            FolderLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with FolderLock(tmp_path):
        pass


def test_sigterm_stops_like_ctrl_c(monkeypatch, capsys):
    def terminated(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        return 0

    monkeypatch.setattr(bench.cli, "_cmd_list", terminated)
    assert main(["list", "models"]) == 130
    assert "stopped by SIGTERM" in capsys.readouterr().err


def test_an_interrupted_editor_keeps_its_time_and_rows(dataset, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real = bench.runner.run_protocol

    def two_units_then_stop(*args):
        for n, unit in enumerate(real(*args)):
            if n == 2:
                raise KeyboardInterrupt
            yield unit

    monkeypatch.setattr(bench.runner, "run_protocol", two_units_then_stop)
    assert _run(dataset, out) == 130
    record = json.loads((out / "config.json").read_text())["editors"]["noedit"]
    assert record["seconds"] > 0 and len(_rows(out)) == 8
    monkeypatch.setattr(bench.runner, "run_protocol", real)
    assert _run(dataset, out, "--resume") == 0
    assert json.loads((out / "config.json").read_text())["editors"]["noedit"]["seconds"] > record["seconds"]


def test_an_unexpected_error_is_one_line_and_a_file(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(bench.cli, "_cmd_list", broken)
    assert main(["list", "models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ZeroDivisionError: boom" in err and "--debug" in err
    path = err.split("traceback is in ")[1].split(" (rerun")[0]
    assert "Traceback" in open(path).read()
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "list", "models"])


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "config.json"
    atomic_write_text(path, "old")

    def failing(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, failing)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["config.json"]


@pytest.mark.parametrize("flags, level", [([], logging.INFO), (["-v"], logging.DEBUG), (["--verbose"], logging.DEBUG),
                                          (["-q"], logging.WARNING), (["--quiet"], logging.WARNING)])
def test_verbose_and_quiet_set_the_level_of_our_loggers(monkeypatch, flags, level):
    seen = []
    monkeypatch.setattr(bench.cli, "_cmd_list", lambda args: seen.append(args.what) or 0)
    assert main([*flags, "list", "models"]) == 0 and seen == ["models"]
    assert logging.getLogger("bench").level == logging.getLogger("editors").level == level
    assert main(["list", "models", *flags]) == 0 and logging.getLogger("bench").level == level  # also after it
    logging.getLogger("bench").setLevel(logging.INFO)
    logging.getLogger("editors").setLevel(logging.INFO)


def test_verbose_and_quiet_exclude_each_other(capsys):
    assert main(["-v", "-q", "list", "models"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_unit_keys_are_spelt_once_and_parse_back():
    from bench.runlog import (
        is_eval_key,
        parse_unit_key_cases,
        parse_unit_key_edit,
        parse_unit_key_eval,
        unit_key_cases,
        unit_key_edit,
        unit_key_eval,
    )

    assert unit_key_cases(["c1", "c2"]) == "cases:c1,c2" and unit_key_edit("c1") == "edit:c1"
    assert unit_key_eval(3) == "eval@3" and is_eval_key("eval@3") and not is_eval_key(None)
    assert parse_unit_key_cases("cases:c1,c2") == ["c1", "c2"] and parse_unit_key_cases("edit:c1") is None
    assert parse_unit_key_edit("edit:c1") == "c1" and parse_unit_key_eval("eval@12") == 12
    assert parse_unit_key_eval("after-edit") is None


# -- second reliability round: each test fails on the code before it (docs/reliability.md) -------------------

def test_a_cut_short_first_unit_is_rerun(dataset, tmp_path, caplog):
    out = tmp_path / "run"
    assert _run(dataset, out, editors="ft-m") == 0
    whole = (out / "per_case.csv").read_bytes()
    lines = _lines(out)
    (out / "cases.jsonl").write_text("".join(lines[:2]))  # two rows of the first unit's four, no mark
    assert _run(dataset, out, "--resume", editors="ft-m") == 0
    assert "discarded 2 row(s) of 1 unit(s)" in caplog.text
    assert (out / "per_case.csv").read_bytes() == whole and _lines(out) == lines


def test_a_run_written_before_the_marks_keeps_its_unmarked_first_rows(dataset, tmp_path):
    out = tmp_path / "run"
    assert _run(dataset, out) == 0
    config = json.loads((out / "config.json").read_text())
    del config["cases_format"]  # a version-1 run: its first rows were written before units were marked
    (out / "config.json").write_text(json.dumps(config))
    rows = [json.loads(line) for line in _lines(out)]
    for row in rows[:4]:
        row.pop(UNIT_ROWS, None)
        row.pop("written_with", None)
    (out / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert len(RunLog(out).rows()) == len(rows)
    assert _run(dataset, out, "--resume") == 0 and len(RunLog(out).rows()) == len(rows)
    assert json.loads((out / "config.json").read_text())["cases_format"] == 1  # its rows keep their format


@pytest.mark.parametrize("ids", [["a,b", "c", "a", "b,c"], ["[x", "y", "[", "]"], ["a", "b", "a,b", ""]])
def test_unit_keys_never_collide_whatever_the_ids(ids):
    from bench.runlog import parse_unit_key_cases, unit_key_cases

    groups = [ids[:2], ids[2:], ids[:1], ids[1:2], ids[2:3], ids[3:]]
    keys = [unit_key_cases(g) for g in groups]
    assert len(set(keys)) == len(keys) and [parse_unit_key_cases(k) for k in keys] == groups
    assert unit_key_cases(["1", "2"]) == "cases:1,2"  # the keys of every earlier run are unchanged


def test_comma_ids_resume_every_case(tmp_path):
    path = tmp_path / "cf.json"
    records = [_record(i) for i in range(4)]
    for record, case_id in zip(records, ["a,b", "c", "a", "b,c"]):
        record["case_id"] = case_id
    path.write_text(json.dumps(records))
    out = tmp_path / "run"
    assert _run(f"counterfact:{path}", out, "--protocol", "batch", "--batch-size", "2") == 0
    lines = _lines(out)
    (out / "cases.jsonl").write_text("".join(lines[: len(lines) // 2]))  # the first unit only
    assert _run(f"counterfact:{path}", out, "--protocol", "batch", "--batch-size", "2", "--resume") == 0
    summary = (out / "summary.csv").read_text()
    assert ",4," in summary and _lines(out) == lines


@pytest.mark.parametrize("name", [".lock", "cases.jsonl"])
def test_a_planted_link_is_refused_not_followed(dataset, tmp_path, capsys, name):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "2") == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    if name == "cases.jsonl":
        victim.write_bytes((out / name).read_bytes())
    target = victim.read_bytes()
    (out / name).unlink(missing_ok=True)
    (out / name).symlink_to(victim)
    capsys.readouterr()
    assert _run(dataset, out, "--resume") == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and "This is a bug" not in err
    assert victim.read_bytes() == target


def test_a_lock_that_is_a_folder_is_a_clear_error(dataset, tmp_path, capsys):
    (tmp_path / "run" / ".lock").mkdir(parents=True)
    assert _run(dataset, tmp_path / "run") == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_lock_last_taken_on_another_host_is_said(tmp_path, caplog):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 7, "host": "elsewhere.example", "since": "then"}))
    with FolderLock(tmp_path, "run directory"):
        pass
    assert "last taken on another host (elsewhere.example" in caplog.text


def test_temporaries_of_a_write_cut_short_are_removed_on_resume(dataset, tmp_path):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "2") == 0
    stray = [out / ".config.json.4242-0123abcd.tmp", out / "plots" / ".Rel.png.17-deadbeef.tmp"]
    for path in stray:
        path.parent.mkdir(exist_ok=True)
        path.write_text("half")
    keep = out / "notes.tmp"
    keep.write_text("mine")
    assert _run(dataset, out, "--limit", "2", "--resume") == 0
    assert not any(p.exists() for p in stray) and keep.exists()


@pytest.mark.parametrize(("out", "says"), [
    ("", "--out is empty"),
    ("FILE", "exists and is not a folder"),
    ("FILE/run", "is a file, so no folder can be made"),
    ("/dev/null", "exists and is not a folder"),
    ("/proc/self/run", "cannot hold a run folder"),
    ("x" * 300, "a file system allows 255 per name"),
])
def test_an_impossible_out_is_refused_before_anything_loads(dataset, tmp_path, capsys, monkeypatch, out, says):
    monkeypatch.setattr(bench.runner, "load_model", _no_model)
    (tmp_path / "FILE").write_text("mine")
    monkeypatch.chdir(tmp_path)
    assert _run(dataset, out) == 2
    err = capsys.readouterr().err
    assert says in err and "This is a bug" not in err
    assert (tmp_path / "FILE").read_text() == "mine"


def test_a_quoted_tilde_out_is_the_home_folder(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert _run(dataset, "~/runs/one", "--limit", "1") == 0
    assert (tmp_path / "runs" / "one" / "summary.csv").exists() and not (tmp_path / "~").exists()


def test_the_traceback_file_is_new_and_not_predictable(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(bench.cli, "_cmd_list", lambda args: 1 / 0)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["list", "editors"]) == 1
    path = capsys.readouterr().err.split("traceback is in ")[1].split(" (rerun")[0]
    assert path.startswith(str(tmp_path)) and "ZeroDivisionError" in open(path).read()
    assert re.search(r"traceback-\d{8}-\d{6}-\w{8}\.txt$", path)


def test_resuming_with_another_seed_names_the_seed(dataset, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "2", editors="ft-m") == 0
    monkeypatch.setattr(bench.runner, "load_model", _no_model)
    capsys.readouterr()
    assert _run(dataset, out, "--limit", "2", "--seed", "5", "--resume", editors="ft-m") == 2
    err = capsys.readouterr().err
    assert "written with seed=0, this command has seed=5" in err and "editor-args" not in err


@pytest.mark.parametrize("line", ["42", "null", '"text"', "[1, 2]", '{"editor": "noedit"}'])
def test_a_line_that_is_not_a_row_is_a_clear_error(dataset, tmp_path, capsys, line):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "2") == 0
    with (out / "cases.jsonl").open("a") as fh:
        fh.write(line + "\n")
    capsys.readouterr()
    assert _run(dataset, out, "--limit", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert "is not a row of the harness" in err and "line 9" in err


def _no_model(*args, **kwargs):
    raise AssertionError("the model was loaded before the command was refused")


def test_a_short_write_on_a_full_disk_is_a_clear_error_and_resumes_exactly(dataset, tmp_path):
    """The review's repro: a file size limit cuts cases.jsonl mid-unit (as a full disk would)."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    out, whole = tmp_path / "cut", tmp_path / "whole"
    command = [sys.executable, "-m", "bench", "run", "--editors", "ft-m", "--dataset", dataset, "--model",
               "tiny-llama", "--device", "cpu", "--bootstrap", "20", *TF_ONLY]
    cut = subprocess.run(command + ["--out", str(out)], preexec_fn=limit, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert cut.returncode == 2 and "failed (File too large)" in cut.stderr and "This is a bug" not in cut.stderr
    assert (out / "cases.jsonl").stat().st_size == 4096
    assert _run(dataset, out, "--resume", editors="ft-m") == 0 and _run(dataset, whole, editors="ft-m") == 0
    assert (out / "per_case.csv").read_bytes() == (whole / "per_case.csv").read_bytes()


def test_retrieval_accuracy_is_the_last_summary_group_and_a_per_case_column_only_where_present(tmp_path):
    columns = summary_columns()
    assert columns[-3:] == ["Ret_Acc", "Ret_Acc_lo", "Ret_Acc_hi"]
    assert columns.index("H_unrelated_hi") == len(columns) - 4  # the effect metrics keep their positions ...
    assert columns.index("Score_unrelated_lo") == columns.index("Known_gen_hi") + 1  # ... newer ones come after
    log = RunLog(tmp_path)
    plain = CaseMetrics("1", {"Rel": 100.0, "Loc_unrelated": 80.0})
    log.write_per_case({("noedit", "single"): [plain]})
    assert (tmp_path / "per_case.csv").read_text().splitlines()[0].split(",")[-1] == "Loc_unrelated"
    retrieving = CaseMetrics("2", {"Rel": 50.0, "Loc_unrelated": 60.0, "Ret_Acc": 75.0})
    log.write_per_case({("noedit", "single"): [plain], ("instructed", "single"): [retrieving]})
    header, first, second = (tmp_path / "per_case.csv").read_text().splitlines()
    assert header.split(",")[-2:] == ["Loc_unrelated", "Ret_Acc"]
    assert first.endswith(",80,") and second.endswith(",60,75")
    read = read_per_case(tmp_path / "per_case.csv")
    assert read[("instructed", "single")][0].values["Ret_Acc"] == 75.0
    assert read[("noedit", "single")][0].values["Ret_Acc"] is None
