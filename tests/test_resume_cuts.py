"""Resume after a cut at any byte of cases.jsonl: the rows kept are exactly the units written to the end, and
resuming gives the uninterrupted run's per_case.csv (single, batch and sequential; a weight editor, so state and
restore matter). Guards the class of bug behind the cut-short first unit (docs/reliability.md)."""

import json
import shutil

import pytest

from bench.cli import main
from bench.runlog import UNIT_ROWS, RunLog
from tests.test_runlog import _record

PROTOCOLS = {
    "single": [],
    "batch": ["--protocol", "batch", "--batch-size", "2"],
    "sequential": ["--protocol", "sequential", "--eval-every", "2"],
}


def _command(dataset, out, protocol):
    return ["run", "--editors", "ft-m", "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
            "--out", str(out), "--bootstrap", "20", "--editor-args", "ft-m:num_steps=2", *PROTOCOLS[protocol]]


@pytest.fixture(scope="module", params=list(PROTOCOLS))
def whole_run(request, tmp_path_factory):
    """An uninterrupted run of three cases under one protocol: its folder, bytes and per_case.csv."""
    root = tmp_path_factory.mktemp(request.param)
    path = root / "cf.json"
    path.write_text(json.dumps([_record(i) for i in range(3)]))
    dataset, out = f"counterfact:{path}", root / "whole"
    assert main(_command(dataset, out, request.param)) == 0
    return request.param, dataset, out, (out / "cases.jsonl").read_bytes(), (out / "per_case.csv").read_bytes()


def _complete_prefix(data: bytes, offset: int) -> list[dict]:
    """The rows of the units whose completion mark lies wholly before `offset` (what a resume must keep)."""
    kept, end = [], 0
    for line in data.splitlines(keepends=True):
        end += len(line)
        if end > offset:
            break
        kept.append(json.loads(line))
    while kept and UNIT_ROWS not in kept[-1]:
        kept.pop()
    return [{k: v for k, v in r.items() if k != "written_with"} for r in kept]


def test_every_byte_offset_keeps_exactly_the_complete_units(whole_run, tmp_path):
    _, _, out, data, _ = whole_run
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(out / "config.json", cut / "config.json")
    for offset in range(len(data) + 1):
        (cut / "cases.jsonl").write_bytes(data[:offset])
        assert RunLog(cut).rows() == _complete_prefix(data, offset), f"cut at byte {offset} of {len(data)}"


def _offsets(data: bytes) -> list[int]:
    """Per unit: its end, one byte into it, its middle and one byte short of its mark's newline (cuts between
    units, inside the first row, between rows and inside the mark row); the byte-level test covers every other."""
    cuts, start, unit_start = {0}, 0, 0
    for line in data.splitlines(keepends=True):
        start += len(line)
        if UNIT_ROWS in json.loads(line):
            cuts |= {unit_start + 1, (unit_start + start) // 2, start - 1, start}
            unit_start = start
    return sorted(cuts)


def test_a_resume_after_any_cut_gives_the_uninterrupted_run(whole_run, tmp_path):
    protocol, dataset, out, data, per_case = whole_run
    for offset in _offsets(data):
        cut = tmp_path / f"cut-{offset}"
        shutil.copytree(out, cut)
        (cut / "cases.jsonl").write_bytes(data[:offset])
        assert main(_command(dataset, cut, protocol) + ["--resume"]) == 0, f"cut at byte {offset}"
        assert (cut / "per_case.csv").read_bytes() == per_case, f"cut at byte {offset} of {len(data)}"
        assert RunLog(cut).rows() == RunLog(out).rows(), f"cut at byte {offset}"
        shutil.rmtree(cut)
