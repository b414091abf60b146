"""The explorer's case browser data: per case, each query with every editor's answer as text and its score.

Rows are read through bench/runlog.py (a committed run's packed rows through bench/packed_rows.py). Runs from
before `pred_text` was stored are decoded here with the run's own tokenizer (config.json names the model), so
old and new runs look the same in the page. In a page of several models each editor's name carries its model
("rome · gemma3-270m"), so that the same case of two models shows both models' answers.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from bench.data.schema import LOCALITY_KINDS
from bench.errors import BenchError
from bench.metrics import TOKEN_METRICS
from bench.packed_rows import packed_rows
from bench.runlog import RunLog
from bench.summary import evaluation_sets

logger = logging.getLogger(__name__)

KIND_METRIC: dict[str, str] = {}  # query kind -> the metric it feeds first (Rel, Gen, Loc, ..., Loc_unrelated)
for _metric, (_kind, _) in TOKEN_METRICS.items():
    KIND_METRIC.setdefault(_kind, _metric)
KIND_METRIC["fluency"] = "Fluency"
MODEL_SEP = " · "


def model_label(editor: str, model: str) -> str:
    """An editor's name in a page of several models: "rome · gemma3-270m"."""
    return f"{editor}{MODEL_SEP}{model}"


def editor_of(label: str) -> str:
    """The editor of a browser name, with or without its model."""
    return label.partition(MODEL_SEP)[0]


def model_of(label: str) -> str:
    """The model of a browser name ('' in a page of one model)."""
    return label.partition(MODEL_SEP)[2]


def run_rows(run_dir: Path) -> list[dict]:
    """Every complete row of cases.jsonl (or of its packed copy, bench/packed_rows.py); [] when the run keeps
    neither."""
    run_dir = Path(run_dir)
    if (run_dir / "cases.jsonl").exists():
        return RunLog(run_dir).rows()
    return packed_rows(run_dir)


@functools.cache
def load_tokenizer(model: str):
    """The tokenizer of a run's model (an offline alias, a tiny test model or a local directory), or None."""
    from bench.models import model_path
    from bench.tiny import TINY_MODELS, build_tiny_model

    try:
        if model in TINY_MODELS:
            return build_tiny_model(model)[1]
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_path(model), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - the page is still useful with token ids
        logger.warning("cannot load the tokenizer of '%s' (%s); answers are shown as token ids", model, exc)
        return None


def decode_missing(rows: list[dict], model: str) -> int:
    """Fill `pred_text` of rows that lack it with the model's tokenizer; returns how many were decoded."""
    missing = [r for r in rows if "pred_text" not in r and r.get("pred_ids") is not None]
    if not missing:
        return 0
    tokenizer = load_tokenizer(model)
    for r in missing:
        r["pred_text"] = tokenizer.decode(r["pred_ids"]) if tokenizer else f"ids {r['pred_ids']}"
    logger.info("decoded %d answers of a run made before pred_text with %s's tokenizer", len(missing), model)
    return len(missing)


def _score(row: dict) -> float | None:
    """The row's score in percent as its metric counts it: agreement with the unedited model for locality, else
    accuracy."""
    value = row.get("loc") if row["kind"] in LOCALITY_KINDS else row.get("acc")
    return None if value is None else round(100.0 * float(value), 1)


def _answer(row: dict) -> list:
    """[answer text, score in percent, the unedited model's answer it was scored against (locality rows of runs
    that record it; else None)]."""
    text = row.get("pred_text", "")
    if row.get("generated") is not None:  # the generated answer (--scoring gen/both; MQuAKE's multi-hop always)
        verdict = row.get("gen_acc", row.get("loc_gen", row.get("em")))
        mark = "" if verdict is None else (" ✓" if verdict else " ✗")
        shown = f"generated: {row['generated'].strip()}{mark}"
        text = f"{text} | {shown}" if text else shown
    return [text, _score(row), row.get("ref_text")]


