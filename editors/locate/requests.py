"""Edit requests as the locate-and-edit methods see them, and the lookup token found from token ids.

The "lookup token" is where ROME/MEMIT/PMET read keys and write values: the
last token of the subject. It is located by comparing token ids (the ids of
the text up to the subject's end against the ids of the whole text), never by
string offsets, so it is exact for SentencePiece and byte-level tokenizers
alike, and when the subject's last token merges with the text after it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from bench.data.schema import Edit, EditCase
from bench.scoring import Encoded, Prepared, Scorer


@dataclass(frozen=True)
class EditRequest:
    """One rewrite: `prompt` -> `target`, with the text that ends at the subject's last character.

    `subject_end` is None when the subject does not occur in the prompt (some
    ZsRE questions); the lookup then falls back to the prompt's last token.
    """

    prompt: str
    subject: str
    target: str
    subject_end: str | None

    @classmethod
    def from_edit(cls, edit: Edit) -> EditRequest:
        return cls(edit.prompt, edit.subject, edit.target_new, _subject_end(edit))


def _subject_end(edit: Edit) -> str | None:
    """Prompt text up to the end of the subject's first occurrence, taken from the edit's template."""
    if edit.template is None or not edit.subject:
        return None
    literal = []
    for text, field_name, _spec, _conv in string.Formatter().parse(edit.template):
        literal.append(text)
        if field_name is not None:
            return "".join(literal) + edit.subject
    return None


def requests_from_cases(cases: list[EditCase]) -> list[EditRequest]:
    return [EditRequest.from_edit(edit) for case in cases for edit in case.edits]


def lookup_index(scorer: Scorer, encoded: Encoded, context: str, request: EditRequest, prompt_len: int) -> int:
    """Index (in `encoded.ids`) of the subject's last token in `context + request.prompt`.

    The ids of `context + subject_end` are compared with the full ids; if they
    agree to the end, the subject's last token is their last one, else it is the
    first differing full token (the one that straddles the subject's end). With
    no subject in the prompt, the prompt's last token (`prompt_len - 1`) is used.
    """
    if request.subject_end is None:
        return prompt_len - 1
    head = scorer.tokenizer(context + request.subject_end).input_ids
    common = 0
    while common < min(len(head), len(encoded.ids)) and head[common] == encoded.ids[common]:
        common += 1
    index = common - 1 if common == len(head) else common
    return min(max(index, 0), prompt_len - 1)


@dataclass
class Row:
    """One tokenized row of a locate-and-edit batch: ids, where to look up, where the target starts."""

    encoded: Encoded
    lookup: int
    request: int  # index of the request this row belongs to


def encode_rows(scorer: Scorer, requests: list[EditRequest], contexts: list[str], with_target: bool) -> list[Row]:
    """Rows `context + prompt [+ target]` for every request and context, request-major."""
    rows = []
    for r, request in enumerate(requests):
        for context in contexts:
            text = context + request.prompt
            encoded = scorer.encode(Prepared(text, request.target if with_target else ""))
            prompt_len = encoded.target_start
            rows.append(Row(encoded, lookup_index(scorer, encoded, context, request, prompt_len), r))
    return rows


def encode_kl_rows(scorer: Scorer, requests: list[EditRequest], kl_template: str) -> list[Row]:
    """Rows '{subject} is a' (ROME's essence prompt), looked up at the subject's last token."""
    rows = []
    for r, request in enumerate(requests):
        text = kl_template.format(request.subject)
        subject_end = text[: text.index(request.subject) + len(request.subject)]
        encoded = scorer.encode(Prepared(text))
        probe = EditRequest(text, request.subject, request.target, subject_end)
        rows.append(Row(encoded, lookup_index(scorer, encoded, "", probe, len(encoded.ids)), r))
    return rows


def collate_rows(scorer: Scorer, rows: list[Row]):
    """A left-padded scorer `Batch` of the rows, and each row's lookup position in padded coordinates."""
    batch = scorer.collate([row.encoded for row in rows])
    lookups = [pad + row.lookup for pad, row in zip(batch.pad, rows)]
    return batch, lookups
