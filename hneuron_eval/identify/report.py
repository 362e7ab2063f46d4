"""report.json + report.md: the run's numbers in the paper's table layout, with counts and provenance."""

from __future__ import annotations

import json
from typing import Any

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.identify.run import IdentifyRun
from hneuron_eval.identify.stages import EVAL_SETS, contrast_of

COLUMNS = {"triviaqa": "TriviaQA", "nq_open": "NQ-Open", "bioasq": "BioASQ", "nonexist": "NonExist (NEC)"}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _ci(m: dict[str, Any], key: str, scale: float = 100) -> str:
    ci = m.get(f"{key}_ci95")
    val = m.get(key)
    if val is None:
        return "-"
    fmt = (lambda v: f"{scale * v:.1f}") if scale == 100 else (lambda v: f"{v:.3f}")
    return f"{fmt(val)} ({fmt(ci[0])}-{fmt(ci[1])})" if ci else fmt(val)


def _vs_random(h: dict[str, Any], r: dict[str, Any]) -> str:
    """Three cells: random accuracy and AUROC (mean; min-max), and how many random sets H strictly beats."""
    cells = []
    counts = []
    for key, fmt in (("accuracy", _pct), ("auroc", lambda x: "-" if x is None else f"{x:.3f}")):
        values = [x[key] for x in r["random"] if x[key] is not None]
        if not values:
            cells.append("-")
            counts.append("-")
            continue
        cells.append(f"{fmt(r[f'random_mean_{key}'])}; {fmt(min(values))}-{fmt(max(values))}")
        beaten = "-" if h[key] is None else sum(h[key] > v for v in values)
        counts.append(f"{beaten}/{len(values)}")
    return " | ".join(cells) + " | " + ", ".join(counts)


