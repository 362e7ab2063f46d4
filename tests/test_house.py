"""The package's shape: documented names import, no import cycle, no arrow from the harness into identification."""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hneuron_eval

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_imports() -> list[tuple[str, str, str]]:
    """(doc file, module, name) of every ``from hneuron_eval... import ...`` in a Python block of the docs."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            for node in ast.walk(ast.parse(block)):  # a block that does not parse fails the test: docs must run
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hneuron_eval"):
                    found += [(doc.name, node.module, alias.name) for alias in node.names]
    return found


def test_every_documented_name_imports():
    names = documented_imports()
    root = {n for _, m, n in names if m == "hneuron_eval"}
    assert root == set(hneuron_eval.__all__) - {"__version__"}  # the public names, each documented
    for doc, module, name in names:
        assert hasattr(importlib.import_module(module), name), f"{doc}: from {module} import {name}"
    for name in hneuron_eval.__all__:
        assert getattr(hneuron_eval, name) is not None, name


def test_importing_the_package_stays_light():
    code = ("import sys, hneuron_eval; "
            "print(sorted(m for m in ('torch', 'transformers', 'lm_eval') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_graph_has_no_cycle_and_no_upward_arrow():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        house = importlib.import_module("house")
    finally:
        sys.path.pop(0)
    mods = house.modules()
    graph = {m: house.imports(m, p, set(mods)) for m, p in mods.items()}
    assert graph["hneuron_eval.harness.lm_model"] >= {"hneuron_eval.harness.detector", "hneuron_eval.core.intervention"}
    assert house.cycles(graph) == []
    lower = ("hneuron_eval.harness", "hneuron_eval.core")
    assert not [(m, t) for m, ts in graph.items() for t in ts
                if m.startswith(lower) and t.startswith("hneuron_eval.identify")]
    assert house.cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]  # the check itself finds a cycle


def test_identification_and_the_lm_eval_metric_give_the_same_intervals():
    """report.md's CIs (identify.evaluate) and detector_*_ci_* in lm-eval are one computation."""
    from hneuron_eval.harness import detector
    from hneuron_eval.identify.evaluate import bootstrap_metrics

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 80)
    prob = 1 / (1 + np.exp(-(labels + rng.normal(0, 1, 80))))
    report = bootstrap_metrics(labels, np.log(prob / (1 - prob)))  # identification scores logits
    items = [[p, float(y)] for p, y in zip(prob, labels)]
    assert report["auroc"] == pytest.approx(detector.auroc(items), abs=1e-12)
    assert report["auroc_ci95"] == pytest.approx([detector.auroc_ci_low(items), detector.auroc_ci_high(items)])
    assert report["accuracy"] == pytest.approx(detector.accuracy(items))
    assert report["accuracy_ci95"] == pytest.approx([detector.accuracy_ci_low(items),
                                                     detector.accuracy_ci_high(items)])
    assert report["auroc_ci95"][0] < report["auroc"] < report["auroc_ci95"][1]


def test_hooks_are_removed_also_when_the_block_raises():
    from hneuron_eval.core.hooks import forward_hooks

    layer = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="boom"), \
            forward_hooks(post=[(layer, lambda m, a, o: None)], pre=[(layer, lambda m, a: None)]):
        assert layer._forward_hooks and layer._forward_pre_hooks
        raise RuntimeError("boom")
    assert not layer._forward_hooks and not layer._forward_pre_hooks


def test_one_name_for_a_random_control_mask(tmp_path):
    from hneuron_eval.core.masks import control_mask_name
    from hneuron_eval.harness.sweep import plan_sweep

    planned = [c.mask for c in plan_sweep([0.0], 2, "h.hneurons.json", "masks") if c.seed is not None]
    assert planned == [f"masks/{control_mask_name(s)}" for s in (0, 1)] == ["masks/random-seed0.hneurons.json",
                                                                           "masks/random-seed1.hneurons.json"]
    assert control_mask_name(4, "smollm2") == "smollm2.random-seed4.hneurons.json"
