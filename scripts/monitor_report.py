"""Evidence report of an in-harness detector run: the H-neuron detector against every comparison on the same answers.

Reads one ``lm_eval --model hneuron-hf --model_args ...,detector=...,detector_controls=... --log_samples``
output folder (the folder holding ``results_*.json`` and ``samples_<task>_*.jsonl``) and writes, per
monitored task: the answers scored and labelled (the task judge's correct / hallucinated), the
detector's AUROC and accuracy at its threshold with their CIs (the same aggregations lm-eval
reported, recomputed from the logged items and checked against the results file), balanced
accuracy; for every control detector (random neurons, all FFN neurons, residual stream) and every
output-only baseline its AUROC and the paired difference of AUROC (detector minus it, 95% bootstrap
CI on the same answers); and the length analysis (AUROC within answer-length strata, length alone,
length as a covariate, and a flag when the detector mostly measures length).

    python scripts/monitor_report.py results/monitor/smollm2-135m-instruct/lm_eval/smollm2-135m-instruct \
        --out results/monitor/smollm2-135m-instruct/summary
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
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


def scores_of(items: list, col: int, threshold: float | None = 0.5) -> dict:
    """AUROC (CI), and for a probability (``threshold``) accuracy at it (Wilson CI) and balanced accuracy."""
    view = column(items, col)
    scores, labels = monitor._labelled(view)
    auc = {"auroc": monitor.auroc(view), "auroc_ci": list(monitor._auroc_ci(view))}
    if threshold is None:  # a statistic, not a probability: no threshold to be accurate at
        return auc
    return {
        **auc,
        "accuracy": monitor.accuracy(view),
        "accuracy_ci": [monitor.accuracy_ci_low(view), monitor.accuracy_ci_high(view)],
        "balanced_accuracy": (float(balanced_accuracy_score(labels, scores > threshold)) if len(set(labels)) == 2
                              else math.nan),
    }


def control_kind(probe: str) -> str:
    """What a control detector is, from its folder name as identification saves it (``detectors/<name>``)."""
    name = Path(probe).parent.name
    kinds = {"all-neurons": "all FFN neurons (L1)", "probe": "all FFN neurons (L1)", "residual": "residual stream (L2)"}
    return kinds.get(
        name, "random neurons" if name.startswith("random-seed") else "other")


def check(samples: Path, what: str, mine: float, reported: float | None) -> None:
    """A value recomputed from the samples must equal the results file's (both NaN counts as equal)."""
    if reported is None or (math.isnan(mine) and math.isnan(reported)):
        return
    if not math.isclose(mine, reported, rel_tol=1e-9, abs_tol=1e-12):
        raise SystemExit(f"monitor_report: {samples}: {what} {mine} from the samples != {reported} in the results file")


def baseline_report(samples: Path, rows: list, reported: dict) -> list[dict]:
    """Each output-only baseline: its AUROC (CI) and the detector's AUROC minus it (paired CI), on the same answers."""
    out = []
    for name, sign in monitor.BASELINES.items():
        view = monitor._oriented(rows, name)
        diff, low, high = monitor.baseline_difference(rows, name)
        entry = {"baseline": name, "direction": "higher = hallucinated" if sign > 0 else "lower = hallucinated",
                 **scores_of(view, 0, threshold=None), "auroc_difference": diff, "auroc_difference_ci": [low, high]}
        check(samples, f"baseline {name} AUROC", entry["auroc"], reported.get(f"baseline_{name}_auroc,none"))
        check(samples, f"detector minus {name}", diff, reported.get(f"detector_minus_{name}_auroc,none"))
        out.append(entry)
    return out


