"""Which findings of one model hold on another: paired differences between two editors, per model.

A finding is "editor a minus editor b on one metric" over the same cases of one model (the same-case
bootstrap of bench.metrics), so an interval never mixes models. Each model's cases are restricted to the
case ids every model's runs hold, so both models are read on the same cases.

    python -m bench.findings --runs gemma3-270m=results/suite-gemma3/counterfact \
        --runs smollm2-135m=results/suite-smollm2/counterfact,results/suite-smollm2-instructed/counterfact
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bench.metrics import CaseMetrics, paired_bootstrap
from bench.significance import load_per_case


@dataclass(frozen=True)
class Finding:
    claim: str
    a: str
    b: str
    metric: str


# The SmolLM2 tables' findings on CounterFact, one edit at a time (results/README.md).
FINDINGS = (
    Finding("InstructEd (gold) generalises better than MEMIT", "instructed", "memit", "Gen"),
    Finding("InstructEd (gold) generalises better than ROME", "instructed", "rome", "Gen"),
    Finding("the prefixes carry InstructEd's generalisation (Table 12)", "instructed", "instructed-noprefix", "Gen"),
    Finding("gold InstructEd pays in locality; retrieval gives it back", "instructed-retrieval", "instructed", "Loc"),
    Finding("IKE's demonstrations cost locality", "ike", "noedit", "Loc"),
    Finding("SERAC keeps locality", "serac", "noedit", "Loc"),
    Finding("SERAC generalises less than IKE", "serac", "ike", "Gen"),
    Finding("GRACE does not generalise beyond the edit prompt", "grace", "noedit", "Gen"),
    Finding("MEMIT and ROME are on a par one edit at a time", "memit", "rome", "Score"),
    Finding("FT-M costs locality", "ft-m", "noedit", "Loc"),
    Finding("FT-L's clamp leaves the model unedited", "ft-l", "noedit", "Rel"),
)


def single_per_case(run_dirs: list[str]) -> dict[str, list[CaseMetrics]]:
    """Editor -> per-case metrics of the single protocol; a later run directory's editor replaces an earlier one."""
    return {editor: cases for (_, editor, protocol, _), cases in load_per_case(run_dirs).items()
            if protocol == "single"}


def shared_ids(models: dict[str, dict[str, list[CaseMetrics]]]) -> set[str]:
    """Case ids that every model's runs hold (for any editor)."""
    per_model = [{c.case_id for cases in eds.values() for c in cases} for eds in models.values()]
    return set.intersection(*per_model) if per_model else set()


def measure(finding: Finding, editors: dict[str, list[CaseMetrics]], ids: set[str], seed: int = 0):
    """(a - b, lo, hi, n cases) on the cases both editors have among `ids`, or None when one is not run."""
    a, b = editors.get(finding.a), editors.get(finding.b)
    if not a or not b:
        return None
    a = [c for c in a if c.case_id in ids]
    b_ids = {c.case_id for c in b}
    result = paired_bootstrap(a, [c for c in b if c.case_id in ids], finding.metric, seed=seed)
    return None if result is None else (*result, len([c for c in a if c.case_id in b_ids]))


def markdown(models: dict[str, dict[str, list[CaseMetrics]]], findings=FINDINGS) -> str:
    ids = shared_ids(models)
    head = "| finding | a - b, metric | " + " | ".join(models) + " |"
    lines = [head, "|---|---|" + "---|" * len(models)]
    for f in findings:
        cells = []
        for editors in models.values():
            m = measure(f, editors, ids)
            cells.append("not run" if m is None else f"{m[0]:+.1f} [{m[1]:+.1f}, {m[2]:+.1f}] (n={m[3]})")
        lines.append(f"| {f.claim} | {f.a} - {f.b}, {f.metric} | " + " | ".join(cells) + " |")
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
        models[model] = single_per_case(dirs.split(","))
    print(markdown(models))


if __name__ == "__main__":
    main()
