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


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium driven through its chromedriver; installed by ``make test``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    missing = [str(path) for path in (chromium, chromedriver) if not path.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: "
                    "install Debian's chromium and chromium-driver (make test does this)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct (offline, from the PyPI GGUF; converted once)."""
    from transformers import AutoModelForCausalLM

    from hneuron_eval.harness.builtin_models import resolve_pretrained

    return AutoModelForCausalLM.from_pretrained(resolve_pretrained("smollm2-135m-instruct")).eval()
