"""Applying masks: alpha=1 is the identity, fold == hook, alpha=0 == zeroed columns, exact restore."""

import pytest
import torch
from tiny_models import D_FF, make_model

from hneuron_eval.core.intervention import BoundScaling, FoldUnsupportedError, NeuronScaling, scale_neurons
from hneuron_eval.core.masks import MaskShapeError, ModelSpec, Neuron, NeuronMask
from hneuron_eval.core.sites import resolve_ffn

TOKENS = torch.tensor([[5, 17, 99, 3, 250, 42, 7], [8, 1, 2, 200, 64, 33, 12]])
# fold computes (alpha * W) z, hook computes W (alpha * z): equal up to float rounding
ATOL = 1e-5


def mask_for(model, neurons=((0, 3), (0, 40), (1, 7), (1, 8), (1, 47)), **kw):
    return NeuronMask.for_model(model, [Neuron(layer, i) for layer, i in neurons], **kw)


def logits(model):
    with torch.no_grad():
        return model(TOKENS).logits


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(before, model):
    after = model.state_dict()
    assert before.keys() == after.keys()
    for k in before:
        assert torch.equal(before[k], after[k]), k


@pytest.mark.parametrize("mode", ["fold", "hook"])
def test_alpha_one_is_bit_identical(tiny_model, mode):
    base = logits(tiny_model)
    bound = NeuronScaling(mask_for(tiny_model), alpha=1.0, scale_via=mode).bind(tiny_model)
    assert bound.plan == {}  # alpha 1 is left out of the plan: nothing is touched at all
    with bound.apply():
        out = logits(tiny_model)
    assert torch.equal(out, base)


@pytest.mark.parametrize("mode", ["fold", "hook"])
def test_fold_and_hook_at_alpha_one_are_exact_too(tiny_model, mode):
    """The machinery itself, given alpha 1 (which the plan normally drops), changes no bit."""
    base, before = logits(tiny_model), weights(tiny_model)
    bound = BoundScaling(resolve_ffn(tiny_model), {0: ([3, 40], [1.0, 1.0]), 1: ([7], [1.0])}, mode)
    with bound.apply():
        assert torch.equal(logits(tiny_model), base)
        assert_same_weights(before, tiny_model)
    assert torch.equal(logits(tiny_model), base)


def test_fold_scales_exactly_the_planned_columns_and_restores_them(tiny_model):
    layout = resolve_ffn(tiny_model)
    before, base = weights(tiny_model), logits(tiny_model)
    originals = [layout.down_projs[layer].weight.detach().clone() for layer in range(2)]
    bound = NeuronScaling(mask_for(tiny_model), alpha=0.5, scale_via="fold").bind(tiny_model)
    assert bound.plan == {0: ([3, 40], [0.5, 0.5]), 1: ([7, 8, 47], [0.5, 0.5, 0.5])}
    with bound.apply():
        assert not torch.equal(logits(tiny_model), base)
        for layer, (indices, _) in bound.plan.items():
            w, orig = layout.down_projs[layer].weight, originals[layer]
            d_ff_axis = 0 if layout.transposed else 1
            expected = orig.clone()
            expected.index_copy_(
                d_ff_axis, torch.tensor(indices), orig.index_select(d_ff_axis, torch.tensor(indices)) * 0.5
            )
            assert torch.equal(w, expected)  # the planned columns halved, every other weight untouched
        assert all(not m._forward_pre_hooks for m in tiny_model.modules())
    assert_same_weights(before, tiny_model)
    assert torch.equal(logits(tiny_model), base)


def test_hook_registers_on_exactly_the_planned_layers_and_removes_them(tiny_model):
    layout = resolve_ffn(tiny_model)
    before, base = weights(tiny_model), logits(tiny_model)
    mask = mask_for(tiny_model, neurons=((1, 7), (1, 8)))
    with scale_neurons(tiny_model, mask, alpha=2.0, scale_via="hook"):
        assert not torch.equal(logits(tiny_model), base)
        assert [len(m._forward_pre_hooks) for m in layout.down_projs] == [0, 1]
        assert_same_weights(before, tiny_model)
    assert all(not m._forward_pre_hooks for m in tiny_model.modules())
    assert torch.equal(logits(tiny_model), base)


