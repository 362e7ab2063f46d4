"""``hneuron-eval sweep``: one model load, standard lm-eval folders per configuration, resumable, bad input refused."""

import json
from pathlib import Path

import pytest
from lm_helpers import write_mc_task  # tests/ is on sys.path (conftest.py)

from hneuron_eval.cli import main
from hneuron_eval.core.masks import MaskShapeError, ModelSpec, Neuron, NeuronMask
from hneuron_eval.harness import sweep
from hneuron_eval.report.runs import find_runs


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    return write_mc_task(tmp_path_factory.mktemp("sweep-task"), "hn_test_sweep",
                         [(1, 2), (3, 4), (5, 6), (7, 8), (2, 9), (4, 4)])


@pytest.fixture(scope="module")
def tiny_mask(tiny_llama_dir, tmp_path_factory) -> Path:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    mask = NeuronMask.for_model(model, [Neuron(0, i) for i in range(0, 48, 2)] + [Neuron(1, i) for i in range(24)],
                                name="tiny")
    return mask.save(tmp_path_factory.mktemp("mask") / "tiny.hneurons.json")


def run(tiny_llama_dir, tiny_mask, task_dir, out, **kw):
    args = dict(model=str(tiny_llama_dir), mask=str(tiny_mask), alphas=[0.0, 1.0, 2.0], controls=1,
                tasks=["hn_test_sweep"], out=out, batch_size=2, include_path=str(task_dir), scale_via="hook",
                dtype="float32",
                command="hneuron-eval sweep (test)")
    return sweep.run_sweep(**{**args, **kw})


def loglikelihoods(folder: Path) -> list[list]:
    path = next(folder.rglob("samples_hn_test_sweep_*.jsonl"))
    return [json.loads(line)["resps"] for line in path.read_text().splitlines()]


def test_plan_and_alphas():
    plan = sweep.plan_sweep([0.0, 1.0, 3.0], 2, "m.hneurons.json", "out/masks")
    assert [c.name for c in plan] == ["baseline", "hneurons-alpha0", "random-seed0-alpha0", "random-seed1-alpha0",
                                      "hneurons-alpha3", "random-seed0-alpha3", "random-seed1-alpha3"]
    assert plan[2].mask == "out/masks/random-seed0.hneurons.json" and plan[2].seed == 0
    assert sweep.parse_alphas(" 0, 1.5 ,3") == [0.0, 1.5, 3.0]
    for bad, message in [("0,,1", "'' is not a number"), ("0,x", "'x' is not a number"), ("nan", "not a finite"),
                         ("1,1", "given twice"), ("0,-1", "'-1' is negative")]:
        with pytest.raises(ValueError, match=message):
            sweep.parse_alphas(bad)
    with pytest.raises(ValueError, match="--controls must be >= 0"):
        sweep.plan_sweep([0.0], -1, "m", "x")


