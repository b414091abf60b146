"""bench/perf/stream_plan.py: the prediction of a long stream's cost from a measured shorter one, by hand."""

import csv
import json

import numpy as np
import pytest

from bench.errors import BenchError
from bench.lifelong import EvalOptions, make_plan
from bench.perf.stream_plan import StreamCost, measure, planned_cases, table, theil_sen, workers_wall


def _run(folder, seconds, peaks, wall, planned):
    folder.mkdir()
    with (folder / "edit_costs.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["editor", "edit", "case_id", "edit_seconds", "edit_peak_mb", "edit_memory"])
        for k, (s, mb) in enumerate(zip(seconds, peaks), start=1):
            writer.writerow(["ft-m", k, str(k), s, mb, "process peak RSS (ru_maxrss)"])
    (folder / "config.json").write_text(json.dumps({"editors": {"ft-m": {"seconds": wall, "units": 20}},
                                                    "evaluation_plan": {"planned_cases": planned}}))
    return folder


def test_a_linear_cost_is_recovered_and_summed_exactly(tmp_path):
    seconds = [2 + 0.01 * k for k in range(1, 101)]
    run = _run(tmp_path / "r", seconds, [1000.0 + 0.5 * k for k in range(1, 101)], sum(seconds) + 650 * 1.5, 650)
    (cost,) = measure(run)
    assert cost.seconds_growth == pytest.approx(0.01) and cost.eval_seconds_per_case == pytest.approx(1.5)
    assert cost.edit_seconds(1000) == pytest.approx(sum(2 + 0.01 * k for k in range(1, 1001)))
    assert cost.peak_mb(1000) == pytest.approx(1050.0 + 0.5 * 900)
    planned = make_plan(1000, 100, EvalOptions()).planned_cases()
    assert planned_cases(1000) == planned
    assert cost.seconds(1000, planned) == pytest.approx(cost.edit_seconds(1000) + 1.5 * planned)


def test_a_falling_cost_is_load_not_method_and_predicts_flat(tmp_path):
    seconds = [10 - 0.05 * k for k in range(1, 41)]
    (cost,) = measure(_run(tmp_path / "r", seconds, [1000.0] * 40, sum(seconds), 40))
    assert cost.seconds_growth == 0.0 and cost.edit_seconds(400) == pytest.approx(400 * np.median(seconds))


def test_theil_sen_ignores_a_load_spike_and_workers_pack_longest_first():
    x = np.arange(1.0, 21.0)
    y = 3 + 0.2 * x
    y[5] = 500.0
    assert theil_sen(x, y) == pytest.approx(0.2)
    assert workers_wall([5, 4, 3, 3], 2) == 8 and workers_wall([5, 4, 3, 3], 1) == 15
    assert workers_wall([5, 4, 3, 3], 8) == 5


def test_table_has_a_line_per_editor_and_per_worker_count():
    cost = StreamCost("grace", 200, 2.8, 100.0, 0.0, 0.5, 1242.8, 0.0)
    lines = table([cost, cost], [1000, 10000], [1, 4])
    assert len(lines) == 1 + 2 + 2 and lines[1].split()[:3] == ["grace", "200", "2.80"]


def test_a_folder_without_the_run_files_says_what_it_needs(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(BenchError, match="no config.json"):
        measure(tmp_path / "r")