def length_report(rows: list) -> dict:
    """Does the detector measure answer length? Length alone, the detector within length strata, length as covariate.

    Strata: tertiles of the answer-token count of the scored, labelled answers. The stratified
    AUROC pools the (hallucinated, correct) pairs of the same stratum only. The covariate test is a
    likelihood-ratio test of the detector's logit in a logistic regression that already has
    log(1 + answer tokens). Flag (stated before any real number was read): the detector mostly
    measures length when length alone reaches its AUROC, or when its logit adds nothing significant
    to length (likelihood-ratio p >= 0.05). Coarse strata still vary in length, so the stratified
    AUROC is reported but does not decide the flag.
    """
    from scipy.stats import chi2
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    from hneuron_eval.core.stats import auroc, bootstrap_ci

    col = 2 + monitor.STATISTICS.index("answer_tokens")
    arr = np.array([[r[0], r[1], r[col]] for r in rows], dtype=float).reshape(-1, 3)
    arr = arr[np.isfinite(arr).all(axis=1)]
    score, label, length = arr[:, 0], arr[:, 1], arr[:, 2]
    if len(set(label.tolist())) < 2:
        return {"skipped": "one class only"}
    cuts = np.quantile(length, [1 / 3, 2 / 3])
    stratum = np.searchsorted(cuts, length, side="left")  # 0: <= first cut, 1: <= second, 2: above

    def stratified(pos_idx: np.ndarray, neg_idx: np.ndarray) -> float:
        pos, neg = pos_idx.astype(int), neg_idx.astype(int)
        num = den = 0.0
        for s in range(3):
            p, n = score[pos][stratum[pos] == s], score[neg][stratum[neg] == s]
            if len(p) and len(n):
                num += auroc(p, n) * len(p) * len(n)
                den += len(p) * len(n)
        return num / den if den else math.nan

    pos_idx, neg_idx = np.flatnonzero(label == 1), np.flatnonzero(label == 0)
    strat = stratified(pos_idx.astype(float), neg_idx.astype(float))
    strat_ci = bootstrap_ci((pos_idx.astype(float), neg_idx.astype(float)), stratified)
    strata = []
    for s, (lo, hi) in enumerate(((length.min(), cuts[0]), (cuts[0], cuts[1]), (cuts[1], length.max()))):
        p, n = score[(stratum == s) & (label == 1)], score[(stratum == s) & (label == 0)]
        a = auroc(p, n) if len(p) and len(n) else math.nan
        strata.append({"tokens": [float(lo), float(hi)], "hallucinated": len(p), "correct": len(n), "auroc": a,
                       "auroc_ci": list(monitor.auroc_ci(p, n))})
    length_auc = auroc(length[label == 1], length[label == 0])
    logit = np.log(np.clip(score, 1e-12, 1 - 1e-12) / np.clip(1 - score, 1e-12, 1))
    base_x, full_x = np.log1p(length)[:, None], np.column_stack([np.log1p(length), logit])
    fits = [LogisticRegression(C=1e6, max_iter=1000).fit(x, label) for x in (base_x, full_x)]
    ll = [-log_loss(label, f.predict_proba(x)[:, 1], normalize=False) for f, x in zip(fits, (base_x, full_x))]
    stat = max(2 * (ll[1] - ll[0]), 0.0)
    detector_auc = auroc(score[label == 1], score[label == 0])
    flagged = bool(length_auc >= detector_auc or chi2.sf(stat, 1) >= 0.05)
    length_ci = list(monitor.auroc_ci(length[label == 1], length[label == 0]))
    return {"strata": strata, "cut_points": cuts.tolist(), "stratified_auroc": strat,
            "stratified_auroc_ci": list(strat_ci), "length_auroc": length_auc, "length_auroc_ci": length_ci,
            "covariate": {"detector_logit_coefficient": float(fits[1].coef_[0][1]), "lr_statistic": stat,
                          "p_value": float(chi2.sf(stat, 1))},
            "mostly_length": flagged}


def task_report(samples: Path, reported: dict, controls: list[str]) -> dict:
    """One task's detector evidence from its logged samples, checked against lm-eval's reported values."""
    logged = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    items = [s["detector_auroc"] for s in logged]
    scores, labels = monitor._labelled(items)
    out = {"documents": len(items), "scored_and_labelled": len(labels), "correct": int((labels == 0).sum()),
           "hallucinated": int((labels == 1).sum()), "detector": scores_of(items, 0), "controls": []}
    for key, value in (("auroc", "detector_auroc,none"), ("accuracy", "detector_accuracy,none")):
        check(samples, key, out["detector"][key], reported[value])
    for k, name in enumerate(controls):
        diff, low, high = monitor.auroc_difference(items, 2 + k)
        out["controls"].append({"probe": name, "kind": control_kind(name), **scores_of(items, 2 + k),
                                "auroc_difference": diff, "auroc_difference_ci": [low, high]})
    if controls and sum(c["auroc"] < out["detector"]["auroc"] for c in out["controls"]) != reported.get(
            "detector_controls_beaten,none"):
        raise SystemExit(f"monitor_report: {samples}: controls beaten differs from the results file")
    randoms = [c for c in out["controls"] if c["kind"] == "random neurons"]
    out["random_beaten"] = sum(c["auroc"] < out["detector"]["auroc"] for c in randoms)
    out["random_beaten_ci_above_zero"] = sum(c["auroc_difference_ci"][0] > 0 for c in randoms)
    key = next(iter(monitor.BASELINE_METRICS))
    if all(key in s for s in logged):
        rows = [s[key] for s in logged]
        out["baselines"] = baseline_report(samples, rows, reported)
        out["length"] = length_report(rows)
    return out