def run_cases(run_dir: Path, with_model: bool = False) -> list[dict]:
    """The browser entries of one run: per (protocol label, case), its queries and per editor its answers; with
    `with_model` the editors are named with their model (model_label)."""
    rows = run_rows(run_dir)
    if not rows:
        return []
    config = RunLog(Path(run_dir)).read_config() or {}
    model = config.get("args", {}).get("model") or rows[0].get("model", "")
    decode_missing(rows, model)
    protocol = rows[0].get("protocol", "single")
    entries: dict[tuple, dict] = {}
    for editor in dict.fromkeys(r["editor"] for r in rows):
        sets = evaluation_sets([r for r in rows if r["editor"] == editor], protocol)
        for label, picked in sets.items():
            for r in picked:
                key = (r.get("dataset", ""), label, str(r["case_id"]))
                entry = entries.setdefault(key, {"id": key[2], "dataset": key[0], "protocol": label,
                                                 "queries": {}, "answers": {}})
                entry["queries"].setdefault(r["qi"], {"kind": r["kind"], "prompt": r["prompt"], "answer": r["answer"]})
                name = model_label(editor, r.get("model") or model) if with_model else editor
                entry["answers"].setdefault(name, {})[r["qi"]] = _answer(r)
    return [_flatten(e) for e in entries.values()]


def _flatten(entry: dict) -> dict:
    """Queries in order, each editor's answers aligned with them (None where an editor did not score one)."""
    order = sorted(entry["queries"])
    answers = {ed: [by_qi.get(qi) for qi in order] for ed, by_qi in entry["answers"].items()}
    return {**entry, "queries": [entry["queries"][qi] for qi in order], "answers": answers}


def merge_cases(per_run: list[list[dict]], is_reference) -> list[dict]:
    """Entries of several runs as one list: the same (dataset, protocol, case) from several runs becomes one
    entry whose queries are the union of theirs (runs made with other scoring options score more or fewer
    queries of a case); one editor answering it in two runs is an error (bench/sources.py chooses the run
    first); flags for the browser's filters are added."""
    merged: dict[tuple, dict] = {}
    for entries in per_run:
        for e in entries:
            key = (e["dataset"], e["protocol"], e["id"])
            if key not in merged:
                merged[key] = {**e, "queries": list(e["queries"]), "answers": dict(e["answers"])}
            else:
                _add_answers(merged[key], e, key)
    return [_flags(e, is_reference) for e in merged.values()]


def _query_ids(queries: list[dict]) -> list[tuple]:
    """What makes a query the same in two runs: its kind, prompt and answer, and which repeat of them it is."""
    seen: dict[tuple, int] = {}
    ids = []
    for q in queries:
        base = (q["kind"], q["prompt"], q["answer"])
        seen[base] = seen.get(base, 0) + 1
        ids.append((*base, seen[base]))
    return ids


def _add_answers(entry: dict, more: dict, key: tuple) -> None:
    """`more`'s editors join `entry`; a query only `more` scored is appended (None for the editors already
    there), and each answer stays with the query it was given to."""
    twice = sorted(set(entry["answers"]) & set(more["answers"]))
    if twice:
        raise BenchError(f"case {key[2]} of {key[0]} ({key[1]}): {', '.join(twice)} answered it in two runs; choose "
                         "the run that supplies each editor with --from EDITOR=RUN")
    position = {qid: i for i, qid in enumerate(_query_ids(entry["queries"]))}
    more_ids = _query_ids(more["queries"])
    for qid, query in zip(more_ids, more["queries"]):
        if qid not in position:
            position[qid] = len(entry["queries"])
            entry["queries"].append(query)
    size = len(entry["queries"])
    entry["answers"] = {ed: answers + [None] * (size - len(answers)) for ed, answers in entry["answers"].items()}
    places = [position[qid] for qid in more_ids]
    for editor, answers in more["answers"].items():
        aligned = [None] * size
        for place, answer in zip(places, answers):
            aligned[place] = answer
        entry["answers"][editor] = aligned


def _flags(entry: dict, is_reference) -> dict:
    """`failed`: editors whose edit prompt was not answered with the new target (Rel < 100%); per query
    `disagree`: the editors (the reference left out) of one model answered it differently."""
    editors = [ed for ed in entry["answers"] if not is_reference(editor_of(ed))]
    entry["failed"] = [ed for ed in editors if any(
        a is not None and a[1] is not None and a[1] < 100
        for q, a in zip(entry["queries"], entry["answers"][ed]) if q["kind"] == "rel")]
    for i, q in enumerate(entry["queries"]):
        answers = {(model_of(ed), entry["answers"][ed][i][0]) for ed in editors
                   if entry["answers"][ed][i] is not None}
        q["disagree"] = len(answers) > len({model for model, _ in answers})  # a model with two different answers
    return entry
