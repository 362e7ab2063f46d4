"""Re-score the responses logged by an lm_eval run with the current judges (no generation).

usage: python scripts/tasks_rescore.py RUN_DIR [JUDGE]
Reads RUN_DIR/**/samples_hn_*.jsonl (lm_eval --log_samples), recomputes every per-document
metric with the task kinds and JUDGE (default: the tasks' default judge), aggregates them the way lm-eval does (mean,
standard error of the mean; groups as in tasks/hneuron*.yaml) and writes RUN_DIR/rescored.md
and RUN_DIR/rescored.json, both naming the judge version. The run's own results_*.json keep
the numbers of the judge it ran with (its configs record that judge's version).
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml
from lm_eval.api.metrics import (
    aggregate_subtask_metrics,
    mean,
    mean_stderr,
    pooled_sample_stderr,
    unweighted_mean_stderr,
)

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.judges import DEFAULT_JUDGE, get_judge
from hneuron_eval.suite.kinds import METRICS, classify, get_kind

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import TASKS, sample_logs, task_kind  # noqa: E402


def rescore(run: Path, judge) -> dict[str, dict]:
    """Per-task metrics (value, stderr, n), and the count of each class, from the logged samples."""
    out = {}
    for task, logged in sample_logs(run).items():
        kind = get_kind(task_kind(task))
        values: dict[str, list[float]] = defaultdict(list)
        classes: Counter[str] = Counter()
        for sample in logged:
            cls = classify(kind.name, sample["doc"], sample["resps"][0], judge)
            classes[cls] += 1
            for name, value in kind.measure(sample["doc"], cls).items():
                values[name].append(value)
        out[task] = {"sample_len": sum(classes.values()), "classes": dict(sorted(classes.items()))}
        for name in kind.metrics:
            vals = values.get(name, [])
            if vals:
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
            members += (
                yaml.safe_load((TASKS / f"{child}.yaml").read_text())["task"]
                if child.startswith("hneuron_")
                else [child]
            )
        if any(m not in tasks for m in members):
            continue  # a group is reported only when all of its tasks were run
        out[name] = {}
        for agg in cfg["aggregate_metric_list"]:
            metric, weighted = agg["metric"], agg.get("weight_by_size", True)
            vals = [tasks[m][metric] for m in members]
            sizes = [tasks[m]["sample_len"] for m in members]
            errs = [tasks[m][f"{metric}_stderr"] for m in members]
            out[name][metric] = aggregate_subtask_metrics(vals, sizes, weighted)
            if None not in errs:
                out[name][f"{metric}_stderr"] = (
                    pooled_sample_stderr(errs, sizes) if weighted else unweighted_mean_stderr(errs)
                )
    return out


def main(run: str, judge_name: str = DEFAULT_JUDGE) -> None:
    run_dir = Path(run)
    judge = get_judge(judge_name)
    version = f"{judge.name}:{judge.version}"
    tasks = rescore(run_dir, judge)
    grouped = groups(tasks)
    command = shlex.join(["python", "scripts/tasks_rescore.py", run, judge_name])
    lines = [
        f"Re-scored with the judge `{version}` from the responses logged in `{run_dir.name}`.",
        f"Command: `{command}` (the generating lm_eval command is in RUN.txt).",
        "",
        "| task / group | metric | dir | value | stderr | n docs |",
        "|---|---|---|---|---|---|",
    ]
    for name, metrics in {**grouped, **tasks}.items():
        for metric in [k for k in METRICS if k in metrics]:
            err = metrics.get(f"{metric}_stderr")
            arrow = "↑" if METRICS[metric] else "↓"
            lines.append(
                f"| {name} | {metric} | {arrow} | {metrics[metric]:.4f} | "
                f"{'N/A' if err is None else f'{err:.4f}'} | {metrics.get(f'{metric}_n', '')} |"
            )
    lines += [
        "",
        "Classes per task (documents): "
        + "; ".join(f"{task} " + ", ".join(f"{c} {n}" for c, n in st["classes"].items()) for task, st in tasks.items()),
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    write_text_atomic(run_dir / "rescored.md", table)
    write_json_atomic(
        run_dir / "rescored.json",
        {"command": command, "judge_version": version, "tasks": tasks, "groups": grouped},
    )


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