def fmt_ci(value: float | None, ci: list, digits: int = 3) -> str:
    """A value with its CI; n/a where there is none (one class only), no CI where the interval is undefined."""
    if value is None or math.isnan(value):
        return "n/a"
    if any(v is None or math.isnan(v) for v in ci):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({ci[0]:.{digits}f}-{ci[1]:.{digits}f})"


def json_ready(obj):
    """The report with NaN (undefined: a stratum or set with one class) written as null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_ready(v) for v in obj]
    return obj


def length_lines(ln: dict) -> list[str]:
    """The length analysis of one task, as markdown."""
    cov = ln["covariate"]
    verdict = ("**Flagged: the detector mostly measures length.**" if ln["mostly_length"] else
               "Not flagged as measuring length (length alone is below it, and it adds significantly to length).")
    return ["", "Answer length (tokens of the scored span; strata = tertiles):", "",
            "| answer tokens | hallucinated | correct | H-neuron AUROC (95% CI) |", "|---|---|---|---|",
            *(f"| {s['tokens'][0]:g}-{s['tokens'][1]:g} | {s['hallucinated']} | {s['correct']} | "
              f"{fmt_ci(s['auroc'], s['auroc_ci'])} |" for s in ln["strata"]),
            "", f"Length alone (longer = hallucinated): AUROC {fmt_ci(ln['length_auroc'], ln['length_auroc_ci'])}. "
                f"H-neuron AUROC within length strata: {fmt_ci(ln['stratified_auroc'], ln['stratified_auroc_ci'])}. "
                "With log(1 + length) as a covariate, the detector's logit adds a likelihood-ratio statistic of "
                f"{cov['lr_statistic']:.1f} (p = {cov['p_value']:.2g}, coefficient "
                f"{cov['detector_logit_coefficient']:.2f}). {verdict}"]


def markdown(report: dict) -> str:
    lines = [f"# In-harness H-neuron detector: {report['model']}", "",
             f"Written by `{report['command']}` on {report['date']} from `{report['source']}`.", "",
             f"lm-eval model_args: `{report['model_args']}` (full command in RUN.txt)", "",
             f"Detector: `{report['detector']['probe']}` ({report['detector'].get('neurons_read')} neurons, "
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
            lines.append(f"| {Path(c['probe']).parent.name} ({c['kind']}) | {fmt_ci(c['auroc'], c['auroc_ci'])} | "
                         f"{fmt_ci(c['accuracy'], c['accuracy_ci'])} | {c['balanced_accuracy']:.3f} | "
                         f"{fmt_ci(c['auroc_difference'], c['auroc_difference_ci'])} |")
        for b in rep.get("baselines", []):
            lines.append(f"| output-only: {b['baseline']} ({b['direction']}) | {fmt_ci(b['auroc'], b['auroc_ci'])} "
                         f"| | | {fmt_ci(b['auroc_difference'], b['auroc_difference_ci'])} |")
        randoms = [c for c in rep["controls"] if c["kind"] == "random neurons"]
        if randoms:
            lines += ["", f"H-neuron detector's AUROC above {rep['random_beaten']} of {len(randoms)} "
                          f"random-neuron detectors; the paired difference's CI lies above zero for "
                          f"{rep['random_beaten_ci_above_zero']} of them."]
        if rep.get("baselines"):
            above = sum(b["auroc_difference_ci"][0] > 0 for b in rep["baselines"])
            below = sum(b["auroc_difference_ci"][1] < 0 for b in rep["baselines"])
            lines += ["", f"Against the {len(rep['baselines'])} output-only baselines: the paired difference's CI lies "
                          f"above zero for {above}, below zero for {below}."]
        if "strata" in rep.get("length", {}):
            lines += length_lines(rep["length"])
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
    write_json_atomic(f"{args.out}.json", json_ready(report))
    write_text_atomic(f"{args.out}.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
