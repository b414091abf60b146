"""The one scorer: teacher-forced target-token accuracy / log-probabilities and greedy generation.

Batched with length sorting and order restored; exact under left padding
(position ids are passed) and for any tokenizer family, because the target
span is located from token ids: the tokens of `prompt + " " + target` after
their common prefix with the tokens of `prompt` alone.

Editors that rewrite queries (instructions, demonstrations) hand in
`Prepared` items; editors that need per-row state during the forward pass
(InstructEd's similarity, GRACE's codebook) pass a `context` factory that is
entered around every forward call with the `Batch` being run.
"""

from __future__ import annotations

import contextlib
import copy
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from tqdm import tqdm

from bench.arch import text_config
from bench.errors import BenchError

MIN_SHARED_PREFIX = 32  # shorter shared prefixes are not worth a separate forward call


@dataclass(frozen=True)
class Prepared:
    """A query as the model will see it; `meta` is per-row editor state."""

    prompt: str
    target: str = ""
    meta: Any = None


@dataclass
class Encoded:
    ids: list[int]
    target_start: int  # index of the first target token in ids (== len(ids) when no target)
    meta: Any = None


@dataclass
class PrefixState:
    """A prompt prefix already run through the model (batch of one) and its key/value cache."""

    ids: list[int]
    cache: Any


