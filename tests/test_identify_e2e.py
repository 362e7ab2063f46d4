"""The whole `identify` command on a tiny random model and small question sets: every artifact, consistent."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from identify_fixtures import tiny_llama, tiny_tokenizer

from hneuron_eval.cli import main
from hneuron_eval.core.masks import NeuronMask
from hneuron_eval.identify import questions as D
from hneuron_eval.identify.fitting import pick_c


def monitor_baselines():
    from hneuron_eval.harness.baselines import BASELINES

    return BASELINES

COMMON = ["paris", "london", "mars", "venus", "red"]


def _qs(prefix, n, aliases, kind="qa"):
    words = ["who", "what", "capital", "planet", "city", "france", "wrote"]
    return [
        D.Question(
            f"{prefix}-{i}",
            f"{words[i % 7]} is the {words[(i // 7) % 7]} of {words[(i // 49) % 7]} ?",
            tuple(aliases),
            kind,
        )
        for i in range(n)
    ]


@pytest.fixture()
def tiny_run(tmp_path, monkeypatch):
    tok = tiny_tokenizer(chat=True)
    tiny_llama(vocab_size=len(tok)).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    train, dev = _qs("tr", 90, COMMON), _qs("dev", 60, COMMON)
    dev = [D.Question(q.id, "it " + q.question, q.aliases) for q in dev]  # different texts from train
    monkeypatch.setattr(D, "triviaqa_train", lambda: D.QuestionSet("train", "-", train, {"no answer aliases": 2}))
    monkeypatch.setattr(D, "triviaqa_dev", lambda: D.QuestionSet("dev", "-", dev))
    monkeypatch.setattr(D, "nq_open", lambda: D.QuestionSet("nq", "-", _qs("nq", 10, ["shakespeare france capital"])))
    nec = _qs("fake", 20, [], "nonexistent") + _qs("real", 20, [], "real")
    monkeypatch.setattr(D, "read_nec", lambda: D.QuestionSet("nec", "-", nec))
    return tmp_path


def test_identify_end_to_end(tiny_run, capsys):
    out = tiny_run / "run"
    args = [
        "identify",
        "--model",
        str(tiny_run / "model"),
        "--out",
        str(out),
        "--samples",
        "2",
        "--questions",
        "90",
        "--eval-questions",
        "40",
        "--max-new-tokens",
        "6",
        "--min-per-class",
        "3",
        "--c-grid",
        "1",
        "10",
        "100",
        "--random-seeds",
        "2",
        "--batch-size",
        "16",
        "--suppress-questions",
        "4",
        "--bioasq",
        str(tiny_run / "missing.jsonl"),
        "--dtype",
        "float32",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "bioasq: skipped: BioASQ file not found" in printed and "nq_open: skipped" in printed
    run = json.loads((out / "run.json").read_text())
    assert (run["config"]["dtype"], run["dtype_reason"]) == ("float32", "given")
    assert np.load(out / "features" / "train" / "answer.npy").dtype == np.float32
    splits = json.loads((out / "splits.json").read_text())
    train_ids = splits["train"]["faithful"] + splits["train"]["hallucinated"]
    test_ids = splits["test"]["faithful"] + splits["test"]["hallucinated"]
    assert not set(train_ids) & set(test_ids)
    assert len(splits["train"]["faithful"]) == len(splits["train"]["hallucinated"]) >= 3
    assert splits["source_rows_skipped"]["train"] == {"no answer aliases": 2}
    meta = json.loads((out / "features" / "train" / "meta.json").read_text())
    assert (
        meta["identity"]["run_id"] == run["run_id"]
        and meta["ids"] == splits["train"]["hallucinated"] + splits["train"]["faithful"]
    )
    assert np.load(out / "features" / "train" / "answer.npy").shape == (len(train_ids), 2 * 64)
    mask = NeuronMask.load(out / "model.hneurons.json")
    assert len(mask) > 0 and all(n.weight > 0 for n in mask.neurons) and mask.provenance["run_id"] == run["run_id"]
    control = NeuronMask.load(out / "model.random-seed0.hneurons.json")
    assert len(control) == len(mask)
    report = json.loads((out / "report.json").read_text())
    sets = report["evaluation"]["sets"]
    assert set(sets) == {"triviaqa", "nq_open", "bioasq", "nonexist"}
    assert "h_neurons" in sets["triviaqa"] and "h_neurons" in sets["nonexist"] and len(sets["triviaqa"]["random"]) == 2
    selection = json.loads((out / "probe" / "selection.json").read_text())
    assert all(0 <= g["suppressed_task_accuracy"] <= 1 for g in selection["c_grid"])
    assert selection["c_rule"] == "1se" and selection["cv_folds"] == 5
    assert selection["chosen_C"] == pick_c(selection["c_grid"], "1se")  # the rule stated, applied to the path
    assert all(len(g["fold_auroc"]) == 5 for g in selection["c_grid"])
    assert (out / "probe" / "sparsity_path.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every artifact names the command that wrote it
    probe_header = json.loads((out / "probe" / "probe.json").read_text())
    evaluation = json.loads((out / "evaluation.json").read_text())
    for recorded in (splits, meta, selection, probe_header, evaluation, mask.provenance, report):
        assert recorded["command"] == "hneuron-eval " + " ".join(args)
    md = (out / "report.md").read_text()
    assert "| random / H |" in md and "(chosen)" in md
    tqa = sets["triviaqa"]
    above = sum(tqa["h_neurons"]["accuracy"] > r["accuracy"] for r in tqa["random"])
    row = next(line for line in md.splitlines() if line.startswith("| TriviaQA |"))
    assert f"| {above}/2, " in row  # how many random-neuron sets the H-neuron detector beats
    # the compared detectors are saved as probe folders the in-harness monitor loads, and score as evaluated
    from sklearn.metrics import roc_auc_score

    from hneuron_eval.core.probe import HNeuronProbe
    from hneuron_eval.harness.lm_model import HNeuronLM

    assert sorted(p.name for p in (out / "detectors").iterdir()) == [
        "h-neurons", "random-seed0", "random-seed1", "residual"]
    h_detector, _ = HNeuronProbe.load(out / "detectors" / "h-neurons" / "probe")
    test_x = np.load(out / "features" / "test" / "answer.npy")
    test_y = json.loads((out / "features" / "test" / "meta.json").read_text())["labels"]
    auroc = roc_auc_score(test_y, h_detector.predict_proba(test_x)[:, 1])
    assert auroc == pytest.approx(tqa["h_neurons"]["auroc"])
    # the residual-stream baseline: the layer its CV chose, scored on the test split's layer outputs as evaluated
    residual, header = HNeuronProbe.load(out / "detectors" / "residual" / "probe")
    layers = report["evaluation"]["residual"]["layers"]
    assert header["layer"] == max(layers, key=lambda r: (r["cv_auroc"], -r["layer"]))["layer"] == \
        report["evaluation"]["residual"]["layer"] and len(layers) == 2
    res_x = np.load(out / "features" / "test" / "residual" / "answer.npy")
    assert res_x.shape == (len(test_y), 2 * 32)  # 2 layers x d_model 32
    assert roc_auc_score(test_y, residual.decision_function(res_x)) == pytest.approx(tqa["residual"]["auroc"])
    assert "residual" in sets["nonexist"]
    assert set(tqa["output_only"]) >= set(monitor_baselines()) and tqa["output_only"]["responses"] == len(test_y)
    assert "| perplexity |" in md  # the output-only baselines' table
    watched = HNeuronLM(pretrained=str(tiny_run / "model"), device="cpu", dtype="float32",
                        detector=str(out / "detectors" / "h-neurons"),
                        detector_controls=f"{out / 'detectors' / 're*'};{out / 'probe'}")  # residual, all neurons
    assert len(watched.controls) == 2 and watched.detector.layers
    assert [c.residual for c in watched.controls] == [True, False]  # residual, the L1 probe on all neurons
    # re-running resumes: nothing is sampled or extracted again, the same report comes out
    mtime = (out / "samples" / "train.jsonl").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "samples" / "train.jsonl").stat().st_mtime_ns == mtime


def test_other_model_in_same_run_dir_refused(tiny_run, capsys):
    out = tiny_run / "run"
    (out).mkdir()
    (out / "run.json").write_text(json.dumps({"model": "gemma-3-270m", "config": {"model": "gemma-3-270m"}}))
    assert main(["sample", "--model", str(tiny_run / "model"), "--out", str(out)]) == 1
    assert "belongs to model 'gemma-3-270m'" in capsys.readouterr().err


def test_too_few_samples_error_from_the_command(tiny_run, capsys):
    assert main(["sample", "--model", str(tiny_run / "model"), "--out", str(tiny_run / "r"), "--samples", "2",
                 "--questions", "90", "--max-new-tokens", "4", "--min-per-class", "500"]) == 1
    err = capsys.readouterr().err
    assert re.search(
        r"train set .*found \d+ faithful and \d+ hallucinated.*need at least 500.*--questions \(now 90\)", err
    )


def test_later_stage_settings_change_only_until_the_stage_starts(tiny_run, capsys):
    out = tiny_run / "run"
    assert main(["sample", "--model", str(tiny_run / "model"), "--out", str(out), "--samples", "2", "--questions", "90",
                 "--max-new-tokens", "6", "--min-per-class", "3", "--batch-size", "16"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["answer_tokens"] == "span"
    assert main(["features", "--out", str(out), "--answer-tokens", "all", "--feature-batch-size", "64"]) == 0
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["answer_tokens"] == "all" and config["feature_batch_size"] == 8  # batch size: this call only
    assert json.loads((out / "features" / "train" / "meta.json").read_text())["answer_tokens"] == "all"
    capsys.readouterr()
    assert main(["features", "--out", str(out), "--answer-tokens", "span"]) == 1
    assert "the features stage has already started with answer_tokens='all'" in capsys.readouterr().err
    assert main(["probe", "--out", str(out), "--c-grid", "10", "--contrast", "1-vs-1"]) == 0
    selection = json.loads((out / "probe" / "selection.json").read_text())
    assert selection["contrast"] == "1-vs-1" and [g["C"] for g in selection["c_grid"]] == [10.0]
    assert main(["probe", "--out", str(out), "--c-grid", "1", "10", "--cv-folds", "3", "--c-rule", "best"]) == 0
    selection = json.loads((out / "probe" / "selection.json").read_text())
    assert selection["cv_folds"] == 3 and selection["c_rule"] == "best"
    assert len(selection["c_grid"][0]["fold_auroc"]) == 3
    capsys.readouterr()
    assert main(["probe", "--out", str(out), "--c-rule", "suppression"]) == 1
    assert "needs --suppress-questions" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["config"]["contrast"] == "3-vs-1"  # probe options: this fit only


def test_the_dtype_policy_picks_the_model_dtype_and_features_stay_float32(tiny_run, monkeypatch):
    """No --dtype: the policy decides and run.json says why; the stored features are float32 in any model dtype."""
    from hneuron_eval.harness import precision

    monkeypatch.setattr(precision, "bf16_units", lambda: ["amx_bf16"])
    out = tiny_run / "bf16"
    assert main(["sample", "--model", str(tiny_run / "model"), "--out", str(out), "--samples", "2", "--questions", "90",
                 "--max-new-tokens", "6", "--min-per-class", "3", "--batch-size", "16"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert (run["config"]["dtype"], run["dtype_reason"]) == ("bfloat16", "CPU with bfloat16 matrix units (amx_bf16)")
    assert main(["features", "--out", str(out)]) == 0
    features = np.load(out / "features" / "train" / "answer.npy")
    assert features.dtype == np.float32 and np.isfinite(features).all() and features.any()
    monkeypatch.setattr(precision, "bf16_units", lambda: [])
    assert main(["sample", "--model", str(tiny_run / "model"), "--out", str(tiny_run / "f32"), "--samples", "2",
                 "--questions", "90", "--max-new-tokens", "6", "--min-per-class", "3", "--batch-size", "16"]) == 0
    run = json.loads((tiny_run / "f32" / "run.json").read_text())
    assert run["config"]["dtype"] == "float32" and run["dtype_reason"].startswith("CPU without bfloat16")
