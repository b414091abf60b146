"""MQuAKE (CF, CF-3k, CF-3k-v2, T and AKEW's subset): several rewrites per case, multi-hop probes.

Only the official schema is required; AKEW's extra keys are ignored. Each
rewrite's `question` (official files have it too) becomes a GEN query when present.
"""

from __future__ import annotations

from bench.data.fields import Origin, Record, fill_template, make_queries
from bench.data.schema import GEN, HOP, NHOP, REL, Edit, EditCase, Query


def parse_mquake(rec: Record, origin: Origin) -> EditCase:
    """Format `mquake`: one MQuAKE case (requested_rewrite list, questions, new_single_hops): its rewrites,
    REL/GEN per rewrite, NHOP questions and HOP sub-questions."""
    case_id = rec.case_id()
    rewrites = rec.objs("requested_rewrite")
    if not rewrites:
        raise rec.error("requested_rewrite", "expected at least one rewrite, got an empty list")
    edits = [_edit(rw) for rw in rewrites]
    queries: list[Query] = [Query(REL, e.prompt, e.target_new) for e in edits]
    for rw, e in zip(rewrites, edits):
        queries += make_queries(GEN, [rw.opt_text("question") or ""], e.target_new)
    new_answer = rec.text("new_answer")
    queries += make_queries(NHOP, rec.texts("questions"), new_answer, _aliases(rec, "new_answer_alias"))
    hops = rec.objs("new_single_hops")
    for hop in hops:
        queries += make_queries(
            HOP, [hop.text("question")], hop.text("answer"), _aliases(hop, "answer_alias")
        )
    extra = {
        "n_hops": len(hops),
        "answer": rec.opt_text("answer"),
        "answer_alias": _aliases(rec, "answer_alias"),
    }
    extended = rec.data.get("answer_extended")  # MQuAKE-T only; informative, so kept only if well-formed
    if isinstance(extended, list):
        extra["answer_extended"] = _extended(rec, extended)
    return EditCase(case_id, origin.dataset, edits, queries, extra)


def _edit(rw: Record) -> Edit:
    subject = rw.nonempty("subject", rw.text("subject"))
    template = rw.text("prompt")
    prompt = rw.nonempty("prompt", fill_template(rw, "prompt", template, subject))
    target_new = rw.nonempty("target_new.str", rw.obj("target_new").text("str"))
    target_true = rw.obj("target_true").text("str") or None
    return Edit(
        prompt, subject, target_new, target_true, template=template, relation_id=rw.opt_text("relation_id")
    )


def _aliases(rec: Record, key: str) -> tuple[str, ...]:
    return tuple(alias for alias in rec.texts(key, required=False) if alias)


def _extended(rec: Record, items: list) -> tuple[str, ...]:
    """The non-blank string items (others are dropped); a lone surrogate is refused as in every text field."""
    texts = [(i, item) for i, item in enumerate(items) if isinstance(item, str) and item.strip()]
    return tuple(rec.valid_text(f"answer_extended[{i}]", item).strip() for i, item in texts)
