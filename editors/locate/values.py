"""Target value optimisation (ROME's v*, MEMIT's z, PMET's per-component z).

For each request, a vector delta is added at the subject's last token to the
output of every site (one for ROME/MEMIT, attention and MLP for PMET) on the
rewriting rows (`context + prompt + target`) and on a KL row (`{subject} is
a`). Loss = NLL of the new target (mean over contexts) + kl_factor * KL(current
|| initial) on the KL row + weight_decay * ||delta|| / ||init||^2; after each Adam
step each delta is clamped to clamp_norm_factor * ||init||. Stops early at loss
< 5e-2, as in the reference code.

Requests of one call are optimised jointly with independent deltas: the
losses are summed and Adam is elementwise, so this equals one-at-a-time
optimisation up to float rounding, only faster.

Columns left of every row's lookup token never see a delta (attention is
causal), so their keys and values are computed once, without grad, and each
step runs only the columns from the first lookup token on (`reuse_prefix`):
the same numbers up to float rounding, about twice as fast on CounterFact.

A site whose output is normalised before the residual add (Gemma) returns the smallest output with the
optimised target's effect (editors/locate/stream.py), not the clamp-sized one the optimiser drifts to.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass

import torch

from bench.scoring import Scorer
from editors.locate.hooks import Site, forward, hooked
from editors.locate.requests import EditRequest, collate_rows, encode_kl_rows, encode_rows
from editors.locate.stream import smallest_equivalent


@dataclass(frozen=True)
class ValueSettings:
    steps: int
    lr: float
    weight_decay: float
    kl_factor: float
    clamp_norm_factor: float
    nll_factor: float = 1.0
    early_stop_loss: float = 5e-2
    kl_template: str = "{} is a"


@dataclass
class ValueResult:
    targets: dict[Site, torch.Tensor]  # (n_requests, d): init + delta
    inits: dict[Site, torch.Tensor]  # (n_requests, d): the unedited output at the lookup token
    steps: list[int]  # optimisation steps taken per request
    losses: list[float]  # final loss per request
    seconds: float = 0.0


def optimise_values(scorer: Scorer, requests: list[EditRequest], contexts: list[str], sites: list[Site],
                    settings: ValueSettings, chunk: int = 8, reuse_prefix: bool = True) -> ValueResult:
    """Optimise the target vectors of `requests` at `sites`, `chunk` requests per joint optimisation."""
    t0 = time.perf_counter()
    parts = [_optimise_chunk(scorer, requests[i:i + chunk], contexts, sites, settings, reuse_prefix)
             for i in range(0, len(requests), chunk)]
    return ValueResult(
        targets={s: torch.cat([p.targets[s] for p in parts]) for s in sites},
        inits={s: torch.cat([p.inits[s] for p in parts]) for s in sites},
        steps=[n for p in parts for n in p.steps], losses=[x for p in parts for x in p.losses],
        seconds=time.perf_counter() - t0,
    )


@dataclass
class _Layout:
    """Index tensors of one joint batch: where deltas go and where losses are read."""

    rows: torch.Tensor  # every row
    lookups: torch.Tensor  # lookup position of every row
    row_request: torch.Tensor  # request of every row
    plain_rows: torch.Tensor  # the no-context rewriting row of each request (init is read there)
    nll_rows: torch.Tensor  # (n_tokens,) row of each target token
    nll_cols: torch.Tensor  # (n_tokens,) kept-logit column that predicts it
    nll_ids: torch.Tensor  # (n_tokens,) the target token
    nll_weight: torch.Tensor  # (n_tokens,) 1 / (target length * number of contexts)
    nll_request: torch.Tensor  # (n_tokens,) request of the token
    kl_rows: torch.Tensor
    kl_cols: torch.Tensor
    n_keep: int
    split: int  # the first lookup column: no delta reaches the columns before it


def _layout(scorer: Scorer, requests: list[EditRequest], contexts: list[str], settings: ValueSettings):
    rewrite = encode_rows(scorer, requests, contexts, with_target=True)
    kl = encode_kl_rows(scorer, requests, settings.kl_template)
    batch, lookups = collate_rows(scorer, rewrite + kl)
    width = batch.input_ids.shape[1]
    first = min(lookups[len(rewrite):] + [pad + row.encoded.target_start - 1 for pad, row in zip(batch.pad, rewrite)])
    n_keep = width - first
    rows, cols, ids, weight, req = [], [], [], [], []
    for r, (pad, row) in enumerate(zip(batch.pad, rewrite)):
        target = row.encoded.ids[row.encoded.target_start:]
        for j, tok in enumerate(target):
            rows.append(r)
            cols.append(pad + row.encoded.target_start + j - 1 - first)
            ids.append(tok)
            weight.append(1.0 / (len(target) * len(contexts)))
            req.append(row.request)
    dev = batch.input_ids.device
    t = lambda xs, dt=torch.long: torch.tensor(xs, dtype=dt, device=dev)  # noqa: E731
    n_rw = len(rewrite)
    layout = _Layout(
        rows=t(list(range(len(lookups)))), lookups=t(lookups),
        row_request=t([row.request for row in rewrite + kl]),
        plain_rows=t([r * len(contexts) for r in range(len(requests))]),
        nll_rows=t(rows), nll_cols=t(cols), nll_ids=t(ids), nll_weight=t(weight, torch.float32), nll_request=t(req),
        kl_rows=t(list(range(n_rw, n_rw + len(kl)))), kl_cols=t([lk - first for lk in lookups[n_rw:]]),
        n_keep=n_keep, split=min(lookups),
    )
    return batch, layout


def _prefix_cache(model, batch, split: int):
    """Keys and values of the columns before `split`, from one no-grad pass (None when there are none)."""
    if split < 1:
        return None
    with torch.no_grad():
        out = model(input_ids=batch.input_ids[:, :split], attention_mask=batch.attention_mask[:, :split],
                    position_ids=batch.position_ids[:, :split], use_cache=True, logits_to_keep=1)
    return getattr(out, _cache_name(model))


def _cache_name(model) -> str:
    """transformers 5.x renamed `past_key_values` (argument and output field) to `cache`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _step_forward(model, batch, n_keep: int, prefix, split: int):
    """Logits of the last `n_keep` columns; with a prefix cache only the columns from `split` on are run
    (on a copy of the cache, which the forward extends)."""
    if prefix is None:
        return forward(model, batch, n_keep)
    cache = {_cache_name(model): copy.deepcopy(prefix)}
    return model(input_ids=batch.input_ids[:, split:], attention_mask=batch.attention_mask,
                 position_ids=batch.position_ids[:, split:], use_cache=True, logits_to_keep=n_keep, **cache).logits


