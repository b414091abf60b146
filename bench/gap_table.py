"""`bench report --table generation`: per editor, teacher-forced against generated answers (each pair with its
paired difference and interval), and the side effects of its edits; one table per dataset and model.

A table of the harness, not of a paper: it reads the metrics every run with `--scoring both` writes (bench/answers.py,
bench/side_effects.py, bench/probes.py). Rankings by the teacher-forced and by the generated H are shown side by side,
so an editor whose rank changes once its answers are generated stands out.
"""

from __future__ import annotations

from bench.errors import BenchError
from bench.markdown import pipe_table
from bench.metrics import CaseMetrics, metric_gap
from bench.tables import is_reference

GENERATION = "generation"  # the --table name
PAIRS = (("Rel", "Rel_gen"), ("Gen", "Gen_gen"), ("Loc", "Loc_gen"), ("Por_hop", "Por_gen"))
EFFECTS = ("Loc_unrelated", "Loc_distract", "NKL", "Leak", "Fluency", "PPL_drift")
EFFECT_HEADERS = {"Loc_unrelated": "Loc unrel.", "Loc_distract": "Loc distr.", "NKL": "NKL (nats)",
                  "Leak": "Leak", "Fluency": "Fluency (bits)", "PPL_drift": "PPL drift %"}


def generation_tables(records: list[dict], per_case: dict, fmt: str = "markdown") -> str:
    """`records`: summary records (one per editor x dataset x protocol x model, as bench.sources.select leaves
    them); `per_case`: (dataset, editor, protocol, model) -> per-case metrics (bench.significance.load_per_case)."""
    if fmt != "markdown":
        raise BenchError("--table generation renders markdown only")
    shown = [r for r in records if r.get("Rel_gen") is not None or r.get("Loc_gen") is not None]
    if not shown:
        raise BenchError("generation: none of the given runs scored generated answers (run them with --scoring both)")
    groups: dict[tuple, list[dict]] = {}
    for rec in shown:
        groups.setdefault((rec["dataset"], rec["model"], rec["protocol"]), []).append(rec)
    parts = [_table(key, recs, per_case) for key, recs in groups.items()]
    return "\n\n".join(parts) + "\n\n" + NOTE + "\n"


NOTE = ("Teacher-forced (TF) metrics feed the target's tokens and count those the model predicts; generated (gen) "
        "metrics let the edited model answer greedily and judge the answer whole (results/README.md, generation "
        "scoring). Δ = TF - gen on the same cases, 95% paired bootstrap interval. Rank: by H among the editors of "
        "the table (the unedited model not ranked). NKL: KL of the neighbourhood next-token distributions (0 = "
        "untouched); Leak: share of neighbourhood answers that start with the new object; Fluency: ROME's n-gram "
        "entropy; PPL drift: perplexity change on the unedited model's own text.")


def _table(key: tuple, recs: list[dict], per_case: dict) -> str:
    dataset, model, protocol = key
    ranks_tf, ranks_gen = _ranks(recs, "H"), _ranks(recs, "H_gen")
    head = ["Editor", "n"]
    for tf, _ in PAIRS:
        head += [f"{tf} TF", f"{tf} gen", f"Δ {tf}"]
    head += ["H TF", "H gen", "Rank TF→gen", "Known"] + [EFFECT_HEADERS[m] for m in EFFECTS]
    rows = []
    for rec in recs:
        cases: list[CaseMetrics] = per_case.get((rec["dataset"], rec["editor"], rec["protocol"], rec["model"]), [])
        row = [rec["editor"], str(rec["n_cases"])]
        for tf, gen in PAIRS:
            gap = metric_gap(cases, tf, gen)
            row += [_num(rec.get(tf)), _num(rec.get(gen)),
                    "–" if gap is None else f"{gap[0]:+.2f} [{gap[1]:+.2f}, {gap[2]:+.2f}]"]
        rank = "–" if is_reference(rec["editor"]) else f"{ranks_tf.get(rec['editor'], '–')}→" \
                                                        f"{ranks_gen.get(rec['editor'], '–')}"
        known = sum(1 for c in cases if (c.values.get("Known") or 0) > 0 or (c.values.get("Known_gen") or 0) > 0)
        row += [_num(rec.get("H")), _num(rec.get("H_gen")), rank, f"{known}/{len(cases)}" if cases else "–"]
        row += [_num(rec.get(m), 3 if m == "NKL" else 2) for m in EFFECTS]
        rows.append(row)
    title = f"**Generated vs teacher-forced answers and side effects: {dataset} · {model} · {protocol}**"
    return "\n".join([title, "", *pipe_table(head, rows)])


def _ranks(recs: list[dict], metric: str) -> dict[str, int]:
    ranked = sorted((r for r in recs if not is_reference(r["editor"]) and r.get(metric) is not None),
                    key=lambda r: -r[metric])
    return {r["editor"]: i + 1 for i, r in enumerate(ranked)}


def _num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
