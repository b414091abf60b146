"""bench.packed_rows: a run's rows packed as results/ commits them read back exactly as cases.jsonl is read."""

import gzip
import json

from bench.packed_rows import PACKED, packed_path, packed_records, packed_rows, write_packed
from bench.runlog import RunLog


def _rows(n_units: int) -> list[dict]:
    """Units of two rows each, the last row of a unit marked with its row count (as RunLog.append writes)."""
    out = []
    for u in range(n_units):
        out += [{"editor": "noedit", "unit": str(u), "case_id": str(u), "kind": "rel", "acc": 1.0},
                {"editor": "noedit", "unit": str(u), "case_id": str(u), "kind": "gen", "acc": 0.5, "unit_rows": 2}]
    return out


def _plain_run(tmp_path, records):
    run = tmp_path / "plain"
    run.mkdir()
    (run / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def test_packed_rows_read_as_cases_jsonl_and_pack_to_the_same_bytes(tmp_path):
    records = _rows(3)
    plain = _plain_run(tmp_path, records)
    first, second = tmp_path / "a", tmp_path / "b"
    write_packed(first, records)
    write_packed(second, records)
    assert (first / PACKED).read_bytes() == (second / PACKED).read_bytes()  # no timestamp
    assert packed_records(first) == records
    assert packed_rows(first) == RunLog(plain).rows() and len(packed_rows(first)) == 6


def test_a_unit_cut_short_is_left_out_as_in_cases_jsonl(tmp_path):
    records = _rows(2) + _rows(3)[-2:-1]  # the third unit's first row only
    write_packed(tmp_path, records)
    assert [r["unit"] for r in packed_rows(tmp_path)] == ["0", "0", "1", "1"]


def test_an_older_gzip_copy_is_read_and_replaced_by_the_xz_one(tmp_path):
    records = _rows(2)
    with gzip.open(tmp_path / "cases.jsonl.gz", "wb") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in records).encode())
    assert packed_path(tmp_path).name == "cases.jsonl.gz" and packed_records(tmp_path) == records
    write_packed(tmp_path, records[:2])
    assert not (tmp_path / "cases.jsonl.gz").exists() and packed_records(tmp_path) == records[:2]


def test_a_run_without_packed_rows_has_none(tmp_path):
    assert packed_path(tmp_path) is None and packed_rows(tmp_path) == [] and packed_records(tmp_path) == []
