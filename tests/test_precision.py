"""The dtype policy (bfloat16 where the CPU has bf16 matrix units) and exactness in every dtype."""

import json
import logging

import numpy as np
import pytest
import torch
from lm_eval.models.huggingface import HFLM
from lm_helpers import generate, loglik  # tests/ is on sys.path (conftest.py)
from transformers import AutoModelForCausalLM

from hneuron_eval.core.cett import CETTExtractor, FeatureRow
from hneuron_eval.core.intervention import NeuronScaling
from hneuron_eval.core.masks import Neuron, NeuronMask
from hneuron_eval.errors import ModelArgsError
from hneuron_eval.harness import lm_model, precision
from hneuron_eval.harness.lm_model import HNeuronLM
from hneuron_eval.harness.precision import DtypeError, bf16_units, choose_dtype

LOW = ("bfloat16", "float16")
#: fold (alpha * W in the weight dtype) and hook (alpha * z in the activation dtype) round differently, and the
#: log-likelihoods themselves come out in the low dtype: they agree within two of its units in the last place
FOLD_HOOK_RTOL = {"bfloat16": 2 * 2.0**-7, "float16": 2 * 2.0**-10}


def test_bf16_units_read_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert bf16_units(info) == ["amx_bf16", "avx512_bf16"]
    info.write_text("flags\t\t: fpu sse avx2\n")
    assert bf16_units(info) == []
    assert bf16_units(tmp_path / "missing") == []


def test_policy_and_given_dtypes(monkeypatch, caplog):
    monkeypatch.setattr(precision, "bf16_units", lambda: ["amx_bf16"])
    assert choose_dtype(None).to_dict() == {"dtype": "bfloat16", "reason": "CPU with bfloat16 matrix units (amx_bf16)"}
    assert choose_dtype("float32").to_dict() == {"dtype": "float32", "reason": "given"}  # a given dtype wins
    # AVX512-BF16 without AMX: the measured product rates decide (a Xeon's and an EPYC's)
    monkeypatch.setattr(precision, "bf16_units", lambda: ["avx512_bf16"])
    monkeypatch.setattr(precision, "product_rates", lambda: {"float32": 257.0, "bfloat16": 138.0})
    assert choose_dtype(None).to_dict() == {"dtype": "float32",
                                            "reason": "CPU with avx512_bf16 but no AMX: bfloat16 would be slower"}
    with caplog.at_level(logging.WARNING):
        assert choose_dtype("bfloat16").dtype == "bfloat16"
    assert "slower than float32" in caplog.text
    caplog.clear()
    monkeypatch.setattr(precision, "product_rates", lambda: {"float32": 155.0, "bfloat16": 360.0})
    assert choose_dtype(None).to_dict() == {"dtype": "bfloat16",
                                            "reason": "CPU with avx512_bf16 but no AMX, measured faster in bfloat16"}
    with caplog.at_level(logging.WARNING):
        assert choose_dtype("bfloat16").dtype == "bfloat16"
    assert not caplog.text  # fast here: nothing to warn about
    monkeypatch.setattr(precision, "product_rates", lambda: {"float32": 155.0, "bfloat16": 180.0})
    assert choose_dtype(None).dtype == "float32"  # faster, but not by the margin
    monkeypatch.setattr(precision, "product_rates", lambda: pytest.fail("no bfloat16 unit: nothing to measure"))
    monkeypatch.setattr(precision, "bf16_units", lambda: [])
    assert choose_dtype(None).dtype == "float32"
    with caplog.at_level(logging.WARNING):
        assert choose_dtype("bfloat16").dtype == "bfloat16"  # runs, and says it will be slow
    assert "without AMX (amx_bf16)" in caplog.text and "slower than float32" in caplog.text
    with pytest.raises(DtypeError, match="expected one of float32, bfloat16, float16, got 'bf16'"):
        choose_dtype("bf16")


def test_product_rates_are_measured_once_per_machine_and_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("HNEURON_EVAL_CACHE", str(tmp_path))
    rates = precision.product_rates(n=64)
    assert set(rates) == {"float32", "bfloat16"} and all(r > 0 for r in rates.values())
    kept = json.loads((tmp_path / precision.PROBE_FILE).read_text())
    (key, value), = kept.items()
    assert value == rates and key.endswith("threads | 64^3") and f"torch {torch.__version__}" in key
    monkeypatch.setattr(precision, "product_rate", lambda *a: pytest.fail("measured again"))
    assert precision.product_rates(n=64) == rates  # read back, not measured
    (tmp_path / precision.PROBE_FILE).write_text("{not json")
    monkeypatch.setattr(precision, "product_rate", lambda dtype, n: {"float32": 1.0, "bfloat16": 2.0}[dtype])
    assert precision.product_rates(n=64) == {"float32": 1.0, "bfloat16": 2.0}  # a spoilt file is measured over
    assert json.loads((tmp_path / precision.PROBE_FILE).read_text())[key] == {"float32": 1.0, "bfloat16": 2.0}


