"""Module inputs (keys) and outputs read at the lookup token, averaged over context prefixes.

ROME's k* and MEMIT's K are the mean over contexts of a module's input at the
subject's last token; MEMIT's and PMET's "current value" is a module's output
there on the bare prompt. One batched forward per `max_rows` rows, stopped
after the deepest site.
"""

from __future__ import annotations

import torch

from bench.scoring import Scorer
from editors.locate.hooks import BLOCK, Site, forward, hooked
from editors.locate.requests import EditRequest, collate_rows, encode_rows

# execution order of parts inside a decoder layer, to know which site runs last
_ORDER = {"embed": -1, "attn_norm": 0, "q": 1, "k": 1, "v": 1, "qkv": 1, "o": 2, "attn": 3, "mlp_norm": 4, "mlp_in": 5,
          "mlp_gate": 5, "mlp_out": 6, "mlp": 7, BLOCK: 8}


def last_site(sites: list[Site]) -> Site:
    return max(sites, key=lambda s: (s[0], _ORDER[s[1]]))


@torch.no_grad()
def read_at_lookup(scorer: Scorer, requests: list[EditRequest], contexts: list[str], sites: list[Site],
                   max_rows: int = 64) -> tuple[dict[Site, torch.Tensor], dict[Site, torch.Tensor]]:
    """({site: inputs}, {site: outputs}), each (n_requests, n_contexts, d), at every row's lookup token."""
    sites = list(dict.fromkeys(sites))
    rows = encode_rows(scorer, requests, contexts, with_target=False)
    chunks: tuple[dict, dict] = ({s: [] for s in sites}, {s: [] for s in sites})
    for lo in range(0, len(rows), max_rows):
        batch, lookups = collate_rows(scorer, rows[lo:lo + max_rows])
        dev = batch.input_ids.device
        index = (torch.arange(len(lookups), device=dev), torch.tensor(lookups, device=dev))
        with hooked(scorer.model, sites, read_inputs=True, read_outputs=True, stop_after=last_site(sites)) as rec:
            forward(scorer.model, batch)
        for recorded, chunk in zip((rec.inputs, rec.outputs), chunks):
            for s in sites:
                chunk[s].append(recorded[s][index].float())
    shape = (len(requests), len(contexts), -1)
    return tuple({s: torch.cat(c[s]).reshape(shape) for s in sites} for c in chunks)  # type: ignore[return-value]
