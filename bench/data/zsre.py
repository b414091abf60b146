"""zsRE in the MEND format, with whichever portability probe a file carries.

The eval file adds EasyEdit's `portability`; the Subject Replace file adds
`alter_subject_question` (answer: the new target); the Inverse Relation file
adds `inverse question` (answer: the original subject). The latter two have no
`loc`/`loc_ans`, so locality is optional but must come as a pair.
Records have no ids: a case is named by its index in the file.
"""

from __future__ import annotations

from bench.data.fields import Origin, Record, make_queries, make_template, portability_queries
from bench.data.schema import GEN, LOC, POR_HOP, REL, Edit, EditCase, Query


def parse_mend(rec: Record, origin: Origin) -> EditCase:
    """Format `mend`: one zsRE MEND record (src, alt, rephrase; optional loc, portability, subject-replace, inverse)."""
    prompt = rec.nonempty("src", rec.text("src"))
    subject = rec.text("subject")
    target_new = rec.nonempty("alt", rec.text("alt"))
    answers = rec.texts("answers", required=False)
    target_true = answers[0] if answers and answers[0] else None
    edit = Edit(prompt, subject, target_new, target_true, template=make_template(prompt, subject))
    queries = [
        Query(REL, prompt, target_new),
        *make_queries(GEN, [rec.text("rephrase")], target_new),
        *_locality(rec),
        *portability_queries(rec),
        *make_queries(POR_HOP, [rec.opt_text("alter_subject_question") or ""], target_new),
        *make_queries(POR_HOP, [rec.opt_text("inverse question") or ""], subject),
    ]
    alt_subject = rec.opt_text("alternative_subject")
    extra = {"alternative_subject": alt_subject} if alt_subject else {}
    return EditCase(f"{origin.id_prefix}-{rec.index}", origin.dataset, [edit], queries, extra)


def _locality(rec: Record) -> list[Query]:
    if not rec.has("loc") and not rec.has("loc_ans"):
        return []
    return make_queries(LOC, [rec.text("loc")], rec.text("loc_ans"))
