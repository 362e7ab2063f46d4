"""What the task-suite benchmark scripts share: a task's kind and budget, and the sample logs of a run."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hneuron_eval.core.fileio import write_json_atomic, write_text_atomic

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def task_metadata(task: str) -> dict:
    """The ``metadata`` block of ``tasks/<task>.yaml``."""
    path = TASKS / f"{task}.yaml"
    if not path.is_file():
        raise SystemExit(f"{path}: no such task config")
    return yaml.safe_load(path.read_text(encoding="utf-8").replace("!function", ""))["metadata"]


def task_kind(task: str) -> str:
    """The ``hn_kind`` a task YAML declares."""
    return task_metadata(task)["hn_kind"]


def task_budget(task: str) -> int:
    """The ``hn_max_gen_toks`` a task YAML declares."""
    return int(task_metadata(task)["hn_max_gen_toks"])


def sample_logs(run: str | Path) -> dict[str, list[dict]]:
    """task -> logged samples (lm_eval ``--log_samples``) of a run folder, in dataset order."""
    out: dict[str, list[dict]] = {}
    for path in sorted(Path(run).rglob("samples_hn_*.jsonl")):
        task = path.name[len("samples_") :].rsplit("_", 1)[0]
        with path.open(encoding="utf-8") as f:
            out.setdefault(task, []).extend(json.loads(line) for line in f if line.strip())
    if not out:
        raise SystemExit(f"{run}: no samples_hn_*.jsonl files (was lm_eval run with --log_samples?)")
    for logged in out.values():
        logged.sort(key=lambda s: s["doc_id"])
    return out


def write_report(prefix: str, table: str, payload: dict) -> None:
    """Print a report's markdown table and write it, and its JSON, next to each other (atomically)."""
    print(table)
    write_text_atomic(Path(prefix + ".md"), table)
    write_json_atomic(Path(prefix + ".json"), payload)
