"""``hneuron-eval export``: the folded checkpoint equals ``hneuron-hf`` bit for bit, and is written all or nothing."""

import argparse
import hashlib
import json

import pytest
import torch
from lm_eval.models.huggingface import HFLM
from lm_helpers import generate, loglik  # tests/ is on sys.path (conftest.py)
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, PreTrainedModel

from hneuron_eval.cli import export as export_cli
from hneuron_eval.core.masks import MaskShapeError, ModelSpec, Neuron, NeuronMask
from hneuron_eval.harness.export import CONFIG_KEY, RECORD, export_folded
from hneuron_eval.harness.lm_model import HNeuronLM

MASKED = {0: list(range(0, 48, 3)), 1: list(range(1, 48, 2))}


def make(cls, path, dtype="float32", **kw):
    return cls(pretrained=str(path), device="cpu", batch_size=2, dtype=dtype, **kw)


def down_key(layer):
    return f"model.layers.{layer}.mlp.down_proj.weight"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mask_file(tiny_llama_dir, tmp_path_factory):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    neurons = [Neuron(layer, i) for layer, indices in MASKED.items() for i in indices]
    return NeuronMask.for_model(model, neurons, name="tiny").save(tmp_path_factory.mktemp("masks") / "t.hneurons.json")


@pytest.fixture(scope="module")
def exported(tiny_llama_dir, mask_file, tmp_path_factory):
    return export_folded(str(tiny_llama_dir), mask_file, 0, tmp_path_factory.mktemp("exports") / "ablated",
                         command="hneuron-eval export ...")


def refuse_load(*args, **kwargs):
    raise AssertionError("the model was loaded before the input was refused")


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the model's weights are loaded (refusals must come first)."""
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse_load)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_only_the_masked_columns_are_scaled(tiny_llama_dir, mask_file, tmp_path, alpha):
    out = export_folded(str(tiny_llama_dir), mask_file, alpha, tmp_path / "out")
    assert out == tmp_path / "out"
    source, saved = load_file(tiny_llama_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert saved.keys() == source.keys()
    for key, weight in source.items():
        layer = next((layer for layer in MASKED if key == down_key(layer)), None)
        if layer is None:
            assert torch.equal(saved[key], weight), key
            continue
        cols = MASKED[layer]
        others = [i for i in range(weight.shape[1]) if i not in cols]
        assert torch.equal(saved[key][:, others], weight[:, others])
        assert torch.equal(saved[key][:, cols], weight[:, cols] * alpha)
        assert not torch.equal(saved[key][:, cols], weight[:, cols])


def test_source_and_in_memory_weights_untouched(tiny_llama_dir, mask_file, tmp_path, monkeypatch):
    before = sha256(tiny_llama_dir / "model.safetensors")
    load, loaded = AutoModelForCausalLM.from_pretrained, []
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda *a, **k: loaded.append(load(*a, **k)) or
                        loaded[-1])
    export_folded(str(tiny_llama_dir), mask_file, 0, tmp_path / "out")
    fresh = load(tiny_llama_dir).state_dict()
    assert all(torch.equal(v, fresh[k]) for k, v in loaded[0].state_dict().items())  # the fold was undone
    assert not hasattr(loaded[0].config, CONFIG_KEY)
    assert sha256(tiny_llama_dir / "model.safetensors") == before


def test_lm_eval_hf_on_export_equals_hneuron_hf(tiny_llama_dir, mask_file, exported):
    ours = make(HNeuronLM, tiny_llama_dir, mask=str(mask_file), alpha=0, scale_via="fold")
    hf = make(HFLM, exported)
    expected = loglik(ours)
    assert loglik(hf) == expected  # bit-identical, not approximately
    assert expected != loglik(make(HFLM, tiny_llama_dir))  # the mask changes the model at all
    assert generate(hf) == generate(ours)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_export_equals_hneuron_hf_in_that_dtype(tiny_llama_dir, mask_file, tmp_path, dtype):
    out = export_folded(str(tiny_llama_dir), mask_file, 0.5, tmp_path / dtype, dtype=dtype)
    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {getattr(torch, dtype)}
    ours = make(HNeuronLM, tiny_llama_dir, dtype, mask=str(mask_file), alpha=0.5, scale_via="fold")
    assert loglik(make(HFLM, out, dtype)) == loglik(ours)
    assert generate(make(HFLM, out, dtype)) == generate(ours)


def test_record_and_config_carry_mask_hash_and_alpha(exported, mask_file, tiny_llama_dir):
    sha = NeuronMask.load(mask_file).sha256()
    record = json.loads((exported / RECORD).read_text())
    assert record["mask"] == str(mask_file) and record["mask_sha256"] == sha
    assert record["alpha"] == 0.0 and record["num_neurons"] == record["scaled_neurons"] == 40
    assert record["source_model"] == str(tiny_llama_dir) and record["source_builtin"] is None
    assert record["command"] == "hneuron-eval export ..." and record["tool"].startswith("hneuron-eval ")
    assert record["created"] and record["dtype"] == "float32" and "note" not in record
    config = json.loads((exported / "config.json").read_text())
    assert config[CONFIG_KEY] == {"mask_sha256": sha, "alpha": 0.0}
    assert {"tokenizer.json", "tokenizer_config.json", "generation_config.json"} <= {p.name for p in
                                                                                      exported.iterdir()}


