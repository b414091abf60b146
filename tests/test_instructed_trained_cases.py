"""Trained-on records: compact description, recomputed fingerprints, refusal when the data changed."""

from __future__ import annotations

import json

import pytest

from bench.data import load_dataset
from bench.data.splits import case_fingerprint
from bench.errors import BenchError
from editors.instructed.data import build_pairs
from editors.instructed.testing import fixture_cases
from editors.instructed.trained_cases import TrainedCases, describe, digest


def record(case_id: int, target: str) -> dict:
    return {"case_id": case_id, "prompt": f"Person {case_id} plays the", "subject": f"Person {case_id}",
            "target_new": target, "ground_truth": "guitar", "rephrase_prompt": f"Person {case_id} is good at",
            "locality_prompt": "John Lennon performs on the", "locality_ground_truth": "guitar"}


@pytest.fixture
def data_dir(tmp_path):
    path = tmp_path / "data" / "counterfact" / "counterfact-train.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([record(i, "piano") for i in range(4)]))
    return tmp_path / "data"


def test_registered_records_are_stored_by_id_and_recomputed(data_dir):
    cases = load_dataset("counterfact-train", data_dir)
    every = describe(build_pairs(cases), data_dir)
    assert every.registered["counterfact-train"].ids == "all" and every.fingerprints == []
    some = describe(build_pairs(cases[1:3]), data_dir)
    assert some.registered["counterfact-train"].ids == ["1", "2"] and some.registered["counterfact-train"].count == 2
    again = TrainedCases.from_json(json.loads(json.dumps(some.to_json())))
    again.resolve(data_dir)
    assert [again.contains(case_fingerprint(c)) for c in cases] == [False, True, True, False]


def test_changed_data_is_an_error_that_names_the_dataset(data_dir):
    trained = describe(build_pairs(load_dataset("counterfact-train", data_dir)), data_dir)
    path = data_dir / "counterfact" / "counterfact-train.json"
    path.write_text(json.dumps([record(i, "violin" if i == 2 else "piano") for i in range(4)]))
    with pytest.raises(BenchError, match=r"trained on 4 records of 'counterfact-train'.*--data-dir"):
        trained.resolve(data_dir, "CK")
    with pytest.raises(BenchError, match="resolve"):
        trained.contains("x")


def test_unregistered_records_keep_their_fingerprints():
    cases = fixture_cases()[:2]
    trained = describe(build_pairs(cases), None)
    assert trained.registered == {} and trained.case_ids == {"fixture-cf": ["1", "2"]}
    assert trained.contains(case_fingerprint(cases[0])) and not trained.contains(case_fingerprint(fixture_cases()[2]))


def test_the_first_format_still_loads():
    trained = TrainedCases.from_json({"case_ids": {"counterfact-train": ["1"]}, "fingerprints": ["abc"]})
    assert trained.contains("abc") and trained.registered == {}


def test_digest_ignores_order_and_repeats():
    assert digest(["b", "a", "a"]) == digest(["a", "b"]) != digest(["a"])
