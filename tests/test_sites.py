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


def _bert():
    from transformers import BertConfig, BertForMaskedLM

    return BertForMaskedLM(BertConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4))


def test_a_user_site_adds_an_architecture_and_is_checked_on_load(monkeypatch):
    """register_site / ffn_site= name the down projections of a model outside the table, with the table's checks."""
    from hneuron_eval import FFNSite, register_site
    from hneuron_eval.core.sites import parse_site

    model = _bert()
    monkeypatch.setitem(FFN_SITES, "bert", FFNSite(layers=("nowhere",), down_proj="x"))  # removed after the test
    with pytest.raises(UnsupportedArchitectureError, match=r"none of the layer paths \('nowhere',\) exists"):
        resolve_ffn(model)
    with pytest.raises(UnsupportedArchitectureError, match="already has the site"):
        register_site("bert", parse_site("bert.encoder.layer:output.dense"))
    register_site("bert", parse_site("bert.encoder.layer:output.dense"), replace=True)
    layout = resolve_ffn(model)
    assert (layout.num_layers, layout.d_ff, layout.transposed) == (2, 48, False)
    assert layout.down_projs[1] is model.bert.encoder.layer[1].output.dense

    register_site("bert", parse_site("bert.encoder.layer:output.nope"), replace=True)
    with pytest.raises(UnsupportedArchitectureError,
                       match=r"module bert\.encoder\.layer\.0\.output\.nope does not exist"):
        resolve_ffn(model)
    register_site("bert", parse_site("bert.encoder.layer:intermediate.dense"), replace=True)  # the up projection
    with pytest.raises(UnsupportedArchitectureError) as exc:
        resolve_ffn(model)
    assert "bert.encoder.layer.0.intermediate.dense has weight shape (48, 32)" in str(exc.value)
    assert "hidden size 32, shape (32, 'd_ff')" in str(exc.value)


@pytest.mark.parametrize("text", ["model.layers", "model.layers:", ":mlp.down_proj", "a:b:sideways",
                                  "a:b:transposed:x"])
def test_a_malformed_site_is_refused(text):
    from hneuron_eval.core.sites import parse_site

    with pytest.raises(UnsupportedArchitectureError, match=r"expected LAYERS:DOWN_PROJ\[:transposed\]"):
        parse_site(text)


def test_unsupported_architecture_names_the_way_to_add_it():
    with pytest.raises(UnsupportedArchitectureError, match=r"ffn_site=LAYERS:DOWN_PROJ .*register_site"):
        resolve_ffn(_bert())


def test_a_refused_site_leaves_the_table_as_it_was(monkeypatch):
    from hneuron_eval.core.sites import apply_site

    model = make_model("llama")
    before = FFN_SITES["llama"]
    monkeypatch.setitem(FFN_SITES, "llama", before)  # restored after the test whatever happens
    with pytest.raises(UnsupportedArchitectureError, match="has weight shape"):
        apply_site(model, "model.layers:mlp.up_proj")
    assert FFN_SITES["llama"] is before
    assert apply_site(model, "model.layers:mlp.down_proj").d_ff == D_FF
