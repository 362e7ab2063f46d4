"""``hneuron-hf`` inside lm-eval: same as ``hf`` without a mask, scaled with one, weights untouched."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lm_eval.models.huggingface import HFLM
from lm_helpers import generate, loglik, write_mc_task  # tests/ is on sys.path (conftest.py)

from hneuron_eval.core.masks import MaskShapeError, ModelSpec, Neuron, NeuronMask
from hneuron_eval.harness.lm_model import HNeuronLM


@pytest.fixture(scope="module")
def mask_file(tiny_llama_dir, tmp_path_factory):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    mask = NeuronMask.for_model(
        model, [Neuron(0, i) for i in range(0, 48, 3)] + [Neuron(1, i) for i in range(1, 48, 2)], name="tiny"
    )
    return mask.save(tmp_path_factory.mktemp("masks") / "tiny.hneurons.json")


def make(cls, path, **kw):
    return cls(pretrained=str(path), device="cpu", batch_size=2, dtype="float32", **kw)


def test_no_mask_is_plain_hf(tiny_llama_dir):
    plain, ours = make(HFLM, tiny_llama_dir), make(HNeuronLM, tiny_llama_dir)
    assert loglik(ours) == loglik(plain)
    assert generate(ours) == generate(plain)
    assert ours.get_model_info()["hneuron"] == {"kind": "baseline"}


@pytest.mark.parametrize("mode", ["fold", "hook"])
def test_alpha_one_identical_and_alpha_zero_changes(tiny_llama_dir, mask_file, mode):
    plain = make(HFLM, tiny_llama_dir)
    base_ll, base_gen = loglik(plain), generate(plain)
    identity = make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=1, scale_via=mode)
    assert identity.scaling.plan == {} and identity.scaling.scale_via == mode  # alpha 1: bound, nothing to scale
    assert loglik(identity) == base_ll
    assert generate(identity) == base_gen

    ablated = make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0, scale_via=mode)
    before = {k: v.clone() for k, v in ablated.model.state_dict().items()}
    ll = loglik(ablated)
    assert ll != base_ll
    generate(ablated)
    after = ablated.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # undone after every call
    info = ablated.get_model_info()["hneuron"]
    assert info["scale_via"] == mode and info["alpha"] == 0.0 and info["num_neurons"] == 40
    assert info["mask"] == str(mask_file) and len(info["mask_sha256"]) == 64


def test_scaling_is_bound_once_and_applied_on_every_call(tiny_llama_dir, mask_file, monkeypatch):
    import hneuron_eval.core.intervention as intervention

    lm = make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0, scale_via="fold")
    expected = loglik(lm)
    applied = []
    apply = type(lm.scaling).apply

    def counting_apply(self):
        applied.append(1)
        return apply(self)

    def fail(*args, **kwargs):
        raise AssertionError("the model call re-resolved the FFN layout")

    monkeypatch.setattr(type(lm.scaling), "apply", counting_apply)
    monkeypatch.setattr(intervention, "resolve_ffn", fail)
    assert loglik(lm) == expected
    assert applied  # the intervention ran around the model calls


def test_fold_and_hook_give_same_loglikelihoods(tiny_llama_dir, mask_file):
    fold = loglik(make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=2, scale_via="fold"))
    hook = loglik(make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=2, scale_via="hook"))
    assert fold == pytest.approx(hook, abs=1e-4)


def test_bad_model_args(tiny_llama_dir, mask_file, tmp_path):
    with pytest.raises(ValueError, match="alpha= was given without mask="):
        make(HNeuronLM, tiny_llama_dir, alpha=0)
    with pytest.raises(ValueError, match="scale_via must be one of"):
        make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), scale_via="fast")
    with pytest.raises(ValueError, match="alpha must be a number"):
        make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha="zero")
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(ValueError, match=rf"alpha must be a finite number >= 0 .*got '{bad}'"):
            make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=bad)
    wrong = NeuronMask(ModelSpec(30, 1536, "smollm2-135m-instruct"), (Neuron(0, 0),)).save(tmp_path / "w.hneurons.json")
    with pytest.raises(MaskShapeError, match="30 layers x d_ff 1536"):
        make(HNeuronLM, tiny_llama_dir, mask=str(wrong))


@pytest.mark.slow
def test_lm_eval_cli_end_to_end(tiny_llama_dir, mask_file, tmp_path):
    """Plain ``lm_eval`` (no --include_path for the model) finds hneuron-hf and records the mask."""
    tasks = write_mc_task(tmp_path / "tasks", "hn_test_tiny", [(1, 2), (3, 4), (5, 6)])
    out = tmp_path / "out"
    cmd = [
        str(Path(sys.executable).with_name("lm_eval")),
        "--model", "hneuron-hf",
        "--model_args", f"pretrained={tiny_llama_dir},mask={mask_file},alpha=0,scale_via=hook,dtype=float32",
        "--tasks", "hn_test_tiny", "--include_path", str(tasks),
        "--device", "cpu", "--batch_size", "2", "--output_path", str(out),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "hn_test_tiny" in proc.stdout and "acc" in proc.stdout
    result = json.loads(next(out.rglob("results_*.json")).read_text())
    assert result["results"]["hn_test_tiny"]["acc,none"] is not None
    recorded = result["config"]["hneuron"]
    assert recorded["mask"] == str(mask_file) and recorded["alpha"] == 0.0 and recorded["scale_via"] == "hook"
    assert recorded["kind"] == "hneurons"  # the run kind is recorded, not read from the mask's provenance
    assert recorded["mask_sha256"] == NeuronMask.load(mask_file).sha256() and recorded["num_neurons"] == 40


def test_ffn_site_model_arg_for_an_architecture_outside_the_table(tiny_llama_dir, mask_file, monkeypatch):
    """ffn_site= makes a model whose model_type the table lacks usable, checked at load like the table's entries."""
    from hneuron_eval.core.sites import FFN_SITES, UnsupportedArchitectureError

    reference = loglik(make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0))
    monkeypatch.delitem(FFN_SITES, "llama")  # as if llama were unknown; restored after the test
    with pytest.raises(UnsupportedArchitectureError, match="not supported"):
        make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0)
    user = make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0, ffn_site="model.layers:mlp.down_proj")
    assert loglik(user) == reference
    with pytest.raises(UnsupportedArchitectureError, match=r"model\.layers\.0\.mlp\.up_proj has weight shape"):
        make(HNeuronLM, tiny_llama_dir, ffn_site="model.layers:mlp.up_proj")
    assert FFN_SITES["llama"].down_proj == "mlp.down_proj"  # the accepted site stays; the refused one left no trace
    with pytest.raises(UnsupportedArchitectureError, match=r"module model\.layers\.0\.mlp\.gone does not exist"):
        make(HNeuronLM, tiny_llama_dir, ffn_site="model.layers:mlp.gone")


