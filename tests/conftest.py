"""Shared fixtures: tiny models per architecture, their saved directories, the real offline model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import CONFIGS, make_model, save_tiny  # noqa: E402


@pytest.fixture(params=sorted(CONFIGS))
def tiny_model(request):
    """One tiny random model per supported architecture."""
    return make_model(request.param)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    return save_tiny("llama", tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct (offline, from the PyPI GGUF; converted once)."""
    from transformers import AutoModelForCausalLM

    from hneuron_eval.builtin_models import resolve_pretrained

    return AutoModelForCausalLM.from_pretrained(resolve_pretrained("smollm2-135m-instruct")).eval()
