"""Seeded top-k sampling from the model itself: ROME's context prefixes, the locate editors' offline statistics
corpus (editors/locate) and the texts perplexity drift is measured on (bench/side_effects.py).

Deterministic: a private `torch.Generator` seeded per call, so the same model,
seed and settings always give the same texts (no global RNG is touched).
"""

from __future__ import annotations

import torch

from bench.scoring import Prepared, Scorer


@torch.no_grad()
def sample_ids(scorer: Scorer, starts: list[str], max_len: int, top_k: int, seed: int) -> list[list[int]]:
    """One sequence per start text, sampled to `max_len` tokens in total (start tokens included).

    Stops a row at EOS. Returns the token ids of each row (start ids first).
    """
    gen = torch.Generator().manual_seed(seed)
    encoded = [scorer.encode(Prepared(s)) for s in starts]
    batch = scorer.collate(encoded)
    out = [list(e.ids) for e in encoded]
    done = [False] * len(out)
    eos = scorer.tokenizer.eos_token_id
    model = scorer.model
    res = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                position_ids=batch.position_ids, use_cache=True, logits_to_keep=1)
    mask, pos = batch.attention_mask, batch.position_ids[:, -1:]
    for _ in range(max_len - min(len(e.ids) for e in encoded)):
        logits = res.logits[:, -1].float()
        top = logits.topk(top_k, dim=-1)
        choice = torch.multinomial(torch.softmax(top.values, -1).cpu(), 1, generator=gen)
        nxt = top.indices.cpu().gather(1, choice)[:, 0]
        for r, tok in enumerate(nxt.tolist()):
            if not done[r] and len(out[r]) < max_len:
                if tok == eos:
                    done[r] = True
                else:
                    out[r].append(tok)
        if all(d or len(o) >= max_len for d, o in zip(done, out)):
            break
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        pos = pos + 1
        res = model(input_ids=nxt[:, None].to(mask.device), attention_mask=mask, position_ids=pos,
                    cache=res.cache, use_cache=True)
    return out
