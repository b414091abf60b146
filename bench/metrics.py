"""Metric definitions (paper Appendix C, made precise in docs/architecture.md section 4 and the README).

Per query the protocols store a row (its `acc` and `loc` are fractions 0-1 of the answer's tokens); per case
a metric is the mean over the case's queries of that kind, and per dataset the mean over the cases that have it,
with a 95% percentile bootstrap interval over cases. Per-case and per-dataset values are in percent (0-100):
per_case.csv, summary.csv, the tables and the explorer share that one unit (bench/runlog.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from bench.data.schema import FLUENCY, GEN, HOP, LOC, LOC_DISTRACT, LOC_UNRELATED, LOCALITY_KINDS, NHOP, POR_HOP, REL

# Metric name -> (query kind, row field averaged within a case).
TOKEN_METRICS = {
    "Rel": (REL, "acc"),
    "Gen": (GEN, "acc"),
    "Loc": (LOC, "loc"),
    "Por_hop": (POR_HOP, "acc"),
    "Por_Nhop": (NHOP, "acc"),
    "Hop_Acc": (HOP, "acc"),
    "Loc_paper": (LOC, "loc_paper"),  # the paper's locality: max(e0, e1, e2) per query (bench/protocols.py)
    # Probes (bench/probes.py): locality on unrelated prompts of other cases, and on distracted neighbours.
    "Loc_unrelated": (LOC_UNRELATED, "loc"),
    "Loc_unrelated_paper": (LOC_UNRELATED, "loc_paper"),
    "Loc_distract": (LOC_DISTRACT, "loc"),
    # Generated answers (bench/answers.py): the target (or an alias) begins the answer; Loc: the unedited answer.
    "Rel_gen": (REL, "gen_acc"),
    "Gen_gen": (GEN, "gen_acc"),
    "Loc_gen": (LOC, "loc_gen"),
    "Por_gen": (POR_HOP, "gen_acc"),
    "Hop_gen": (HOP, "gen_acc"),
    "Leak": (LOC, "leak"),  # a neighbour's generated answer starts with the edit's new object
    "Known": (REL, "known"),  # the unedited model already gives the new target, teacher-forced ...
    "Known_gen": (REL, "known_gen"),  # ... and generated
}
# Side effects in their own units, averaged as they are (not fractions made percent): NKL in nats, fluency in bits,
# perplexity drift in percent change (bench/side_effects.py).
RAW_METRICS = {"NKL": (LOC, "nkl"), "Fluency": (FLUENCY, "entropy"), "PPL_drift": (REL, "ppl_drift")}
# A case without neighbourhood prompts (MQuAKE) has these measured on its unrelated prompts (bench.side_effects).
ON_UNRELATED_WITHOUT_LOC = ("Loc_gen", "Leak", "NKL")
EDIT_METRICS = ("Rel", "Gen", "Loc", "Por_hop")  # Score and H combine these four
ALL_METRICS = ("Rel", "Gen", "Loc", "Por_hop", "Por_Nhop", "Hop_Acc", "MH_Acc", "Score", "H")
# The same combination with the paper's locality definition in place of the strict one.
PAPER_EDIT_METRICS = ("Rel", "Gen", "Loc_paper", "Por_hop")
PAPER_METRICS = ("Loc_paper", "Score_paper", "H_paper")
GEN_EDIT_METRICS = ("Rel_gen", "Gen_gen", "Loc_gen", "Por_gen")
# ... and with locality on unrelated prompts (the paper's "randomly selected and unrelated data point")
UNRELATED_EDIT_METRICS = ("Rel", "Gen", "Loc_unrelated", "Por_hop")
# Metrics of the generation view, the probes and the side effects (summary.csv's last columns, where a run has them).
EFFECT_METRICS = ("Loc_unrelated", "Loc_unrelated_paper", "Loc_distract", *GEN_EDIT_METRICS, "Hop_gen", "Score_gen",
                  "H_gen", "NKL", "Leak", "Fluency", "PPL_drift", "Known", "Known_gen",
                  "Score_unrelated", "H_unrelated")
# Retrieval accuracy of an editor that retrieves edits (InstructEd + Retrieval): per case the mean of the rows'
# `retrieved_ok` (the right edit retrieved), locality rows (probes too) left out (theirs says only that nothing fired).
RETRIEVAL_METRICS = ("Ret_Acc",)
# What summaries and the explorer show of them where a run has them (the rest stay in summary.csv / per_case.csv).
SHOWN_EFFECT_METRICS = ("Loc_unrelated", "Loc_distract", *GEN_EDIT_METRICS, "Score_gen", "H_gen", "NKL", "Leak",
                        "Fluency", "PPL_drift")
SHOWN_METRICS = (*ALL_METRICS, *SHOWN_EFFECT_METRICS, *RETRIEVAL_METRICS)
CASE_METRICS = (*ALL_METRICS[:7], "Loc_paper",  # the per-case metrics (percent); Score and H come from their means
                *(m for m in EFFECT_METRICS if m not in ("Score_gen", "H_gen", "Score_unrelated", "H_unrelated")),
                *RETRIEVAL_METRICS)
COMBINED = {"Score": EDIT_METRICS, "H": EDIT_METRICS, "Score_paper": PAPER_EDIT_METRICS,
            "H_paper": PAPER_EDIT_METRICS, "Score_gen": GEN_EDIT_METRICS,
            "H_gen": GEN_EDIT_METRICS, "Score_unrelated": UNRELATED_EDIT_METRICS,
            "H_unrelated": UNRELATED_EDIT_METRICS}  # combined metric -> the four it combines (mean or harmonic mean)
_COMBINATIONS = (("Score", "H", EDIT_METRICS), ("Score_paper", "H_paper", PAPER_EDIT_METRICS),
                 ("Score_gen", "H_gen", GEN_EDIT_METRICS),
                 ("Score_unrelated", "H_unrelated", UNRELATED_EDIT_METRICS))


def locality_agreement(post_pred: list[int], pre_pred: list[int]) -> float:
    """Fraction of answer positions whose post-edit argmax equals the unedited model's."""
    n = min(len(post_pred), len(pre_pred))
    if n == 0:
        return 0.0
    return sum(a == b for a, b in zip(post_pred[:n], pre_pred[:n])) / max(len(post_pred), len(pre_pred))


