"""Tiny randomly initialised models for every supported architecture (built offline from configs)."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers as tf

VOCAB = 300  # 256 byte tokens + specials, see make_tokenizer

_COMMON = dict(vocab_size=VOCAB, bos_token_id=256, eos_token_id=257, pad_token_id=258)

#: model_type -> (config class, kwargs); d_ff is 48 everywhere, 2 layers.
CONFIGS: dict[str, tuple[type, dict]] = {
    "llama": (
        tf.LlamaConfig,
        dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    ),
    "mistral": (
        tf.MistralConfig,
        dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    ),
    "qwen2": (
        tf.Qwen2Config,
        dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    ),
    "qwen3": (
        tf.Qwen3Config,
        dict(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
        ),
    ),
    "gemma": (
        tf.GemmaConfig,
        dict(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
        ),
    ),
    "gemma2": (
        tf.Gemma2Config,
        dict(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
        ),
    ),
    "gemma3_text": (
        tf.Gemma3TextConfig,
        dict(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
        ),
    ),
    "phi3": (
        tf.Phi3Config,
        dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    ),
    "gpt2": (tf.GPT2Config, dict(n_embd=32, n_inner=48, n_layer=2, n_head=4)),
    "gpt_neox": (
        tf.GPTNeoXConfig,
        dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4),
    ),
    "falcon": (
        tf.FalconConfig,
        dict(
            hidden_size=32,
            ffn_hidden_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            new_decoder_architecture=False,
            multi_query=True,
        ),
    ),
    "opt": (
        tf.OPTConfig,
        dict(hidden_size=32, ffn_dim=48, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=32),
    ),
    "phi": (tf.PhiConfig, dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4)),
    "gptj": (tf.GPTJConfig, dict(n_embd=32, n_inner=48, n_layer=2, n_head=4, rotary_dim=4)),
    # multimodal Gemma 3: the language model's layers sit one level deeper
    "gemma3": (
        tf.Gemma3Config,
        dict(
            text_config=dict(
                hidden_size=32,
                intermediate_size=48,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                head_dim=8,
                **_COMMON,
            ),
            vision_config=dict(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                image_size=28,
                patch_size=14,
            ),
            mm_tokens_per_image=4,
        ),
    ),
}
D_FF = 48
N_LAYERS = 2


def make_model(model_type: str, seed: int = 0) -> torch.nn.Module:
    """A tiny float32 causal LM of ``model_type`` with random (seeded) weights, in eval mode."""
    cls, kwargs = CONFIGS[model_type]
    config = cls(**kwargs) if "text_config" in kwargs else cls(**kwargs, **_COMMON)
    torch.manual_seed(seed)
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # random init leaves some weights near zero; spread them so that neuron scaling is visible
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    return model.eval()


def make_tokenizer() -> tf.PreTrainedTokenizerFast:
    """A byte-level tokenizer (no merges): every UTF-8 byte is one token; fully offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for i, special in enumerate(["<s>", "</s>", "<pad>"]):
        vocab[special] = 256 + i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tf.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def save_tiny(model_type: str, path: Path, seed: int = 0) -> Path:
    """Save a tiny model plus tokenizer as a local HF directory (what lm-eval loads)."""
    make_model(model_type, seed).save_pretrained(path)
    make_tokenizer().save_pretrained(path)
    return path
