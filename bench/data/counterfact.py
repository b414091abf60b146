"""CounterFact in its two shapes: full ROME records and EasyEdit's flat split records.

ROME records (`requested_rewrite` is one dict) may carry EasyEdit's one-hop
`portability` or an `alternative_subject` (the Subject Replace set); each adds
POR_HOP queries when present, so one parser serves all three files.
"""

from __future__ import annotations

from bench.data.fields import Origin, Record, fill_template, make_queries, make_template, portability_queries
from bench.data.schema import GEN, LOC, POR_HOP, REL, Edit, EditCase, Query


def parse_rome(rec: Record, origin: Origin) -> EditCase:
    """Format `rome`: a ROME CounterFact record (requested_rewrite dict; optional portability / alternative_subject)."""
    case_id = rec.case_id()
    rw = rec.obj("requested_rewrite")
    subject = rw.nonempty("subject", rw.text("subject"))
    template = rw.text("prompt")
    prompt = rw.nonempty("prompt", fill_template(rw, "prompt", template, subject))
    target_new = rw.nonempty("target_new.str", rw.obj("target_new").text("str"))
    target_true = rw.obj("target_true").text("str")
    relation_id = rw.opt_text("relation_id")
    edit = Edit(prompt, subject, target_new, target_true or None, template=template, relation_id=relation_id)
    alt_subject = rec.opt_text("alternative_subject")
    queries = [
        Query(REL, prompt, target_new),
        *make_queries(GEN, rec.texts("paraphrase_prompts"), target_new),
        *make_queries(LOC, rec.texts("neighborhood_prompts"), target_true),
        *portability_queries(rec),
    ]
    if alt_subject:
        queries += make_queries(POR_HOP, [fill_template(rw, "prompt", template, alt_subject)], target_new)
    extra = {"relation_id": relation_id, "alternative_subject": alt_subject,
             "generation_prompts": tuple(rec.texts("generation_prompts", required=False))}
    extra = {key: value for key, value in extra.items() if value}
    return EditCase(case_id, origin.dataset, [edit], queries, extra)


def parse_flat(rec: Record, origin: Origin) -> EditCase:
    """Format `easyedit`: an EasyEdit flat CounterFact record (prompt, target_new, rephrase_prompt, locality_prompt;
    counterfact-train/val/edit.json): one rephrase, one locality prompt."""
    case_id = rec.case_id()
    prompt = rec.nonempty("prompt", rec.text("prompt"))
    subject = rec.text("subject")
    target_new = rec.nonempty("target_new", rec.text("target_new"))
    target_true = rec.text("ground_truth")
    edit = Edit(prompt, subject, target_new, target_true or None, template=make_template(prompt, subject))
    queries = [
        Query(REL, prompt, target_new),
        *make_queries(GEN, [rec.text("rephrase_prompt")], target_new),
        *make_queries(LOC, [rec.text("locality_prompt")], rec.text("locality_ground_truth")),
    ]
    return EditCase(case_id, origin.dataset, [edit], queries)
