"""WISE: Ties merge and routing by hand, exact main-memory answers, side-memory answers after edits, sharding,
exact reset, and the single / batch / sequential protocols on the tiny models."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import assert_batched_equals_alone, make_case
from safetensors.torch import load_file, save_file

from bench.arch import arch_of
from bench.data.schema import LOC, REL, Edit, EditCase, Query
from bench.editor import Request
from bench.errors import BenchError
from bench.protocols import Baseline, ProtocolConfig, run_protocol
from bench.restore import fingerprint
from bench.scoring import Prepared, Scorer
from editors.wise import WISE, Memory, SideMemories, WISEConfig, edit_layer, ties_merge
from editors.wise.merge import keep_largest
from editors.wise.routing import MAIN, margin_loss, route

# Tiny random models have small activations: margins scaled down from 5 / 20 / 10, a larger step.
TINY = dict(alpha=0.05, beta=0.5, gamma=0.25, edit_lr=10.0, n_iter=40)


@pytest.fixture
def short_cases():
    """Short targets and unlike prompts: a tiny random model learns long targets slowly and barely tells
    "Spike Hughes originates from" from "Toko Yasuda originates from" apart."""
    return [make_case("c1", target="Paris"), fact("c2", "The mother tongue of Danielle Darrieux is", "guitar"),
            fact("c3", "Toko Yasuda plays the", "Italy")]


def fact(case_id: str, prompt: str, target: str) -> EditCase:
    return EditCase(case_id, "fixture", [Edit(prompt, "", target)],
                    [Query(REL, prompt, target), Query(LOC, "Max Mosley originates from", "London")])


@pytest.fixture(scope="module")
def irrelevant(tmp_path_factory) -> str:
    """A MEND-format file whose locality prompts are the irrelevant x_i (no dependence on the data folder)."""
    facts = [("The Eiffel Tower is located in", "Paris"), ("Rome is the capital of", "Italy"),
             ("Berlin is in", "Germany"), ("John Lennon performs on the", "guitar")]
    records = [{"src": f"question {i}", "alt": "x", "rephrase": "r", "loc": p, "loc_ans": a, "subject": ""}
               for i, (p, a) in enumerate(facts)]
    path = tmp_path_factory.mktemp("wise") / "irrelevant.json"
    path.write_text(json.dumps(records))
    return f"mend:{path}"


def requests(case):
    return [Request(case, q) for q in case.queries]


def logprobs(scores):
    return [s.logprobs for s in scores]


# -- pieces by hand --------------------------------------------------------------------------------
def test_ties_merge_equals_the_computation_by_hand():
    base = torch.ones(2, 2)
    first = base + torch.tensor([[3.0, -1.0], [0.5, 2.0]])  # keeps 3 and 2 at density 0.5
    second = base + torch.tensor([[-1.0, -2.0], [1.0, 4.0]])  # keeps -2 and 4
    # weighted (0.5 each): [[1.5, 0], [0, 1]] and [[0, -1], [0, 2]]; sign of the sum: [[+, -], [+, +]];
    # agreeing entries averaged by their weights: [[1.5/0.5, -1/0.5], [0, 3/1]]
    merged = ties_merge(base, [first, second], [0.5, 0.5], density=0.5)
    assert torch.equal(merged, base + torch.tensor([[3.0, -2.0], [0.0, 3.0]]))
    assert torch.equal(keep_largest(torch.tensor([1.0, -4.0, 2.0]), 0.34), torch.tensor([0.0, -4.0, 0.0]))
    assert torch.equal(ties_merge(base, [first], [1.0], density=1.0), first)


def test_route_picks_the_most_activated_memory_over_its_threshold():
    distances = torch.tensor([[1.0, 3.0], [5.0, 0.5], [0.2, 0.1], [4.0, 4.0]])
    assert route(distances, torch.tensor([2.0, 2.5])).tolist() == [1, 0, MAIN, 0]


def test_margin_loss_by_hand():
    inside = torch.tensor([[12.0, 25.0]])  # one edit under two templates
    outside = torch.tensor([6.0])
    # ReLU(6 - 5) = 1; beta - inside: [8, -5] -> mean of positives 8; outside - inside + 10: [4, -9] -> 4
    assert margin_loss(inside, outside, alpha=5, beta=20, gamma=10).item() == pytest.approx(13.0)
    assert margin_loss(torch.tensor([[30.0]]), torch.tensor([1.0]), 5, 20, 10).item() == 0.0


def test_shards_finish_and_merge_in_both_modes():
    main = torch.zeros(2, 2)
    shards = [torch.tensor([[1.0, 0.0], [0.0, -1.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]])]

    def write(memories, weight, distance):
        memories.current.weight = weight.clone()
        memories.record(distance)
        memories.finish_call(save_freq=1, merge_freq=2, density=1.0, weight=1.0)

    retrieve = SideMemories(main, retrieve=True)
    write(retrieve, shards[0], 3.0)
    assert len(retrieve.saved) == 1 and retrieve.current.edits == 0 and torch.equal(retrieve.current.weight, main)
    write(retrieve, shards[1], 7.0)
    (group,) = retrieve.saved
    assert torch.equal(group.weight, ties_merge(main, shards, [0.5, 0.5], 1.0)) and group.min_act == 3.0
    assert group.edits == 2 and retrieve.threshold(group, 0.5) == 1.5
    merge = SideMemories(main, retrieve=False)
    for weight, distance in zip(shards * 2, (3.0, 7.0, 2.0, 9.0)):
        write(merge, weight, distance)
    first = ties_merge(main, shards, [0.5, 0.5], 1.0)
    assert torch.equal(merge.merged.weight, ties_merge(main, [*shards, first], [0.2, 0.2, 0.6], 1.0))
    assert merge.saved == [] and merge.merged.edits == 4 and merge.threshold(merge.current, 1.0) == 2.0


def test_default_layer_is_scaled_from_27_of_32_and_bad_arguments_are_refused(tiny_llama):
    assert edit_layer(tiny_llama.model, WISEConfig()) == 3
    with pytest.raises(BenchError, match="merge_freq=3 must be a multiple of save_freq=2"):
        WISE(tiny_llama, WISEConfig(save_freq=2, merge_freq=3))
    with pytest.raises(BenchError, match="part='mlp_gate' does not exist"):
        from bench.models import load_model
        WISE(load_model("tiny-gpt2", device="cpu"), WISEConfig(part="mlp_gate"))


# -- the router inside the model -------------------------------------------------------------------
def _prompt_input(editor: WISE, prompt: str) -> torch.Tensor:
    """The projection's input on the prompt's tokens."""
    seen = {}

    def grab(_module, args, _output):
        seen["x"] = args[0][0]

    handle = editor.module.register_forward_hook(grab)
    try:
        editor.scorer.logits(editor.scorer.collate([editor.scorer.encode(Prepared(prompt))]))
    finally:
        handle.remove()
    return seen["x"]


def test_routing_by_hand_sends_a_query_below_the_threshold_to_the_main_memory(tiny_lm):
    editor = WISE(tiny_lm, WISEConfig())
    case = make_case(target="Paris")
    pair = [Request(case, case.of_kind(REL)[0]), Request(case, case.of_kind(LOC)[0])]
    torch.manual_seed(1)
    side = editor.main + 0.05 * torch.randn_like(editor.main)
    delta = side - editor.main
    # the distance by hand: mean over the prompt's tokens of ||x (W_side - W_main)||
    by_hand = [float((_prompt_input(editor, r.query.prompt) @ (delta if editor.conv1d else delta.T))
                     .norm(dim=-1).mean()) for r in pair]
    high, low = (pair[0], pair[1]) if by_hand[0] > by_hand[1] else (pair[1], pair[0])
    base = editor.score([high, low])
    editor.memories.current = Memory(side, min_act=sum(by_hand) / 2 / editor.config.act_ratio, edits=1)
    editor._install()
    post = editor.score([high, low])
    assert post[1].logprobs == base[1].logprobs  # below the threshold: the main memory, bitwise
    assert post[0].logprobs != base[0].logprobs  # above: the side memory answers
    assert sorted(editor._live[1].tolist()) == [MAIN, 0]  # (rows in the scorer's length order)
    editor.reset()
    assert not editor.module._forward_hooks


def test_edits_are_answered_by_the_side_memory_and_reset_is_exact(tiny_lm, irrelevant):
    reference = fingerprint(tiny_lm.model)
    case = make_case(target="Paris")
    editor = WISE(tiny_lm, WISEConfig(irrelevant=irrelevant, **TINY))
    base = editor.score(requests(case))
    loc = [Request(case, q) for q in case.of_kind(LOC)]
    base_loc = [editor.score([r])[0] for r in loc]
    editor.edit([case])
    assert fingerprint(tiny_lm.model).parameters == reference.parameters  # the main memory is untouched
    rel = editor.score([Request(case, case.of_kind(REL)[0])])
    assert rel[0].accuracy == 1.0 and editor._live[1].tolist() == [0]
    assert editor.last_losses[-1] < editor.last_losses[0]
    assert math.isfinite(editor.memories.current.min_act) and editor.memories.current.edits == 1
    for request, before in zip(loc, base_loc):
        after = editor.score([request])[0]
        assert editor._live[1].item() != MAIN or after.logprobs == before.logprobs  # main memory: bitwise
    editor.reset()
    assert not fingerprint(tiny_lm.model).differences(reference)
    assert logprobs(editor.score(requests(case))) == logprobs(base)


def test_a_shard_changes_only_its_masked_entries(tiny_llama, irrelevant):
    editor = WISE(tiny_llama, WISEConfig(irrelevant=irrelevant, weight_decay=0.0, mask_ratio=0.3, n_iter=5))
    editor.edit([make_case(target="Paris")])
    changed = editor.memories.current.weight != editor.main
    assert changed.any() and not (changed & (editor.memories.mask == 0)).any()
    assert 0.25 < float(editor.memories.mask.mean()) < 0.35
    assert (editor.memories.current.weight - editor.main).abs().max() <= editor.config.norm_constraint
    editor.reset()


def test_batched_left_padded_scoring_equals_one_at_a_time(tiny_lm, irrelevant):
    case = make_case(target="Paris")
    editor = WISE(tiny_lm, WISEConfig(irrelevant=irrelevant, **TINY))
    editor.edit([case])
    assert_batched_equals_alone(editor, requests(case))
    editor.reset()


def test_generation_keeps_the_prefills_route(tiny_llama, irrelevant):
    case = make_case(target="Paris")
    editor = WISE(tiny_llama, WISEConfig(irrelevant=irrelevant, **TINY))
    rel = Request(case, case.of_kind(REL)[0])
    editor.edit([case])
    assert editor.generate([rel], 3)[0].startswith("Paris")
    editor.reset()


def test_retrieve_mode_routes_to_the_shard_that_holds_the_edit(tiny_llama, irrelevant):
    cfg = WISEConfig(irrelevant=irrelevant, save_freq=1, merge_freq=1, **TINY)
    editor = WISE(tiny_llama, cfg)
    first = make_case("c1", target="Paris")  # unlike prompts: each shard fires on its own
    second = fact("c2", "The mother tongue of Danielle Darrieux is", "English")
    editor.edit([first])
    editor.edit([second])
    assert len(editor.memories.saved) == 2 and editor.memories.current.edits == 0
    for shard, case in enumerate((first, second)):
        assert editor.score([Request(case, case.of_kind(REL)[0])])[0].accuracy == 1.0
        assert editor._live[1].tolist() == [shard]
    editor.reset()


# -- protocols ---------------------------------------------------------------------------------------
def _run(editor, cases, cfg, done=()):
    return list(run_protocol(editor, cases, Baseline(Scorer(editor.model, editor.tokenizer)), cfg, set(done)))


@pytest.mark.parametrize("protocol", [ProtocolConfig("single"), ProtocolConfig("batch", batch_size=2),
                                      ProtocolConfig("sequential", eval_every=2)])
def test_protocols_run_and_leave_the_model_unedited(tiny_llama, short_cases, irrelevant, protocol):
    reference = fingerprint(tiny_llama.model)
    units = _run(WISE(tiny_llama, WISEConfig(irrelevant=irrelevant, **TINY)), short_cases, protocol)
    rows = [r for _, rs in units for r in rs]
    assert rows and all(r["kind"] != "rel" or r["acc"] == 1.0 for r in rows if r.get("phase") == "after-edit")
    assert not fingerprint(tiny_llama.model).differences(reference)


def test_sequential_state_round_trip_gives_the_same_scores(tiny_llama, short_cases, irrelevant, tmp_path):
    cases = short_cases
    cfg = WISEConfig(irrelevant=irrelevant, save_freq=1, merge_freq=2, **TINY)
    editor = WISE(tiny_llama, cfg)
    for case in cases:
        editor.edit([case])
    reqs = [r for c in cases for r in requests(c)]
    expected, path = editor.score(reqs), str(tmp_path / "wise.safetensors")
    save_file(editor.sequential_state(), path)  # as bench/sequential_state.py writes it
    editor.reset()
    resumed = WISE(tiny_llama, cfg)
    resumed.load_sequential_state(load_file(path))
    assert logprobs(resumed.score(reqs)) == logprobs(expected)
    assert resumed.memories.total_edits() == 3 and resumed.memories.calls == 3
    resumed.reset()


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gemma3", "tiny-gpt2"])
def test_reusing_the_layers_below_gives_the_full_forwards_losses_and_memory(name, tiny_llama, tiny_gemma3,
                                                                             tiny_gpt2, irrelevant):
    """Each step rerunning only the edit layer's MLP and the layers above (editors/locate/upper.py) trains the
    same side memory as a full forward per step, bitwise; Gemma-3 brings post-norms and sliding-window layers."""
    lm = {"tiny-llama": tiny_llama, "tiny-gemma3": tiny_gemma3, "tiny-gpt2": tiny_gpt2}[name]
    reference = fingerprint(lm.model)
    cases = [make_case(target="Paris"), fact("c2", "The mother tongue of Danielle Darrieux is", "guitar")]
    runs = []
    for reuse in (False, True):
        editor = WISE(lm, WISEConfig(irrelevant=irrelevant, **{**TINY, "n_iter": 8, "early_stop_loss": 0.0}))
        editor.reuse_lower = reuse
        assert editor.prefixes  # generated before counting forward passes
        calls = []
        handle = editor.model.get_submodule(arch_of(editor.model).layers)[0].register_forward_hook(
            lambda *_, seen=calls: seen.append(1))
        try:
            editor.edit(cases)
        finally:
            handle.remove()
        assert len(calls) == (2 if reuse else 2 * 8 + 1)  # once per row set, or per step and the distances
        runs.append((editor.last_losses, editor.memories.current.weight.clone(), editor.memories.current.min_act,
                     logprobs(editor.score(requests(cases[0])))))
        editor.reset()
        assert not fingerprint(lm.model).differences(reference)
    (full_losses, full_weight, full_min, full_scores), (losses, weight, min_act, scores) = runs
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert (full_weight != editor.main).any()  # the memory learnt; the same computation gives the same bits:
    assert losses == full_losses and torch.equal(weight, full_weight) and min_act == full_min
    assert scores == full_scores
