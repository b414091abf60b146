"""Generation scoring: when a freely generated answer counts as the target, and where an answer stops.

Teacher forcing feeds the target's tokens and checks each under argmax; since 2024 the field also lets the edited
model answer freely and judges the answer as a whole ("The Mirage of Model Editing", ACL 2025), which is stricter.
The rules here are the harness's one definition of that view (results/README.md documents them):

- stop: end of sequence, a newline, the end of a sentence (`SentenceEnd`), or `GEN_TOKENS` new tokens, whatever
  the target's length;
- normalisation (`normalize`): lower case, punctuation and the articles a/an/the dropped, whitespace collapsed
  (SQuAD's answer normalisation);
- correct (`answer_matches`): the normalised answer equals the normalised target or an alias, or begins with it
  followed by a word boundary ("Paris, France" counts for "Paris"; "Parisian" does not).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable

GEN_TOKENS = 16  # new tokens at most: 99% of CounterFact and ZsRE targets are shorter (results/README.md)

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SENTENCE_END = re.compile(r"(\S*?)([.!?])(?=\s)")
_ABBREVIATION = re.compile(r"(?:[A-Z][a-z]{0,2}|(?:[A-Za-z]\.)+[A-Za-z])")  # St. Dr. Mr. Jr. U.S. D.C.


def _plain(text: str) -> str:
    """Lower case, punctuation as spaces, single spaces."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def normalize(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", _plain(text)).split())


def exact_match(generated: str, answers: Iterable[str]) -> bool:
    """MQuAKE's multi-hop answer rule (MH_Acc): alias-aware exact match after lower-casing and dropping
    punctuation (articles kept, no prefix match: stricter than `answer_matches`)."""
    gen = _plain(generated)
    return bool(gen) and any(gen == _plain(a) for a in answers if a)


def answer_matches(generated: str, answers: Iterable[str]) -> bool:
    """Whether a generated answer counts as any of `answers` (module docstring)."""
    gen = normalize(generated)
    for answer in answers:
        want = normalize(answer)
        if want and (gen == want or gen.startswith(want + " ")):
            return True
    return False


def sentence_end(text: str) -> int | None:
    """Index just after the first sentence-ending mark followed by whitespace, skipping marks that end a short
    capitalised abbreviation or an initialism ("St. Louis", "U.S. Army"); None if the text has none yet."""
    for match in _SENTENCE_END.finditer(text):
        word = match.group(1).lstrip("\"'([")
        if match.group(2) == "." and _ABBREVIATION.fullmatch(word):
            continue
        return match.end()
    return None


class SentenceEnd:
    """A stop rule for `Scorer.generate` (it calls `search`): the text holds a finished sentence."""

    def search(self, text: str) -> bool:
        return sentence_end(text) is not None


SENTENCE_STOP = (SentenceEnd(),)


def cut_answer(text: str) -> str:
    """The generated text up to its first sentence end (the mark kept), stripped."""
    end = sentence_end(text)
    return (text[:end] if end is not None else text).strip()


def ngram_entropy(text: str, ns: tuple[int, ...] = (2, 3), weights: tuple[float, ...] = (2 / 3, 4 / 3)) -> float:
    """ROME's fluency measure (kmeng01/rome, experiments/py/eval_utils_counterfact.py `compute_n_gram_entropy`):
    the weighted mean over n of the entropy (bits) of the text's word n-gram frequencies. Words are split by
    `\\w+|[^\\w\\s]` where ROME uses nltk.word_tokenize (our departure: no nltk dependency)."""
    words = re.findall(r"\w+|[^\w\s]", text)
    parts = []
    for n, weight in zip(ns, weights):
        counts = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        total = sum(counts.values())
        entropy = -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0
        parts.append(weight * entropy)
    return sum(parts) / len(parts)