def test_batch_size_auto(tiny_llama_dir, mask_file):
    reference = loglik(make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0))
    auto = HNeuronLM(pretrained=str(tiny_llama_dir), device="cpu", dtype="float32", batch_size="auto",
                     max_batch_size=8, mask=str(mask_file), alpha=0)
    assert loglik(auto) == pytest.approx(reference, abs=1e-5)
    assert auto.batch_sizes  # the detection ran (through the scaled model call)


@pytest.mark.slow
def test_lm_eval_prints_a_model_args_mistake_as_one_line(tiny_llama_dir, mask_file, tmp_path):
    """Under the plain ``lm_eval`` command, each mistake is one ``lm_eval: error:`` line, no traceback, exit 1."""
    import os
    import subprocess
    import sys

    (tmp_path / "folder.hneurons.json").mkdir()
    (tmp_path / "notjson.hneurons.json").write_text("layer,index\n")
    cases = [
        (f"mask={tmp_path / 'folder.hneurons.json'}", "is a folder; expected a *.hneurons.json mask file"),
        (f"mask={tmp_path / 'notjson.hneurons.json'}", "(not a JSON mask file)"),
        (f"mask={mask_file},alpha=abc", "hneuron-hf: alpha must be a number, got 'abc'"),
        (f"mask={mask_file},scale_via=banana", "hneuron-hf: scale_via must be one of"),
        (f"mask={mask_file},mode=hook", "hneuron-hf: mode= is now called scale_via="),
        ("alpha=0", "hneuron-hf: alpha= was given without mask="),
        (f"detector={tmp_path}", "missing file"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("HNEURON_EVAL_TRACEBACK", None)
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "hneuron-hf", "--model_args",
                               f"pretrained={tiny_llama_dir},{args}", "--tasks", "hn_triviaqa", "--limit", "1"],
                              capture_output=True, text=True, timeout=300, env=env)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 1, (args, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (args, proc.stderr[-2000:])
        assert lines[-2].startswith("lm_eval: error: ") and message in lines[-2], (args, lines[-3:])
