"""The InstructEd editor: trained prefixes + an instruction per query, in gold or retrieval mode."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from bench.arch import hidden_size, num_layers, scaled_layer_range
from bench.data.overlap import Overlap, filtered_across_roles
from bench.data.schema import HOP, LOCALITY_KINDS, NHOP, EditCase, Query
from bench.data.splits import case_fingerprint
from bench.editor import Capabilities, Editor, PreparedRequests, Request
from bench.errors import BenchError
from bench.scoring import Prepared
from editors.instructed import checkpoint as ckpt
from editors.instructed.attention import forward_context
from editors.instructed.compat import paper_queries
from editors.instructed.config import PAPER_LAYERS, InstructEdConfig
from editors.instructed.instructions import Spanner, case_instruction, format_prompt, memory_entries
from editors.instructed.prefix import PrefixBank
from editors.instructed.retrieval import Hit, InstructionMemory, gate

log = logging.getLogger(__name__)
ARCHITECTURES = ("llama", "mistral", "qwen2", "gemma3", "gemma3_text", "gpt2")


def case_key(case: EditCase) -> tuple[str, str]:
    return case.dataset, case.case_id


class InstructEd(Editor):
    name = "instructed"
    capabilities = Capabilities(changes_weights=False, batch=True, sequential=True,
                                architectures=ARCHITECTURES)
    config_class = InstructEdConfig

    def __init__(self, lm, config: InstructEdConfig | None = None, resources=None):
        super().__init__(lm, config, resources)
        cfg: InstructEdConfig = self.config
        cfg.validate()
        self.default_layers = scaled_layer_range(self.model, *PAPER_LAYERS)
        self.requested_layers = cfg.requested_layers(self.model)
        self.checkpoint_info: ckpt.CheckpointInfo | None = None
        self.trained_cases: ckpt.TrainedCases | None = None
        self.bank = self._load_bank() if cfg.trained else None
        cfg.layers = list(self.bank.layers if self.bank else self.requested_layers)
        settled = cfg.settled(self.resources.protocol, self.checkpoint_info)  # recorded as it runs (config.py: auto)
        for name, value in settled.items():
            setattr(cfg, name, value)
        self.spanner = Spanner(self.tokenizer, keep_sink=self._keep_sink())
        self._memory: InstructionMemory | None = None
        self._edited: set[tuple[str, str]] = set()  # (dataset, case id) of the cases edited so far
        self._run_cases: set[tuple[str, str]] = set()  # memory=dataset: the cases whose edits the memory holds
        self._run_entries = 0  # memory=dataset: the memory's entries from the run's cases (reset() keeps them)
        # cases showing the model a prompt an old checkpoint trained in another role (reported, not refused)
        self._trained_overlap: dict[tuple[str, str], list[Overlap]] = {}
        self._context = forward_context(self.model, self.bank, cfg.reweight, cfg.scaling == "rows")

    def _keep_sink(self) -> bool:
        """sink=auto: as the checkpoint was trained (old checkpoints scaled the sink); without one, kept out."""
        if self.config.sink != "auto":
            return self.config.sink == "kept"
        return self.checkpoint_info.sink_kept if self.checkpoint_info is not None else True

    # -- checkpoint --------------------------------------------------------------------
    def _load_bank(self) -> PrefixBank:
        cfg = self.config
        directory = cfg.checkpoint_dir(self.lm)
        tensors, info, trained = ckpt.load(directory)
        self._check_checkpoint(directory, info)
        trained.resolve(self.resources.data_dir, directory)
        bank = PrefixBank(info.layers, info.hidden_size, info.n_prefix, info.variant)
        bank.load_state_dict(tensors)
        cfg.checkpoint = str(directory)
        self.checkpoint_info, self.trained_cases = info, trained
        return bank.to(self.lm.device).requires_grad_(False)

    def _check_checkpoint(self, directory: Path, info: ckpt.CheckpointInfo) -> None:
        cfg, model = self.config, self.model
        shape = (model.config.model_type, hidden_size(model), num_layers(model))
        if info.model != self.lm.name or (info.model_type, info.hidden_size, info.num_layers) != shape:
            raise BenchError(f"checkpoint {directory} was trained for model '{info.model}' ({info.model_type}, "
                             f"hidden {info.hidden_size}, {info.num_layers} layers), not '{self.lm.name}'")
        wanted = {"n_prefix": cfg.n_prefix, "variant": cfg.variant}
        if cfg.layers or cfg.depth != "middle":  # an explicit checkpoint otherwise brings its own layers
            wanted["layers"] = self.requested_layers
        for key, value in wanted.items():
            if getattr(info, key) != value:
                raise BenchError(f"checkpoint {directory} has {key}={getattr(info, key)}, but the editor was asked "
                                 f"for {key}={value}; pass instructed:{key}=... to match or train a checkpoint")
        encoder = cfg.encoder or self.resources.encoder_name
        scaling = cfg.settled(self.resources.protocol, info)["scaling"]
        for key, have, want in (("reweight", info.reweight, cfg.reweight), ("scaling", info.scaling, scaling),
                                ("encoder", info.encoder, encoder)):
            if have != want:
                warnings.warn(f"InstructEd: checkpoint {directory} was trained with {key}={have}; evaluating "
                              f"with {key}={want}", stacklevel=3)

    def describe(self) -> dict:
        out = super().describe()
        if self.checkpoint_info is not None:
            info = self.checkpoint_info
            out["checkpoint_trained"] = {"epochs": info.epochs_done, "steps": info.steps_done, "scaling": info.scaling,
                                         "train_data": info.train_data, "encoder": info.encoder, "seed": info.seed}
        if self._trained_overlap:
            out["trained_overlap"] = {"cases": {f"{d}:{c}": [o.describe() for o in found]
                                                for (d, c), found in self._trained_overlap.items()},
                                      "retrain": self._retrain_command()}
        return out

    def _across_roles(self) -> bool:
        """Whether the checkpoint was trained with the overlap filter across roles (config.json's exclusion)."""
        return self.checkpoint_info is not None and filtered_across_roles(self.checkpoint_info.exclusion)

    def _retrain_command(self) -> str:
        info = self.checkpoint_info
        command = ckpt.train_command(info.model, info.layers, self.default_layers, info.n_prefix, info.variant,
                                     info.reweight, info.scaling)
        return f"{command} --out {self.config.checkpoint} --overwrite"

    # -- the contract ------------------------------------------------------------------
    @property
    def encoder(self):
        return self.resources.encoder(self.config.encoder or None)

    @property
    def memory(self) -> InstructionMemory:
        if self._memory is None:
            self._memory = InstructionMemory(self.encoder)
        return self._memory

    def begin_run(self, cases: list[EditCase]) -> None:
        """Refuse a run with a case the checkpoint has seen before any unit; retrieval with memory=dataset: every
        edit of the run's cases goes into the memory, as the authors' evaluation retrieves among all the edits of
        the evaluated file (evals_with_ret.py, `make_mem(ann)` before the loop of get_ann_res and get_zsre_res)."""
        self._refuse_trained(cases)
        if self.config.mode == "retrieval" and self.config.memory == "dataset":
            self.memory.clear()
            self._remember(cases)
            self._run_cases, self._run_entries = {case_key(c) for c in cases}, len(self.memory)

    def edit(self, cases: list[EditCase]) -> None:
        self._refuse_trained(cases)
        self._edited.update(case_key(case) for case in cases)
        if self.config.mode == "retrieval":  # memory=dataset holds the run's cases already
            self._remember([case for case in cases if case_key(case) not in self._run_cases])

    def reset(self) -> None:
        self._edited.clear()
        if self._memory is not None:
            self._memory.truncate(self._run_entries)

    def _remember(self, cases: list[EditCase]) -> None:
        alias = self.config.alias_instruction
        entries = [(entry, case_key(case)) for case in cases for entry in memory_entries(case, alias)]
        self.memory.add([text for text, _ in entries], [owner for _, owner in entries])

    def select_queries(self, case: EditCase) -> list[Query]:
        """compat=paper: one random paraphrase and neighbourhood prompt per case, as the authors' evaluation."""
        return paper_queries(case, self.resources.seed) if self.config.compat == "paper" else case.queries

    def metric_options(self) -> dict:
        """compat=paper in retrieval mode: Rel averages only the requests whose retrieval fired."""
        return {"rel_fired_only": self.config.compat == "paper" and self.config.mode == "retrieval"}

    def _seen(self, case: EditCase) -> str:
        """Why `case` is refused ('' when it is not): trained on as a record, or showing the model a prompt the
        checkpoint trained on; in any role on either side when the checkpoint was trained with the filter across
        roles, else only a neighbourhood prompt trained as a locality prompt, as 42a5d1a refused (overlap.py)."""
        return self._screen(case)[0]

    def _screen(self, case: EditCase) -> tuple[str, list[Overlap]]:
        """Why `case` is refused ('' when it is not), and the overlaps across roles an old checkpoint reports."""
        trained = self.trained_cases
        if trained is None:
            return "", []
        if trained.contains(case_fingerprint(case)):
            return "trained on as a record", []
        found = trained.seen_prompts(case)
        strict = self._across_roles()
        refused = [o for o in found if strict or o.same_role]
        return "; ".join(o.describe() for o in refused[:2]), [o for o in found if o not in refused]

    def forward_context(self, batch):
        return self._context(batch)

    # -- instructions --------------------------------------------------------------------
    def prepare(self, requests: list[Request]) -> PreparedRequests:
        """Prompts with their instruction and per-row meta (None: plain model), and whether each fired.

        The encoder sees the question itself (`query.prompt`); the model sees the request's text, which a
        protocol may frame (e.g. few-shot "Q: ... A:" for MQuAKE generation)."""
        questions = [r.query.prompt for r in requests]
        if self.config.mode == "gold":
            instructions = [self._gold(r) for r in requests]
            facts = [self._gold_facts(r) for r in requests]
            embed = self._embed(questions + instructions + [f for found in facts for f in found])
            fields = None
        else:
            queries = [self._retrieval_query(r) for r in requests]
            embed = self._embed(questions + queries)
            hits = self._retrieve(requests, queries, embed)
            instructions = [" ".join(hit.text for hit in found) for found in hits]
            facts = [[hit.text for hit in found] for found in hits]
            embed.update(self._embed(instructions + [f for found in facts for f in found]))
            fields = [self._retrieval_fields(r, found) for r, found in zip(requests, hits)]
        prepared = []
        for r, q, ins, stated in zip(requests, questions, instructions, facts):
            meta = self.spanner.meta(ins, r.text, self._similarity(ins, stated, q, embed)) if ins else None
            prepared.append(Prepared(format_prompt(ins, r.text), r.query.answer, meta))
        return PreparedRequests(prepared, [bool(ins) for ins in instructions], self._mark_overlap(requests, fields))

    def _mark_overlap(self, requests: list[Request], fields: list[dict] | None) -> list[dict] | None:
        """`trained_overlap: true` on the rows of cases an old checkpoint trained a prompt of in another role, so
        that a report can leave them out; other rows unchanged."""
        marks = [case_key(r.case) in self._trained_overlap for r in requests]
        if not any(marks):
            return fields
        base = fields or [{} for _ in requests]
        return [{**f, "trained_overlap": True} if marked else f for f, marked in zip(base, marks)]

    def _gold(self, request: Request) -> str:
        if case_key(request.case) not in self._edited:
            return ""
        return case_instruction(request.case, self.config.alias_instruction)

    def _gold_facts(self, request: Request) -> list[str]:
        """The facts the gold instruction states, one per rewrite (none for a case not edited)."""
        if case_key(request.case) not in self._edited:
            return []
        return memory_entries(request.case, self.config.alias_instruction)

    def _similarity(self, instruction: str, facts: list[str], question: str, embed: dict) -> float:
        """Eq. 14's sim: the cosine of question and instruction; with similarity=fact and several facts stated, the
        best of the question's cosines with each fact. A whole instruction's embedding blends its facts, so a
        question about one of four facts scores about 0.54 against it where that fact alone scores 0.85 (all-MiniLM-
        L6-v2, results/instructed-heldout/README.md), and Eq. 15 then damps the very fact the question asks about."""
        q = embed[question]
        if self.config.per_fact and len(facts) > 1:
            return max(float(embed[f] @ q) for f in facts)
        return float(embed[instruction] @ q)

    def _embed(self, texts: list[str]) -> dict[str, torch.Tensor]:
        unique = sorted({t for t in texts if t})
        return dict(zip(unique, self.encoder.encode(unique))) if unique else {}

    def _retrieval_query(self, request: Request) -> str:
        """Strict: the question alone. compat=paper, multi-hop: the question plus the gold sub-questions."""
        case, kind = request.case, request.query.kind
        if self.config.compat != "paper" or kind not in (NHOP, HOP):
            return request.query.prompt
        main = request.query.prompt if kind == NHOP else case.of_kind(NHOP)[0].prompt
        return " ".join([main, *(q.prompt for q in case.of_kind(HOP))])

    def _hop_k(self, request: Request) -> int:
        if self.config.compat == "paper":
            return int(request.case.extra.get("n_hops") or len(request.case.of_kind(HOP)) or self.config.multihop_k)
        return self.config.multihop_k

    def _retrieve(self, requests: list[Request], queries: list[str], embed: dict) -> list[list[Hit]]:
        """Per request the entries its instruction joins: the top one where the gate fires (none where it does
        not), the top-k facts for multi-hop questions (evals_with_ret.py: `nfs[fact_ids[1][0]]` when
        `torch.std(fact_ids[0]) > 0.1`; get_mqT_res joins the top hop-count facts)."""
        cfg, memory = self.config, self.memory
        if not len(memory):
            return [[] for _ in requests]
        scores = memory.scores(torch.stack([embed[q] for q in queries]))
        out = []
        for r, row in zip(requests, scores):
            if r.query.kind in (NHOP, HOP):
                out.append(memory.ranked(row, self._hop_k(r)))
                continue
            top = memory.ranked(row, cfg.retrieval_top_k)
            fired = gate([hit.score for hit in top], cfg.retrieval_top_k, cfg.retrieval_std, cfg.retrieval_fill)
            out.append(top[:1] if fired else [])
        return out

    def _retrieval_fields(self, request: Request, hits: list[Hit]) -> dict:
        """Whether retrieval gave the request what it should (cases.jsonl `retrieved_ok`): nothing for a locality
        prompt (the probes' too); for a multi-hop question every edit of its case among the facts; otherwise an edit
        of its own case (its text: a case whose edit sentence another case shares is served either way).
        `retrieved_case`: the case of the top entry used ('' when none was)."""
        own = set(memory_entries(request.case, self.config.alias_instruction))
        texts = [hit.text for hit in hits]
        if request.query.kind in LOCALITY_KINDS:
            ok = not hits
        elif request.query.kind in (NHOP, HOP):
            ok = own <= set(texts)
        else:
            ok = bool(hits) and texts[0] in own
        return {"retrieved_case": hits[0].owner[1] if hits else "", "retrieved_ok": ok}

    def _refuse_trained(self, cases: list[EditCase]) -> None:
        if self.trained_cases is None:
            return
        screened = [(c, *self._screen(c)) for c in cases]
        seen = [(c, why) for c, why, _ in screened if why]
        if seen:
            ids = "; ".join(f"{c.dataset}:{c.case_id} ({why})" for c, why in seen[:5])
            ids += " ..." if len(seen) > 5 else ""
            raise BenchError(
                f"InstructEd checkpoint {self.config.checkpoint} was trained on {len(seen)} of these cases or on "
                f"prompts they show the model ({ids}); scoring them would measure memorisation, not "
                "editing. Evaluate on held-out cases: for MQuAKE the test side of the split (--dataset mquake-test), "
                "in general cases the checkpoint was not trained on (--limit to stop before them), or retrain with "
                "the overlap filter, which drops the training records that share a prompt with an evaluation set."
            )
        self._report_overlap({case_key(c): found for c, _, found in screened if found})

    def _report_overlap(self, found: dict[tuple[str, str], list[Overlap]]) -> None:
        """One warning for the cases not reported yet; their ids go into describe() (config.json)."""
        new = {key: overlaps for key, overlaps in found.items() if key not in self._trained_overlap}
        if not new:
            return
        self._trained_overlap.update(new)
        named = "; ".join(f"{d}:{c} ({', '.join(o.describe() for o in overlaps)})" for (d, c), overlaps in new.items())
        log.warning(
            "InstructEd checkpoint %s was trained before the overlap filter compared prompts across roles (issue 37; "
            "its config.json has no exclusion roles=cross), and %d of the evaluated cases show the model a prompt it "
            "trained in another role: %s. They are scored, their rows carry trained_overlap=true and config.json "
            "lists them (editor config, trained_overlap), so a report can leave them out; retrain the checkpoint "
            "with the filter across roles: %s", self.config.checkpoint, len(new), named, self._retrain_command())