def harmonic_mean(values: list[float]) -> float:
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


@dataclass
class CaseMetrics:
    """One case's metric values in percent (0-100), as per_case.csv holds them; None where the case has no such
    query."""

    case_id: str
    values: dict[str, float | None]


def case_metrics(case_id: str, rows: list[dict], rel_fired_only: bool = False) -> CaseMetrics:
    """None where the case has no such query, or its rows predate the field (Loc_paper of older runs)."""
    values: dict[str, float | None] = {}
    for metric, (kind, field) in (*TOKEN_METRICS.items(), *RAW_METRICS.items()):
        picked = [r for r in rows if r["kind"] == kind]
        if not picked and metric in ON_UNRELATED_WITHOUT_LOC:
            picked = [r for r in rows if r["kind"] == LOC_UNRELATED]
        if metric == "Rel" and rel_fired_only:
            picked = [r for r in picked if r.get("fired", True)]
        complete = picked and all(field in r for r in picked)
        scale = 1.0 if metric in RAW_METRICS else 100.0
        values[metric] = scale * float(np.mean([float(r[field]) for r in picked])) if complete else None
    nhop_gen = [r for r in rows if r["kind"] == NHOP and "em" in r]
    values["MH_Acc"] = 100.0 * float(any(r["em"] for r in nhop_gen)) if nhop_gen else None
    retrieved = [r["retrieved_ok"] for r in rows if r["kind"] not in LOCALITY_KINDS and "retrieved_ok" in r]
    values["Ret_Acc"] = 100.0 * float(np.mean(retrieved)) if retrieved else None
    return CaseMetrics(case_id, values)


def aggregate(cases: list[CaseMetrics]) -> dict[str, float | None]:
    """Dataset-level values (the mean of the per-case percent values); Score/H (and Score_paper/H_paper) only
    where all four metrics exist."""
    out: dict[str, float | None] = {}
    for metric in CASE_METRICS:
        vals = [c.values[metric] for c in cases if c.values.get(metric) is not None]
        out[metric] = float(np.mean(vals)) if vals else None
    for score, h, parts in _COMBINATIONS:
        four = [out[m] for m in parts]
        out[score] = float(np.mean(four)) if all(v is not None for v in four) else None
        out[h] = harmonic_mean(four) if all(v is not None for v in four) else None
    return out


