"""Which records a checkpoint was trained on, so the editor can refuse to score them.

Records of a registered dataset are stored as their ids ("all" when every record was used) and a
digest of their rewrites' fingerprints; the fingerprints are recomputed from the data dir when the
checkpoint is loaded, and a digest that differs is an error (the data changed under the checkpoint).
Records from files given as NAME:PATH keep their fingerprints in the checkpoint, since the file may not
be there at evaluation time. The prompts the records trained on (any role, overlap.py) are known the same way:
the locality prompts as digests (MQuAKE's were drawn from a pool), the edit questions and rewrite prompts of
registered records rebuilt from the data dir, those of NAME:PATH records as digests per role; each with the
roles it was trained in, so the editor can tell a same-role overlap from one across roles.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.data import load_dataset
from bench.data.overlap import REWRITE, Overlap, roles_by_digest, seen_prompts, text_digest
from bench.data.registry import DATASETS
from bench.data.schema import LOC, EditCase
from bench.data.splits import case_fingerprint
from bench.errors import BenchError
from editors.instructed.data import Pair, edit_query, rewrite_prompts
from editors.instructed.overlap import EDIT, trained_locality_digests, trained_prompt_digests


@dataclass
class TrainedSet:
    """The records of one registered dataset: "all" of them or these ids."""

    ids: str | list[str]
    count: int
    digest: str


@dataclass
class TrainedCases:
    case_ids: dict[str, list[str]]  # NAME:PATH dataset -> ids (stored, with their fingerprints)
    fingerprints: list[str]
    registered: dict[str, TrainedSet] = field(default_factory=dict)  # fingerprints recomputed by resolve()
    locality: list[str] = field(default_factory=list)  # digests of trained locality prompts (overlap.text_digest)
    # role -> digests of the prompts NAME:PATH records trained on in it (overlap.trained_prompt_digests)
    prompts: dict[str, list[str]] = field(default_factory=dict)
    _lookup: set[str] | None = field(default=None, init=False, repr=False)
    _prompt_lookup: dict[str, frozenset[str]] | None = field(default=None, init=False, repr=False)  # digest -> roles

    def resolve(self, data_dir: str | Path | None, where: Path | str = "the checkpoint") -> None:
        """Recompute the registered sets' fingerprints (and trained prompts) from `data_dir`; check the digests."""
        lookup, prompts = set(self.fingerprints), self._stored_prompts()
        for name, trained in self.registered.items():
            cases = load_dataset(name, data_dir)
            if trained.ids != "all":
                wanted = set(trained.ids)
                cases = [c for c in cases if c.case_id in wanted]
            prints = [case_fingerprint(c) for c in cases]
            if (len(cases), digest(prints)) != (trained.count, trained.digest):
                raise BenchError(
                    f"InstructEd checkpoint {where} was trained on {trained.count} records of '{name}' (rewrite "
                    f"digest {trained.digest}), but the data dir gives {len(cases)} (digest {digest(prints)}): "
                    "the data changed since training, so the editor cannot tell which cases it has seen. Point "
                    "--data-dir / $BENCH_DATA_DIR at the data the checkpoint was trained on, or retrain it."
                )
            lookup.update(prints)
            prompts.extend((EDIT, text_digest(edit_query(c).prompt)) for c in cases)
            prompts.extend((REWRITE, text_digest(p)) for c in cases for p in rewrite_prompts(c))
        self._lookup, self._prompt_lookup = lookup, roles_by_digest(prompts)

    def contains(self, fingerprint: str) -> bool:
        if self._lookup is None:
            if self.registered:
                raise BenchError("TrainedCases.resolve(data_dir) must run before contains()")
            self._lookup = set(self.fingerprints)
        return fingerprint in self._lookup

    def _stored_prompts(self) -> list[tuple[str, str]]:
        """(role, digest) of the trained prompts the checkpoint stores (not rebuilt from the data dir)."""
        return [(LOC, d) for d in self.locality] + [(role, d) for role, ds in self.prompts.items() for d in ds]

    def seen_prompts(self, case: EditCase) -> list[Overlap]:
        """The prompts an evaluation of `case` shows the model (any query, any rewrite prompt) that a training record
        trained on, with the roles it trained them in (overlap.py)."""
        if self._prompt_lookup is None:
            if self.registered:
                raise BenchError("TrainedCases.resolve(data_dir) must run before seen_prompts()")
            self._prompt_lookup = roles_by_digest(self._stored_prompts())
        return seen_prompts(case, self._prompt_lookup)

    def to_json(self) -> dict:
        return {"registered": {k: asdict(v) for k, v in self.registered.items()},
                "case_ids": self.case_ids, "fingerprints": self.fingerprints, "locality": self.locality,
                "prompts": self.prompts}

    @classmethod
    def from_json(cls, raw: dict) -> TrainedCases:
        """Also reads the first format, which stored every fingerprint (no "registered")."""
        registered = {k: TrainedSet(**v) for k, v in raw.get("registered", {}).items()}
        return cls(raw["case_ids"], raw["fingerprints"], registered, raw.get("locality", []), raw.get("prompts", {}))


def digest(fingerprints) -> str:
    return hashlib.sha256("\n".join(sorted(set(fingerprints))).encode()).hexdigest()[:16]


def describe(records: list[Pair], data_dir: str | Path | None) -> TrainedCases:
    """The compact description of `records` (those of registered datasets by id, the others verbatim) and of the
    prompts they train on."""
    by_dataset: dict[str, list[Pair]] = {}
    for record in records:
        by_dataset.setdefault(record.dataset, []).append(record)
    stored, registered = {}, {}
    for name, group in by_dataset.items():
        ids = sorted({r.case_id for r in group})
        if name not in DATASETS:
            stored[name] = ids
            continue
        every = {c.case_id for c in load_dataset(name, data_dir)}
        chosen = "all" if every == set(ids) else ids
        registered[name] = TrainedSet(chosen, len(ids), digest(r.fingerprint for r in group))
    fingerprints = sorted({r.fingerprint for r in records if r.dataset in stored})
    prompts = trained_prompt_digests([r for r in records if r.dataset in stored])
    return TrainedCases(stored, fingerprints, registered, trained_locality_digests(records), prompts)