def test_alpha_one_writes_a_plain_copy_and_says_so(tiny_llama_dir, mask_file, tmp_path):
    out = export_folded(str(tiny_llama_dir), mask_file, 1, tmp_path / "copy")
    source, saved = load_file(tiny_llama_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(saved[k], v) for k, v in source.items())
    record = json.loads((out / RECORD).read_text())
    assert record["scaled_neurons"] == 0 and "unmodified copy" in record["note"]


def test_non_empty_out_refused_without_force_replaced_with_it(tiny_llama_dir, mask_file, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with monkeypatch.context() as m:
        m.setattr(AutoModelForCausalLM, "from_pretrained", refuse_load)
        with pytest.raises(ValueError, match=r"out.*not empty; pass --force"):
            export_folded(str(tiny_llama_dir), mask_file, 0, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    export_folded(str(tiny_llama_dir), mask_file, 0, out, force=True)
    assert (out / RECORD).is_file() and not (out / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial or old folder left beside it
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (export_folded(str(tiny_llama_dir), mask_file, 0, empty) / RECORD).is_file()  # empty: no --force needed


def test_force_never_deletes_the_inputs(tiny_llama_dir, mask_file, no_model_load):
    with pytest.raises(ValueError, match="holds the input"):
        export_folded(str(tiny_llama_dir), mask_file, 0, tiny_llama_dir, force=True)
    with pytest.raises(ValueError, match="holds the input"):
        export_folded(str(tiny_llama_dir), mask_file, 0, mask_file.parent, force=True)
    with pytest.raises(ValueError, match="not a folder"):
        export_folded(str(tiny_llama_dir), mask_file, 0, mask_file, force=True)
    assert (tiny_llama_dir / "model.safetensors").is_file() and mask_file.is_file()


@pytest.mark.parametrize("existing", [False, True])
def test_failure_midway_leaves_nothing_half_written(tiny_llama_dir, mask_file, tmp_path, monkeypatch, existing):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "old.txt").write_text("previous export")

    def broken_save(self, path, **kwargs):
        (path / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_folded(str(tiny_llama_dir), mask_file, 0, out, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if existing else [])
    if existing:
        assert [p.name for p in out.iterdir()] == ["old.txt"]  # --force replaces only with a finished export


def test_mask_for_another_model_refused_before_writing(tiny_llama_dir, tmp_path, no_model_load):
    wrong = NeuronMask(ModelSpec(30, 1536, "smollm2-135m-instruct"), (Neuron(0, 0),))
    wrong_file = wrong.save(tmp_path / "w.hneurons.json")
    with pytest.raises(MaskShapeError, match="30 layers x d_ff 1536"):
        export_folded(str(tiny_llama_dir), wrong_file, 0, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="dtype must be one of"):
        export_folded(str(tiny_llama_dir), wrong_file, 0, tmp_path / "out", dtype="int8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.hneurons.json"]


def test_export_command(tiny_llama_dir, mask_file, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="hneuron-eval")
    export_cli.register(parser.add_subparsers())
    out = tmp_path / "out"
    args = parser.parse_args(["export", "--model", str(tiny_llama_dir), "--mask", str(mask_file), "--out", str(out)])
    assert (args.alpha, args.force, args.dtype) == (None, False, "float32")
    args.command_line = "hneuron-eval export --model tiny"
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: ") and "40 of 40 mask neurons scaled, alpha per-neuron/default" in printed
    assert json.loads((out / RECORD).read_text())["command"] == "hneuron-eval export --model tiny"
    args = parser.parse_args(["export", "--model", "m", "--mask", "k", "--out", "o", "--alpha", "0.5", "--force",
                              "--dtype", "bfloat16"])
    assert (args.alpha, args.force, args.dtype) == (0.5, True, "bfloat16")
    for bad in (["export", "--model", "m", "--mask", "k"], ["export", "--model", "m", "--mask", "k", "--out", "o",
                                                              "--dtype", "int8"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_ffn_site_exports_an_architecture_outside_the_table(tiny_llama_dir, mask_file, exported, tmp_path,
                                                           monkeypatch):
    """--ffn-site / ffn_site= reach export too: the same checkpoint as with the table's own entry."""
    from hneuron_eval.core.sites import FFN_SITES, UnsupportedArchitectureError

    monkeypatch.delitem(FFN_SITES, "llama")  # restored after the test
    with pytest.raises(UnsupportedArchitectureError, match="not supported"):
        export_folded(str(tiny_llama_dir), mask_file, 0, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    out = export_folded(str(tiny_llama_dir), mask_file, 0, tmp_path / "user", ffn_site="model.layers:mlp.down_proj")
    assert load_file(out / "model.safetensors").keys() == load_file(exported / "model.safetensors").keys()
    assert all(torch.equal(v, load_file(exported / "model.safetensors")[k])
               for k, v in load_file(out / "model.safetensors").items())