def _fraction(percent: float) -> float:
    """A per-case percent value as the fraction it stands for, shifted in decimal ("66.6667" -> 0.666667): the
    bootstrap averages fractions and scales the means, the arithmetic every published interval was made with, so
    that tables remade from per_case.csv in percent stay byte-identical."""
    return float(Decimal(repr(float(percent))) / 100)


def _matrix(cases: list[CaseMetrics]) -> np.ndarray:
    """(cases, len(CASE_METRICS)) per-case metrics as fractions (see _fraction), NaN where a case lacks one."""
    return np.array([[np.nan if c.values.get(m) is None else _fraction(c.values[m]) for m in CASE_METRICS]
                     for c in cases])


def _resampled(matrix: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every aggregate metric (percent) of each resample `idx` (resamples, cases) of `matrix` (fractions)."""
    with np.errstate(invalid="ignore"), _quiet_nanmean():
        means = 100.0 * np.nanmean(matrix[idx], axis=1)  # (resamples, len(CASE_METRICS))
    samples = {m: means[:, i] for i, m in enumerate(CASE_METRICS)}
    for score, h, parts in _COMBINATIONS:
        four = np.stack([samples[m] for m in parts], axis=1)
        samples[score] = four.mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            samples[h] = np.where((four > 0).all(axis=1), 4.0 / (1.0 / four).sum(axis=1), 0.0)
        if score != "Score":  # no interval where a metric is missing (older runs, tf-only runs); H kept its 0.0
            samples[h][np.isnan(four).any(axis=1)] = np.nan
    return samples


def bootstrap(cases: list[CaseMetrics], n_resamples: int = 1000, seed: int = 0,
              level: float = 0.95) -> dict[str, tuple[float, float] | None]:
    """Percentile interval of every aggregate metric, resampling cases with replacement."""
    if not cases:
        return {m: None for m in (*ALL_METRICS, *PAPER_METRICS, *EFFECT_METRICS, *RETRIEVAL_METRICS)}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(cases), size=(n_resamples, len(cases)))
    samples = _resampled(_matrix(cases), idx)
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict[str, tuple[float, float] | None] = {}
    for metric, values in samples.items():
        finite = values[np.isfinite(values)]
        out[metric] = None if len(finite) < len(values) or not len(finite) else (
            float(np.percentile(finite, lo_q)), float(np.percentile(finite, hi_q)))
    return out


class _quiet_nanmean:
    """np.nanmean warns on all-NaN slices (a metric a dataset lacks); that is expected."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def paired_bootstrap(a: list[CaseMetrics], b: list[CaseMetrics], metric: str, n_resamples: int = 1000,
                     seed: int = 0) -> tuple[float, float, float] | None:
    """Difference a - b of one aggregate metric (Score and H included) on the cases both have, with the 95%
    interval of the same-case bootstrap: each resample draws case ids once and scores both editors on them."""
    by_id = {c.case_id: c for c in b}
    shared = [c for c in a if c.case_id in by_id]
    if not shared:
        return None
    ma, mb = _matrix(shared), _matrix([by_id[c.case_id] for c in shared])
    full = np.arange(len(shared))[None, :]
    va, vb = _resampled(ma, full)[metric][0], _resampled(mb, full)[metric][0]
    if not (np.isfinite(va) and np.isfinite(vb)):
        return None
    idx = np.random.default_rng(seed).integers(0, len(shared), size=(n_resamples, len(shared)))
    boots = _resampled(ma, idx)[metric] - _resampled(mb, idx)[metric]
    boots = boots[np.isfinite(boots)]
    return float(va - vb), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def metric_gap(cases: list[CaseMetrics], a: str, b: str, n_resamples: int = 1000,
               seed: int = 0) -> tuple[float, float, float] | None:
    """Metric a - metric b of one editor on its own cases (teacher-forced vs generated Rel, say), with the 95%
    interval of the case bootstrap: each resample scores both metrics on the same cases."""
    if not cases:
        return None
    matrix = _matrix(cases)
    full = _resampled(matrix, np.arange(len(cases))[None, :])
    va, vb = full[a][0], full[b][0]
    if not (np.isfinite(va) and np.isfinite(vb)):
        return None
    idx = np.random.default_rng(seed).integers(0, len(cases), size=(n_resamples, len(cases)))
    samples = _resampled(matrix, idx)
    boots = samples[a] - samples[b]
    boots = boots[np.isfinite(boots)]
    return float(va - vb), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))
