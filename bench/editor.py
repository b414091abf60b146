"""The Editor contract every method implements, and the resources editors share.

- `edit(cases)` applies the edits of one or more cases; repeated calls accumulate
  (sequential editing).
- `reset()` returns to the exact pre-edit state (bitwise for weight editors;
  the single protocol checks a parameter hash after every case).
- `begin_run(cases)` (optional) gives the editor the run's evaluated cases once,
  before its first unit: a method that draws on the whole evaluated dataset
  (InstructEd's retrieval memory of every edit) keeps what it needs.
- Scoring goes through the editor: `prepare(requests)` turns a batch's requests
  into what the scorer runs (an instruction, demonstrations, a routed fact may be
  added) and says, per request, whether the editor intervened (`fired`);
  `forward_context` may install per-batch state around each forward pass.
  Parameter editors keep the defaults. `score` and `generate` are the harness's,
  not the editors': a method that answers by its own algorithm (MeLLo's multi-hop
  loop) overrides `generate`, and nothing overrides `score`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, final

import torch

from bench.data.schema import EditCase, Query
from bench.errors import BenchError
from bench.models import LoadedModel
from bench.scoring import Batch, Prepared, Scorer, TokenScore


@dataclass(frozen=True)
class Capabilities:
    changes_weights: bool  # reset() must restore parameters bitwise
    batch: bool = True  # edit() accepts several cases at once
    sequential: bool = True  # edits may accumulate over edit() calls
    architectures: tuple[str, ...] | None = None  # model_types it supports; None = all in bench/arch.py
    reference: bool = False  # it changes nothing: the unedited floor tables show and never mark best


@dataclass(frozen=True)
class Request:
    """One query to answer for one case; `prompt` may be a framing of query.prompt (few-shot)."""

    case: EditCase
    query: Query
    prompt: str = ""

    @property
    def text(self) -> str:
        return self.prompt or self.query.prompt


@dataclass(frozen=True)
class PreparedRequests:
    """What the scorer runs for a batch of requests, and whether the editor intervened on each."""

    items: list[Prepared]
    fired: list[bool] | None = None  # None: the editor has no notion of firing (it applies to every request)
    # per request, fields the editor adds to its row of cases.jsonl (e.g. which edit a retrieval picked); never
    # one of the harness's own fields
    row_fields: list[dict[str, Any]] | None = None

    @property
    def prompts(self) -> list[str]:
        return [item.prompt for item in self.items]


@dataclass
class Resources:
    """Shared, lazily built things editors need (one encoder per run, not one per editor)."""

    data_dir: Path | None = None
    seed: int = 0
    encoder_name: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    allow_hub: bool = False  # an encoder that is not offline may come from the Hugging Face hub (bench/hub.py)
    protocol: str = "single"  # the run's protocol: a memory editor may only recall edits made so far when sequential
    _encoders: dict = field(default_factory=dict)

    def encoder(self, name: str | None = None):
        from bench.encoder import SentenceEncoder

        name = name or self.encoder_name
        if name not in self._encoders:
            self._encoders[name] = SentenceEncoder(name, device=self.device, allow_hub=self.allow_hub)
        return self._encoders[name]


@dataclass
class EditorConfig:
    """Base of every editor's hyper-parameters; subclasses add typed fields."""

    def resolved(self, lm: LoadedModel, seed: int, editor_cls: type, protocol: str = "single") -> EditorConfig:
        """The configuration the editor will run with on `lm` under the run's `seed` and `protocol`, as config.json
        records it; a config whose editor fills fields from the model (ROME's hyper-parameter files) overrides this."""
        return self

    def unrecorded(self, record: dict[str, Any]) -> dict[str, Any]:
        """The fields `record` (config.json's configuration of an earlier start) lacks because it was written before
        they existed, with the values that start ran with, so that --resume compares them like recorded ones; a
        field added later that changed nothing need not be named (the default names none)."""
        return {}


