"""``hneuron-eval origin`` on tiny checkpoint pairs with planted drift, where the answer is known."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from identify_fixtures import tiny_gpt2, tiny_llama, tiny_tokenizer
from test_identify_e2e import tiny_run  # noqa: F401  (fixture)

from hneuron_eval.cli import main
from hneuron_eval.core.masks import Neuron, NeuronMask
from hneuron_eval.core.sites import resolve_ffn
from hneuron_eval.identify import origin

PLANTED = [(0, 3), (0, 40), (1, 7), (1, 21), (1, 50)]


def drifted(model, planted=PLANTED, seed=1, small=0.01, large=0.8):
    """A copy of ``model`` whose every FFN weight moves a little and the planted neurons' rows and columns a lot."""
    import copy

    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    layout = resolve_ffn(other)
    with torch.no_grad():
        for layer, mlp in enumerate(m.mlp for m in other.model.layers):
            for proj in (mlp.up_proj, mlp.gate_proj, mlp.down_proj):
                proj.weight.add_(small * torch.randn(proj.weight.shape, generator=gen) * proj.weight.std())
            for lay, j in planted:
                if lay == layer:
                    for proj in (mlp.up_proj, mlp.gate_proj):
                        proj.weight[j] += large * torch.randn(proj.weight.shape[1], generator=gen) * proj.weight.std()
                    mlp.down_proj.weight[:, j] += large * torch.randn(layout.d_model, generator=gen) * \
                        mlp.down_proj.weight.std()
    return other


def test_drift_finds_the_planted_neurons_and_not_random_ones():
    tuned = tiny_llama()
    base = drifted(tuned)
    lb, lt = origin.check_pair(base, tuned, "base", "tuned")
    parts = origin.drift(base, tuned, lb, lt)
    assert set(parts) == {"up_proj", "gate_proj", "down", "score"} and parts["score"].shape == (2 * 64,)
    # each component is 1 - cosine of the neuron's row (column): checked by hand for one neuron
    a, b = base.model.layers[1].mlp.up_proj.weight[7].detach(), tuned.model.layers[1].mlp.up_proj.weight[7].detach()
    assert parts["up_proj"][64 + 7] == pytest.approx(1 - float(a @ b / (a.norm() * b.norm())), abs=1e-6)
    planted = NeuronMask.for_model(tuned, [Neuron(*n) for n in PLANTED], name="tuned")
    test = origin.drift_test(parts["score"], planted, lt.d_ff, permutations=2000)
    assert test["p_more_than_random"] < 0.01 and test["h_mean_percentile"] > 0.9
    assert test["p_more_than_others_mannwhitney"] < 0.01 and test["p_less_than_random"] > 0.9
    control = planted.random_control(0)  # same per-layer counts, none of the planted neurons
    assert not {(n.layer, n.index) for n in control.neurons} & set(PLANTED)
    assert origin.drift_test(parts["score"], control, lt.d_ff, permutations=2000)["p_more_than_random"] > 0.05


def test_unchanged_checkpoints_drift_nowhere():
    tuned = tiny_llama()
    parts = origin.drift(tuned, tuned, *origin.check_pair(tuned, tuned, "a", "a"))
    assert np.allclose(parts["down"], 0, atol=1e-6) and np.allclose(parts["score"], 0)


def test_checkpoints_of_different_shapes_or_architectures_are_refused():
    with pytest.raises(origin.OriginError, match=r"base 'b' \(.*2 layers x d_ff 64.*\) and tuned 't' \(.*d_ff 128"):
        from transformers import LlamaConfig, LlamaForCausalLM

        cfg = LlamaConfig(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=64)
        origin.check_pair(tiny_llama(), LlamaForCausalLM(cfg), "b", "t")
    with pytest.raises(origin.OriginError, match="GPT2LMHeadModel"):
        origin.check_pair(tiny_gpt2(), tiny_llama(), "b", "t")


def test_origin_command_end_to_end_with_probe_transfer(tiny_run, capsys):  # noqa: F811
    run = tiny_run / "run"
    assert main(["identify", "--model", str(tiny_run / "model"), "--out", str(run), "--samples", "2",
                 "--questions", "90", "--eval-questions", "40", "--max-new-tokens", "6", "--min-per-class", "3",
                 "--c-grid", "1", "10", "100", "--random-seeds", "1", "--batch-size", "16", "--dtype", "float32"]) == 0
    from transformers import AutoModelForCausalLM

    tuned = AutoModelForCausalLM.from_pretrained(tiny_run / "model")
    mask = NeuronMask.load(run / "model.hneurons.json")
    base = drifted(tuned, planted=[(n.layer, n.index) for n in mask.neurons])  # the H-neurons drifted
    base.save_pretrained(tiny_run / "base")
    tiny_tokenizer(chat=False).save_pretrained(tiny_run / "base")  # a base model: few-shot prompts
    out = tiny_run / "origin"
    args = ["origin", "--base", str(tiny_run / "base"), "--tuned", str(tiny_run / "model"), "--mask",
            str(run / "model.hneurons.json"), "--probe", str(run / "detectors" / "h-neurons"), "--out", str(out),
            "--permutations", "500"]
    assert main(args) == 0
    report = json.loads((out / "origin.json").read_text())
    assert report["drift"]["p_more_than_random"] < 0.01  # planted where the H-neurons are
    t = report["transfer"]
    split = json.loads((run / "splits.json").read_text())["test"]
    assert t["responses"] == len(split["hallucinated"]) + len(split["faithful"])
    # the tuned model's own AUROC is the evaluation's for the same probe and responses
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert t["tuned"]["auroc"] == pytest.approx(evaluation["sets"]["triviaqa"]["h_neurons"]["auroc"], abs=1e-6)
    assert 0 <= t["base"]["auroc"] <= 1 and t["base"]["auroc"] != t["tuned"]["auroc"]
    assert "Probe transfer" in (out / "origin.md").read_text()
    # bad input: a mask of another model, a probe of another model
    other = NeuronMask.for_model(tiny_gpt2(), [Neuron(0, 1)], name="gpt2")
    other.save(tiny_run / "gpt2.hneurons.json")
    capsys.readouterr()
    assert main([*args[:6], str(tiny_run / "gpt2.hneurons.json"), *args[7:]]) == 1
    assert "made for model 'gpt2', not the tuned model" in capsys.readouterr().err
    assert main([*args[:2], str(tiny_run / "model"), "--tuned", str(tiny_run / "base"), *args[5:]]) == 1  # swapped
    assert re.search(r"made for model '[^']*model', not the tuned model '[^']*base'", capsys.readouterr().err)
    with pytest.raises(origin.OriginError, match="made for model .*model', not the tuned model 'other'"):
        origin.transfer(base, tiny_tokenizer(), tuned, tiny_tokenizer(chat=True), run / "detectors" / "h-neurons",
                        "other")