def _optimise_chunk(scorer, requests, contexts, sites, settings: ValueSettings, reuse_prefix: bool) -> ValueResult:
    model, n = scorer.model, len(requests)
    batch, lay = _layout(scorer, requests, contexts, settings)
    dev = batch.input_ids.device
    prefix = _prefix_cache(model, batch, lay.split) if reuse_prefix else None
    split = lay.split if prefix is not None else 0
    lookups = lay.lookups - split  # columns of the part each step runs
    inits: dict[Site, torch.Tensor] = {}
    deltas: dict[Site, torch.Tensor] = {}

    def edit_output(site, out):
        if site not in inits:  # first forward: record the unedited value, create the delta
            inits[site] = out[lay.plain_rows, lookups[lay.plain_rows]].detach().float()
            deltas[site] = torch.zeros_like(inits[site], requires_grad=True)
        add = torch.zeros(out.shape, dtype=torch.float32, device=out.device)
        add = add.index_put((lay.rows, lookups), deltas[site][lay.row_request])
        return out + add.to(out.dtype)

    kl_init, opt = None, None
    done = torch.zeros(n, dtype=torch.bool, device=dev)
    steps = torch.zeros(n, dtype=torch.long)
    for it in range(settings.steps):
        with hooked(model, sites, edit_output=edit_output):
            logits = _step_forward(model, batch, lay.n_keep, prefix, split)
        logp = torch.log_softmax(logits.float(), dim=-1)
        token_lp = logp[lay.nll_rows, lay.nll_cols].gather(-1, lay.nll_ids[:, None])[:, 0]
        nll = torch.zeros(n, device=dev).index_add(0, lay.nll_request, -token_lp * lay.nll_weight)
        kl_lp = logp[lay.kl_rows, lay.kl_cols]
        if kl_init is None:
            kl_init = kl_lp.detach()
            opt = torch.optim.Adam([deltas[s] for s in sites], lr=settings.lr)
        kl = (kl_lp.exp() * (kl_lp - kl_init)).sum(-1)
        decay = sum(deltas[s].norm(dim=-1) / inits[s].norm(dim=-1).pow(2) for s in sites)
        loss = settings.nll_factor * nll + settings.kl_factor * kl + settings.weight_decay * decay
        done |= loss.detach() < settings.early_stop_loss
        if bool(done.all()) or it == settings.steps - 1:
            break
        steps += (~done).long().cpu()
        opt.zero_grad()
        loss[~done].sum().backward()
        frozen = {s: deltas[s].detach()[done].clone() for s in sites}
        opt.step()
        with torch.no_grad():
            for s in sites:
                deltas[s][done] = frozen[s]
                limit = settings.clamp_norm_factor * inits[s].norm(dim=-1, keepdim=True)
                norm = deltas[s].norm(dim=-1, keepdim=True)
                deltas[s].mul_(torch.where(norm > limit, limit / norm.clamp_min(1e-12), torch.ones_like(norm)))
    targets = {s: smallest_equivalent(model, s, inits[s], (inits[s] + deltas[s]).detach()) for s in sites}
    return ValueResult(targets, {s: inits[s] for s in sites}, steps.tolist(), loss.detach().cpu().tolist())