def write_report(run: IdentifyRun, command: str) -> dict[str, Any]:
    """Gather splits, selection and evaluation into report.json and report.md."""
    splits = json.loads(run.path("splits.json").read_text())
    selection = json.loads(run.path("probe", "selection.json").read_text())
    evaluation = json.loads(run.path("evaluation.json").read_text())
    probe_header = json.loads(run.path("probe", "probe.json").read_text())
    train_meta = json.loads(run.path("features", "train", "meta.json").read_text())
    test_meta = json.loads(run.path("features", "test", "meta.json").read_text())
    report = {"command": command, "run": run.info, "splits": splits, "selection": selection, "evaluation": evaluation,
              "answer_rule": probe_header["answer_rule"],
              "span_fallbacks": {"train": [train_meta["span_fallbacks"], len(train_meta["ids"])],
                                 "test": [test_meta["span_fallbacks"], len(test_meta["ids"])]}}
    write_json_atomic(run.path("report.json"), report)

    info, cfg, sets = run.info, run.info["config"], evaluation["sets"]
    lines = [
        f"# H-neuron identification: {info['model']}",
        "",
        f"Run `{info['run_id']}`, created {info['created']}; {info['architecture']} ({info['num_layers']} layers "
        f"x d_ff {info['d_ff']} = {info['num_layers'] * info['d_ff']:,} FFN neurons).",
        f"Versions: {', '.join(f'{k} {v}' for k, v in info['versions'].items())}.",
        "",
        *([f"Run started with: `{info['command']}`", ""] if info.get("command") else []),
        "Command that produced this report:",
        "",
        f"```\n{command}\n```",
        "",
        "## Detection accuracy (%, balanced held-out sets, single sample; threshold 0.5)",
        "",
        "| model | neurons | share of FFN neurons | " + " | ".join(COLUMNS[s] for s in EVAL_SETS) + " |",
        "|---|---|---|" + "---|" * len(EVAL_SETS),
    ]
    cells = []
    for s in EVAL_SETS:
        r = sets.get(s, {})
        random_h = f"{_pct(r.get('random_mean_accuracy'))} / {_pct(r.get('h_neurons', {}).get('accuracy'))}"
        cells.append("n/a" if "h_neurons" not in r else random_h)
    lines.append(
        f"| {info['model']} | random / H | {evaluation['share_per_mille']:.3f} per mille "
        f"({evaluation['n_h_neurons']}) | "
        + " | ".join(cells)
        + " |"
    )
    lines += [
        "",
        f"Random = mean over {evaluation['random_seeds']} random-neuron sets (same per-layer counts). "
        f"{evaluation['detector']}. "
        "'H above random' counts the random sets that the H-neuron detector strictly beats.",
        "",
        "## Per set, with 95% bootstrap CIs",
        "",
        "| set | n (per class) | H accuracy | H AUROC | random accuracy (mean; min-max) "
        "| random AUROC (mean; min-max) | H above random (accuracy, AUROC) | full L1 probe accuracy "
        "| full probe AUROC | residual-stream AUROC |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in EVAL_SETS:
        r = sets.get(s, {})
        if "h_neurons" not in r:
            lines.append(f"| {COLUMNS[s]} | {r.get('skipped', 'not run')} |||||||||")
            continue
        h, f = r["h_neurons"], r["full_probe"]
        residual = _ci(r["residual"], "auroc", 1) if "residual" in r else "-"
        lines.append(
            f"| {COLUMNS[s]} | {h['n']} ({h['n_hallucinated']}) | {_ci(h, 'accuracy')} | {_ci(h, 'auroc', 1)} | "
            f"{_vs_random(h, r)} | {_ci(f, 'accuracy')} | {_ci(f, 'auroc', 1)} | {residual} |"
        )
    baselines = [b for b in ("mean_logprob", "min_logprob", "mean_entropy", "perplexity")
                 if any(b in sets.get(s, {}).get("output_only", {}) for s in EVAL_SETS)]
    if baselines:
        lines += ["", "Output-only baselines on the same responses (the model's own token probabilities over the "
                      "answer span, teacher-forced; `hneuron_eval/harness/baselines.py`), AUROC with 95% CI:", "",
                  "| baseline | " + " | ".join(COLUMNS[s] for s in EVAL_SETS) + " |", "|---|" + "---|" * len(EVAL_SETS)]
        for b in baselines:
            cells = [_ci(sets[s]["output_only"][b], "auroc", 1) if "output_only" in sets.get(s, {}) else "-"
                     for s in EVAL_SETS]
            lines.append(f"| {b} | " + " | ".join(cells) + " |")
    if "residual" in evaluation:
        res = evaluation["residual"]
        best = next(r for r in res["layers"] if r["layer"] == res["layer"])
        lines += ["", f"Residual stream: {res['detector']}: layer {res['layer']} (CV AUROC {best['cv_auroc']:.3f} "
                      f"± {best['cv_auroc_se']:.3f}; per-layer scores in evaluation.json). "
                      "Detectors saved under `detectors/` (h-neurons, random-seed*, residual) and the L1 probe "
                      "`probe/` load as "
                      "`detector=` / `detector_controls=` of `hneuron-hf`."]
    neurons = info["num_layers"] * info["d_ff"]
    lines += [
        "",
        f"## Sparsity path (contrast {contrast_of(selection)}; {selection['cv_folds']}-fold cross-validation on the "
        "train responses, stratified and grouped by question; held-out answer tokens, 1-vs-1)",
        "",
        f"C rule `{selection['c_rule']}`: {selection['c_rule_text']}. Neurons kept: the fit on all train "
        "responses. Mean over folds ± standard error (fold standard deviation / sqrt(k)). "
        "Plot: `probe/sparsity_path.png`.",
        "",
        "| C | H-neurons (positive weights) | non-zero weights | share of FFN neurons (per mille) "
        "| CV accuracy | CV AUROC | task accuracy, H-neurons ablated |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in selection["c_grid"]:
        mark = " **(chosen)**" if g["C"] == selection["chosen_C"] else ""
        task = "-" if g.get("suppressed_task_accuracy") is None else f"{100 * g['suppressed_task_accuracy']:.1f}"
        lines.append(
            f"| {g['C']:g}{mark} | {g['n_h_neurons']} | {g['n_nonzero']} | {1000 * g['n_h_neurons'] / neurons:.2f} "
            f"| {100 * g['cv_accuracy']:.1f} ± {100 * g['cv_accuracy_se']:.1f} "
            f"| {g['cv_auroc']:.3f} ± {g['cv_auroc_se']:.3f} | {task} |"
        )
    lines += [
        "",
        f"Whole path ({selection['cv_folds']} folds + the full fit per C) in {selection['grid_fit_seconds']:.1f} s; "
        f"final probe refit on all {probe_header['n_train_responses']} train responses at C={selection['chosen_C']:g}.",
        "",
        "## Data and filtering",
        "",
    ]
    for name in ("train", "test"):
        sp = splits[name]
        lines.append(
            f"- {name}: {sp['questions']} questions -> labels {sp['label_counts']}; dropped {sp['dropped']}; "
            f"balanced {sp['per_class']} per class."
        )
    for s in EVAL_SETS[1:]:
        r = sets.get(s, {})
        if "split" in r:
            sp = r["split"]
            lines.append(
                f"- {COLUMNS[s]}: {sp['questions']} questions -> labels {sp['label_counts']}; "
                f"dropped {sp['dropped']}; balanced {sp['per_class']} per class."
            )
    lines.append(f"- Source rows skipped (no answers, overlap with the train file): {splits['source_rows_skipped']}.")
    fb = report["span_fallbacks"]
    lines += [
        f"- Answer tokens: {report['answer_rule']}. Fallbacks to all output tokens: "
        f"train {fb['train'][0]}/{fb['train'][1]}, test {fb['test'][0]}/{fb['test'][1]}.",
        f"- Sampling: {cfg['samples']} samples per train question (consistency filter: all correct / all wrong, "
        f"any abstention excludes), {cfg['test_samples']} per evaluation question; temperature "
        f"{cfg['temperature']}, top_k {cfg['top_k']}, top_p {cfg['top_p']}, {cfg['max_new_tokens']} new tokens; "
        f"seed {cfg['seed']}.",
        "- NonExist: hallucinated = a non-abstaining answer about an invented entity (UnknownBench NEC); "
        "faithful = an answer about the matched real entity (assumed, not verified).",
        "",
    ]
    write_text_atomic(run.path("report.md"), "\n".join(lines) + "\n")
    return report

