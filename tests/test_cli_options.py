"""Every option of `bench run` with an invalid value is refused in one paragraph before any model loads (a
mistyped option must not cost a model load or an editor's compute, and must not read as a bug)."""

import json

import pytest

import bench.models
import bench.runner
from bench.cli import main
from tests.test_runlog import _no_model, _record

# (extra arguments, what the message must say)
INVALID = [
    (["--editors", "no-such-editor"], "no-such-editor"),
    (["--editors", ","], "--editors is empty"),
    (["--editors", "json:JSONDecoder"], "JSONDecoder"),
    (["--dataset", "no-such-dataset"], "no-such-dataset"),
    (["--dataset", "counterfact:/no/such/file.json"], "/no/such/file.json"),
    (["--protocol", "diagonal"], "invalid choice: 'diagonal'"),
    (["--batch-size", "0", "--protocol", "batch"], "--batch-size N with N >= 2"),
    (["--batch-size", "3"], "--batch-size only applies to --protocol batch"),
    (["--num-edits", "0", "--protocol", "sequential"], "--num-edits must be >= 1"),
    (["--num-edits", "3"], "only apply to --protocol sequential"),
    (["--eval-every", "-1", "--protocol", "sequential"], "--eval-every >= 0"),
    (["--limit", "0"], "--limit 0"),
    (["--limit", "-2"], "--limit -2"),
    (["--limit", "many"], "invalid int value: 'many'"),
    (["--seed", "-1"], "--seed -1"),
    (["--data-dir", "/no/such/folder", "--dataset", "counterfact"], "/no/such/folder"),
    (["--device", "tpu"], "unknown --device 'tpu'"),
    (["--dtype", "int3"], "unknown --dtype 'int3'"),
    (["--editor-args", "ft-m:lr"], "ft-m:lr"),
    (["--editor-args", "ft-m:no_such_arg=1"], "no_such_arg"),
    (["--editor-args", "rome:layers=5"], "not in --editors"),
    (["--bootstrap", "-1"], "--bootstrap -1"),
    (["--executor", "mpi"], "invalid choice: 'mpi'"),
    (["--workers", "2"], "only apply to --executor ray"),
    (["--executor", "ray", "--workers", "0"], "--workers must be >= 1"),
    (["--executor", "ray", "--worker-cpus", "0"], "--worker-cpus > 0"),
    (["--executor", "ray", "--worker-gpus", "-1"], "--worker-gpus >= 0"),
    (["--out", ""], "--out is empty"),
    (["--resume", "--out", "OUT-FILE"], "exists and is not a folder"),
]


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(2)]))
    return f"counterfact:{path}"


@pytest.mark.parametrize(("extra", "says"), INVALID, ids=[" ".join(a) for a, _ in INVALID])
def test_an_invalid_value_is_refused_before_any_model_loads(dataset, tmp_path, capsys, monkeypatch, extra, says):
    monkeypatch.setattr(bench.runner, "load_model", _no_model)
    monkeypatch.setattr(bench.models, "load_model", _no_model)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "OUT-FILE").write_text("mine")
    args = ["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--out", "run"]
    for flag in ("--editors", "--dataset", "--out"):  # a value given in `extra` replaces the default one
        if flag in extra:
            i = args.index(flag)
            del args[i:i + 2]
    err_code = _exit_code(args + extra)
    err = capsys.readouterr().err
    assert err_code == 2, err
    assert says in err and "This is a bug" not in err and "a model was loaded" not in err, err
    assert not (tmp_path / "run").exists() and (tmp_path / "OUT-FILE").read_text() == "mine"


def _exit_code(argv) -> int:
    """main's return code, or argparse's exit code for a value it refuses itself (choices, types)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_a_cuda_device_is_left_to_the_process_that_loads_the_model(monkeypatch):
    """A Ray driver without a GPU may start workers that have one: only the name is checked before loading."""
    from bench.lifecycle import RunConfig, validate

    monkeypatch.setattr(bench.models.torch.cuda, "is_available", lambda: False)
    validate(RunConfig(editors=["ft-m"], dataset="counterfact", out="run", device="cuda"))


def test_bench_run_defaults_are_the_run_configs():
    """The parser keeps its own copy of RunConfig's defaults (it imports no torch before a command runs); a
    default changed on one side only would make `bench run` and the Python API score differently."""
    from dataclasses import MISSING, fields

    from bench.cli import build_parser
    from bench.lifecycle import RunConfig

    args = build_parser().parse_args(["run", "--editors", "noedit", "--dataset", "zsre"])
    as_config = {"side_effects": args.side_effects == "on"}
    compared = []
    for f in fields(RunConfig):
        if f.default is MISSING or not hasattr(args, f.name):
            continue
        assert as_config.get(f.name, getattr(args, f.name)) == f.default, f.name
        compared.append(f.name)
    assert {"scoring", "side_effects", "loc_unrelated", "fluency_prompts", "bootstrap", "seed"} <= set(compared)