def test_bad_arguments_refused_before_loading(tmp_path, capsys, tiny_mask):
    # a model that does not exist: reaching the loader would fail differently
    assert main(["sweep", "--model", str(tmp_path / "nope"), "--mask", str(tiny_mask), "--alphas", "0,a",
                 "--tasks", "x", "--out", str(tmp_path / "o")]) == 1
    assert "--alphas: 'a' is not a number" in capsys.readouterr().err
    assert main(["sweep", "--model", str(tmp_path / "nope"), "--mask", str(tiny_mask), "--controls", "-2",
                 "--tasks", "x", "--out", str(tmp_path / "o")]) == 1
    assert "--controls must be >= 0" in capsys.readouterr().err
    assert main(["sweep", "--model", str(tmp_path / "nope"), "--mask", str(tiny_mask), "--batch-size", "big",
                 "--tasks", "x", "--out", str(tmp_path / "o")]) == 1
    assert "--batch-size: expected a positive number or auto, got 'big'" in capsys.readouterr().err
    # lm-eval's spellings of the shared options are the same options
    assert main(["sweep", "--model", str(tmp_path / "nope"), "--mask", str(tiny_mask), "--batch_size", "big",
                 "--apply_chat_template", "--include_path", "t", "--tasks", "x", "--out", str(tmp_path / "o")]) == 1
    assert "--batch-size: expected a positive number or auto, got 'big'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("change, message", [
    ({"tasks": ["hn_test_sweep", "hn_tirviaqa"]}, r"--tasks: no lm-eval task or group called 'hn_tirviaqa'"),
    ({"limit": 0}, r"--limit: expected a positive number of documents .*got 0"),
    ({"limit": -3}, r"--limit: expected a positive number of documents .*got -3"),
    ({"out": "FILE"}, r"--out .*afile is a file; give a folder for the sweep"),
    ({"limit": 2, "samples": {"hn_test_sweep": [0]}}, r"--samples and --limit: give one of them"),
    ({"samples": {"hn_tset_sweep": [0]}}, r"--samples: no lm-eval task called 'hn_tset_sweep'"),
    ({"samples": {"hn_test_sweep": [0, -1]}}, r"samples: task 'hn_test_sweep': expected a non-empty list"),
])
def test_bad_tasks_and_limits_are_refused_before_the_folder_exists(tiny_llama_dir, tiny_mask, task_dir, tmp_path,
                                                                    change, message):
    if change.get("out") == "FILE":
        (tmp_path / "afile").write_text("keep me")
        change = {"out": tmp_path / "afile"}
    with pytest.raises(ValueError, match=message):
        run(tiny_llama_dir, tiny_mask, task_dir, change.pop("out", tmp_path / "out"), **change)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "afile").exists() or (tmp_path / "afile").read_text() == "keep me"
    # the corrected command then runs (the folder is not locked by a half-started sweep)
    run(tiny_llama_dir, tiny_mask, task_dir, tmp_path / "out", alphas=[0.0], controls=0)
    assert (tmp_path / "out" / "hneurons-alpha0").is_dir()


def test_the_suites_own_tasks_are_found_without_lm_evals_whole_index(task_dir):
    ours = sweep._task_manager(["hn_triviaqa", "hneuron"], None)
    assert "hn_selfaware" in ours.all_tasks and "arc_easy" not in ours.all_tasks  # the suite's folder only
    assert ours.load(["hneuron"])["tasks"]  # its groups load from that index alone
    mixed = sweep._task_manager(["hn_triviaqa", "arc_easy"], None)
    assert {"hn_triviaqa", "arc_easy"} <= set(mixed.all_tasks)
    given = sweep._task_manager(["hn_test_sweep"], str(task_dir))  # --include-path: lm-eval's whole index too
    assert {"hn_test_sweep", "hn_triviaqa", "arc_easy"} <= set(given.all_tasks)


def test_samples_parsed_from_json_or_file(tmp_path):
    assert sweep.parse_samples('{"a": [3, 1]}') == {"a": [3, 1]}
    (tmp_path / "s.json").write_text('{"b": [0]}')
    assert sweep.parse_samples(str(tmp_path / "s.json")) == {"b": [0]}
    # notes beside the indices (the producing command) are not tasks
    assert sweep.parse_samples('{"_command": "python pick.py", "b": [2]}') == {"b": [2]}
    with pytest.raises(ValueError, match="samples: expected an object of task -> list of document indices, got list"):
        sweep.check_samples([1])
    (tmp_path / "bad.json").write_text("{nope")
    for bad, message in [("{nope", "--samples: not JSON"), (str(tmp_path / "bad.json"), "bad.json: not JSON"),
                         ("missing.json", "neither a JSON object nor a file"), ("{}", "non-empty object"),
                         ('{"a": [1, -2]}', r"task 'a': expected a non-empty list of document indices >= 0"),
                         ('{"a": []}', "task 'a': expected a non-empty list"), ('{"a": [1, 1]}', "given twice"),
                         ('{"a": [true]}', "task 'a': expected a non-empty list"),
                         ('{"_command": "x"}', "non-empty object")]:
        with pytest.raises(ValueError, match=message):
            sweep.parse_samples(bad)


def test_samples_choose_the_documents(tiny_llama_dir, tiny_mask, task_dir, tmp_path):
    run(tiny_llama_dir, tiny_mask, task_dir, tmp_path / "out", alphas=[0.0], controls=0,
        samples={"hn_test_sweep": [4, 1]})
    logged = [json.loads(x) for x in next((tmp_path / "out" / "hneurons-alpha0").rglob(
        "samples_hn_test_sweep_*.jsonl")).read_text().splitlines()]
    assert sorted(s["doc_id"] for s in logged) == [1, 4]
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["settings"]["samples"] == {"hn_test_sweep": [4, 1]}