@pytest.mark.parametrize("mode", ["fold", "hook", "auto"])
def test_bound_scaling_does_not_resolve_or_check_again(monkeypatch, mode):
    import hneuron_eval.core.intervention as intervention

    model = make_model("llama")
    mask = mask_for(model)
    bound = NeuronScaling(mask, 0.0, mode).bind(model)
    with scale_neurons(model, mask, alpha=0.0, scale_via="hook"):
        expected = logits(model)

    def fail(*args, **kwargs):
        raise AssertionError("apply() re-did work that bind() did")

    monkeypatch.setattr(intervention, "resolve_ffn", fail)
    monkeypatch.setattr(intervention, "_foldable", fail)
    monkeypatch.setattr(intervention, "_fold_weight", fail)
    monkeypatch.setattr(NeuronMask, "check_compatible", fail)
    monkeypatch.setattr(NeuronScaling, "plan", fail)
    for _ in range(2):
        with bound.apply():
            torch.testing.assert_close(logits(model), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0])
def test_fold_and_hook_agree(tiny_model, alpha):
    base = logits(tiny_model)
    mask = mask_for(tiny_model)
    before = weights(tiny_model)
    assert NeuronScaling(mask, alpha, "auto").bind(tiny_model).scale_via == "fold"  # every supported arch folds
    with scale_neurons(tiny_model, mask, alpha=alpha, scale_via="fold"):
        folded = logits(tiny_model)
    with scale_neurons(tiny_model, mask, alpha=alpha, scale_via="hook"):
        hooked = logits(tiny_model)
    assert not torch.allclose(hooked, base, atol=1e-4)  # the intervention changes something
    torch.testing.assert_close(folded, hooked, atol=ATOL, rtol=0)
    assert_same_weights(before, tiny_model)
    assert torch.equal(logits(tiny_model), base)


def test_alpha_zero_equals_zeroing_columns_by_hand(tiny_model):
    mask = mask_for(tiny_model)
    layout = resolve_ffn(tiny_model)
    before = weights(tiny_model)
    with scale_neurons(tiny_model, mask, alpha=0.0, scale_via="hook"):
        ablated = logits(tiny_model)
    with torch.no_grad():
        for layer, neurons in mask.by_layer().items():
            w = layout.down_projs[layer].weight
            for n in neurons:
                if layout.transposed:
                    w[n.index, :] = 0
                else:
                    w[:, n.index] = 0
    by_hand = logits(tiny_model)
    tiny_model.load_state_dict(before)
    torch.testing.assert_close(ablated, by_hand, atol=ATOL, rtol=0)


@pytest.mark.parametrize("mode", ["fold", "hook"])
def test_restored_after_exception(mode):
    model = make_model("llama")
    before = weights(model)
    base = logits(model)
    with pytest.raises(RuntimeError, match="boom"):
        with scale_neurons(model, mask_for(model), alpha=0.0, scale_via=mode):
            assert not torch.equal(logits(model), base)
            raise RuntimeError("boom")
    assert_same_weights(before, model)
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert torch.equal(logits(model), base)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fold_restores_low_precision_weights_exactly(dtype):
    model = make_model("llama").to(dtype)
    before = weights(model)
    with scale_neurons(model, mask_for(model), alpha=0.3, scale_via="fold"):
        assert not torch.equal(resolve_ffn(model).down_projs[0].weight, before["model.layers.0.mlp.down_proj.weight"])
    assert_same_weights(before, model)


