"""Which findings of one model hold on another: paired differences between two editors, per model.

A finding is "editor a minus editor b on one metric of one dataset" over the same cases of one model (the
same-case bootstrap of bench.metrics), so an interval never mixes models. Each model's cases are restricted
to the case ids every model's runs of that dataset hold, so both models are read on the same cases.

    python -m bench.paper.findings \
        --runs gemma3-270m=results/suite-gemma3/counterfact,results/suite-gemma3/zsre \
        --runs smollm2-135m=results/suite-smollm2/counterfact,results/suite-smollm2/zsre
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.metrics import CaseMetrics, paired_bootstrap
from bench.significance import load_per_case


@dataclass(frozen=True)
class Finding:
    claim: str
    a: str
    b: str
    metric: str
    dataset: str = "counterfact"
    protocol: str = "single"  # or "sequential/final": the model after every edit of the run


# The SmolLM2 tables' findings (results/README.md); one edit at a time unless a protocol is named.
FINDINGS = (
    Finding("InstructEd (gold) generalises better than MEMIT", "instructed", "memit", "Gen"),
    Finding("InstructEd (gold) generalises better than ROME", "instructed", "rome", "Gen"),
    Finding("the prefixes carry InstructEd's generalisation (Table 12)", "instructed", "instructed-noprefix", "Gen"),
    Finding("gold InstructEd pays in locality; retrieval gives it back", "instructed-retrieval", "instructed", "Loc"),
    Finding("IKE's demonstrations cost locality", "ike", "noedit", "Loc"),
    Finding("serac-icl keeps locality", "serac-icl", "noedit", "Loc"),
    Finding("serac-icl generalises less than IKE", "serac-icl", "ike", "Gen"),
    Finding("GRACE does not generalise beyond the edit prompt", "grace", "noedit", "Gen"),
    Finding("MEMIT and ROME are on a par one edit at a time", "memit", "rome", "Score"),
    Finding("FT-M costs locality", "ft-m", "noedit", "Loc"),
    Finding("FT-L's clamp leaves the model unedited", "ft-l", "noedit", "Rel"),
    Finding("MEMIT keeps more of 100 sequential edits than ROME", "memit", "rome", "Rel", "counterfact",
            "sequential/final"),
    Finding("MEMIT degrades less than ROME in sequential editing", "memit", "rome", "H", "counterfact",
            "sequential/final"),
    Finding("serac-icl carries ZsRE edits into one-hop questions", "serac-icl", "noedit", "Por_hop", "zsre"),
    Finding("serac-icl ports ZsRE edits better than MEMIT", "serac-icl", "memit", "Por_hop", "zsre"),
    Finding("serac-icl balances ZsRE edits better than MEMIT (H)", "serac-icl", "memit", "H", "zsre"),
    Finding("InstructEd (gold) generalises on ZsRE like MEMIT", "instructed", "memit", "Gen", "zsre"),
    Finding("GRACE does not generalise to ZsRE paraphrases", "grace", "noedit", "Gen", "zsre"),
    Finding("FT-M's locality cost is small on ZsRE", "ft-m", "noedit", "Loc", "zsre"),
    Finding("IKE carries edits into multi-hop questions", "ike", "noedit", "Por_Nhop", "mquake-test"),
    Finding("FT-M ports multi-hop better than ROME", "ft-m", "rome", "Por_Nhop", "mquake-test"),
    Finding("MeLLo's generated answers fail its format (vs IKE)", "mello", "ike", "MH_Acc", "mquake-test"),
    Finding("InstructEd's multi-hop portability over the unedited model", "instructed", "noedit", "Por_Nhop",
            "mquake-test"),
)

Runs = dict[tuple[str, str, str], list[CaseMetrics]]  # (dataset, protocol, editor) -> one model's per-case metrics


def per_case(run_dirs: list[str]) -> Runs:
    """(dataset, protocol, editor) -> per-case metrics; a later run directory's editor replaces an earlier one's
    on the same dataset and protocol."""
    return {(dataset, protocol, editor): cases
            for (dataset, editor, protocol, _), cases in load_per_case(run_dirs).items()}


def shared_ids(models: dict[str, Runs], dataset: str) -> set[str]:
    """Case ids of `dataset` that every model with runs of it holds (for any editor); a model without any run
    of the dataset does not empty the others' cases."""
    per_model = [{c.case_id for (d, _, _), cases in runs.items() if d == dataset for c in cases}
                 for runs in models.values()]
    per_model = [ids for ids in per_model if ids]
    return set.intersection(*per_model) if per_model else set()


def measure(finding: Finding, runs: Runs, ids: set[str], seed: int = 0):
    """(a - b, lo, hi, n cases) on the cases both editors have among `ids`, or None when one is not run."""
    a, b = (runs.get((finding.dataset, finding.protocol, e)) for e in (finding.a, finding.b))
    if not a or not b:
        return None
    a = [c for c in a if c.case_id in ids]
    b_ids = {c.case_id for c in b}
    result = paired_bootstrap(a, [c for c in b if c.case_id in ids], finding.metric, seed=seed)
    return None if result is None else (*result, len([c for c in a if c.case_id in b_ids]))


def markdown(models: dict[str, Runs], findings=FINDINGS) -> str:
    ids = {d: shared_ids(models, d) for d in dict.fromkeys(f.dataset for f in findings)}
    head = "| finding | dataset | a - b, metric | " + " | ".join(models) + " |"
    lines = [head, "|---|---|---|" + "---|" * len(models)]
    for f in findings:
        cells = []
        for runs in models.values():
            m = measure(f, runs, ids[f.dataset])
            cells.append("not run" if m is None else f"{m[0]:+.1f} [{m[1]:+.1f}, {m[2]:+.1f}] (n={m[3]})")
        data = f.dataset if f.protocol == "single" else f"{f.dataset} ({f.protocol})"
        lines.append(f"| {f.claim} | {data} | {f.a} - {f.b}, {f.metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", action="append", required=True, metavar="MODEL=DIR[,DIR...]",
                   help="one per model: its run directories, later ones replacing an editor of earlier ones")
    args = p.parse_args(argv)
    models = {}
    for spec in args.runs:
        model, _, dirs = spec.partition("=")
        if not dirs:
            p.error(f"--runs {spec!r}: expected MODEL=DIR[,DIR...]")
        for d in dirs.split(","):
            missing = [f for f in ("per_case.csv", "summary.csv") if not (Path(d) / f).is_file()]
            if missing:
                p.error(f"--runs {model}: {d} has no {' or '.join(missing)}; pass run directories written by "
                        "`bench run` or `bench suite` (each holds both files)")
        models[model] = per_case(dirs.split(","))
    print(markdown(models))


if __name__ == "__main__":
    main()