class Editor(abc.ABC):
    """Subclasses set `name`, `capabilities`, `config_class` and implement `edit` and `reset` (docs/architecture.md)."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities(changes_weights=False)
    config_class: ClassVar[type] = EditorConfig
    # Module attributes ("module.attribute" fnmatch patterns) this editor keeps between edits without changing the
    # forward pass of the unedited model; the restore check (bench/restore.py) leaves them alone. Declare, never
    # hide: anything not declared that differs after reset() stops the run.
    runtime_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, lm: LoadedModel, config: EditorConfig | None = None, resources: Resources | None = None):
        self.lm = lm
        self.config = config if config is not None else self.config_class()
        self.resources = resources or Resources()

    @property
    def model(self):
        return self.lm.model

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    @cached_property
    def scorer(self) -> Scorer:
        return Scorer(self.lm.model, self.lm.tokenizer)

    # -- the contract ---------------------------------------------------------------
    @abc.abstractmethod
    def edit(self, cases: list[EditCase]) -> None:
        """Apply the edits of `cases`; repeated calls accumulate."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Return to the exact pre-edit state."""

    def begin_run(self, cases: list[EditCase]) -> None:
        """The run's evaluated cases (all of them, also on --resume), given once after construction and before the
        first unit by both executors (bench/lifecycle.py `build_editor`). Only a method defined over the whole
        evaluated dataset needs them (InstructEd's `memory=dataset`: retrieval among every edit of the dataset, as
        the authors' evaluation does); the rows of a unit may then depend on the run's case list, which --resume
        keeps fixed. Must not change the model (the restore check follows). The default ignores them."""
        return None

    def prepare(self, requests: list[Request]) -> PreparedRequests:
        """The requests as the model sees them (plain here); editors that rewrite queries override this, and
        prepare the whole batch at once (one encoder or routing call)."""
        return PreparedRequests([Prepared(r.text, r.query.answer) for r in requests])

    def forward_context(self, batch: Batch) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    @final
    def score(self, requests: list[Request]) -> list[TokenScore]:
        """Teacher-forced scores of `requests` through the editor (protocols also read `prepare(...).fired`)."""
        return self.scorer.score(self.prepare(requests).items, self.active_context())

    def generate(self, requests: list[Request], max_new_tokens: int = 16, stop: Sequence = (),
                 stop_at_newline: bool = True) -> list[str]:
        """Greedy answers (stop rules: `Scorer.generate`); only a method whose answer comes from its own loop
        (MeLLo) overrides this."""
        return self.scorer.generate(self.prepare(requests).items, max_new_tokens, self.active_context(),
                                    stop_at_newline=stop_at_newline, stop=stop)

    def active_context(self):
        """The forward context, or None when the editor has none (the scorer may then share prompt prefixes)."""
        return None if type(self).forward_context is Editor.forward_context else self.forward_context

    def select_queries(self, case: EditCase) -> list[Query]:
        """The queries evaluated for a case (all of them, unless a compatibility mode samples)."""
        return case.queries

    def metric_options(self) -> dict[str, Any]:
        """Options for bench.metrics.case_metrics (e.g. rel_fired_only for retrieval compat modes)."""
        return {}

    def sequential_state(self) -> dict[str, torch.Tensor] | None:
        """The state its edits so far left, as tensors, so a resumed sequential run need not replay them
        (bench/sequential_state.py); None: not available, the protocol replays the edits."""
        return None

    def load_sequential_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put an unedited editor into the state `sequential_state()` returned."""
        raise NotImplementedError(f"editor '{self.name}' gives no sequential state")

    def weight_deltas(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]] | None:
        """name -> (unedited value, current value minus it) of every weight its edits changed so far, for the
        weight-norm growth of a sequential run (bench/stream_meters.py); None: a weight editor that does not say."""
        return None if self.capabilities.changes_weights else {}

    def describe(self) -> dict[str, Any]:
        """What goes into config.json for this editor."""
        return {"name": self.name, **{f.name: getattr(self.config, f.name) for f in fields(self.config)}}


class BatchInFlight:
    """Mixin (before `Editor`) for editors whose forward hooks read the scorer batch being run (GRACE, WISE):
    `self._batch` is that batch during each forward pass, None otherwise."""

    _batch: Batch | None = None

    @contextlib.contextmanager
    def forward_context(self, batch: Batch):
        self._batch = batch
        try:
            yield
        finally:
            self._batch = None


def check_choice(editor: str, key: str, value, allowed) -> None:
    """The one error for an editor option outside its allowed values."""
    if value not in allowed:
        raise BenchError(f"{editor}: {key}={value!r}; use one of {', '.join(map(str, allowed))}")


def check_supported(editor_cls: type[Editor], lm: LoadedModel, protocol: str) -> None:
    """Refuse impossible combinations with a message that says what to do instead."""
    caps = editor_cls.capabilities
    if caps.architectures is not None and lm.model_type not in caps.architectures:
        raise BenchError(
            f"editor '{editor_cls.name}' does not support model_type '{lm.model_type}' "
            f"(supported: {', '.join(caps.architectures)})"
        )
    if protocol == "batch" and not caps.batch:
        raise BenchError(f"editor '{editor_cls.name}' cannot edit a batch; use --protocol single or sequential")
    if protocol == "sequential" and not caps.sequential:
        raise BenchError(f"editor '{editor_cls.name}' cannot edit sequentially; use --protocol single")
