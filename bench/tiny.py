"""Tiny random-initialised test models, built locally in about a second.

`tiny-llama` gets a SentencePiece-style tokenizer (metaspace BPE with byte
fallback and a BOS token), `tiny-gpt2` a byte-level BPE without BOS, so the
scorer is exercised on both tokenizer families without any download.
`tiny-gemma3` has what sets Gemma-3 apart where editors are fragile: sliding-
window attention in most layers (a window shorter than a prompt), qk-norm,
norms after attention and MLP as well as before (random weights, so none is an
identity), embeddings scaled by sqrt(hidden) and tied to the output head, and
a Gemma-style tokenizer that adds `<bos>` (no dummy prefix space).
"""

from __future__ import annotations

import torch

SEED = 0
_CORPUS = """
The mother tongue of Danielle Darrieux is French. Paris is the capital of France.
Spike Hughes originates from London and later lived in Philadelphia, known for cheesesteaks.
Who is the head of state of the country where Ellie Kemper holds a citizenship? Croatia.
When was the inception of the IAAF Combined Events Challenge? It was in 1998, not 2006.
Toko Yasuda plays the guitar and the piano. John Lennon performs on the guitar.
The Eiffel Tower is located in Paris. Rome is the capital of Italy. Berlin is in Germany.
Instruction: Input: Answer: New Fact: Prompt: Question: is a was born in originates from
Which company produced the BBC One? Microsoft, Apple, Google, Sega, Nintendo, Toyota.
English, German, Spanish, Italian, Russian, Japanese, Chinese, Dutch, Swedish, Polish.
the of and to in is was for on that with as by at from his her their which who what where when
0 1 2 3 4 5 6 7 8 9 10 100 1000 2000 2020 ? ! . , ; : ' " ( ) - _
""" * 3

TINY_MODELS = {
    "tiny-llama": ("random 4-layer LLaMA (GQA, SentencePiece-style tokenizer) for tests", "llama"),
    "tiny-gpt2": ("random 4-layer GPT-2 (byte-level BPE tokenizer) for tests", "gpt2"),
    "tiny-gemma3": ("random 4-layer Gemma-3 (sliding windows, extra norms, tied embeddings, BOS) for tests",
                    "gemma3"),
}
GEMMA3_LAYER_TYPES = ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]
GEMMA3_WINDOW = 4  # tokens: shorter than the test prompts, so the sliding layers really mask


def build_tiny_model(name: str):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    family = TINY_MODELS[name][1]
    tokenizer = _tokenizer(family)
    vocab = len(tokenizer)
    torch.manual_seed(SEED)
    if family == "gemma3":
        model = _gemma3(tokenizer)
    elif family == "llama":
        config = LlamaConfig(
            vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        )
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(
            vocab_size=vocab, n_embd=64, n_layer=4, n_head=4, n_positions=512,
            bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        )
        model = GPT2LMHeadModel(config)
    model.config._attn_implementation = "sdpa"
    model.config.name_or_path = name
    return model.eval(), tokenizer


def _gemma3(tokenizer):
    """Gemma-3's text model at test size; its norms get random weights (Gemma-3 initialises them to an identity)."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
        sliding_window=GEMMA3_WINDOW, layer_types=GEMMA3_LAYER_TYPES, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    model = Gemma3ForCausalLM(config)
    with torch.no_grad():
        for module_name, param in model.named_parameters():
            if module_name.endswith("norm.weight"):  # Gemma's RMSNorm scales by (1 + weight)
                param.uniform_(-0.5, 1.5)
    return model


def _tokenizer(family: str):
    if family == "gemma3":  # Gemma's layout: <pad> <eos> <bos> <unk> as ids 0-3, no dummy prefix
        return _metaspace_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>"], "<bos>", "<eos>", "<pad>", "never")
    if family == "llama":
        return _metaspace_tokenizer(["<unk>", "<s>", "</s>"], "<s>", "</s>", "<unk>", "first")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS.splitlines(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def _metaspace_tokenizer(specials: list[str], bos: str, eos: str, pad: str, prepend: str):
    """SentencePiece-style BPE with byte fallback (LLaMA, Gemma): `bos` added in front of every text; `prepend`
    is the metaspace scheme ("first": a dummy prefix, as LLaMA; "never", as Gemma)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=prepend)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(
        replacement="\u2581", prepend_scheme=prepend)])
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials + byte_tokens, show_progress=False)
    tok.train_from_iterator(_CORPUS.splitlines(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, unk_token="<unk>",
                                   pad_token=pad)
