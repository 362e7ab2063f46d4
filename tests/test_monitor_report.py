"""scripts/monitor_report.py on an lm-eval-shaped folder: recomputed metrics, baselines, the length analysis."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from hneuron_eval.harness import detector as monitor

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "monitor_report.py"


def load_script():
    spec = importlib.util.spec_from_file_location("monitor_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(folder: Path, length_only: bool, n: int = 240, seed: int = 0, tamper: bool = False) -> None:
    """A results file and a samples file as lm-eval writes them, for a detector with one control and baselines."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    length = rng.integers(1, 12, n) + 4 * labels  # hallucinated answers run longer
    if length_only:  # a detector that reads length and nothing else
        score = 1 / (1 + np.exp(-(length - 8) / 2))
    else:  # one that separates the classes at every length
        score = np.clip(0.3 + 0.4 * labels + rng.normal(0, 0.15, n), 0.01, 0.99)
    samples = []
    for i in range(n):
        stats = {"mean_logprob": -1 - labels[i] + rng.normal(0, 1), "min_logprob": -3 + rng.normal(0, 1),
                 "mean_entropy": rng.random(), "perplexity": 2.0, "answer_tokens": float(length[i])}
        stats["perplexity"] = math.exp(-stats["mean_logprob"])
        cls = "hallucinated" if labels[i] else "correct"
        samples.append({"doc_id": i, **monitor.detector_metrics(float(score[i]), cls, (rng.random(),), stats)})
    reported = {f"{m},none": (agg(samples_col) if agg != "mean" else float(np.mean(samples_col)))
                for m, (agg, _) in monitor.METRICS.items()
                for samples_col in [[s[m] for s in samples]]}
    if tamper:
        reported["baseline_mean_logprob_auroc,none"] += 0.01
    folder.mkdir(parents=True)
    results = {"results": {"hn_triviaqa": reported}, "config": {
        "model_args": "pretrained=tiny,detector=d", "hneuron_detector": {
            "probe": "d/probe.json", "model": "tiny", "neurons_read": 5, "C": 1.0, "tokens": "answer span",
            "controls": [{"probe": "runs/x/detectors/random-seed0/probe.json"}], "answers": {"scored": n}}}}
    (folder / "results_2026-12-02T00-00-00.json").write_text(json.dumps(results))
    (folder / "samples_hn_triviaqa_2026-12-02T00-00-00.jsonl").write_text(
        "\n".join(json.dumps(s) for s in samples) + "\n")


@pytest.mark.parametrize("length_only", [False, True])
def test_report_tables_baselines_and_flags_a_length_detector(tmp_path, length_only):
    write_run(tmp_path / "run", length_only)
    load_script().main([str(tmp_path / "run"), "--out", str(tmp_path / "summary")])
    report = json.loads((tmp_path / "summary.json").read_text())["tasks"]["hn_triviaqa"]
    assert [b["baseline"] for b in report["baselines"]] == list(monitor.BASELINES)
    by_name = {b["baseline"]: b for b in report["baselines"]}
    assert by_name["mean_logprob"]["auroc"] > 0.6  # oriented: lower log-probability = hallucinated
    assert by_name["perplexity"]["auroc"] == pytest.approx(by_name["mean_logprob"]["auroc"])
    ln = report["length"]
    assert sum(s["hallucinated"] + s["correct"] for s in ln["strata"]) == report["scored_and_labelled"]
    assert ln["length_auroc"] > 0.7 and ln["mostly_length"] is length_only
    if length_only:  # nothing beyond length, though coarse strata leave some length inside each
        assert ln["length_auroc"] == pytest.approx(report["detector"]["auroc"]) and ln["covariate"]["p_value"] > 0.05
    else:
        assert ln["stratified_auroc"] > 0.8 and ln["covariate"]["p_value"] < 1e-6
    assert [c["kind"] for c in report["controls"]] == ["random neurons"] and report["random_beaten"] in (0, 1)
    md = (tmp_path / "summary.md").read_text()
    assert "| output-only: min_logprob (lower = hallucinated) |" in md
    assert ("Flagged: the detector mostly measures length" in md) is length_only


def test_report_refuses_samples_that_disagree_with_the_results_file(tmp_path):
    write_run(tmp_path / "run", False, tamper=True)
    with pytest.raises(SystemExit, match="baseline mean_logprob AUROC .* from the samples != .* in the results file"):
        load_script().main([str(tmp_path / "run"), "--out", str(tmp_path / "summary")])
    assert not (tmp_path / "summary.json").exists()  # nothing half-written
