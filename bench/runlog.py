"""The run directory on disk: config.json, the append-only cases.jsonl, summary.csv, per_case.csv.

cases.jsonl is appended unit by unit (a case, a batch, a sequential checkpoint)
with a flush and fsync, so a killed run loses at most the unit in flight;
`--resume` drops a torn last line and skips every unit already written.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from bench.errors import BenchError
from bench.metrics import ALL_METRICS, PAPER_METRICS, CaseMetrics

PER_CASE_METRICS = list(ALL_METRICS[:7])  # per-case fractions; Score and H are computed from their means
# Appended after them only when some case has it, so that runs from before it keep a byte-identical per_case.csv.
PER_CASE_PAPER_METRICS = ["Loc_paper"]

SUMMARY_COLUMNS = ["editor", "dataset", "model", "protocol", "n_cases",
                   "Rel", "Gen", "Loc", "Por_hop", "Por_Nhop", "Hop_Acc", "Score", "H"]
EXTRA_METRICS = ["MH_Acc"]  # MQuAKE's official multi-hop accuracy (generation, any question, aliases)

# Options a resumed run must share with the run directory: they decide which rows one `bench run` writes.
RESUME_OPTIONS = ("dataset", "model", "protocol", "seed", "limit", "batch_size", "num_edits", "eval_every")


def summary_columns() -> list[str]:
    """The columns above, then MH_Acc, the intervals, and last the paper-locality metrics with their intervals
    (appended, so every earlier column keeps its position; empty for runs from before `loc_paper`)."""
    metrics = SUMMARY_COLUMNS[5:] + EXTRA_METRICS
    paper = list(PAPER_METRICS) + [f"{m}_{b}" for m in PAPER_METRICS for b in ("lo", "hi")]
    return SUMMARY_COLUMNS + EXTRA_METRICS + [f"{m}_{b}" for m in metrics for b in ("lo", "hi")] + paper


class RunLog:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.cases_path = self.out / "cases.jsonl"

    def prepare(self, resume: bool) -> None:
        if self.cases_path.exists() and self.cases_path.stat().st_size and not resume:
            raise BenchError(
                f"{self.out} already holds results (cases.jsonl). Pass --resume to continue that run, "
                "or choose a new --out directory; nothing was overwritten."
            )
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "plots").mkdir(exist_ok=True)
        if resume:
            self._drop_torn_tail()

    def _drop_torn_tail(self) -> None:
        if not self.cases_path.exists():
            return
        data = self.cases_path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.cases_path.write_bytes(data[: data.rfind(b"\n") + 1])

    def write_config(self, config: dict) -> None:
        path = self.out / "config.json"
        if path.exists():
            previous = json.loads(path.read_text())
            for key in RESUME_OPTIONS:
                if previous.get("args", {}).get(key) != config["args"].get(key):
                    raise BenchError(
                        f"--resume: {path} was written with {key}={previous['args'].get(key)!r}, this command "
                        f"has {key}={config['args'].get(key)!r}. Resume with the same options or use a new --out."
                    )
            starts = previous.get("previous_starts", [])
            if previous.get("started") != config.get("started"):  # an earlier start, not this run's last write
                starts = starts + [previous.get("started")]
            config["previous_starts"] = starts
            for key, value in previous.items():  # notes the runner does not write (a merge's) survive a resume
                config.setdefault(key, value)
        path.write_text(json.dumps(config, indent=2, default=str) + "\n")

    def rows(self) -> list[dict]:
        if not self.cases_path.exists():
            return []
        with self.cases_path.open() as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def done_units(self, editor: str) -> set[str]:
        return {r["unit"] for r in self.rows() if r["editor"] == editor}

    def append(self, rows: list[dict]) -> None:
        with self.cases_path.open("a") as fh:
            fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            fh.flush()
            os.fsync(fh.fileno())

    def write_summary(self, records: list[dict]) -> Path:
        path = self.out / "summary.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=summary_columns())
            writer.writeheader()
            for rec in records:
                writer.writerow({k: _fmt(rec.get(k)) for k in summary_columns()})
        return path

    def write_per_case(self, per_case: dict[tuple[str, str], list[CaseMetrics]]) -> Path:
        """(editor, protocol label) -> per-case metrics: small enough to commit, enough for paired tests."""
        path = self.out / "per_case.csv"
        paper = [m for m in PER_CASE_PAPER_METRICS
                 if any(c.values.get(m) is not None for cases in per_case.values() for c in cases)]
        metrics = PER_CASE_METRICS + paper
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["editor", "protocol", "case_id"] + metrics)
            for (editor, label), cases in per_case.items():
                for c in cases:
                    values = [c.values.get(m) for m in metrics]
                    writer.writerow([editor, label, c.case_id] + ["" if v is None else f"{v:.6g}" for v in values])
        return path


def read_per_case(path: Path) -> dict[tuple[str, str], list[CaseMetrics]]:
    out: dict[tuple[str, str], list[CaseMetrics]] = {}
    with Path(path).open() as fh:
        for row in csv.DictReader(fh):
            values = {m: float(row[m]) if row.get(m) not in ("", None) else None
                      for m in PER_CASE_METRICS + PER_CASE_PAPER_METRICS}
            out.setdefault((row["editor"], row["protocol"]), []).append(CaseMetrics(row["case_id"], values))
    return out


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def read_summary(path: Path) -> list[dict]:
    with Path(path).open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        metrics = list(ALL_METRICS) + list(PAPER_METRICS)
        for m in metrics + [f"{m}_{b}" for m in metrics for b in ("lo", "hi")]:
            if m in row:
                row[m] = float(row[m]) if row[m] not in ("", None) else None
    return rows