def test_hneuron_hf_applies_the_policy_to_built_in_models_only(monkeypatch, tiny_llama_dir):
    monkeypatch.setattr(precision, "bf16_units", lambda: ["amx_bf16", "avx512_bf16"])
    kwargs: dict = {"device": "cpu"}
    assert lm_model._dtype_choice("smollm2-135m-instruct", kwargs).dtype == "bfloat16"
    assert kwargs["dtype"] == "bfloat16"
    kwargs = {"device": "cpu"}
    assert lm_model._dtype_choice(str(tiny_llama_dir), kwargs).dtype == "auto" and "dtype" not in kwargs  # as hf
    with pytest.raises(ModelArgsError, match="expected one of float32, bfloat16, float16, got 'fp8'"):
        HNeuronLM(pretrained=str(tiny_llama_dir), device="cpu", dtype="fp8")
    lm = HNeuronLM(pretrained=str(tiny_llama_dir), device="cpu", dtype="bfloat16", batch_size=2)
    assert lm.get_model_info()["hneuron_dtype"] == {"dtype": "bfloat16", "reason": "given"}


@pytest.fixture(scope="module")
def mask_file(tiny_llama_dir, tmp_path_factory):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    mask = NeuronMask.for_model(model, [Neuron(0, i) for i in range(0, 48, 3)] + [Neuron(1, i) for i in range(9)],
                                name="tiny")
    return str(mask.save(tmp_path_factory.mktemp("masks") / "tiny.hneurons.json"))


def make(cls, path, dtype, **kw):
    return cls(pretrained=str(path), device="cpu", batch_size=2, dtype=dtype, **kw)


@pytest.mark.parametrize("dtype", LOW)
def test_alpha_one_is_bit_identical_and_fold_restores_exactly(tiny_llama_dir, mask_file, dtype):
    plain = make(HFLM, tiny_llama_dir, dtype)
    assert loglik(make(HNeuronLM, tiny_llama_dir, dtype, mask=mask_file, alpha=1)) == loglik(plain)
    assert generate(make(HNeuronLM, tiny_llama_dir, dtype, mask=mask_file, alpha=1)) == generate(plain)
    folded = make(HNeuronLM, tiny_llama_dir, dtype, mask=mask_file, alpha=1.7, scale_via="fold")
    assert folded.model.dtype == getattr(torch, dtype)
    before = {k: v.clone() for k, v in folded.model.state_dict().items()}
    changed = loglik(folded)
    assert changed != loglik(plain)
    assert all(torch.equal(v, before[k]) for k, v in folded.model.state_dict().items())  # bit for bit


@pytest.mark.parametrize("dtype", LOW)
def test_fold_and_hook_agree_within_the_stated_tolerance(tiny_llama_dir, mask_file, dtype):
    fold = loglik(make(HNeuronLM, tiny_llama_dir, dtype, mask=mask_file, alpha=1.7, scale_via="fold"))
    hook = loglik(make(HNeuronLM, tiny_llama_dir, dtype, mask=mask_file, alpha=1.7, scale_via="hook"))
    np.testing.assert_allclose(fold, hook, rtol=FOLD_HOOK_RTOL[dtype], atol=0)
    exact = [loglik(make(HNeuronLM, tiny_llama_dir, dtype, mask=mask_file, alpha=2, scale_via=via))
             for via in ("fold", "hook")]
    assert exact[0] == exact[1]  # a power of two scales exactly either way


@pytest.mark.parametrize("dtype", LOW)
def test_cett_features_stay_float32_and_close_to_float32(tiny_llama_dir, dtype):
    rows = [FeatureRow("a", [1, 5, 9, 13], [20, 21, 22, 23, 24], (1, 4)), FeatureRow("b", [2, 3], [30, 31, 32], (0, 2))]
    ref = CETTExtractor(AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)).extract(rows)
    low = CETTExtractor(AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=getattr(torch, dtype))).extract(rows)
    for a, b in zip(ref, low):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=0.05, atol=2e-3)


def test_smollm2_in_bfloat16_alpha_one_and_fold_vs_hook(smollm2):
    """The real model: alpha=1 leaves bfloat16 outputs bit-identical, fold and hook agree, weights come back."""
    model = AutoModelForCausalLM.from_config(smollm2.config, dtype=torch.bfloat16)
    model.load_state_dict(smollm2.state_dict())
    model.eval()
    mask = NeuronMask.for_model(model, [Neuron(3, 1187), Neuron(17, 5), Neuron(29, 100)], name="smollm2")
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314]])
    with torch.no_grad():
        base = model(ids).logits
        before = {k: v.clone() for k, v in model.state_dict().items()}
        with NeuronScaling(mask, 1.0, "fold").apply(model):
            assert torch.equal(model(ids).logits, base)
        outs = {}
        for via in ("fold", "hook"):
            with NeuronScaling(mask, 0.0, via).apply(model):
                outs[via] = model(ids).logits.float()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not torch.equal(outs["fold"], base.float())
    torch.testing.assert_close(outs["fold"], outs["hook"], atol=0.0, rtol=0.0)  # alpha 0 zeroes either way


def test_load_model_follows_the_policy_unless_given(tiny_llama_dir, monkeypatch):
    from hneuron_eval import load_model

    monkeypatch.setattr(precision, "bf16_units", lambda: ["amx_bf16"])
    model, tokenizer = load_model(str(tiny_llama_dir))
    assert model.dtype == torch.bfloat16 and not model.training and tokenizer("x")["input_ids"]
    assert load_model(str(tiny_llama_dir), dtype="float32")[0].dtype == torch.float32
    with pytest.raises(DtypeError, match="got 'half'"):
        load_model(str(tiny_llama_dir), dtype="half")