@dataclass
class Batch:
    """One padded forward call. Rows are left-padded; `pad` holds each row's pad count."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    metas: list
    pad: list[int]
    prompt_lengths: list[int] = field(default_factory=list)  # per row, tokens before its target (all: no target)


@dataclass
class TokenScore:
    target_ids: list[int]
    pred_ids: list[int]  # teacher-forced argmax at each target position
    logprobs: list[float] = field(default_factory=list)
    top_ids: list[list[int]] = field(default_factory=list)  # per target position: the `top_k` likeliest tokens
    top_logprobs: list[list[float]] = field(default_factory=list)  # ... and their log-probabilities
    gathered: list[list[float]] = field(default_factory=list)  # per target position: log-probs of asked-for ids

    @property
    def correct(self) -> list[bool]:
        return [p == t for p, t in zip(self.pred_ids, self.target_ids)]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.target_ids) if self.target_ids else 0.0

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


ForwardContext = Callable[[Batch], contextlib.AbstractContextManager]


@dataclass
class _Extras:
    """What `Scorer.score` keeps besides argmaxes and target log-probs, for the rows of one call."""

    top_k: int
    gather: list

    def fill(self, score: TokenScore, logp: torch.Tensor, row: int) -> None:
        """`logp`: (target positions, vocabulary) log-probabilities of one row."""
        if self.top_k:
            top = logp.topk(min(self.top_k, logp.shape[-1]), dim=-1)
            score.top_ids, score.top_logprobs = top.indices.tolist(), top.values.tolist()
        ids = self.gather[row]
        if ids is not None:
            n = min(len(ids), logp.shape[0])
            score.gathered = [logp[j, torch.tensor(ids[j], device=logp.device)].tolist() for j in range(n)]


def _no_context(_batch: Batch):
    return contextlib.nullcontext()


def join_prompt_target(prompt: str, target: str) -> str:
    return prompt + target if (not prompt or prompt[-1].isspace()) else f"{prompt} {target}"


class Scorer:
    """Scores and generates for one model/tokenizer pair."""

    def __init__(self, model: torch.nn.Module, tokenizer, batch_size: int = 16):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- encoding -----------------------------------------------------------------
    def encode(self, item: Prepared) -> Encoded:
        prompt_ids = self.tokenizer(item.prompt).input_ids
        if not item.target:
            return Encoded(list(prompt_ids), len(prompt_ids), item.meta)
        full = self.tokenizer(join_prompt_target(item.prompt, item.target)).input_ids
        start = 0
        while start < min(len(full), len(prompt_ids)) and full[start] == prompt_ids[start]:
            start += 1
        if start == len(full) or start == 0:
            raise BenchError(f"cannot locate the target {item.target!r} after prompt {item.prompt!r} in tokens")
        return Encoded(list(full), start, item.meta)

    def chunks(self, encoded: list[Encoded]) -> list[list[int]]:
        """Row indices of length-sorted batches (longest first)."""
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].ids))
        return [order[lo:lo + self.batch_size] for lo in range(0, len(order), self.batch_size)]

    def batches(self, encoded: list[Encoded]) -> Iterator[tuple[list[int], Batch]]:
        """Length-sorted batches (longest first) with the original row indices."""
        for rows in self.chunks(encoded):
            yield rows, self.collate([encoded[i] for i in rows])

    def collate(self, items: list[Encoded]) -> Batch:
        width = max(len(e.ids) for e in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        pads = []
        for r, e in enumerate(items):
            pad = width - len(e.ids)
            ids[r, pad:] = torch.tensor(e.ids)
            mask[r, pad:] = 1
            pads.append(pad)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        dev = self.device
        return Batch(ids.to(dev), mask.to(dev), position_ids.to(dev), [e.meta for e in items], pads,
                     [e.target_start for e in items])

    # -- teacher-forced scoring -----------------------------------------------------
    @torch.no_grad()
    def score(self, items: list[Prepared], context: ForwardContext | None = None,
              progress: str | None = None, top_k: int = 0,
              gather: list[list[list[int]] | None] | None = None) -> list[TokenScore]:
        """Teacher-forced scores in input order; `progress` names a progress bar (None = silent). `top_k`: also
        keep each target position's `top_k` likeliest tokens; `gather[i]`: per target position of item i, token
        ids whose log-probabilities to return (what a divergence from another model's distribution needs)."""
        encoded = [self.encode(it) for it in items]
        extras = _Extras(top_k, gather or [None] * len(items))
        out: list[TokenScore | None] = [None] * len(items)
        chunks = self.chunks(encoded)
        if progress:
            chunks = tqdm(chunks, desc=progress, file=sys.stderr)
        for rows in chunks:
            asked = _Extras(top_k, [extras.gather[i] for i in rows])
            for i, result in zip(rows, self._score_rows([encoded[i] for i in rows], context, asked)):
                out[i] = result
        return out  # type: ignore[return-value]

    def _score_rows(self, rows: list[Encoded], context: ForwardContext | None,
                    extras: _Extras | None = None) -> list[TokenScore]:
        """One forward call; a token prefix shared by all rows (IKE's demonstrations) is run only once."""
        shared = self.shared_prefix(rows) if context is None else 0
        past = None
        if shared:
            head = self.prefix_state_ids(rows[0].ids[:shared])
            rows = [Encoded(e.ids[shared:], e.target_start - shared, e.meta) for e in rows]
        batch = self.collate(rows)
        if shared:
            batch, past = self._behind(head, batch)
        n_keep = max(len(e.ids) - e.target_start for e in rows) + 1
        logp = torch.log_softmax(self.logits(batch, context, n_keep, past).float(), dim=-1)
        scores = []
        for r, e in enumerate(rows):
            n_t = len(e.ids) - e.target_start
            # logp[:, j] predicts the token after position (width - n_keep + j)
            lp = logp[r, n_keep - 1 - n_t:n_keep - 1]
            target = torch.tensor(e.ids[e.target_start:], device=lp.device)
            score = TokenScore(target_ids=e.ids[e.target_start:], pred_ids=lp.argmax(-1).tolist(),
                               logprobs=lp.gather(-1, target[:, None])[:, 0].tolist())
            if extras is not None:
                extras.fill(score, lp, r)
            scores.append(score)
        return scores

    def prefix_fits(self, rows: list[Encoded], extra: int = 0) -> bool:
        """Whether padded `rows` (growing by `extra` generated tokens) may share a cached prompt prefix exactly.
        Always without sliding windows. With them (Gemma 3) the left padding between the prefix and a shorter
        row takes window slots, so only when the longest row still fits in the window: then no layer's window
        cuts anything and every row sees what it would see alone."""
        window = getattr(text_config(self.model), "sliding_window", None)
        return not window or max(len(e.ids) for e in rows) + extra <= window

    def shared_prefix(self, rows: list[Encoded], extra: int = 0) -> int:
        """Tokens all rows start with, if worth caching (>= MIN_SHARED_PREFIX) and exact (`prefix_fits`),
        ending before any target."""
        if len(rows) < 2 or not self.prefix_fits(rows, extra):
            return 0
        limit = min(min(e.target_start for e in rows) - 1, min(len(e.ids) for e in rows))
        first, n = rows[0].ids, 0
        while n < limit and all(e.ids[n] == first[n] for e in rows):
            n += 1
        return n if n >= MIN_SHARED_PREFIX else 0

    def logits(self, batch: Batch, context: ForwardContext | None = None, n_keep: int = 0,
               past: tuple[Any, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of the last `n_keep` positions (all positions when 0), after a cached `past` if given."""
        mask = batch.attention_mask if past is None else torch.cat([past[1], batch.attention_mask], dim=1)
        extra = {"use_cache": False} if past is None else {"cache": past[0], "use_cache": True}
        with (context or _no_context)(batch):
            return self.model(input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids,
                              logits_to_keep=n_keep, **extra).logits

    # -- greedy generation ----------------------------------------------------------
    def prefix_state(self, text: str) -> PrefixState:
        """Run a prompt prefix once; `generate(prefix=...)` then reuses its keys/values (same outputs, less work)."""
        return self.prefix_state_ids(list(self.tokenizer(text).input_ids))

    @torch.no_grad()
    def prefix_state_ids(self, ids: list[int]) -> PrefixState:
        res = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=True, logits_to_keep=1)
        return PrefixState(list(ids), res.cache)

    @torch.no_grad()
    def generate(self, items: list[Prepared], max_new_tokens: int = 16, context: ForwardContext | None = None,
                 stop_at_newline: bool = True, stop: Sequence[re.Pattern] = (),
                 prefix: PrefixState | None = None) -> list[str]:
        """Greedy continuations. A row stops at EOS, at a newline (`stop_at_newline`, text cut there) or
        once its text matches a `stop` pattern (text kept: the caller cuts). Prompts whose tokens start
        with `prefix.ids` reuse the prefix's cache (not with a `context`: it may change the prefix; nor where
        a sliding window would make it inexact, see `prefix_fits`)."""
        encoded = [self.encode(Prepared(it.prompt, "", it.meta)) for it in items]
        out: list[str] = [""] * len(items)
        explicit = prefix if context is None else None
        n = len(explicit.ids) if explicit is not None else 0
        cached = [i for i, e in enumerate(encoded) if n and len(e.ids) > n and e.ids[:n] == explicit.ids]
        plain = sorted(set(range(len(items))) - set(cached))
        for group, head in ((plain, None), (cached, explicit)):
            for rows in self.chunks([encoded[i] for i in group]):
                chunk = [encoded[group[r]] for r in rows]
                texts = self._generate_rows(chunk, head, max_new_tokens, context, stop_at_newline, stop)
                for r, text in zip(rows, texts):
                    out[group[r]] = text
        return out

    def _generate_rows(self, rows: list[Encoded], head: PrefixState | None, max_new: int, context,
                       stop_at_newline: bool, stop: Sequence[re.Pattern]) -> list[str]:
        """One batch; without an explicit prefix, a prefix shared by all rows is run once (as in score)."""
        if head is not None and not self.prefix_fits(rows, max_new):
            head = None
        if head is None and context is None:
            shared = self.shared_prefix(rows, max_new)
            head = self.prefix_state_ids(rows[0].ids[:shared]) if shared else None
        cut = len(head.ids) if head is not None else 0
        batch = self.collate([Encoded(e.ids[cut:], len(e.ids) - cut, e.meta) for e in rows])
        past = None
        if head is not None:
            batch, past = self._behind(head, batch)
        return self._generate_batch(batch, max_new, context, stop_at_newline, stop, past)

    def _behind(self, prefix: PrefixState, batch: Batch) -> tuple[Batch, tuple[Any, torch.Tensor]]:
        """`batch` with positions shifted behind `prefix`, and the prefix's cache and mask for every row."""
        cache = copy.deepcopy(prefix.cache)
        cache.batch_repeat_interleave(batch.input_ids.shape[0])
        ones = batch.attention_mask.new_ones((batch.attention_mask.shape[0], len(prefix.ids)))
        return replace(batch, position_ids=batch.position_ids + len(prefix.ids)), (cache, ones)

    def _generate_batch(self, batch: Batch, max_new: int, context, stop_at_newline: bool,
                        stop: Sequence[re.Pattern], past: tuple[Any, torch.Tensor] | None) -> list[str]:
        ctx = context or _no_context
        eos = self.tokenizer.eos_token_id
        mask = batch.attention_mask if past is None else torch.cat([past[1], batch.attention_mask], dim=1)
        extra = {} if past is None else {"cache": past[0]}
        with ctx(batch):
            res = self.model(input_ids=batch.input_ids, attention_mask=mask, position_ids=batch.position_ids,
                             use_cache=True, logits_to_keep=1, **extra)
        generated = [[] for _ in batch.metas]
        done = [False] * len(generated)
        pos = batch.position_ids[:, -1:]
        for _ in range(max_new):
            nxt = res.logits[:, -1].argmax(-1)
            for r, tok in enumerate(nxt.tolist()):
                if done[r]:
                    continue
                if tok == eos:
                    done[r] = True
                    continue
                generated[r].append(tok)
                if stop_at_newline and "\n" in self.tokenizer.decode(generated[r]).lstrip("\n"):
                    done[r] = True
                if stop and any(p.search(self.tokenizer.decode(generated[r], skip_special_tokens=True))
                                for p in stop):
                    done[r] = True
            if all(done):
                break
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            pos = pos + 1
            step = Batch(nxt[:, None], mask, pos, batch.metas, batch.pad, batch.prompt_lengths)
            with ctx(step):
                res = self.model(input_ids=step.input_ids, attention_mask=mask, position_ids=pos,
                                 cache=res.cache, use_cache=True)
        texts = [self.tokenizer.decode(g, skip_special_tokens=True) for g in generated]
        return [t.lstrip("\n").split("\n")[0].strip() if stop_at_newline else t.strip() for t in texts]
