"""compat=paper helpers for the parts of the authors' evaluation that live outside the editor.

The editor itself reproduces query-row scaling and the gold-informed MQuAKE retrieval; these helpers
let the protocol/metrics code reproduce the other two departures (docs/architecture.md section 5):
- `paper_queries`: one random paraphrase and one random neighbourhood prompt per case (seeded);
- `fired_only`: Rel averaged over the requests whose retrieval fired (the `fired` of `Editor.prepare`).
"""

from __future__ import annotations

import random

from bench.data.schema import GEN, LOC, EditCase, Query


def paper_queries(case: EditCase, seed: int = 0) -> list[Query]:
    """The case's queries with GEN and LOC each cut to one, chosen by a seeded draw per case."""
    rng = random.Random(f"{seed}:{case.dataset}:{case.case_id}")
    picked = {kind: rng.choice(case.of_kind(kind)) for kind in (GEN, LOC) if case.of_kind(kind)}
    return [q for q in case.queries if q.kind not in picked or q is picked[q.kind]]


def fired_only(values: list[float], fired: list[bool]) -> list[float]:
    """The values of requests whose retrieval fired (the authors' Rel in the retrieval setting)."""
    return [v for v, f in zip(values, fired) if f]
