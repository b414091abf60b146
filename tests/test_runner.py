import csv
import json
import logging

import pytest
import torch

from bench.cli import main
from bench.lifecycle import cpu_description
from bench.runlog import SUMMARY_COLUMNS, summary_columns


def _record(i: int) -> dict:
    subject = ["Spike Hughes", "Toko Yasuda", "John Lennon", "Max Mosley", "Lita Ford"][i]
    return {
        "case_id": 100 + i,
        "requested_rewrite": {"prompt": "{} originates from", "relation_id": "P19", "subject": subject,
                              "target_new": {"str": "Philadelphia"}, "target_true": {"str": "London"}},
        "paraphrase_prompts": [f"{subject} was born in"],
        "neighborhood_prompts": ["Kathryn Newton was born in", "Aubrey de Grey is originally from"],
        "portability": {"New Question": f"What food is the city {subject} is from known for?",
                        "New Answer": "Cheesesteaks"},
    }


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(5)]))
    return f"counterfact:{path}"


# A run that scores only the dataset's own queries, teacher-forced (no probes, generation or side effects): the
# tests that count rows per case (5 queries in the fixture's CounterFact records).
TF_ONLY = ("--scoring", "tf", "--side-effects", "off", "--loc-unrelated", "0")


def _run(dataset, out, *extra):
    return main(["run", "--editors", "noedit", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "50", *TF_ONLY, *extra])


def _cases(out):
    return [json.loads(x) for x in (out / "cases.jsonl").read_text().splitlines()]


def test_run_writes_the_documented_outputs(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(dataset, out) == 0
    with (out / "summary.csv").open() as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames[:len(SUMMARY_COLUMNS)] == SUMMARY_COLUMNS
    assert reader.fieldnames == summary_columns()
    assert rows[0]["editor"] == "noedit" and rows[0]["n_cases"] == "5" and float(rows[0]["Loc"]) == 100.0
    assert rows[0]["Por_Nhop"] == "" and rows[0]["Rel_lo"] != ""
    config = json.loads((out / "config.json").read_text())
    assert config["seeds"]["global"] == 0 and config["versions"]["torch"] and "revision" in config["git"]
    assert (out / "plots" / "Rel.png").exists()
    assert len(_cases(out)) == 5 * 5  # 5 cases x 5 queries
    loc = [r for r in _cases(out) if r["kind"] == "loc"]  # noedit adds no text: e0 = e1 = 1
    assert len(loc) == 10 and all(r["loc_e0"] == r["loc"] == r["loc_paper"] == 1.0 for r in loc)
    assert float(rows[0]["Loc_paper"]) == 100.0 and rows[0]["Score_paper"] == rows[0]["Score"] != ""
    assert rows[0]["H_paper_lo"] != ""
    assert (out / "per_case.csv").read_text().splitlines()[0].endswith(",Hop_Acc,MH_Acc,Loc_paper")


def test_same_command_gives_identical_per_case_results(dataset, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _run(dataset, a)
    _run(dataset, b)
    strip = [{k: v for k, v in r.items()} for r in _cases(a)]
    assert strip == _cases(b)


def test_resume_after_a_kill_keeps_each_case_once(dataset, tmp_path):
    out = tmp_path / "run"
    _run(dataset, out)
    first_wall = json.loads((out / "config.json").read_text())["wall_seconds"]
    lines = (out / "cases.jsonl").read_text().splitlines(keepends=True)
    # simulate a kill: two whole cases and half a line of the third are on disk
    (out / "cases.jsonl").write_text("".join(lines[:10]) + lines[10][:20])
    assert _run(dataset, out) == 2  # refuses to overwrite without --resume
    assert _run(dataset, out, "--resume") == 0
    rows = _cases(out)
    keys = [(r["case_id"], r["qi"]) for r in rows]
    assert len(keys) == len(set(keys)) == 25
    config = json.loads((out / "config.json").read_text())
    assert len(config["previous_starts"]) == 1  # the first start, once, with its own wall time
    assert config["previous_starts"][0]["wall_seconds"] == first_wall > 0
    killed = {k: v for k, v in config.items() if k != "wall_seconds"}  # a start killed before its end wrote none
    (out / "config.json").write_text(json.dumps({**killed, "started": "killed"}))
    assert _run(dataset, out, "--resume") == 0
    starts = json.loads((out / "config.json").read_text())["previous_starts"]
    assert [s["wall_seconds"] for s in starts] == [first_wall, None]  # not the first start's carried over
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "merged": {"from": "elsewhere"}}))
    assert _run(dataset, out, "--resume") == 0
    assert json.loads((out / "config.json").read_text())["merged"] == {"from": "elsewhere"}
    assert config["editors"]["noedit"]["seconds"] > 0 and config["editors"]["noedit"]["units"] == 5