def test_a_fresh_sweep_that_fails_before_its_first_configuration_leaves_nothing(tiny_llama_dir, tiny_mask, task_dir,
                                                                                tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no memory for the model")

    monkeypatch.setattr(sweep, "_load_model", broken)
    with pytest.raises(RuntimeError, match="no memory"):
        run(tiny_llama_dir, tiny_mask, task_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="no memory"):
        run(tiny_llama_dir, tiny_mask, task_dir, tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []


def test_mask_for_another_model_refused(tiny_llama_dir, task_dir, tmp_path):
    wrong = NeuronMask(ModelSpec(30, 1536, "smollm2-135m-instruct"), (Neuron(0, 0),)).save(tmp_path / "w.hneurons.json")
    with pytest.raises(MaskShapeError):
        run(tiny_llama_dir, wrong, task_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sweep_writes_lm_eval_folders_and_resumes(tiny_llama_dir, tiny_mask, task_dir, tmp_path, monkeypatch):
    loads = []
    real_load = sweep._load_model
    monkeypatch.setattr(sweep, "_load_model", lambda *a: loads.append(a) or real_load(*a))
    out = tmp_path / "sweep"
    folders = run(tiny_llama_dir, tiny_mask, task_dir, out)
    assert len(loads) == 1  # one model load for all configurations
    assert [f.name for f in folders] == ["baseline", "hneurons-alpha0", "random-seed0-alpha0", "hneurons-alpha2",
                                         "random-seed0-alpha2"]
    runs = {r.intervention.label: r for r in find_runs([out])}
    assert set(runs) == {"none", "H-neurons α=0", "H-neurons α=2", "random #0 α=0", "random #0 α=2"}
    h0 = runs["H-neurons α=0"].data["config"]
    assert h0["model"] == "hneuron-hf" and "mask=" in h0["model_args"] and "alpha=0" in h0["model_args"]
    assert h0["hneuron"]["mask_sha256"] == NeuronMask.load(tiny_mask).sha256()
    done = json.loads((out / "hneurons-alpha0" / sweep.DONE).read_text())
    assert done["command"] == "hneuron-eval sweep (test)" and done["model_args"] == h0["model_args"]
    control = NeuronMask.load(out / "masks" / "random-seed0.hneurons.json")
    assert runs["random #0 α=2"].data["config"]["hneuron"]["mask_sha256"] == control.sha256()
    assert [len(v) for v in control.by_layer().values()] == [24, 24]  # the mask's per-layer counts
    # the intervention reaches the model: H at alpha 0 changes log-likelihoods, the baseline is the plain model
    assert loglikelihoods(out / "hneurons-alpha0") != loglikelihoods(out / "baseline")
    plain = run(tiny_llama_dir, tiny_mask, task_dir, tmp_path / "again", alphas=[1.0], controls=0)
    assert [f.name for f in plain] == ["baseline"]
    assert loglikelihoods(tmp_path / "again" / "baseline") == loglikelihoods(out / "baseline")

    # resumed: finished configurations are skipped, a half-written one is redone from scratch
    manifest = json.loads((out / "sweep.json").read_text())
    assert set(manifest["finished"]) == {f.name for f in folders}
    assert (manifest["settings"]["dtype"], manifest["settings"]["dtype_reason"]) == ("float32", "given")
    assert runs["none"].data["config"]["hneuron_dtype"] == {"dtype": "float32", "reason": "given"}
    (out / "hneurons-alpha2" / sweep.DONE).unlink()
    (out / ".random-seed0-alpha2.partial").mkdir()
    done = []
    monkeypatch.setattr(sweep, "_evaluate", lambda lm, config, *a: done.append(config.name) or
                        (out / config.name / sweep.DONE).write_text("{}"))
    run(tiny_llama_dir, tiny_mask, task_dir, out)
    assert done == ["hneurons-alpha2"] and not (out / ".random-seed0-alpha2.partial").exists()

    with pytest.raises(ValueError, match="other settings \\(alphas differ\\)"):
        run(tiny_llama_dir, tiny_mask, task_dir, out, alphas=[0.0])
