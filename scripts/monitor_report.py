"""Evidence report of an in-harness detector run: the H-neuron detector against each random-neuron control.

Reads one ``lm_eval --model hneuron-hf --model_args ...,detector=...,detector_controls=... --log_samples``
output folder (the folder holding ``results_*.json`` and ``samples_<task>_*.jsonl``) and writes, per
monitored task: the answers scored and labelled (the task judge's correct / hallucinated), the
detector's AUROC and accuracy at its threshold with their CIs (the same aggregations lm-eval
reported, recomputed from the logged items and checked against the results file), balanced
accuracy, and for every control detector its AUROC and accuracy and the paired difference of
AUROC (detector minus control, 95% bootstrap CI on the same answers).

    python scripts/monitor_report.py results/monitor/smollm2-135m-instruct/lm_eval/smollm2-135m-instruct \
        --out results/monitor/smollm2-135m-instruct/summary
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from sklearn.metrics import balanced_accuracy_score

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.core.provenance import command_line, utc_now
from hneuron_eval.harness import detector as monitor


def one_file(folder: Path, pattern: str) -> Path:
    """The single file matching ``pattern``: a folder with several runs is ambiguous, so it is refused."""
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"monitor_report: {folder}: expected one {pattern}, found {len(found)}")
    return found[0]


def column(items: list, col: int) -> list:
    """Items as the aggregations read them, with control ``col`` in the detector's place."""
    return [[row[col], row[1]] for row in items]


def scores_of(items: list, col: int) -> dict:
    """AUROC (CI) and accuracy at 0.5 (Wilson CI) and balanced accuracy of the scores in column ``col``."""
    view = column(items, col)
    scores, labels = monitor._labelled(view)
    return {
        "auroc": monitor.auroc(view), "auroc_ci": [monitor.auroc_ci_low(view), monitor.auroc_ci_high(view)],
        "accuracy": monitor.accuracy(view),
        "accuracy_ci": [monitor.accuracy_ci_low(view), monitor.accuracy_ci_high(view)],
        "balanced_accuracy": (float(balanced_accuracy_score(labels, scores > 0.5)) if len(set(labels)) == 2
                              else math.nan),
    }


def task_report(samples: Path, reported: dict, controls: list[str]) -> dict:
    """One task's detector evidence from its logged samples, checked against lm-eval's reported values."""
    items = [json.loads(line)["detector_auroc"] for line in samples.read_text().splitlines() if line.strip()]
    scores, labels = monitor._labelled(items)
    out = {"documents": len(items), "scored_and_labelled": len(labels), "correct": int((labels == 0).sum()),
           "hallucinated": int((labels == 1).sum()), "detector": scores_of(items, 0), "controls": []}
    for key, value in (("auroc", "detector_auroc,none"), ("accuracy", "detector_accuracy,none")):
        if not math.isclose(out["detector"][key], reported[value], rel_tol=1e-9):
            raise SystemExit(f"monitor_report: {samples}: {key} {out['detector'][key]} from the samples != "
                             f"{reported[value]} in the results file")
    for k, name in enumerate(controls):
        diff, low, high = monitor.auroc_difference(items, 2 + k)
        out["controls"].append({"probe": name, **scores_of(items, 2 + k), "auroc_difference": diff,
                                "auroc_difference_ci": [low, high]})
    aucs = [c["auroc"] for c in out["controls"]]
    out["controls_beaten"] = sum(a < out["detector"]["auroc"] for a in aucs)
    out["controls_beaten_ci_above_zero"] = sum(c["auroc_difference_ci"][0] > 0 for c in out["controls"])
    if controls and out["controls_beaten"] != reported.get("detector_controls_beaten,none"):
        raise SystemExit(f"monitor_report: {samples}: controls beaten differs from the results file")
    return out


def fmt_ci(value: float, ci: list, digits: int = 3) -> str:
    return f"{value:.{digits}f} ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"


def markdown(report: dict) -> str:
    lines = [f"# In-harness H-neuron detector: {report['model']}", "",
             f"Written by `{report['command']}` on {report['date']} from `{report['source']}`.", "",
             f"lm-eval model_args: `{report['model_args']}` (full command in RUN.txt)", "",
             f"Detector: `{report['detector']['probe']}` ({report['detector']['neurons_read']} neurons, "
             f"C={report['detector']['C']}); tokens scored: {report['detector']['tokens']}. "
             f"Answers: {report['answers']}.", "",
             "AUROC: 95% bootstrap CI (hallucinated and correct answers resampled separately, 2,000 resamples, "
             "seed 0); accuracy at probability 0.5 with its Wilson CI; balanced accuracy = mean of the "
             "per-class recalls. Labels are the task judge's: correct (0) or hallucinated (1); declined and "
             "degenerate answers carry none.", ""]
    for task, rep in report["tasks"].items():
        d = rep["detector"]
        lines += [f"## {task}", "",
                  f"{rep['documents']} documents, {rep['scored_and_labelled']} scored and labelled "
                  f"({rep['correct']} correct, {rep['hallucinated']} hallucinated).", "",
                  "| detector | AUROC (95% CI) | accuracy (95% CI) | balanced accuracy "
                  "| H-neurons' AUROC minus this one (95% CI) |",
                  "|---|---|---|---|---|",
                  f"| **H-neurons** | {fmt_ci(d['auroc'], d['auroc_ci'])} | {fmt_ci(d['accuracy'], d['accuracy_ci'])} "
                  f"| {d['balanced_accuracy']:.3f} | |"]
        for c in rep["controls"]:
            lines.append(f"| {Path(c['probe']).parent.name} | {fmt_ci(c['auroc'], c['auroc_ci'])} | "
                         f"{fmt_ci(c['accuracy'], c['accuracy_ci'])} | {c['balanced_accuracy']:.3f} | "
                         f"{fmt_ci(c['auroc_difference'], c['auroc_difference_ci'])} |")
        if rep["controls"]:
            lines += ["", f"H-neuron detector's AUROC above {rep['controls_beaten']} of {len(rep['controls'])} "
                          f"random-neuron detectors; the paired difference's CI lies above zero for "
                          f"{rep['controls_beaten_ci_above_zero']} of them."]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="lm-eval output folder holding results_*.json and samples_*.jsonl")
    ap.add_argument("--out", required=True, help="output stem: writes STEM.json and STEM.md")
    args = ap.parse_args(argv)
    results_file = one_file(args.folder, "results_*.json")
    results = json.loads(results_file.read_text())
    info = results["config"].get("hneuron_detector")
    if not info:
        raise SystemExit(f"monitor_report: {results_file}: no detector in config.hneuron_detector")
    controls = [c["probe"] for c in info.get("controls", [])]
    tasks = {task: task_report(one_file(args.folder, f"samples_{task}_*.jsonl"), vals, controls)
             for task, vals in sorted(results["results"].items()) if "detector_auroc,none" in vals}
    if not tasks:
        raise SystemExit(f"monitor_report: {results_file}: no task reports detector metrics")
    report = {"command": command_line("python", sys.argv), "date": utc_now(), "source": str(results_file),
              "model": info["model"], "model_args": results["config"]["model_args"],
              "detector": {k: v for k, v in info.items() if k not in ("controls", "answers")},
              "answers": info.get("answers"), "tasks": tasks}
    write_json_atomic(f"{args.out}.json", report)
    write_text_atomic(f"{args.out}.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
