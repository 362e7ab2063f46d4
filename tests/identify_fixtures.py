"""Tiny randomly initialised models and an offline word-level tokenizer for the identification tests."""

from __future__ import annotations

import torch

WORDS = ["paris", "london", "mars", "venus", "who", "what", "is", "the", "capital", "of", "france", "planet",
         "red", "answer", "i", "don't", "know", "a", ":", "?", ".", "q", "it", "city", "wrote", "shakespeare"]


def tiny_tokenizer(chat: bool = False):
    """A WordLevel tokenizer built in memory (no network), with pad/eos/bos and optionally a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", "\n", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(" ", "removed"), pre_tokenizers.Split("\n", "isolated")]
    )
    tok.decoder = decoders.WordPiece(prefix="##")  # joins word tokens with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )
    if chat:
        fast.chat_template = (
            "{% for m in messages %}{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}answer :{% endif %}"
        )
    return fast


def tiny_llama(vocab_size: int = 64, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=128,
                      pad_token_id=0, eos_token_id=1, bos_token_id=2)
    return LlamaForCausalLM(cfg).eval()


def tiny_gpt2(vocab_size: int = 64, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(n_embd=32, n_inner=64, n_layer=2, n_head=4, vocab_size=vocab_size, n_positions=128,
                     pad_token_id=0, eos_token_id=1, bos_token_id=2)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # random biases so that subtracting the down-projection bias matters
        for block in model.transformer.h:
            block.mlp.c_proj.bias.normal_(0, 0.5)
    return model
