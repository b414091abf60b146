"""The lookup token is the subject's last token, found from token ids on both tokenizer families."""

from __future__ import annotations

from bench.data.schema import Edit
from bench.scoring import Prepared, Scorer
from editors.locate.requests import EditRequest, encode_kl_rows, encode_rows, lookup_index


def _decoded_upto(scorer, encoded, index):
    return scorer.tokenizer.decode(encoded.ids[: index + 1], skip_special_tokens=True)


def test_subject_end_from_template_with_escaped_braces():
    edit = Edit("a {x} Spike Hughes plays", "Spike Hughes", "piano", template="a {{x}} {} plays")
    assert EditRequest.from_edit(edit).subject_end == "a {x} Spike Hughes"


def test_lookup_is_subject_last_token(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    request = EditRequest.from_edit(Edit("Toko Yasuda plays the", "Toko Yasuda", "piano", template="{} plays the"))
    for context in ["", "The cat. "]:
        encoded = scorer.encode(Prepared(context + request.prompt, request.target))
        index = lookup_index(scorer, encoded, context, request, encoded.target_start)
        assert _decoded_upto(scorer, encoded, index).strip().endswith("Yasuda")
        assert not _decoded_upto(scorer, encoded, index - 1).strip().endswith("Yasuda")


def test_lookup_when_subject_merges_with_following_text(tiny_lm):
    """'Londonx' has no token boundary after 'London' in either tokenizer: take the straddling token."""
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    request = EditRequest("Spike Londonxyz is", "Spike London", "here", "Spike London")
    encoded = scorer.encode(Prepared(request.prompt))
    index = lookup_index(scorer, encoded, "", request, len(encoded.ids))
    assert "London" in _decoded_upto(scorer, encoded, index)
    assert "London" not in _decoded_upto(scorer, encoded, index - 1)


def test_missing_subject_falls_back_to_last_prompt_token(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    request = EditRequest.from_edit(Edit("Who plays the guitar?", "Toko Yasuda", "John Lennon", template=None))
    assert request.subject_end is None
    (row,) = encode_rows(scorer, [request], [""], with_target=True)
    assert row.lookup == row.encoded.target_start - 1


def test_rows_are_request_major_and_kl_rows_look_at_subject(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    reqs = [EditRequest("Toko Yasuda plays", "Toko Yasuda", "piano", "Toko Yasuda"),
            EditRequest("Spike Hughes plays", "Spike Hughes", "guitar", "Spike Hughes")]
    rows = encode_rows(scorer, reqs, ["", "I. "], with_target=False)
    assert [r.request for r in rows] == [0, 0, 1, 1]
    kl = encode_kl_rows(scorer, reqs, "{} is a")
    assert _decoded_upto(scorer, kl[1].encoded, kl[1].lookup).strip().endswith("Hughes")
