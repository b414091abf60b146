"""The Python API: `evaluate`, `edit` (its `EditedModel`), `load_run`, `editor_args` and `Results` (README,
"Python API").

Everything goes through `bench.runner.run`, the function behind `python -m bench run`, so the numbers are the
ones the command line writes; results are read back from the run directory through the files' owners
(`bench.runlog`), so `evaluate(...)` and `load_run(out)` give equal `Results`. Importing this module imports
neither torch nor the runner: `load_run` only reads files.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
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
    from bench.models import LoadedModel

# Options of `evaluate(**options)`: RunConfig fields other than those it names itself.
_NAMED = ("editors", "dataset", "out", "model", "protocol", "limit", "editor_args")
logger = logging.getLogger(__name__)
_DATASET_LABEL = "edit"  # the dataset label of the cases `edit()` builds


@dataclass(eq=False)
class Results:
    """One run directory in memory.

    rows: cases.jsonl or its packed copy (one dict per editor x case x query); summary: summary.csv (one row per
    editor x dataset x protocol); per_case: per_case.csv (each case's metric values per editor); config:
    config.json; out: the run directory (None when `evaluate` ran in a temporary one). per_case always has every
    per-case metric column (Loc_paper empty for runs recorded before it). The tables are pandas DataFrames whose
    `to_markdown()` needs no optional package."""

    rows: list[dict]
    summary: pd.DataFrame
    per_case: pd.DataFrame
    config: dict
    out: Path | None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        return (self.rows == other.rows and self.config == other.config and self.out == other.out
                and self.summary.equals(other.summary) and self.per_case.equals(other.per_case))

    def __repr__(self) -> str:
        shown = [c for c in ("editor", "protocol", "n_cases", "Rel", "Gen", "Loc", "Por_hop", "Score")
                 if c in self.summary.columns]
        return (f"Results(out={str(self.out) if self.out else None!r}, rows={len(self.rows)}, "
                f"summary=\n{self.summary[shown].to_string(index=False)}\n)")


def load_run(run_dir: str | Path) -> Results:
    """The `Results` of a run directory written by `bench run` or `evaluate(out=...)`. `rows` come from
    cases.jsonl, else from cases.jsonl.xz (what results/ commits; bench/packed_rows.py); empty for a run that
    keeps neither."""

    from bench.explorer_cases import run_rows
    from bench.runlog import (
        OPTIONAL_PER_CASE,
        PER_CASE_METRICS,
        RunLog,
        read_per_case,
        read_summary,
        summary_columns,
    )
    from bench.sources import check_finished

    run_dir = Path(run_dir)
    log = RunLog(run_dir)
    config = log.read_config()
    if config is None:
        raise BenchError(f"{run_dir} is not a run directory (no config.json)")
    summary_path, per_case_path = run_dir / "summary.csv", run_dir / "per_case.csv"
    if not summary_path.exists() or not per_case_path.exists():
        raise BenchError(f"{run_dir} has no summary.csv / per_case.csv yet (no editor finished)")
    records = read_summary(summary_path)
    check_finished(run_dir, records)
    table = _table_class()
    summary = table(records, columns=summary_columns())
    summary = summary.astype({"n_cases": int, **{c: float for c in summary.columns[5:]}})  # None -> NaN
    cases_of = read_per_case(per_case_path)
    present = [m for m in OPTIONAL_PER_CASE if any(c.values.get(m) is not None for cs in cases_of.values() for c in cs)]
    columns = ["editor", "protocol", "case_id", *PER_CASE_METRICS, *present]  # as per_case.csv has them
    per_case = table([[editor, label, c.case_id, *(c.values.get(m) for m in columns[3:])]
                      for (editor, label), cases in cases_of.items() for c in cases],
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

    from bench.markdown import pipe_table

    columns = ([str(frame.index.name or "")] if index else []) + [str(c) for c in frame.columns]
    numeric = ([pd.api.types.is_numeric_dtype(frame.index.dtype)] if index else []) + [
        pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes]
    rows = [[*([idx] if index else []), *values] for idx, values in zip(frame.index, frame.itertuples(index=False))]
    cells = [[_cell(v).replace("|", "\\|") for v in row] for row in rows]
    rule = ["---:" if right else "---" for right in numeric]
    return "\n".join(pipe_table([c.replace("|", "\\|") for c in columns], cells, rule))


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


def evaluate(editors: str | Sequence[str], data: str | Sequence[EditCase], model: Any = "smollm2-135m",
             protocol: str = "single", limit: int | None = None, editor_args: str | dict | None = None,
             out: str | Path | None = None, tokenizer: Any = None, **options: Any) -> Results:
    """Evaluate `editors` on `data` (a dataset name or NAME:PATH spec, or a list of `bench.data.EditCase`), as
    `python -m bench run` does; returns the run's `Results`.

    editors: "rome,ft-m" or ["rome", "ft-m"]. model: a model name as `--model` takes it, or a transformers model
    already in memory (then pass its `tokenizer`; it is put in eval mode with gradients off, as loaded models
    are). editor_args: "rome:layers=5" (the --editor-args syntax) or {"rome": {"layers": 5}}. out: the run
    directory (kept); None runs in a temporary directory, removed once read (then `Results.out` is None).
    options: the other `bench run` options by their RunConfig name (batch_size, num_edits, eval_every, eval_points,
    eval_sample, eval_recent, eval_panel, seed, data_dir, device, dtype, resume, bootstrap, encoder, allow_hub,
    scoring, side_effects, loc_unrelated, fluency_prompts)."""
    lm = None if isinstance(model, str) else in_memory_model(model, tokenizer)
    if lm is None:
        note_test_model(model)
    return _evaluate(editors, data, lm, model, protocol, limit, editor_args, out, options)


def _evaluate(editors, data, lm, model, protocol, limit, editor_args, out, options) -> Results:
    """`evaluate` on a model by name (lm None: the runner loads it) or on a `LoadedModel` in memory."""
    from bench.lifecycle import RunConfig
    from bench.runner import run

    unknown = sorted(set(options) - _option_names())
    if unknown:
        raise BenchError(f"evaluate(): unknown option(s) {', '.join(unknown)}; "
                         f"use {', '.join(sorted(_option_names()))}")
    if lm is not None:
        options = {**options, "device": str(lm.device), "dtype": str(lm.dtype).removeprefix("torch.")}
    names = [e.strip() for e in (editors.split(",") if isinstance(editors, str) else editors) if e.strip()]
    cases = None if isinstance(data, str) else list(data)
    dataset = data if isinstance(data, str) else _label(cases)

    def run_into(directory: Path) -> Results:
        cfg = RunConfig(editors=names, dataset=dataset, out=str(directory), model=lm.name if lm else model,
                        protocol=protocol, limit=limit, editor_args=_editor_args(editor_args), **options)
        return load_run(run(cfg, cases, lm=lm))

    if out is not None:
        return run_into(Path(out))
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        return dataclasses.replace(run_into(Path(tmp) / "run"), out=None)


def edit(prompts: str | Sequence[str], target_new: str | Sequence[str], subject: str | Sequence[str],
         ground_truth: str | Sequence[str | None] | None = None,
         rephrase_prompts: Sequence[str | Sequence[str]] | str | None = None,
         locality_prompts: Sequence[str | Sequence[str]] | str | None = None,
         locality_ground_truth: Sequence[str | Sequence[str]] | str | None = None,
         editor: str = "rome", model: Any = "smollm2-135m", tokenizer: Any = None, **options: Any) -> EditedModel:
    """Edit facts given as EasyEdit's `BaseEditor.edit` takes them, one entry per prompt: evaluate the edits and
    hand back the edited model.

    Each prompt becomes one `EditCase` (case_id "edit-<i>", dataset "edit"): Rel on the prompt, Gen on its
    rephrase prompt(s), Loc on its locality prompt(s) (answers: `locality_ground_truth`). An entry of
    rephrase_prompts, locality_prompts or locality_ground_truth may be one string or a list. The metrics
    (`.results`) come from the single protocol unless options say otherwise (each edit alone, then reset).
    model: a name, loaded once, or a transformers model in memory with its `tokenizer`. Then every edit is
    applied to that model (in one batch, or one after another for an editor without batches) and the
    `EditedModel` is returned: `ask(questions)` answers with the edits in place, and leaving its `with` block
    (or `restore()`) resets the editor and checks that the model is bit for bit the original. options go to
    `evaluate` (device, dtype, editor_args, out, seed, ...)."""
    if "questions" in options:
        raise BenchError("edit(questions=...) is gone: edit() returns the edited model; ask it with "
                         "`edited.ask(questions)` (no reload, no second edit)")
    cases = build_cases(prompts, target_new, subject, ground_truth, rephrase_prompts, locality_prompts,
                        locality_ground_truth)
    lm = model_in_memory(model, tokenizer, options)
    results = _evaluate(editor, cases, lm, lm.name, options.pop("protocol", "single"), options.pop("limit", None),
                        options.pop("editor_args", None), options.pop("out", None), options)
    evaluated = set(results.config["case_ids"])  # all of them, unless options hold a limit
    return EditedModel.apply(results, lm, [c for c in cases if c.case_id in evaluated])


def model_in_memory(model: Any, tokenizer: Any, options: dict) -> LoadedModel:
    """A `LoadedModel`: `model` loaded by name once (device, dtype, allow_hub taken from `options`), or the model
    in memory with its tokenizer."""
    if not isinstance(model, str):
        for key in ("device", "dtype"):
            options.pop(key, None)  # the model's own
        return in_memory_model(model, tokenizer)
    from bench.models import load_model

    note_test_model(model)
    return load_model(model, options.get("device", "auto"), options.get("dtype", "float32"),
                      allow_hub=options.get("allow_hub", False))


def in_memory_model(model: Any, tokenizer: Any) -> LoadedModel:
    """A transformers model and tokenizer already in memory as a `LoadedModel` (a `LoadedModel` passes as it is).
    The model is put in eval mode with gradients off, as `load_model` leaves a model: the restore checks compare
    `requires_grad` flags, and editors switch them on only for what they train."""
    from bench.models import LoadedModel

    if isinstance(model, LoadedModel):
        return model
    if tokenizer is None or not hasattr(model, "config") or not hasattr(model, "parameters"):
        raise BenchError("model= is a name (see `python -m bench list models`) or a transformers model in memory "
                         "with its tokenizer= (e.g. AutoModelForCausalLM.from_pretrained(...) and "
                         f"AutoTokenizer.from_pretrained(...)); got a {type(model).__name__}"
                         + ("" if tokenizer is not None else " and no tokenizer"))
    model.eval().requires_grad_(False)
    first = next(model.parameters())
    name = str(getattr(model.config, "name_or_path", "") or f"in-memory {model.config.model_type}")
    return LoadedModel(name, model, tokenizer, first.device, first.dtype)


def note_test_model(name: str) -> None:
    """Warn that a built-in test model has random weights, so that a first try can tell it from a broken harness."""
    from bench.tiny import TINY_MODELS

    if name in TINY_MODELS:
        logger.warning("model '%s' is a random-weight test model (bench/tiny.py): it knows no facts and its answers "
                       "are noise such as 'hohoho...', so edits with default settings may score Rel 0 on it. It "
                       "tests the harness, not an editor; use model='smollm2-135m' to see real edits.", name)


@dataclass(eq=False)
class EditedModel:
    """The model with `edit()`'s edits in place, and the metrics of those edits.

    results: the `Results` of the evaluation (also reachable as `summary`, `per_case`, `rows`, `config`, `out`).
    model, tokenizer: the transformers model (edited in place: weight editors changed its weights; memory and
    prompt editors change what `ask` sends it) and its tokenizer. Use it as a context manager, or call
    `restore()`: the editor is reset and the model checked, bit for bit, against its fingerprint from before the
    edits (bench/restore.py, the check the single protocol runs after every case)."""

    results: Results
    lm: LoadedModel
    editor: Any  # the bench.editor.Editor holding the edits
    cases: list
    original: Any  # bench.restore.Fingerprint of the unedited model
    restored: bool = False

    @classmethod
    def apply(cls, results: Results, lm: LoadedModel, cases: list) -> EditedModel:
        """Build the run's editor on `lm` and apply every case's edits, seeded as the protocols seed."""
        from bench.editor import check_supported
        from bench.lifecycle import RunConfig, build_editor, resources_for
        from bench.protocols import seed_everything
        from bench.registry import build_config, canonical_name, check_config_for_model, get_editor_class
        from bench.restore import fingerprint

        cfg = RunConfig.recorded(results.config["args"])
        name = canonical_name(cfg.editors[0])
        editor_cls = get_editor_class(name)
        config = build_config(editor_cls, _parsed_args(cfg.editor_args).get(name, {}), preset=name)
        check_supported(editor_cls, lm, "single")
        check_config_for_model(name, config, lm)
        original = fingerprint(lm.model)
        editor = build_editor(editor_cls, lm, config, resources_for(cfg, lm), name, cases)
        seed_everything(cfg.seed)
        caps = editor_cls.capabilities
        if len(cases) > 1 and not caps.batch and not caps.sequential:
            raise BenchError(f"editor '{name}' can hold one edit at a time; give edit() one prompt")
        for group in [cases] if caps.batch else [[c] for c in cases]:
            editor.edit(group)
        return cls(results, lm, editor, cases, original)

    @property
    def model(self):
        return self.lm.model

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    @property
    def summary(self):
        return self.results.summary

    @property
    def per_case(self):
        return self.results.per_case

    @property
    def rows(self) -> list[dict]:
        return self.results.rows

    @property
    def config(self) -> dict:
        return self.results.config

    @property
    def out(self) -> Path | None:
        return self.results.out

    def ask(self, questions: str | Sequence[str], max_new_tokens: int = 16) -> list[str]:
        """Greedy answers of the edited model (through the editor, so memory and prompt editors apply), at most
        `max_new_tokens` each; nothing is loaded or edited again."""
        from bench.data.schema import REL, Query
        from bench.editor import Request

        if self.restored:
            raise BenchError("this EditedModel was restored: its edits are gone; call bench.edit(...) again")
        questions = [questions] if isinstance(questions, str) else list(questions)
        requests = [Request(self.cases[0], Query(REL, q, "")) for q in questions]
        return [text.strip() for text in self.editor.generate(requests, max_new_tokens)]

    def restore(self) -> None:
        """Undo the edits and check that the model is the original, bit for bit (a BenchError if it is not)."""
        from bench.restore import fingerprint

        if self.restored:
            return
        self.editor.reset()
        self.restored = True
        declared = getattr(self.editor, "runtime_attributes", None)  # attributes the check leaves alone, if any
        differences = fingerprint(self.lm.model).differences(self.original, *([declared] if declared else []))
        if differences:
            raise BenchError(f"editor '{self.editor.name}': after restore() the model is not the original "
                             f"({'; '.join(differences)})")

    def __enter__(self) -> EditedModel:
        return self

    def __exit__(self, *exc_info) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "restored" if self.restored else f"{len(self.cases)} edit(s) in place"
        return f"EditedModel(editor={self.editor.name!r}, model={self.lm.name!r}, {state}, results={self.results!r})"


def _parsed_args(text: str | None) -> dict:
    from bench.registry import parse_editor_args

    return parse_editor_args(text)


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
    from bench.lifecycle import RunConfig

    return {f.name for f in dataclasses.fields(RunConfig)} - set(_NAMED)
