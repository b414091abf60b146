"""The Python API: `evaluate`, `edit`, `load_run` and their `Results` (README, "Python API").

Everything goes through `bench.runner.run`, the function behind `python -m bench run`, so the numbers are the
ones the command line writes; results are read back from the run directory through the files' owners
(`bench.runlog`), so `evaluate(...)` and `load_run(out)` give equal `Results`. Importing this module imports
neither torch nor the runner: `load_run` only reads files.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    import pandas as pd

    from bench.data.schema import EditCase

# Options of `evaluate(**options)`: RunConfig fields other than those it names itself.
_NAMED = ("editors", "dataset", "out", "model", "protocol", "limit", "editor_args")
_DATASET_LABEL = "edit"  # the dataset label of the cases `edit()` builds


@dataclass(eq=False)
class Results:
    """One run directory in memory.

    rows: cases.jsonl (one dict per editor x case x query); summary: summary.csv (one row per editor x dataset x
    protocol); per_case: per_case.csv (each case's metric values per editor); config: config.json; out: the run
    directory (None when `evaluate` ran in a temporary one); answers: `edit(questions=...)` only, the edited
    model's greedy answers (columns editor, case_id, prompt, question, answer), else None.
    per_case always has every per-case metric column (Loc_paper empty for runs recorded before it)."""

    rows: list[dict]
    summary: pd.DataFrame
    per_case: pd.DataFrame
    config: dict
    out: Path | None
    answers: pd.DataFrame | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        frames = [(self.summary, other.summary), (self.per_case, other.per_case)]
        if (self.answers is None) != (other.answers is None):
            return False
        if self.answers is not None:
            frames.append((self.answers, other.answers))
        return (self.rows == other.rows and self.config == other.config and self.out == other.out
                and all(a.equals(b) for a, b in frames))

    def __repr__(self) -> str:
        shown = [c for c in ("editor", "protocol", "n_cases", "Rel", "Gen", "Loc", "Por_hop", "Score")
                 if c in self.summary.columns]
        return (f"Results(out={str(self.out) if self.out else None!r}, rows={len(self.rows)}, "
                f"summary=\n{self.summary[shown].to_string(index=False)}\n)")


def load_run(run_dir: str | Path) -> Results:
    """The `Results` of a run directory written by `bench run` or `evaluate(out=...)`. `rows` come from
    cases.jsonl, else from cases.jsonl.gz (what results/ commits); empty for a run that keeps neither."""

    from bench.explorer_cases import run_rows
    from bench.runlog import (
        PER_CASE_METRICS,
        PER_CASE_PAPER_METRICS,
        RunLog,
        read_per_case,
        read_summary,
        summary_columns,
    )

    run_dir = Path(run_dir)
    log = RunLog(run_dir)
    config = log.read_config()
    if config is None:
        raise BenchError(f"{run_dir} is not a run directory (no config.json)")
    summary_path, per_case_path = run_dir / "summary.csv", run_dir / "per_case.csv"
    if not summary_path.exists() or not per_case_path.exists():
        raise BenchError(f"{run_dir} has no summary.csv / per_case.csv yet (no editor finished)")
    table = _table_class()
    summary = table(read_summary(summary_path), columns=summary_columns())
    summary = summary.astype({"n_cases": int, **{c: float for c in summary.columns[5:]}})  # None -> NaN
    columns = ["editor", "protocol", "case_id", *PER_CASE_METRICS, *PER_CASE_PAPER_METRICS]
    per_case = table([[editor, label, c.case_id, *(c.values.get(m) for m in columns[3:])]
                             for (editor, label), cases in read_per_case(per_case_path).items() for c in cases],
                            columns=columns).astype({c: float for c in columns[3:]})
    return Results(rows=run_rows(run_dir), summary=summary, per_case=per_case, config=config, out=run_dir)


@functools.cache
def _table_class() -> type:
    """A pandas DataFrame whose `to_markdown()` needs no optional package (pandas' own needs `tabulate`, which the
    project does not depend on); built on first use so that importing this module does not import pandas."""
    import pandas as pd

    class Table(pd.DataFrame):
        """A DataFrame of `Results`; slicing keeps the class (pandas' `_constructor`)."""

        @property
        def _constructor(self):
            return Table

        def to_markdown(self, buf=None, mode: str = "wt", index: bool = True, **kwargs):
            """A GitHub markdown table (numbers as `format(x, "g")`, NaN empty); extra keyword arguments are
            tabulate's and go to pandas' own `to_markdown`, which then needs `tabulate` installed."""
            if kwargs:
                return super().to_markdown(buf, mode, index, **kwargs)
            text = markdown_table(self, index)
            if buf is None:
                return text
            if isinstance(buf, (str, Path)):
                with open(buf, mode) as fh:
                    fh.write(text)
            else:
                buf.write(text)
            return None

    Table.__module__, Table.__qualname__ = __name__, "Table"
    return Table


def markdown_table(frame, index: bool = True) -> str:
    """`frame` as a GitHub markdown table: a header row, a rule, one row per record; numbers as `format(x, "g")`,
    NaN and None empty, numeric columns right-aligned."""
    import pandas as pd

    columns = ([str(frame.index.name or "")] if index else []) + [str(c) for c in frame.columns]
    numeric = ([pd.api.types.is_numeric_dtype(frame.index.dtype)] if index else []) + [
        pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes]
    rows = [[*([idx] if index else []), *values] for idx, values in zip(frame.index, frame.itertuples(index=False))]
    cells = [[_cell(v) for v in row] for row in rows]
    rule = ["---:" if right else "---" for right in numeric]
    lines = [columns, rule, *cells]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return format(value, "g")
    return str(value)


def editor_args(editor: str) -> list:
    """Every hyper-parameter of `editor` (name, alias or preset) as `bench.registry.EditorArg`s: name, type, default,
    allowed values in words and one line of meaning; what `python -m bench list args EDITOR` prints."""
    from bench.registry import editor_args as listed

    return listed(editor)


def evaluate(editors: str | Sequence[str], data: str | Sequence[EditCase], model: str = "smollm2-135m",
             protocol: str = "single", limit: int | None = None, editor_args: str | dict | None = None,
             out: str | Path | None = None, **options: Any) -> Results:
    """Evaluate `editors` on `data` (a dataset name or NAME:PATH spec, or a list of `bench.data.EditCase`), as
    `python -m bench run` does; returns the run's `Results`.

    editors: "rome,ft-m" or ["rome", "ft-m"]. editor_args: "rome:layers=5" (the --editor-args syntax) or
    {"rome": {"layers": 5}}. out: the run directory (kept); None runs in a temporary directory, removed once
    read (then `Results.out` is None). options: the other `bench run` options by their RunConfig name
    (batch_size, num_edits, eval_every, seed, data_dir, device, dtype, resume, bootstrap, encoder, allow_hub)."""
    from bench.runner import RunConfig, run

    unknown = sorted(set(options) - _option_names())
    if unknown:
        raise BenchError(f"evaluate(): unknown option(s) {', '.join(unknown)}; "
                         f"use {', '.join(sorted(_option_names()))}")
    names = [e.strip() for e in (editors.split(",") if isinstance(editors, str) else editors) if e.strip()]
    cases = None if isinstance(data, str) else list(data)
    dataset = data if isinstance(data, str) else _label(cases)

    def run_into(directory: Path) -> Results:
        cfg = RunConfig(editors=names, dataset=dataset, out=str(directory), model=model, protocol=protocol,
                        limit=limit, editor_args=_editor_args(editor_args), **options)
        return load_run(run(cfg, cases))

    if out is not None:
        return run_into(Path(out))
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        return dataclasses.replace(run_into(Path(tmp) / "run"), out=None)


def edit(prompts: str | Sequence[str], target_new: str | Sequence[str], subject: str | Sequence[str],
         ground_truth: str | Sequence[str | None] | None = None,
         rephrase_prompts: Sequence[str | Sequence[str]] | str | None = None,
         locality_prompts: Sequence[str | Sequence[str]] | str | None = None,
         locality_ground_truth: Sequence[str | Sequence[str]] | str | None = None,
         editor: str = "rome", model: str = "smollm2-135m", questions: Sequence[str] | None = None,
         **options: Any) -> Results:
    """Edit facts given as EasyEdit's `BaseEditor.edit` takes them, one entry per prompt, and evaluate the edits.

    Each prompt becomes one `EditCase` (case_id "edit-<i>", dataset "edit"): Rel on the prompt, Gen on its
    rephrase prompt(s), Loc on its locality prompt(s) (answers: `locality_ground_truth`). An entry of
    rephrase_prompts, locality_prompts or locality_ground_truth may be one string or a list. The editor runs under
    the single protocol (each edit alone, then reset) unless options say otherwise; options go to `evaluate`
    (device, editor_args, out, seed, ...). questions: also ask these after each edit, alone, and before its reset
    (greedy, at most 16 new tokens); their answers are `Results.answers`, one row per edit x question."""
    cases = build_cases(prompts, target_new, subject, ground_truth, rephrase_prompts, locality_prompts,
                        locality_ground_truth)
    results = evaluate(editor, cases, model=model, **options)
    if questions:
        evaluated = set(results.config["case_ids"])  # all of them, unless options hold a limit
        results.answers = _answers(results, [c for c in cases if c.case_id in evaluated],
                                   [questions] if isinstance(questions, str) else list(questions))
    return results


def build_cases(prompts, target_new, subject, ground_truth=None, rephrase_prompts=None, locality_prompts=None,
                locality_ground_truth=None) -> list[EditCase]:
    """The `EditCase`s of `edit()`'s arguments (the loaders' helpers build their template and queries)."""
    from bench.data.fields import make_queries, make_template
    from bench.data.schema import GEN, LOC, REL, Edit, EditCase, Query

    prompts = _per_prompt("prompts", prompts, None)
    n = len(prompts)
    columns = {"target_new": _per_prompt("target_new", target_new, n), "subject": _per_prompt("subject", subject, n),
               "ground_truth": _per_prompt("ground_truth", ground_truth, n),
               "rephrase_prompts": _per_prompt("rephrase_prompts", rephrase_prompts, n),
               "locality_prompts": _per_prompt("locality_prompts", locality_prompts, n),
               "locality_ground_truth": _per_prompt("locality_ground_truth", locality_ground_truth, n)}
    cases = []
    for i, prompt in enumerate(prompts):
        row = {key: values[i] for key, values in columns.items()}
        prompt, target, subj = _text(prompt), _text(row["target_new"]), _text(row["subject"])
        if not prompt or not target:
            raise BenchError(f"edit(): prompt {i} needs a non-empty prompt and target_new")
        loc_prompts, loc_answers = _texts(row["locality_prompts"]), _texts(row["locality_ground_truth"])
        if loc_prompts and len(loc_answers) not in (1, len(loc_prompts)):
            raise BenchError(f"edit(): prompt {i} has {len(loc_prompts)} locality prompt(s) and "
                             f"{len(loc_answers)} locality_ground_truth answer(s); give one, or one per prompt")
        if loc_prompts and len(loc_answers) == 1:
            loc_answers = loc_answers * len(loc_prompts)
        edit_ = Edit(prompt, subj, target, _text(row["ground_truth"]) or None, template=make_template(prompt, subj))
        queries = [Query(REL, prompt, target), *make_queries(GEN, _texts(row["rephrase_prompts"]), target)]
        for loc_prompt, answer in zip(loc_prompts, loc_answers):
            queries += make_queries(LOC, [loc_prompt], answer)
        cases.append(EditCase(f"{_DATASET_LABEL}-{i}", _DATASET_LABEL, [edit_], queries))
    return cases


def _per_prompt(name: str, value, n: int | None) -> list:
    """One entry per prompt: a list of n, a single string for one prompt, or None (n Nones)."""
    if value is None:
        return [None] * (n or 0)
    values = [value] if isinstance(value, str) else list(value)
    if n is not None and len(values) != n:
        raise BenchError(f"edit(): {name} has {len(values)} entries for {n} prompt(s); give one per prompt")
    if n is None and not values:
        raise BenchError("edit(): prompts is empty")
    return values


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _texts(value) -> list[str]:
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    return [t for t in (_text(v) for v in values) if t]


def _answers(results: Results, cases: list, questions: list[str]):
    """Each case edited alone (seeded as the protocols seed), the questions answered greedily, then reset."""
    import pandas as pd

    from bench.data import resolve_data_dir
    from bench.data.schema import REL, Query
    from bench.editor import Request, Resources
    from bench.models import load_model
    from bench.protocols import ProtocolConfig, seed_everything
    from bench.runner import RunConfig, _editor_setup

    args = results.config["args"]
    cfg = RunConfig(**{f.name: args[f.name] for f in dataclasses.fields(RunConfig) if f.name in args})
    names, classes, configs = _editor_setup(cfg)
    lm = load_model(cfg.model, cfg.device, cfg.dtype, allow_hub=cfg.allow_hub)
    resources = Resources(data_dir=resolve_data_dir(cfg.data_dir), seed=cfg.seed, encoder_name=cfg.encoder,
                          device=str(lm.device), allow_hub=cfg.allow_hub)
    out = []
    for name in names:
        editor = classes[name](lm, configs[name], resources)
        for case in cases:
            seed_everything(cfg.seed)
            editor.edit([case])
            requests = [Request(case, Query(REL, q, "")) for q in questions]
            texts = editor.generate(requests, ProtocolConfig().max_new_tokens)
            editor.reset()
            out += [{"editor": name, "case_id": case.case_id, "prompt": case.edits[0].prompt, "question": q,
                     "answer": text.strip()} for q, text in zip(questions, texts)]
    return pd.DataFrame(out)


def _label(cases: list) -> str:
    """The dataset label of a list of cases: theirs when they share one."""
    labels = list(dict.fromkeys(getattr(c, "dataset", "?") for c in cases))
    return labels[0] if len(labels) == 1 else "+".join(labels) or "cases"


def _editor_args(value: str | dict | None) -> str | None:
    """{"rome": {"layers": [4, 5]}} -> "rome:layers=4,5" (the --editor-args syntax bench.registry parses)."""
    if value is None or isinstance(value, str):
        return value

    def text(v) -> str:
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return str(v).lower() if isinstance(v, bool) else str(v)

    return ";".join(f"{editor}:" + ",".join(f"{k}={text(v)}" for k, v in args.items())
                    for editor, args in value.items() if args)


def _option_names() -> set[str]:
    from bench.runner import RunConfig

    return {f.name for f in dataclasses.fields(RunConfig)} - set(_NAMED)
