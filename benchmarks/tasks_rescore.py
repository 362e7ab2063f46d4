"""Re-score the responses logged by an lm_eval run with the current judges (no generation).

usage: python benchmarks/tasks_rescore.py RUN_DIR
Reads RUN_DIR/**/samples_hn_*.jsonl (lm_eval --log_samples), recomputes every per-document
metric with hneuron_eval.scoring.score and the rule judge, aggregates them the way lm-eval
does (mean, standard error of the mean; groups as in tasks/hneuron*.yaml) and writes
RUN_DIR/rescored.md and RUN_DIR/rescored.json. Use it when the judge rules change after a
run; the run's own results_*.json keep the numbers of the rules it ran with.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import yaml
from lm_eval.api.metrics import aggregate_subtask_metrics, mean, mean_stderr, pooled_sample_stderr, unweighted_mean_stderr

from hneuron_eval.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.scoring import METRICS, score

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def _kind(task: str) -> str:
    text = (TASKS / f"{task}.yaml").read_text()
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("hn_kind:"))


def rescore(run: Path) -> dict[str, dict[str, float]]:
    """Per-task metrics (and stderr, n) from the logged samples."""
    out = {}
    for path in sorted(run.rglob("samples_hn_*.jsonl")):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        kind = _kind(task)
        values: dict[str, list[float]] = defaultdict(list)
        with path.open(encoding="utf-8") as f:
            for line in f:
                sample = json.loads(line)
                for name, value in score(kind, sample["doc"], sample["resps"][0]).items():
                    values[name].append(value)
        out[task] = {"sample_len": max(len(v) for v in values.values())}
        for name, vals in values.items():
            out[task][name] = mean(vals)
            out[task][f"{name}_stderr"] = mean_stderr(vals) if len(vals) > 1 else None
            out[task][f"{name}_n"] = len(vals)
    return out


def groups(tasks: dict[str, dict]) -> dict[str, dict]:
    """Group metrics computed as lm-eval's Group.aggregate does, from the group YAMLs."""
    out = {}
    for name in ("hneuron_hallucination", "hneuron_overcompliance", "hneuron"):
        cfg = yaml.safe_load((TASKS / f"{name}.yaml").read_text())
        members = []
        for child in cfg["task"]:
            members += yaml.safe_load((TASKS / f"{child}.yaml").read_text())["task"] if child.startswith("hneuron_") else [child]
        if any(m not in tasks for m in members):
            continue  # a group is reported only when all of its tasks were run
        out[name] = {}
        for agg in cfg["aggregate_metric_list"]:
            metric, weighted = agg["metric"], agg.get("weight_by_size", True)
            have = [m for m in members if metric in tasks[m]]
            if not have:
                continue
            vals = [tasks[m][metric] for m in have]
            sizes = [tasks[m]["sample_len"] for m in have]
            errs = [tasks[m][f"{metric}_stderr"] for m in have]
            out[name][metric] = aggregate_subtask_metrics(vals, sizes, weighted)
            if None not in errs:
                out[name][f"{metric}_stderr"] = pooled_sample_stderr(errs, sizes) if weighted else unweighted_mean_stderr(errs)
    return out


def main(run: str) -> None:
    run_dir = Path(run)
    tasks = rescore(run_dir)
    grouped = groups(tasks)
    command = f"python benchmarks/tasks_rescore.py {run}"
    lines = [f"Re-scored with the current rule judges from the responses logged in `{run_dir.name}`.",
             f"Command: `{command}` (the generating lm_eval command is in RUN.txt).", "",
             "| task / group | metric | dir | value | stderr | n docs |", "|---|---|---|---|---|---|"]
    for name, metrics in {**grouped, **tasks}.items():
        for metric in sorted(k for k in metrics if k in METRICS):
            err = metrics.get(f"{metric}_stderr")
            arrow = "↑" if METRICS[metric] else "↓"
            lines.append(f"| {name} | {metric} | {arrow} | {metrics[metric]:.4f} | "
                         f"{'N/A' if err is None else f'{err:.4f}'} | {metrics.get(f'{metric}_n', '')} |")
    table = "\n".join(lines) + "\n"
    print(table)
    write_text_atomic(run_dir / "rescored.md", table)
    write_json_atomic(run_dir / "rescored.json", {"command": command, "tasks": tasks, "groups": grouped})


if __name__ == "__main__":
    main(*sys.argv[1:])
