"""Cross-model findings (bench/paper/findings.py): paired differences per model on the case ids both models hold."""

from __future__ import annotations

import csv

import pytest

from bench.paper.findings import Finding, main, markdown, measure, per_case, shared_ids


def _per_case(run_dir, rows, dataset="counterfact", model=None, protocol="single"):
    run_dir.mkdir(parents=True)
    with (run_dir / "per_case.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["editor", "protocol", "case_id", "Rel", "Gen", "Loc"])
        w.writeheader()
        for editor, case_id, rel, gen, loc in rows:
            w.writerow({"editor": editor, "protocol": protocol, "case_id": case_id, "Rel": 100 * rel,
                        "Gen": 100 * gen, "Loc": 100 * loc})  # per_case.csv holds percent, given here as fractions
    with (run_dir / "summary.csv").open("w", newline="") as fh:  # where per_case.csv's dataset and model are read
        w = csv.DictWriter(fh, fieldnames=["editor", "dataset", "model", "protocol"])
        w.writeheader()
        for editor in dict.fromkeys(r[0] for r in rows):
            w.writerow({"editor": editor, "dataset": dataset, "model": model or run_dir.name, "protocol": "single"})
    return str(run_dir)


@pytest.fixture
def models(tmp_path):
    big = _per_case(tmp_path / "big", [("a", c, 1, g, 1) for c, g in (("1", 1), ("2", 1), ("3", 0), ("4", 1))]
                    + [("b", c, 1, 0, 1) for c in "1234"])
    small = _per_case(tmp_path / "small", [("a", c, 1, 0.5, 1) for c in "12"] + [("b", c, 1, 0, 1) for c in "12"])
    later = _per_case(tmp_path / "later", [("b", c, 1, 0.5, 1) for c in "1234"])  # replaces big's b
    return {"big": per_case([big, later]), "small": per_case([small])}


def test_each_model_is_read_on_the_cases_every_model_holds(models):
    ids = shared_ids(models, "counterfact")
    assert ids == {"1", "2"}
    assert shared_ids(models, "zsre") == set()
    gen = Finding("a generalises better", "a", "b", "Gen")
    diff, lo, hi, n = measure(gen, models["big"], ids)
    assert (diff, n) == (50.0, 2) and lo == hi == 50.0  # a: 1, 1; b (the later run's): 0.5, 0.5
    assert measure(gen, models["small"], ids)[:1] == (50.0,)
    assert measure(Finding("x", "a", "c", "Gen"), models["big"], ids) is None


def test_a_model_without_a_dataset_leaves_the_others_their_cases(models, tmp_path):
    """Gemma's MQuAKE run not made yet: SmolLM2's MQuAKE findings are still read, on all its cases."""
    mq = _per_case(tmp_path / "mq", [("a", c, 1, 1, 1) for c in "123"] + [("b", c, 1, 0, 1) for c in "123"],
                   "mquake-test", model="big")
    models = {"big": {**models["big"], **per_case([mq])}, "small": models["small"]}
    assert shared_ids(models, "mquake-test") == {"1", "2", "3"}
    table = markdown(models, (Finding("x", "a", "b", "Gen", "mquake-test"),))
    assert table.splitlines()[2] == "| x | mquake-test | a - b, Gen | +100.0 [+100.0, +100.0] (n=3) | not run |"


def test_the_table_says_which_editor_is_not_run(models):
    table = markdown(models, (Finding("a beats c", "a", "c", "Rel"), Finding("a beats b", "a", "b", "Gen")))
    lines = table.splitlines()
    assert lines[0] == "| finding | dataset | a - b, metric | big | small |"
    assert lines[2] == "| a beats c | counterfact | a - c, Rel | not run | not run |"
    assert lines[3] == ("| a beats b | counterfact | a - b, Gen | +50.0 [+50.0, +50.0] (n=2) "
                        "| +50.0 [+50.0, +50.0] (n=2) |")


def test_datasets_of_one_model_are_kept_apart(tmp_path):
    """Two datasets' runs of one model hold the same editors (and here the same case ids): a finding reads its
    own dataset's rows, and the shared ids are taken per dataset."""
    cf = _per_case(tmp_path / "cf", [("a", c, 1, 1, 1) for c in "12"] + [("b", c, 1, 0, 1) for c in "12"],
                   model="m")
    zsre = _per_case(tmp_path / "zsre", [("a", c, 1, 0, 1) for c in "123"] + [("b", c, 1, 1, 1) for c in "123"],
                     "zsre", model="m")
    models = {"m": per_case([cf, zsre])}
    assert shared_ids(models, "zsre") == {"1", "2", "3"}
    cf_gen, zsre_gen = Finding("x", "a", "b", "Gen"), Finding("x", "a", "b", "Gen", "zsre")
    assert measure(cf_gen, models["m"], shared_ids(models, "counterfact"))[::3] == (100.0, 2)
    assert measure(zsre_gen, models["m"], shared_ids(models, "zsre"))[::3] == (-100.0, 3)


def test_a_sequential_finding_reads_the_final_model_not_the_single_protocol(tmp_path):
    single = _per_case(tmp_path / "single", [("a", c, 1, 1, 1) for c in "12"] + [("b", c, 0, 0, 1) for c in "12"],
                       model="m")
    seq = _per_case(tmp_path / "seq", [("a", c, 0, 1, 1) for c in "12"] + [("b", c, 1, 0, 1) for c in "12"],
                    model="m", protocol="sequential/final")
    runs = per_case([single, seq])
    ids = shared_ids({"m": runs}, "counterfact")
    assert measure(Finding("x", "a", "b", "Rel"), runs, ids)[0] == 100.0
    assert measure(Finding("x", "a", "b", "Rel", protocol="sequential/final"), runs, ids)[0] == -100.0
    table = markdown({"m": runs}, (Finding("x", "a", "b", "Rel", protocol="sequential/final"),))
    assert table.splitlines()[2].startswith("| x | counterfact (sequential/final) | a - b, Rel | -100.0")


def test_a_run_directory_without_results_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--runs", f"m={tmp_path / 'missing'}"])
    err = capsys.readouterr().err
    assert f"{tmp_path / 'missing'}" in err and "per_case.csv" in err
