"""IKE: prompt layout, nearest-neighbour demonstrations, own-case exclusion, the embedding cache, no weight change."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_case

from bench.data.schema import LOC, REL
from bench.editor import Request, Resources
from bench.protocols import Baseline, ProtocolConfig, run_protocol
from bench.restore import parameter_hash
from bench.scoring import Prepared, Scorer
from editors.ike import IKE, DemoStore, IKEConfig, case_demos, fact_block
from tests.fakes import BagOfWords


def flat(case_id, subject, prompt, target, rephrase, loc_prompt, loc_answer):
    return {"case_id": case_id, "prompt": prompt, "target_new": target, "subject": subject, "ground_truth": "x",
            "rephrase_prompt": rephrase, "locality_prompt": loc_prompt, "locality_ground_truth": loc_answer}


TRAIN = [
    flat(10, "Toko Yasuda", "Toko Yasuda, the", "piano", "Toko Yasuda is incredible at",
         "John Lennon performs on the", "guitar"),
    flat(11, "Danielle Darrieux", "The mother tongue of Danielle Darrieux is", "English",
         "Where Danielle Darrieux is from, people speak the language of", "Michel Rocard is a native speaker of",
         "French"),
    flat(12, "BBC One", "BBC One, by", "Sega", "BBC One is my favorite product out of everything owned by",
         "BBC Radio, by", "BBC"),
    flat("c1", "Spike Hughes", "Spike Hughes originates from", "Philadelphia", "Spike Hughes was born in",
         "Max Mosley originates from", "London"),  # the edited case itself: must never be a demo
    flat(13, "Ellie Kemper", "Ellie Kemper originates from", "Croatia", "Ellie Kemper was born in",
         "Lita Ford was native to", "London"),
]




@pytest.fixture
def train_file(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "train.json"
    path.write_text(json.dumps(TRAIN))
    return path


def make_ike(lm, train_file, encoder=None, k=3) -> IKE:
    encoder = encoder or BagOfWords(512)
    resources = Resources(encoder_name=encoder.name, _encoders={encoder.name: encoder})
    return IKE(lm, IKEConfig(k=k, train_set=f"easyedit:{train_file}"), resources)


def test_prepare_puts_demonstrations_then_the_new_fact_before_the_query(tiny_llama, train_file):
    ike, case = make_ike(tiny_llama, train_file, k=3), make_case("c1")
    ike.edit([case])
    query = case.of_kind(LOC)[0]
    prepared = ike.prepare([Request(case, query)]).items[0]
    nearest = next(c for c in ike.store.cases if c.case_id == "13")  # "Ellie Kemper originates from Croatia."
    assert prepared.prompt == "".join(case_demos(nearest)) + fact_block(case.instruction, query.prompt)
    assert prepared.prompt.endswith(f"New Fact: Spike Hughes originates from Philadelphia.\nPrompt: {query.prompt}")
    assert prepared.target == query.answer
    assert case_demos(nearest) == [
        "New Fact: Ellie Kemper originates from Croatia.\nPrompt: Ellie Kemper originates from Croatia\n\n",
        "New Fact: Ellie Kemper originates from Croatia.\nPrompt: Ellie Kemper was born in Croatia\n\n",
        "New Fact: Ellie Kemper originates from Croatia.\nPrompt: Lita Ford was native to London\n\n",
    ]


def test_nearest_first_least_similar_first_in_the_prompt_and_own_case_excluded(tiny_llama, train_file):
    ike, case = make_ike(tiny_llama, train_file, k=5), make_case("c1")
    ike.edit([case])
    prompt = ike.prepare([Request(case, case.of_kind(REL)[0])]).items[0].prompt
    assert prompt.count("New Fact:") == 5 + 1
    assert "Spike Hughes was born in" not in prompt  # the case's own train record (case_id c1) is excluded
    # 5 demos = 3 of the nearest case + 2 of the next; the nearest comes last, next to the query
    blocks = prompt.split("\n\n")
    assert all("Ellie Kemper" in b for b in blocks[2:5])
    assert "Ellie Kemper" not in blocks[0] and "Ellie Kemper" not in blocks[1]


def test_ties_break_towards_the_earlier_case():
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    store = DemoStore([make_case(str(i)) for i in range(4)], emb)
    assert store.nearest(torch.tensor([0.0, 1.0]), 4) == [1, 2, 0, 3]
    assert store.nearest(torch.tensor([0.0, 1.0]), 2, exclude={"1"}) == [2, 0]


def test_embeddings_are_cached_on_disk_and_reused(tiny_llama, train_file, tmp_path):
    encoder = BagOfWords(512)
    make_ike(tiny_llama, train_file, encoder).edit([make_case("c1")])
    files = list((tmp_path / "cache" / "ike").glob("*.safetensors"))
    assert len(files) == 1 and encoder.calls == [1, len(TRAIN)]  # the query, then the train set once
    make_ike(tiny_llama, train_file, encoder).edit([make_case("c1")])  # a fresh editor: store from disk
    assert encoder.calls == [1, len(TRAIN), 1]
    train_file.write_text(json.dumps(TRAIN[:4]))  # new content: new key, recomputed
    make_ike(tiny_llama, train_file, encoder).edit([make_case("c1")])
    assert encoder.calls[-1] == 4 and len(list((tmp_path / "cache" / "ike").glob("*.safetensors"))) == 2


def test_batch_edit_gives_each_request_its_own_case(tiny_llama, train_file):
    ike = make_ike(tiny_llama, train_file, k=3)
    a, b = make_case("a"), make_case("b", "Toko Yasuda", "Paris")
    ike.edit([a, b])
    pa = ike.prepare([Request(a, a.of_kind(REL)[0])]).items[0].prompt
    pb = ike.prepare([Request(b, b.of_kind(REL)[0])]).items[0].prompt
    assert pa.endswith("New Fact: Spike Hughes originates from Philadelphia.\nPrompt: Spike Hughes originates from")
    assert pb.endswith("New Fact: Toko Yasuda originates from Paris.\nPrompt: Toko Yasuda originates from")
    assert "Toko Yasuda, the piano" in pb and "Toko Yasuda, the piano" not in pa


def test_unedited_or_reset_case_scores_as_the_base_model(tiny_lm, train_file):
    ike, case = make_ike(tiny_lm, train_file), make_case("c1")
    requests = [Request(case, q) for q in case.queries]
    base = Scorer(tiny_lm.model, tiny_lm.tokenizer).score(ike.prepare(requests).items)
    original = parameter_hash(tiny_lm.model)
    ike.edit([case])
    edited = ike.score(requests)
    assert [s.target_ids for s in edited] == [s.target_ids for s in base]  # answers tokenise the same in context
    assert parameter_hash(tiny_lm.model) == original and not IKE.capabilities.changes_weights
    ike.reset()
    assert [s.logprobs for s in ike.score(requests)] == [s.logprobs for s in base]


def test_k_zero_is_the_plain_new_fact_prompt(tiny_llama, train_file):
    encoder = BagOfWords(512)
    ike, case = make_ike(tiny_llama, train_file, encoder, k=0), make_case("c1")
    ike.edit([case])
    query = case.of_kind(REL)[0]
    assert ike.prepare([Request(case, query)]).items[0].prompt == fact_block(case.instruction, query.prompt)
    assert encoder.calls == []  # nothing retrieved, nothing encoded


@pytest.mark.integration  # the real MiniLM encoder (offline wheel)
def test_minilm_retrieves_the_semantically_nearest_demo(tiny_llama, train_file):
    ike, case = make_ike(tiny_llama, train_file, Resources().encoder(), k=3), make_case("x", "Ellie Kemper", "Rome")
    ike.edit([case])
    assert ike.prepare([Request(case, case.of_kind(REL)[0])]).items[0].prompt.startswith(
        "New Fact: Ellie Kemper originates from Croatia.\n")


def test_protocol_loc_e0_is_agreement_with_the_base_model_on_ikes_prompt(tiny_llama, train_file):
    ike, case = make_ike(tiny_llama, train_file, k=3), make_case("c1")
    scorer = Scorer(tiny_llama.model, tiny_llama.tokenizer)
    ((_, rows),) = run_protocol(ike, [case], Baseline(scorer), ProtocolConfig("single"), set())
    loc = [q for q in case.queries if q.kind == LOC]
    ike.edit([case])  # the same demonstrations again: IKE's prompts, rebuilt independently of the protocol
    prompts = [ike.prepare([Request(case, q)]).items[0].prompt for q in loc]
    ike.reset()
    assert all(p != q.prompt and p.endswith(q.prompt) for p, q in zip(prompts, loc))
    base_on_ike_prompt = scorer.score([Prepared(p, q.answer) for p, q in zip(prompts, loc)])
    loc_rows = [r for r in rows if r["kind"] == LOC]
    assert len(loc_rows) == len(loc) == 2
    for row, base in zip(loc_rows, base_on_ike_prompt):
        n = max(len(row["pred_ids"]), len(base.pred_ids))
        agreement = sum(a == b for a, b in zip(row["pred_ids"], base.pred_ids)) / n
        assert row["loc_e0"] == agreement
        assert row["loc_paper"] == max(agreement, row["loc"], row["acc"])
    # IKE changes nothing but the prompt, so its post-edit model *is* the base model on that prompt: e0 = 1
    assert all(r["loc_e0"] == 1.0 for r in loc_rows)
