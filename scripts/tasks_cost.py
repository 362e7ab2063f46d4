"""What the budgets save: generated tokens, wall and CPU time, and verdicts, of the same run before and after.

usage: python scripts/tasks_cost.py OUT_PREFIX MODEL BEFORE_RUN AFTER_RUN
Both runs are lm_eval ``--log_samples`` folders of the same tasks, documents and model
(MODEL: a built-in name, whose tokenizer counts the generated tokens), with a RUN.txt holding
``wall_seconds``, ``cpu_user_seconds`` and ``cpu_system_seconds``. Per task: tokens generated
before and after, and the share of documents whose class (current judges) is the same in
both runs. Writes OUT_PREFIX.md and OUT_PREFIX.json. Times are compared only when both RUN.txt
files record CPU seconds.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from transformers import AutoTokenizer

from hneuron_eval.harness.builtin_models import resolve_pretrained
from hneuron_eval.judges import RULE, RULES_VERSION
from hneuron_eval.suite.kinds import classify

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import sample_logs, task_kind, write_report  # noqa: E402


def run_times(run: Path) -> dict[str, float] | None:
    """Wall and CPU seconds recorded in RUN.txt; None when it records no CPU time (runs before that was kept)."""
    text = (run / "RUN.txt").read_text(encoding="utf-8")
    out = {}
    for key in ("wall_seconds", "cpu_user_seconds", "cpu_system_seconds"):
        found = re.search(rf"^{key}: ([0-9.]+)$", text, re.M)
        if not found:
            return None
        out[key] = float(found.group(1))
    out["cpu_seconds"] = out["cpu_user_seconds"] + out["cpu_system_seconds"]
    return out


def samples(run: Path) -> dict[str, dict[int, dict]]:
    """task -> doc_id -> logged sample."""
    return {task: {s["doc_id"]: s for s in logged} for task, logged in sample_logs(run).items()}


def main(prefix: str, model: str, before: str, after: str) -> None:
    tok = AutoTokenizer.from_pretrained(resolve_pretrained(model))
    old, new = samples(Path(before)), samples(Path(after))
    tasks = {}
    for task in sorted(set(old) & set(new)):
        kind = task_kind(task)
        ids = sorted(set(old[task]) & set(new[task]))
        count = [0, 0]
        same = 0
        for i in ids:
            texts = [old[task][i]["resps"][0][0], new[task][i]["resps"][0][0]]
            for k, text in enumerate(texts):
                count[k] += len(tok(text, add_special_tokens=False)["input_ids"])
            # the after-run's doc carries the current fields (e.g. FalseQA corrections); judge both texts on it
            doc = new[task][i]["doc"]
            same += classify(kind, doc, texts[0], RULE) == classify(kind, doc, texts[1], RULE)
        tasks[task] = {
            "docs": len(ids),
            "tokens_before": count[0],
            "tokens_after": count[1],
            "classes_unchanged": round(same / len(ids), 4),
        }
    total = [sum(t["tokens_before"] for t in tasks.values()), sum(t["tokens_after"] for t in tasks.values())]
    times = {"before": run_times(Path(before)), "after": run_times(Path(after))}
    command = shlex.join(["python", "scripts/tasks_cost.py", prefix, model, before, after])
    lines = [
        f"Cost of `{Path(before).name}` (before) vs `{Path(after).name}` (after), judges `{RULES_VERSION}`.",
        f"Command: `{command}`",
        "",
        "| task | docs | tokens before | tokens after | ratio | classes unchanged |",
        "|---|---|---|---|---|---|",
    ]
    for task, st in tasks.items():
        lines.append(
            f"| {task} | {st['docs']} | {st['tokens_before']} | {st['tokens_after']} | "
            f"{st['tokens_after'] / st['tokens_before']:.3f} | {st['classes_unchanged']:.3f} |"
        )
    lines.append(
        f"| **all** | {sum(t['docs'] for t in tasks.values())} | {total[0]} | {total[1]} | "
        f"{total[1] / total[0]:.3f} | |"
    )
    if None in times.values():
        lines += ["", "Times: not compared (a RUN.txt records no CPU time)."]
    else:
        lines += ["", "| | before | after | ratio |", "|---|---|---|---|"]
        for key in ("wall_seconds", "cpu_seconds"):
            lines.append(
                f"| {key} | {times['before'][key]:.0f} | {times['after'][key]:.0f} | "
                f"{times['after'][key] / times['before'][key]:.3f} |"
            )
    table = "\n".join(lines) + "\n"
    write_report(
        prefix,
        table,
        {
            "command": command,
            "judge_version": RULES_VERSION,
            "tasks": tasks,
            "tokens": {"before": total[0], "after": total[1]},
            "times": times,
        },
    )


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
