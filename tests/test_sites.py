"""Neuron addressing: every supported architecture resolves to its down projections."""

import pytest
import torch
from tiny_models import D_FF, N_LAYERS, make_model

from hneuron_eval.core.sites import FFN_SITES, UnsupportedArchitectureError, resolve_ffn, resolve_ffn_pretrained


def test_every_architecture_resolves(tiny_model):
    layout = resolve_ffn(tiny_model)
    assert layout.num_layers == N_LAYERS
    assert layout.d_ff == D_FF
    assert layout.model_type in FFN_SITES
    # the resolved module really is the one fed by the neurons: its input has d_ff features
    seen = []
    handle = layout.down_projs[1].register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[-1]))
    with torch.no_grad():
        tiny_model(torch.tensor([[1, 2, 3]]))
    handle.remove()
    assert seen == [D_FF]


def test_gpt2_is_transposed():
    assert resolve_ffn(make_model("gpt2")).transposed
    assert not resolve_ffn(make_model("llama")).transposed


def test_unsupported_architecture_lists_supported():
    from transformers import BertConfig, BertForMaskedLM

    model = BertForMaskedLM(
        BertConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=4)
    )
    with pytest.raises(UnsupportedArchitectureError) as exc:
        resolve_ffn(model)
    assert "'bert'" in str(exc.value)
    for name in ("llama", "gpt2", "gpt_neox", "opt", "gptj"):
        assert name in str(exc.value)


def test_peft_wrapped_model_resolves():
    import peft

    model = make_model("llama")
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["down_proj", "q_proj"]))
    layout = resolve_ffn(wrapped)
    assert layout.num_layers == N_LAYERS and layout.d_ff == D_FF
    assert type(layout.down_projs[0]).__name__ == "Linear" and hasattr(layout.down_projs[0], "base_layer")


def test_layout_from_config_only(tiny_llama_dir):
    layout = resolve_ffn_pretrained(str(tiny_llama_dir))
    assert (layout.num_layers, layout.d_ff) == (N_LAYERS, D_FF)
    assert layout.down_projs[0].weight.device.type == "meta"
