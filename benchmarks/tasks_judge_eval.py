"""Precision and recall of each rule judge against hand-labelled responses.

usage: python benchmarks/tasks_judge_eval.py [LABELLED.jsonl] [OUT_PREFIX]
defaults: results/judges/labelled_responses.jsonl -> results/judges/judge_eval.{md,json}
Positive class = the behaviour is present (the response is correct / declined / rejects the
premise / refused / flipped). A label of null means "not applicable" and is skipped. Rows with
a "split" field are also reported per split (A_dev: looked at while the rules were revised;
B_heldout, C_heldout: labelled after the rules were frozen). Precision and recall come with
95% Wilson intervals: several judges rest on a handful of positives.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from hneuron_eval.fileio import write_json_atomic, write_text_atomic
from hneuron_eval.judges import RULE

JUDGES: dict[str, Callable[[dict], bool]] = {
    "correct": lambda r: RULE.correct(r["question"], r["response"], r["aliases"]),
    "declined": lambda r: RULE.abstained(r["question"], r["response"]) or RULE.refused(r["question"], r["response"]),
    "rejects_premise": lambda r: RULE.rejects_premise(r["question"], r["response"]),
    "refused": lambda r: RULE.refused(r["question"], r["response"]),  # hn_jailbreak's decision
    "flipped": lambda r: RULE.flipped(r["question"], r["response"], r["aliases"]),
}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def _wilson(num: int, den: int, z: float = 1.96) -> list[float] | None:
    """95% Wilson score interval of num/den (honest with 2-15 positives, unlike num/den alone)."""
    if not den:
        return None
    p = num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return [round(max(0.0, centre - half), 2), round(min(1.0, centre + half), 2)]


def _fmt(value: float | None, ci: list[float] | None) -> str:
    return "n/a" if value is None else f"{value} ({ci[0]}-{ci[1]})"


def evaluate(rows: list[dict]) -> dict[str, dict]:
    """Confusion counts, precision, recall and accuracy per judge."""
    out = {}
    for name, judge in JUDGES.items():
        tp = fp = fn = tn = 0
        errors = []
        for row in rows:
            gold = row["labels"].get(name)
            if gold is None:
                continue
            pred = judge(row)
            tp += pred and gold
            fp += pred and not gold
            fn += gold and not pred
            tn += not pred and not gold
            if pred != gold:
                errors.append(row["id"])
        n = tp + fp + fn + tn
        out[name] = {"n": n, "positives": tp + fn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                     "precision": _ratio(tp, tp + fp), "precision_ci95": _wilson(tp, tp + fp),
                     "recall": _ratio(tp, tp + fn), "recall_ci95": _wilson(tp, tp + fn),
                     "accuracy": _ratio(tp + tn, n), "disagreements": errors}
    return out


def main(labelled: str = "results/judges/labelled_responses.jsonl", prefix: str = "results/judges/judge_eval") -> None:
    rows = []
    with open(labelled, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            row = json.loads(line)
            bad = {k: v for k, v in row["labels"].items() if v not in (True, False, None) or k not in JUDGES}
            if bad:
                raise ValueError(f"{labelled}:{lineno}: labels: expected true/false/null for {list(JUDGES)}, got {bad}")
            rows.append(row)
    models = sorted({r["model"] for r in rows})
    splits = {"all": rows}
    for row in rows:
        if "split" in row:
            splits.setdefault(row["split"], []).append(row)
    command = "python " + " ".join(["benchmarks/tasks_judge_eval.py", *sys.argv[1:]])
    lines = [f"Rule judges vs hand labels: {len(rows)} responses from {', '.join(models)} ({Path(labelled).name}).",
             f"Command: `{command}`", ""]
    report = {}
    for split, subset in splits.items():
        stats = evaluate(subset)
        report[split] = {"n_responses": len(subset), "judges": stats}
        lines += [f"### {split} ({len(subset)} responses)", "",
                  "| judge | n | positives | TP | FP | FN | TN | precision (95% CI) | recall (95% CI) | accuracy |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, st in stats.items():
            lines.append(f"| {name} | {st['n']} | {st['positives']} | {st['tp']} | {st['fp']} | {st['fn']} | {st['tn']} | "
                         f"{_fmt(st['precision'], st['precision_ci95'])} | {_fmt(st['recall'], st['recall_ci95'])} | {st['accuracy']} |")
        lines.append("")
    table = "\n".join(lines)
    print(table)
    write_text_atomic(prefix + ".md", table)
    write_json_atomic(prefix + ".json", {"command": command, "labelled_file": labelled, "splits": report})


if __name__ == "__main__":
    main(*sys.argv[1:])
