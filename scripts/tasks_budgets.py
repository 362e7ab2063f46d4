"""Size each task's generation budget to what the judges read: truncate logged responses and re-judge them.

usage: python scripts/tasks_budgets.py OUT_PREFIX MODEL=RUN_DIR [MODEL=RUN_DIR ...]
MODEL is a built-in model name (its tokenizer counts the tokens); RUN_DIR holds lm_eval
``--log_samples`` output. For every logged response the script re-tokenizes the text, cuts it
at each candidate budget, classifies the cut text with the current judges and compares the
class with that of the whole response. Per task it reports, for every model, the share of
unchanged classes and the tokens generated at each budget, and picks the smallest budget
at which at least 99% of the classes are unchanged for every model. Writes OUT_PREFIX.md and
OUT_PREFIX.json. A response that ended (end-of-sequence or stop string) before a budget is
unchanged by it; the logged budgets are the upper end of what can be measured.
"""

from __future__ import annotations

import shlex
import sys
from collections import defaultdict
from pathlib import Path

from transformers import AutoTokenizer

from hneuron_eval.harness.builtin_models import resolve_pretrained
from hneuron_eval.judges import RULE, RULES_VERSION
from hneuron_eval.suite.kinds import classify

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import sample_logs, task_kind, write_report  # noqa: E402

CANDIDATES = (16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 320, 384)
TARGET = 0.99


def measure(model: str, runs: list[Path]) -> dict[str, dict]:
    """Per task: documents, and per candidate budget the unchanged count and generated tokens."""
    tok = AutoTokenizer.from_pretrained(resolve_pretrained(model))
    out: dict[str, dict] = {}
    for run in runs:
        for task, logged in sample_logs(run).items():
            kind = task_kind(task)
            stats = out.setdefault(
                task, {"docs": 0, "tokens_logged": 0, "unchanged": defaultdict(int), "tokens": defaultdict(int)}
            )
            for sample in logged:
                text = sample["resps"][0][0]
                ids = tok(text, add_special_tokens=False)["input_ids"]
                full = classify(kind, sample["doc"], text, RULE)
                stats["docs"] += 1
                stats["tokens_logged"] += len(ids)
                for budget in CANDIDATES:
                    cut = text if len(ids) <= budget else tok.decode(ids[:budget])
                    stats["unchanged"][budget] += classify(kind, sample["doc"], cut, RULE) == full
                    stats["tokens"][budget] += min(len(ids), budget)
    return out


def choose(per_model: dict[str, dict[str, dict]]) -> dict[str, int | None]:
    """Smallest candidate budget with >= TARGET unchanged classes for every model that ran the task."""
    tasks = sorted({t for stats in per_model.values() for t in stats})
    chosen = {}
    for task in tasks:
        models = [m for m in per_model if task in per_model[m]]
        ok = [
            b
            for b in CANDIDATES
            if all(per_model[m][task]["unchanged"][b] >= TARGET * per_model[m][task]["docs"] for m in models)
        ]
        chosen[task] = min(ok) if ok else None
    return chosen


def main(prefix: str, specs: list[str]) -> None:
    if not specs:
        raise SystemExit(__doc__)
    runs_by_model: dict[str, list[Path]] = defaultdict(list)
    for spec in specs:
        model, sep, run = spec.partition("=")
        if not sep:
            raise SystemExit(f"{spec!r}: expected MODEL=RUN_DIR")
        runs_by_model[model].append(Path(run))
    per_model = {m: measure(m, runs) for m, runs in runs_by_model.items()}
    chosen = choose(per_model)
    command = shlex.join(["python", "scripts/tasks_budgets.py", prefix, *specs])
    lines = [
        f"Generation budgets sized to the judges ({RULES_VERSION}): the smallest max_gen_toks at which >= "
        f"{TARGET:.0%} of per-document classes are unchanged for every model.",
        f"Command: `{command}`",
        "",
        "| task | model | docs | chosen budget | unchanged at chosen | tokens at chosen / logged |",
        "|---|---|---|---|---|---|",
    ]
    for task, budget in chosen.items():
        for model, stats in per_model.items():
            if task not in stats:
                continue
            st = stats[task]
            if budget is None:
                lines.append(f"| {task} | {model} | {st['docs']} | none <= {CANDIDATES[-1]} | | |")
                continue
            lines.append(
                f"| {task} | {model} | {st['docs']} | {budget} | {st['unchanged'][budget] / st['docs']:.3f} | "
                f"{st['tokens'][budget]} / {st['tokens_logged']} |"
            )
    lines += [
        "",
        "Share of unchanged classes at each candidate budget:",
        "",
        "| task | model | " + " | ".join(str(b) for b in CANDIDATES) + " |",
        "|---|---|" + "---|" * len(CANDIDATES),
    ]
    for task in chosen:
        for model, stats in per_model.items():
            if task in stats:
                st = stats[task]
                lines.append(
                    f"| {task} | {model} | "
                    + " | ".join(f"{st['unchanged'][b] / st['docs']:.3f}" for b in CANDIDATES)
                    + " |"
                )
    table = "\n".join(lines) + "\n"
    write_report(
        prefix,
        table,
        {
            "command": command,
            "judge_version": RULES_VERSION,
            "target": TARGET,
            "candidates": list(CANDIDATES),
            "chosen": chosen,
            "per_model": per_model,
        },
    )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