def test_per_neuron_alpha_and_override():
    model = make_model("llama")
    mixed = NeuronMask.for_model(
        model, [Neuron(0, 3, alpha=0.0), Neuron(1, 7, alpha=1.0), Neuron(1, 8)], default_alpha=2.0
    )
    assert NeuronScaling(mixed).plan() == {0: ([3], [0.0]), 1: ([8], [2.0])}
    assert NeuronScaling(mixed, alpha=0.5).plan() == {0: ([3], [0.5]), 1: ([7, 8], [0.5, 0.5])}
    with scale_neurons(model, mixed, scale_via="fold"):
        folded = logits(model)
    with scale_neurons(model, mixed, scale_via="hook"):
        hooked = logits(model)
    torch.testing.assert_close(folded, hooked, atol=ATOL, rtol=0)


def test_mask_for_another_shape_is_refused():
    model = make_model("llama")
    other = NeuronMask(ModelSpec(num_layers=30, d_ff=1536, name="smollm2"), (Neuron(29, 1000),))
    with pytest.raises(MaskShapeError, match=rf"30 layers x d_ff 1536.*2 layers x d_ff {D_FF}"):
        with scale_neurons(model, other, alpha=0.0):
            pass


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0"])
def test_bad_alpha_refused(bad):
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        NeuronScaling(mask_for(make_model("llama")), alpha=bad)


def test_negative_alpha_refused():
    with pytest.raises(ValueError, match=r"alpha must be >= 0 \(0 ablates, 1 leaves the neurons as they are"):
        NeuronScaling(mask_for(make_model("llama")), alpha=-1.0)


def test_lora_wrapped_model_uses_hook():
    import peft

    model = make_model("llama")
    mask = mask_for(model)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["down_proj"], init_lora_weights=False))
    assert NeuronScaling(mask, 0.0, "auto").bind(wrapped).scale_via == "hook"
    with pytest.raises(FoldUnsupportedError, match="use scale_via=.hook."):
        NeuronScaling(mask, 0.0, "fold").bind(wrapped)  # refused when bound, before any model call
    with torch.no_grad():
        base = wrapped(TOKENS).logits
        with scale_neurons(wrapped, mask, alpha=0.0, scale_via="hook"):
            ablated = wrapped(TOKENS).logits
        merged = wrapped.merge_and_unload()  # LoRA folded into W_down: now fold mode applies
        with scale_neurons(merged, mask, alpha=0.0, scale_via="fold"):
            folded = merged(TOKENS).logits
    assert not torch.allclose(base, ablated)
    torch.testing.assert_close(ablated, folded, atol=ATOL, rtol=0)


def test_serialisable_description():
    model = make_model("llama")
    info = NeuronScaling(mask_for(model, name="tiny"), alpha=0.0, scale_via="hook").to_dict()
    assert info["num_neurons"] == 5 and info["alpha"] == 0.0 and info["scale_via"] == "hook"
    assert len(info["mask_sha256"]) == 64


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fold", "hook"])
def test_real_model_alpha_one_identity_and_modes_agree(smollm2, mode):
    mask = NeuronMask.load("masks/example.hneurons.json")
    before = weights(smollm2)
    base = logits(smollm2)
    with scale_neurons(smollm2, mask, alpha=1.0, scale_via=mode):
        assert torch.equal(logits(smollm2), base)
    with scale_neurons(smollm2, mask, alpha=0.0, scale_via="fold"):
        folded = logits(smollm2)
    with scale_neurons(smollm2, mask, alpha=0.0, scale_via="hook"):
        hooked = logits(smollm2)
    assert not torch.allclose(folded, base, atol=1e-3)
    torch.testing.assert_close(folded, hooked, atol=1e-4, rtol=0)
    assert_same_weights(before, smollm2)


def test_same_shape_other_model_name_warns_but_applies(caplog):
    model = make_model("llama")
    model.config.name_or_path = "/models/base-model"
    mask = mask_for(model, name="instruct-model")
    with caplog.at_level("WARNING", logger="hneuron_eval.core.intervention"):
        scaling = NeuronScaling(mask, 0.0, "auto").bind(model)
    assert scaling.scale_via == "fold"
    assert "made for 'instruct-model'" in caplog.text and "base-model" in caplog.text