def test_a_resume_in_another_environment_is_recorded_and_said(dataset, tmp_path, caplog):
    out = tmp_path / "run"
    _run(dataset, out)
    config = json.loads((out / "config.json").read_text())
    assert config["versions"]["cpu"] == cpu_description() and "(" in config["versions"]["cpu"]
    assert config["versions"]["torch_threads"] == torch.get_num_threads()
    threads = config["versions"]["torch_threads"] + 1
    first = {**config, "versions": {**config["versions"], "cpu": "Other CPU (AVX2)", "torch_threads": threads}}
    (out / "config.json").write_text(json.dumps(first))
    with caplog.at_level(logging.WARNING, logger="bench.runlog"):
        assert _run(dataset, out, "--resume") == 0
    said = " ".join(r.getMessage() for r in caplog.records if "another environment" in r.getMessage())
    assert "cpu 'Other CPU (AVX2)' -> " + repr(cpu_description()) in said and str(out / "config.json") in said
    assert f"torch_threads {threads} -> {threads - 1}" in said
    starts = json.loads((out / "config.json").read_text())["previous_starts"]
    assert starts[-1]["versions"]["cpu"] == "Other CPU (AVX2)" and starts[-1]["started"] == config["started"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bench.runlog"):
        assert _run(dataset, out, "--resume") == 0  # the same environment again: nothing to say
    assert not [r for r in caplog.records if "another environment" in r.getMessage()]


def test_resume_with_another_editor_keeps_the_first_editors_record(dataset, tmp_path):
    out = tmp_path / "run"
    _run(dataset, out)
    assert main(["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "50", "--limit", "5", "--resume"]) == 2  # limit differs
    assert main(["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "50", *TF_ONLY, "--resume"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert set(config["editors"]) == {"noedit", "ft-m"} and config["editors"]["noedit"]["units"] == 5
    with (out / "summary.csv").open() as fh:
        assert {r["editor"] for r in csv.DictReader(fh)} == {"noedit", "ft-m"}


def test_an_editor_stopped_part_way_gets_no_summary_row_until_it_finishes(dataset, tmp_path, monkeypatch):
    """Once a run summarised everything in cases.jsonl: an editor stopped after 2 of 5 cases, then a resume naming
    another editor, published a row counting 2 cases beside rows counting 5."""
    from editors.ft.editor import FTEditor

    out, edit, calls = tmp_path / "run", FTEditor.edit, []

    def stop_at_the_third(self, cases):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return edit(self, cases)

    ft_m = ["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
            "--out", str(out), "--bootstrap", "50", *TF_ONLY, "--editor-args", "ft-m:num_steps=2", "--resume"]
    monkeypatch.setattr(FTEditor, "edit", stop_at_the_third)
    assert main(ft_m) != 0
    monkeypatch.setattr(FTEditor, "edit", edit)
    assert {r["editor"] for r in _cases(out)} == {"ft-m"}  # its two finished cases are kept for --resume
    assert _run(dataset, out, "--resume") == 0
    with (out / "summary.csv").open() as fh:
        assert [(r["editor"], r["n_cases"]) for r in csv.DictReader(fh)] == [("noedit", "5")]
    assert main(ft_m) == 0
    with (out / "summary.csv").open() as fh:
        assert sorted((r["editor"], r["n_cases"]) for r in csv.DictReader(fh)) == [("ft-m", "5"), ("noedit", "5")]


def test_resume_does_not_rerun_a_finished_editor(dataset, tmp_path, caplog):
    out = tmp_path / "run"
    seq = ("--protocol", "sequential", "--eval-every", "2")
    assert _run(dataset, out, *seq) == 0
    summary = (out / "summary.csv").read_text()
    (out / "summary.csv").unlink()
    assert _run(dataset, out, *seq, "--resume") == 0
    assert "noedit: every unit is in" in caplog.text  # no replay of its five edits (logged by bench.runner)
    assert (out / "summary.csv").read_text() == summary  # still summarised


def test_every_editor_is_given_the_runs_cases_also_on_resume(dataset, tmp_path):
    """Editor.begin_run: the run's whole case list before the first unit, whichever units are left to run."""
    out = tmp_path / "run"
    command = ["run", "--editors", "tests.ray_editors:RunCases", "--dataset", dataset, "--model", "tiny-llama",
               "--device", "cpu", "--out", str(out), "--bootstrap", "50", "--limit", "4", *TF_ONLY]
    assert main(command) == 0
    lines = (out / "cases.jsonl").read_text().splitlines()
    assert len(lines) == 4 * 5 and {json.loads(x)["run_cases"] for x in lines} == {4}
    (out / "cases.jsonl").write_text("\n".join(lines[:10]) + "\n")  # the first two units
    assert main([*command, "--resume"]) == 0
    assert (out / "cases.jsonl").read_text().splitlines() == lines


def test_resume_refuses_different_options(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    _run(dataset, out, "--limit", "2")
    assert _run(dataset, out, "--resume", "--limit", "3") == 2
    assert "limit" in capsys.readouterr().err


def test_malformed_record_gives_one_paragraph_error(tmp_path, capsys):
    bad = [_record(0), _record(1)]
    del bad[1]["requested_rewrite"]["subject"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert _run(f"counterfact:{path}", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "record 1" in err and "subject" in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("extra, message", [
    (["--protocol", "batch"], "--batch-size"),
    (["--num-edits", "3"], "sequential"),
    (["--editor-args", "rome:layers=3"], "not in --editors"),
])
def test_impossible_option_combinations_are_refused(dataset, tmp_path, capsys, extra, message):
    assert _run(dataset, tmp_path / "o", *extra) == 2
    assert message in capsys.readouterr().err


def test_unknown_editor_suggests_a_name(dataset, tmp_path, capsys):
    assert main(["run", "--editors", "noedt", "--dataset", dataset, "--model", "tiny-llama",
                 "--out", str(tmp_path / "o")]) == 2
    assert "Did you mean 'noedit'" in capsys.readouterr().err


def test_sequential_run_writes_labelled_rows_and_a_curve(dataset, tmp_path):
    out = tmp_path / "seq"
    assert _run(dataset, out, "--protocol", "sequential", "--num-edits", "4", "--eval-every", "2") == 0
    with (out / "summary.csv").open() as fh:
        protocols = [r["protocol"] for r in csv.DictReader(fh)]
    assert protocols == ["sequential/after-edit", "sequential/final"]
    curve = (out / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("editor,n_edits") and len(curve) == 3
    assert (out / "plots" / "sequential_curve.png").exists()
    assert not (out / "states").exists()  # an editor's saved state goes once it has finished


def test_report_renders_markdown_latex_and_csv(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    _run(dataset, out)
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    md = capsys.readouterr().out
    assert "| Editor | n | Rel | Gen | Loc | Por_hop | Score | H |" in md and "100.00" in md
    assert "| noedit | 5 | 0.00 | 0.00 | 100.00 |" in md  # the unedited reference is never bolded
    assert main(["report", str(out), "--format", "latex", "--ci"]) == 0
    tex = capsys.readouterr().out
    assert "\\begin{tabular}" in tex and "Por\\_hop" in tex
    assert main(["report", str(out), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("editor,dataset,model,protocol,n_cases,Rel")


def test_list_commands(capsys):
    assert main(["list", "editors"]) == 0 and "instructed" in capsys.readouterr().out
    assert main(["list", "models"]) == 0 and "smollm2-135m" in capsys.readouterr().out
    assert main(["list", "datasets"]) == 0 and "mquake" in capsys.readouterr().out


def test_checks_that_need_the_model_run_before_any_editor(dataset, tmp_path, capsys):
    """A layer the model lacks and a query longer than its context stop the run before a row is written."""
    out = tmp_path / "o"
    assert main(["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--editor-args", "ft-m:layers=99"]) == 2
    err = capsys.readouterr().err
    assert "argument layers=[99] names layer 99" in err and "'tiny-llama' has 4 layers" in err
    assert not (out / "cases.jsonl").exists() or not (out / "cases.jsonl").read_text()

    long = [_record(0), _record(1)]
    long[1]["paraphrase_prompts"] = [" ".join(["word"] * 600)]  # tiny-llama's context: 512 positions
    path = tmp_path / "long.json"
    path.write_text(json.dumps(long))
    assert _run(f"counterfact:{path}", tmp_path / "o2") == 2
    err = capsys.readouterr().err
    assert "longer than the model's context of 512 tokens" in err and "case 101" in err


def test_an_unknown_model_fails_at_once_without_the_hub(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BENCH_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["run", "--editors", "noedit", "--dataset", dataset, "--model", "tiny-lama",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'tiny-llama'" in err and "--allow-hub" in err


def test_a_run_whose_model_does_not_load_leaves_no_directory(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--editors", "noedit", "--dataset", dataset, "--model", "no-such-model", "--out",
                 str(out)]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err and not out.exists()


def test_limit_zero_is_an_error_about_limit(dataset, tmp_path, capsys):
    assert _run(dataset, tmp_path / "run", "--limit", "0") == 2
    assert "--limit 0: the number of cases to evaluate must be >= 1" in capsys.readouterr().err


def test_the_leftover_of_a_run_that_wrote_no_row_is_replaced_not_a_resume_mismatch(dataset, tmp_path, caplog):
    out = tmp_path / "run"
    assert _run(dataset, out, "--limit", "2") == 0
    (out / "cases.jsonl").unlink()  # as a run that failed after writing config.json, before its first row
    assert _run(dataset, out, "--limit", "3") == 0
    assert "stopped before writing any row; its config.json is replaced" in caplog.text
    assert json.loads((out / "config.json").read_text())["args"]["limit"] == 3 and len(_cases(out)) == 3 * 5


def test_a_run_tells_its_editors_its_protocol():
    """Editors whose defaults depend on the protocol (InstructEd + Retrieval's memory) read it from Resources."""
    from types import SimpleNamespace

    from bench.lifecycle import RunConfig, resources_for

    cfg = RunConfig(editors=["instructed-retrieval"], dataset="counterfact", out="run", protocol="sequential")
    assert resources_for(cfg, SimpleNamespace(device="cpu")).protocol == "sequential"
