"""MeLLo for MQuAKE: multi-hop questions are answered by the base LM decomposing them with the MeLLo prompt.

Memory = the sentences of every edit since the last reset, embedded with the
shared sentence encoder. `generate` answers NHOP queries with MeLLo's final
answer (the question is the raw `query.prompt`; any few-shot framing the
protocol adds is ignored, MeLLo brings its own prompt); other queries, and all
teacher-forced scores, use the base model conditioned on the `score_facts`
edits nearest to the query (IKE's `New Fact: ...\\nPrompt: ...` block), since
MeLLo itself only produces a final answer. Every LM call goes through the one
scorer's `generate`; weights never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from bench.arch import text_config
from bench.arguments import MAX_COUNT, MAX_STEPS, arg
from bench.data.registry import resolve_data_dir
from bench.data.schema import NHOP, Edit, EditCase
from bench.editor import Capabilities, Editor, EditorConfig, PreparedRequests, Request
from bench.errors import BenchError
from bench.scoring import PrefixState, Prepared
from editors.ike.demos import fact_block
from editors.mello.loop import STOP_PATTERNS, Trace, run_mello, shared_head

PROMPT_FILE = "mquake/prompts/MeLLo-prompt.txt"
FACT_TOKENS = 48  # room per step for the question and the retrieved-fact line


@dataclass
class MeLLoConfig(EditorConfig):
    prompt_file: str = arg("", special=("",), file="text",
                           help="MeLLo's few-shot prompt; empty: <data dir>/mquake/prompts/MeLLo-prompt.txt")
    max_steps: int = arg(5, lo=1, hi=MAX_STEPS, help="LM calls per question (a 4-hop question needs 5)")
    max_new_tokens: int = arg(64, lo=1, hi=MAX_COUNT, help="tokens generated per LM call")
    score_facts: int = arg(3, lo=0, hi=MAX_COUNT,
                           help="nearest edits put before a query for teacher-forced scores and non-multi-hop answers")


class MeLLo(Editor):
    name = "mello"
    capabilities = Capabilities(changes_weights=False, batch=True, sequential=True)
    config_class: ClassVar[type] = MeLLoConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        if self.config.max_steps < 1 or self.config.max_new_tokens < 1:
            raise BenchError("mello: max_steps and max_new_tokens must be >= 1")
        self.memory: list[Edit] = []
        self._keys = torch.zeros((0, 0))
        self._prompt: str | None = None
        self._head: PrefixState | None = None  # the few-shot prompt run once; weights never change
        self.last_traces: list[Trace] = []

    # -- the contract -----------------------------------------------------------------
    def edit(self, cases: list[EditCase]) -> None:
        edits = [e for case in cases for e in case.edits]
        if not edits:
            raise BenchError("mello: the cases to edit contain no edits")
        new = self._embed([e.sentence for e in edits])
        self._keys = new if not self.memory else torch.cat([self._keys, new])
        self.memory += edits

    def reset(self) -> None:
        self.memory, self._keys, self.last_traces = [], torch.zeros((0, 0)), []

    def prepare(self, requests: list[Request]) -> PreparedRequests:
        """The nearest edited facts before each query (retrieved per query, as MeLLo's scoring always did)."""
        return PreparedRequests([self._with_facts(r) for r in requests])

    def _with_facts(self, request: Request) -> Prepared:
        facts = self.nearest_facts([request.query.prompt], self.config.score_facts)[0]
        prompt = fact_block(" ".join(facts), request.text) if facts else request.text
        return Prepared(prompt, request.query.answer)

    def generate(self, requests: list[Request], max_new_tokens: int = 16, stop: Sequence = (),
                 stop_at_newline: bool = True) -> list[str]:
        out = [""] * len(requests)
        hops = [i for i, r in enumerate(requests) if r.query.kind == NHOP]
        for i, answer in zip(hops, self.answer_questions([requests[i].query.prompt for i in hops])):
            out[i] = answer
        rest = [i for i, r in enumerate(requests) if r.query.kind != NHOP]
        prepared = self.prepare([requests[i] for i in rest]).items
        texts = self.scorer.generate(prepared, max_new_tokens, stop_at_newline=stop_at_newline,
                                     stop=stop) if rest else []
        for i, text in zip(rest, texts):
            out[i] = text
        return out

    # -- MeLLo ------------------------------------------------------------------------
    def answer_multihop(self, case: EditCase) -> str:
        """MeLLo's final answer to the case's first multi-hop question ("" when it found none)."""
        questions = [q.prompt for q in case.of_kind(NHOP)]
        if not questions:
            raise BenchError(f"mello: case {case.case_id} has no multi-hop (nhop) question")
        return self.answer_questions(questions[:1])[0]

    def answer_questions(self, questions: list[str]) -> list[str]:
        if not questions:
            return []
        self.last_traces = run_mello(questions, self.task_prompt(), self._lm, self._retrieve, self.config.max_steps)
        return [t.answer for t in self.last_traces]

    def task_prompt(self) -> str:
        if self._prompt is None:
            path = Path(self.config.prompt_file) if self.config.prompt_file else (
                resolve_data_dir(self.resources.data_dir) / PROMPT_FILE)
            if not path.is_file():
                raise BenchError(f"mello: the MeLLo prompt {path} was not found; point --data-dir (or "
                                 f"$BENCH_DATA_DIR) at the data dir holding {PROMPT_FILE}, or pass "
                                 "mello:prompt_file=PATH")
            prompt = path.read_text(encoding="utf-8")
            self._check_context(prompt)
            self._prompt = prompt
        return self._prompt

    def _check_context(self, prompt: str) -> None:
        """Refuse up front when the transcript could outgrow the model's context (e.g. 512-token GPT-2s)."""
        config = text_config(self.model)
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        cfg = self.config
        need = len(self.tokenizer(prompt).input_ids) + cfg.max_steps * (cfg.max_new_tokens + FACT_TOKENS)
        if limit and need > limit:
            raise BenchError(f"mello: the MeLLo prompt plus {cfg.max_steps} steps of up to "
                             f"{cfg.max_new_tokens} tokens needs about {need} tokens, more than this model's "
                             f"{limit}-token context; lower mello:max_steps / max_new_tokens or use another model")

    def nearest_facts(self, queries: list[str], k: int) -> list[list[str]]:
        """The sentences of the `k` edits nearest to each query, nearest first."""
        if not self.memory or k < 1:
            return [[] for _ in queries]
        sims = self._embed(queries) @ self._keys.T
        top = sims.topk(min(k, len(self.memory)), dim=1).indices.tolist()
        return [[self.memory[i].sentence for i in row] for row in top]

    def _retrieve(self, subquestions: list[str]) -> list[str | None]:
        return [facts[0] if facts else None for facts in self.nearest_facts(subquestions, 1)]

    def _lm(self, prompts: list[str]) -> list[str]:
        if self._head is None:  # the scorer uses it where exact (Scorer.prefix_fits)
            self._head = self.scorer.prefix_state(shared_head(self.task_prompt()))
        items = [Prepared(p) for p in prompts]
        return self.scorer.generate(items, self.config.max_new_tokens, stop_at_newline=False, stop=STOP_PATTERNS,
                                    prefix=self._head)

    def _embed(self, texts: list[str]) -> torch.Tensor:
        return self.resources.encoder().encode(texts).float().cpu()
