"""Why rows lose MQuAKE's + Retrieval Hop_Acc to columns (`scaling_compare`: -5.8 [-9.3, -2.0], the one place they
lose): how each scaling's hop answers begin when the instruction states one fact and when it states several.

+ Retrieval joins the top three retrieved facts for every hop question (the authors' `get_mqT_res`), so even a
one-edit case is asked under a three-fact instruction; gold mode states the case's own facts (one to three on the
test split). Both checkpoints trained mostly on one-fact instructions (only MQuAKE's train half states several).
For each hop question the first teacher-forced token (`pred_ids[0]`, the model's own choice given the question) is
read as

- *answer*: the answer's first token;
- *opener*: a question word, 'And', 'The' or a line break: the model starts something else instead of answering.

Rates are per case (the mean over its hop questions, as Hop_Acc), paired rows - columns with the same-case
bootstrap of `bench.metrics` (1000 resamples, seed 0, 95%). Reads the two runs `scaling_compare` reads:

    python -m bench.paper.analysis.scaling_multifact
writes results/instructed-scaling/multifact.txt.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from bench.data import load_dataset
from bench.data.schema import HOP
from bench.explorer_cases import load_tokenizer, run_rows
from bench.metrics import CaseMetrics, paired_bootstrap
from bench.paper.analysis import report_main
from bench.paper.analysis.scaling_compare import EDITORS, FOLDER, run_folder
from bench.runlog import RunLog

OUT = f"{FOLDER}/multifact.txt"
DATASET = "mquake-test"
SCALINGS = ("rows", "columns")
OPENERS = ("what", "which", "who", "where", "when", "how", "and", "the")
# The per-case bootstrap of bench.metrics scores its own metric names; a rate rides in Hop_Acc's slot (a per-case
# mean of hop questions, averaged over cases, as the rates are).
SLOT = "Hop_Acc"


def first_token_kind(tokenizer, pred_ids: list[int], answer: str) -> str:
    """'answer', 'opener' or 'other' for a hop question's first predicted token."""
    first = pred_ids[0]
    if first == tokenizer(" " + answer, add_special_tokens=False)["input_ids"][0]:
        return "answer"
    text = tokenizer.decode([first])
    return "opener" if "\n" in text or text.strip().lower() in OPENERS or not text.strip() else "other"


def retrieved_facts(run: Path) -> int:
    """How many retrieved facts + Retrieval joined for each hop question: its `multihop_k` as the run recorded it."""
    return RunLog(run).read_config()["editors"]["instructed-retrieval"]["config"]["multihop_k"]


def _groups(rows: list[dict], n_edits: dict[str, int], retrieved: int,
            tokenizer) -> dict[tuple, dict[str, dict[str, list[str]]]]:
    """(editor, facts stated) -> case id -> the kinds of its hop questions' first tokens."""
    out: dict[tuple, dict[str, dict[str, list[str]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["kind"] != HOP or r["editor"] not in EDITORS:  # the suite's run also holds instructed-retrieval-one
            continue
        facts = n_edits[r["case_id"]] if r["editor"] == "instructed" else retrieved
        out[r["editor"], facts][r["case_id"]].append(first_token_kind(tokenizer, r["pred_ids"], r["answer"]))
    return out


def _rates(kinds: dict[str, list[str]], kind: str) -> list[CaseMetrics]:
    return [CaseMetrics(case, {SLOT: 100.0 * got.count(kind) / len(got)}) for case, got in sorted(kinds.items())]


def multifact_lines(results: Path) -> list[str]:
    runs = {s: results / run_folder(s, DATASET) for s in SCALINGS}
    rows = {s: run_rows(path) for s, path in runs.items()}
    missing = [str(path) for s, path in runs.items() if not rows[s]]
    if missing:
        return [f"# missing: no rows in {', '.join(missing)}"]
    n_edits = {c.case_id: len(c.edits) for c in load_dataset(DATASET)}
    tokenizer = load_tokenizer(rows["rows"][0]["model"])
    groups = {s: _groups(rows[s], n_edits, retrieved_facts(runs[s]), tokenizer) for s in SCALINGS}
    lines = ["# hop questions' first predicted token, rows - columns (a: rows, b: columns), same cases, compat=strict",
             "editor | facts in the instruction | cases / hop questions | answer first: rows, columns, "
             "difference | opener first: rows, columns, difference"]
    for key in sorted(groups["rows"]):
        a, b = groups["rows"][key], groups["columns"].get(key, {})
        cells = []
        for kind in ("answer", "opener"):
            ra, rb = _rates(a, kind), _rates(b, kind)
            diff = paired_bootstrap(ra, rb, SLOT)
            mean = [sum(c.values[SLOT] for c in x) / len(x) if x else float("nan") for x in (ra, rb)]
            span = f"{diff[0]:+.1f} [{diff[1]:+.1f}, {diff[2]:+.1f}]" if diff else "n/a"
            cells.append(f"{mean[0]:.1f}, {mean[1]:.1f}, {span}")
        questions = sum(len(v) for v in a.values())
        lines.append(f"{key[0]} | {key[1]} | {len(a)} / {questions} | {cells[0]} | {cells[1]}")
    return lines


def main(argv: list[str] | None = None) -> Path:
    return report_main(__doc__, OUT, multifact_lines, argv)


if __name__ == "__main__":
    main()
