"""How often the judges agree with blind human-style labels: precision, recall and agreement per decision.

usage: python scripts/tasks_judge_eval.py LABELLED.jsonl FRAME.json OUT_PREFIX

LABELLED.jsonl is ``to_label.jsonl`` from ``tasks_label_sample.py`` with every ``label`` filled
in (one of the row's ``choices``); FRAME.json is the sampling frame written with it. Each class
of a task is a yes/no decision (e.g. ``correct``: the response is correct, or not). The judges
classify every labelled response again; since documents were drawn per stratum (side x class
of the judge frozen at sampling time), each label is weighted by (stratum pool size / documents
drawn from it), so the numbers estimate agreement on the whole pool, not on the oversampled
rare classes. Intervals are Wilson 95% intervals (scipy.stats) at the weighted proportion and
the Kish effective sample size. Writes OUT_PREFIX.md and OUT_PREFIX.json.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from scipy.stats import binomtest

from hneuron_eval.judges import RULE, RULES_VERSION
from hneuron_eval.suite.kinds import classify
from hneuron_eval.suite.readers import DataError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import task_kind, write_report  # noqa: E402

FIELDS = ("id", "task", "side", "question", "gold", "response", "choices", "label")
GOALS = {"agreement": 0.9, "precision": 0.8, "recall": 0.8}


def read_labels(path: str | Path) -> list[dict]:
    """Labelled rows; a missing field or a label outside the row's choices names file, line and field."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: expected a JSON object, got invalid JSON ({exc.msg})") from None
            missing = [k for k in FIELDS if k not in row]
            if missing:
                raise DataError(f"{where}: missing field(s) {missing}")
            if row["label"] not in row["choices"]:
                raise DataError(f"{where}: label: expected one of {row['choices']}, got {row['label']!r}")
            rows.append(row)
    return rows


def weights(rows: list[dict], frame: dict, frame_path: str | Path) -> dict[str, float]:
    """Inverse inclusion probability of every labelled id (stratum pool / drawn)."""
    out = {}
    for task, strata in frame["strata"].items():
        for stratum, info in strata.items():
            for rid in info["ids"]:
                out[rid] = info["pool"] / len(info["ids"])
    unknown = [r["id"] for r in rows if r["id"] not in out]
    if unknown:
        raise DataError(f"{frame_path}: {len(unknown)} labelled id(s) are in no stratum, e.g. {unknown[0]!r}")
    return out


def _wilson(hits: float, total: float, n_eff: float) -> list[float] | None:
    if not total or n_eff < 1:
        return None
    n = max(1, round(n_eff))
    ci = binomtest(min(n, round(n * hits / total)), n).proportion_ci(method="wilson")
    return [round(ci.low, 3), round(ci.high, 3)]


def _rate(items: list[tuple[float, bool]]) -> tuple[float | None, list[float] | None, int]:
    """Weighted share of True among (weight, flag) items, its Wilson interval, and how many items."""
    total = sum(w for w, _ in items)
    if not total:
        return None, None, 0
    hits = sum(w for w, flag in items if flag)
    n_eff = total**2 / sum(w * w for w, _ in items)
    return round(hits / total, 3), _wilson(hits, total, n_eff), len(items)


def judge_doc(row: dict) -> dict:
    """The task document the judge needs, rebuilt from a labelled row (gold = aliases, corrections or request)."""
    kind = task_kind(row["task"])
    return {
        "question": row["question"],
        "label": row["side"],
        "aliases": row["gold"],
        "target": "",
        "corrections": row["gold"] if kind == "falseqa" else [],
        "request": row["gold"][0] if kind == "jailbreak" else "",
    }


def evaluate(rows: list[dict], weight: dict[str, float]) -> dict[str, dict]:
    """Per decision (a class name) and per task: confusion counts and weighted precision/recall/agreement."""
    cases: dict[str, list[tuple[str, float, bool, bool]]] = defaultdict(list)
    for row in rows:
        pred = classify(task_kind(row["task"]), judge_doc(row), row["response"], RULE)
        for cls in row["choices"]:
            cases[cls].append((row["task"], weight[row["id"]], pred == cls, row["label"] == cls))
    out = {}
    for cls, items in sorted(cases.items()):
        for scope in ["all", *sorted({t for t, *_ in items})]:
            sel = [(w, p, g) for t, w, p, g in items if scope in ("all", t)]
            precision = _rate([(w, g) for w, p, g in sel if p])
            recall = _rate([(w, p) for w, p, g in sel if g])
            agreement = _rate([(w, p == g) for w, p, g in sel])
            out.setdefault(cls, {})[scope] = {
                "labelled": len(sel),
                "positives": sum(g for _, _, g in sel),
                "tp": sum(p and g for _, p, g in sel),
                "fp": sum(p and not g for _, p, g in sel),
                "fn": sum(g and not p for _, p, g in sel),
                "tn": sum(not p and not g for _, p, g in sel),
                "precision": precision[0],
                "precision_ci95": precision[1],
                "recall": recall[0],
                "recall_ci95": recall[1],
                "agreement": agreement[0],
                "agreement_ci95": agreement[1],
            }
    return out


def _fmt(value: float | None, ci: list[float] | None, goal: float) -> str:
    if value is None:
        return "n/a"
    mark = "" if value >= goal else " ✗"
    return f"{value:.3f} ({ci[0]:.2f}-{ci[1]:.2f}){mark}"


def main(labelled: str, frame_path: str, prefix: str) -> None:
    rows = read_labels(labelled)
    frame = json.loads(Path(frame_path).read_text(encoding="utf-8"))
    stats = evaluate(rows, weights(rows, frame, frame_path))
    command = shlex.join(["python", "scripts/tasks_judge_eval.py", labelled, frame_path, prefix])
    lines = [
        f"Judges ({RULES_VERSION}) vs blind labels: {len(rows)} responses, drawn per stratum with the rules "
        f"{frame['judge_version']} and weighted back to the pool.",
        f"Command: `{command}`",
        "",
        f"Goal: agreement >= {GOALS['agreement']}, precision and recall >= {GOALS['precision']} (✗ marks a miss). "
        "Counts are of labelled responses; rates are weighted.",
        "",
        "| decision | scope | labelled | positives | TP | FP | FN | TN "
        "| precision (95% CI) | recall (95% CI) | agreement (95% CI) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cls, scopes in stats.items():
        for scope, st in scopes.items():
            name = f"**{cls}**" if scope == "all" else cls
            lines.append(
                f"| {name} | {scope} | {st['labelled']} | {st['positives']} "
                f"| {st['tp']} | {st['fp']} | {st['fn']} | {st['tn']} | "
                f"{_fmt(st['precision'], st['precision_ci95'], GOALS['precision'])} | "
                f"{_fmt(st['recall'], st['recall_ci95'], GOALS['recall'])} | "
                f"{_fmt(st['agreement'], st['agreement_ci95'], GOALS['agreement'])} |"
            )
    table = "\n".join(lines) + "\n"
    write_report(
        prefix,
        table,
        {
            "command": command,
            "judge_version": RULES_VERSION,
            "sampled_with": frame["judge_version"],
            "labelled_file": labelled,
            "goals": GOALS,
            "decisions": stats,
        },
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
