"""Re-score lm-eval output folders of the suite with another judge, from their logged responses (no generation).

Every ``samples_hn_*.jsonl`` line gets its per-document metrics again from the task kind and the
judge (the detector's logged scores kept, its correct/hallucinated label taken from the new
class); the results JSON gets each task's aggregates the way lm-eval computes them (mean and
standard error of the mean, the detector's own aggregations) and each group's as lm-eval's
``Group.aggregate`` does. The judge's version replaces ``hn_judge_version`` in every task config,
and ``hneuron_rescore`` records what was replaced, by which command and when. Files are
rewritten atomically; a folder whose samples do not cover its results is refused untouched.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.errors import HNeuronError
from hneuron_eval.judges.labels import TASK_KINDS
from hneuron_eval.suite.kinds import METRICS, classify, get_kind


class RescoreError(HNeuronError, ValueError):
    """A run folder cannot be re-scored; the message names the file."""


def _samples_path(results: Path, task: str) -> Path:
    stamp = results.stem[len("results_"):]
    path = results.with_name(f"samples_{task}_{stamp}.jsonl")
    if not path.is_file():
        raise RescoreError(f"{results}: task {task} has no logged samples ({path.name}); "
                           "run lm_eval with --log_samples")
    return path


def _detector_item(sample: dict):
    """The logged detector score, control scores and baselines of one sample (None: no detector watched it)."""
    from hneuron_eval.harness import detector as monitor

    item = sample.get("detector_auroc")
    if not isinstance(item, list):
        return None
    known = lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else v  # noqa: E731
    row = sample.get(next(iter(monitor.BASELINE_METRICS)))
    baselines = None
    if isinstance(row, list):
        baselines = {k: v for k, v in zip(monitor.STATISTICS, row[2:]) if known(v) is not None}
    return monitor.Watched(known(item[0]), tuple(item[2:]), baselines)


def rescore_task(kind_name: str, samples: list[dict], judge: Any) -> tuple[list[dict], Counter]:
    """The samples with their per-document metrics recomputed, and the count of each class."""
    from hneuron_eval.harness import detector as monitor

    kind = get_kind(kind_name)
    classes: Counter = Counter()
    out = []
    for sample in samples:
        cls = classify(kind_name, sample["doc"], sample["resps"][0], judge)
        classes[cls] += 1
        metrics: dict[str, Any] = kind.measure(sample["doc"], cls)
        watched = _detector_item(sample) if kind.monitored else None
        if watched is not None:
            metrics.update(monitor.detector_metrics(watched.score, cls, watched.controls, watched.baselines))
        out.append({**sample, **metrics})
    return out, classes


def aggregate(kind_name: str, samples: list[dict], names: list[str]) -> dict[str, Any]:
    """Task aggregates as lm-eval writes them (``<metric>,none`` and ``<metric>_stderr,none``)."""
    from lm_eval.api.metrics import mean, mean_stderr

    from hneuron_eval.harness import detector as monitor

    out: dict[str, Any] = {"sample_len": 0}
    for name in names:
        values = [s[name] for s in samples if name in s]
        if not values:
            continue
        out["sample_len"] = max(out["sample_len"], len(values))  # as lm-eval counts it
        if name in monitor.METRICS and monitor.METRICS[name][0] != "mean":
            out[f"{name},none"] = monitor.METRICS[name][0](values)
            out[f"{name}_stderr,none"] = "N/A"
        else:
            out[f"{name},none"] = mean(values)
            out[f"{name}_stderr,none"] = mean_stderr(values) if len(values) > 1 else "N/A"
    return out


def _leaves(data: dict, name: str) -> list[str]:
    subtasks = data.get("group_subtasks", {})
    return [leaf for child in subtasks[name] for leaf in _leaves(data, child)] if name in subtasks else [name]


def _group_aggregates(data: dict, group: str, task_dir: Path) -> dict[str, Any]:
    """One group's metrics from its leaf tasks, as lm-eval's ``Group.aggregate`` computes them."""
    import yaml
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr, unweighted_mean_stderr

    path = task_dir / f"{group}.yaml"
    if not path.is_file():
        raise RescoreError(f"group {group}: no {path} to read its aggregation from")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    leaves = [t for t in _leaves(data, group) if t in data["results"]]
    out: dict[str, Any] = {k: data["results"][group][k] for k in ("alias", "name") if k in data["results"][group]}
    out["sample_len"] = sum(data["results"][t].get("sample_len", 0) for t in leaves)
    counts = {}
    for agg in cfg.get("aggregate_metric_list") or []:
        key, err_key = f"{agg['metric']},none", f"{agg['metric']}_stderr,none"
        having = [t for t in leaves if key in data["results"][t]]
        if not having:
            continue
        vals = [data["results"][t][key] for t in having]
        sizes = [data["results"][t].get("sample_len", 0) for t in having]
        errs = [data["results"][t].get(err_key) for t in having]
        weighted = agg.get("weight_by_size", True)
        out[key] = aggregate_subtask_metrics(vals, sizes, weighted)
        counts[key] = sum(sizes)
        if None not in errs and "N/A" not in errs:
            out[err_key] = pooled_sample_stderr(errs, sizes) if weighted else unweighted_mean_stderr(errs)
        else:
            out[err_key] = "N/A"
    if counts:
        out["sample_count"] = counts
    return out


def rescore_results(results: Path, judge: Any, command: str, now: str, task_dir: Path) -> dict[str, Any]:
    """Re-score one ``results_*.json`` and its samples in place; returns {task: {old, new class counts}}."""
    data = json.loads(results.read_text(encoding="utf-8"))
    tasks = [t for t in data["results"] if t in TASK_KINDS]
    if not tasks:
        raise RescoreError(f"{results}: holds no task of the suite (hn_*)")
    written: dict[Path, str] = {}
    summary: dict[str, Any] = {}
    old_versions = {}
    version = f"{judge.name}:{judge.version}"
    for task in tasks:
        path = _samples_path(results, task)
        samples = [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x.strip()]
        kind = TASK_KINDS[task]
        new, classes = rescore_task(kind, samples, judge)
        names = [m for m in dict.fromkeys(n for s in samples for n in s.get("metrics", []))]
        before = {k: v for k, v in data["results"][task].items() if "," in k}
        data["results"][task].update(aggregate(kind, new, names))
        summary[task] = {"classes": dict(sorted(classes.items())),
                         "changed": {k.split(",")[0]: [before.get(k), v] for k, v in data["results"][task].items()
                                     if "," in k and "_stderr" not in k and before.get(k) != v
                                     and k.split(",")[0] in METRICS}}
        meta = data["configs"][task].setdefault("metadata", {})
        old_versions[task] = meta.get("hn_judge_version")
        meta["hn_judge_version"] = version
        written[path] = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in new)
    for group in data.get("groups", {}):
        data["results"][group] = data["groups"][group] = _group_aggregates(data, group, task_dir)
    history = data.setdefault("hneuron_rescore", [])
    history.append({"judge": version, "replaced": old_versions, "command": command, "date": now})
    for path, text in written.items():
        write_text_atomic(path, text)
    write_json_atomic(results, data)
    return summary


def rescore(folders: list[str | Path], judge: Any, command: str, now: str, task_dir: Path) -> dict[str, Any]:
    """Re-score every results file of the suite under ``folders``; all are checked before any is written."""
    found: list[Path] = []
    for folder in map(Path, folders):
        if not folder.exists():
            raise RescoreError(f"{folder}: no such file or folder")
        hits = [folder] if folder.is_file() else sorted(folder.rglob("results_*.json"))
        if not hits:
            raise RescoreError(f"{folder}: no lm-eval results_*.json under it")
        found += hits
    for results in found:  # refuse the whole call before writing anything
        data = json.loads(results.read_text(encoding="utf-8"))
        for task in (t for t in data.get("results", {}) if t in TASK_KINDS):
            _samples_path(results, task)
    return {str(results): rescore_results(results, judge, command, now, task_dir) for results in found}
