"""How often a judge agrees with blind labels: agreement per task side, precision and recall per class, confusions.

Rows drawn per stratum carry a weight (the stratum's pool over the rows drawn from it), so the
numbers estimate agreement over the pool the labels were drawn from; intervals are Wilson 95%
intervals (scipy.stats) at the Kish effective sample size. Raw counts are reported beside them.
Each task metric is also checked as the yes/no decision it counts (``overcompliance``: the
response to an unanswerable question is ``answered``), which the leaderboard shows per column.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from hneuron_eval.core.stats import wilson_ci
from hneuron_eval.judges.labels import Labelled
from hneuron_eval.suite.kinds import classify, get_kind

GOALS = {"agreement": 0.90, "precision": 0.85, "recall": 0.85}
# answered-like classes pooled, as the goal names them
POOLED = {"answered": "answered/accepted/hallucinated", "accepted": "answered/accepted/hallucinated",
          "hallucinated": "answered/accepted/hallucinated"}


def rate(items: Sequence[tuple[float, bool]]) -> dict[str, Any] | None:
    """Weighted share of True among (weight, flag), its Wilson 95% interval at the Kish size, and raw counts."""
    if not items:
        return None
    total = sum(w for w, _ in items)
    hits = sum(w for w, flag in items if flag)
    n_eff = total**2 / sum(w * w for w, _ in items)
    n = max(1, round(n_eff))
    low, high = wilson_ci(min(n, round(n * hits / total)), n)
    return {"value": round(hits / total, 4), "low": round(low, 4), "high": round(high, 4),
            "n": len(items), "hits": sum(1 for _, flag in items if flag), "n_eff": round(n_eff, 1)}


def predictions(judge: Any, rows: Sequence[Labelled]) -> list[str]:
    """The judge's class of every labelled response."""
    return [classify(r.kind, r.doc, r.response, judge) for r in rows]


def evaluate(judge: Any, rows: Sequence[Labelled]) -> dict[str, Any]:
    """Agreement, per-class precision/recall and confusion tables of ``judge`` on labelled ``rows``."""
    predicted = predictions(judge, rows)
    by_side: dict[str, list] = defaultdict(list)
    confusion: dict[str, Counter] = defaultdict(Counter)
    prec: dict[str, list] = defaultdict(list)
    rec: dict[str, list] = defaultdict(list)
    decisions: dict[str, list] = defaultdict(list)
    for row, pred in zip(rows, predicted):
        ok = pred == row.label
        by_side[row.task_side].append((row.weight, ok))
        confusion[row.task_side][f"{row.label} -> {pred}"] += 1
        prec[pred].append((row.weight, ok))
        rec[row.label].append((row.weight, ok))
        if pred in POOLED:  # the answered-like classes counted as one
            prec[POOLED[pred]].append((row.weight, row.label in POOLED))
        if row.label in POOLED:
            rec[POOLED[row.label]].append((row.weight, pred in POOLED))
        kind = get_kind(row.kind)
        said, truth = kind.measure(row.doc, pred), kind.measure(row.doc, row.label)
        for metric, value in truth.items():
            decisions[f"{row.task}/{metric}"].append((row.weight, said.get(metric) == value))
    classes = sorted(set(prec) | set(rec))
    report = {
        "judge": f"{judge.name}:{judge.version}",
        "rows": len(rows),
        "agreement": rate([(r.weight, p == r.label) for r, p in zip(rows, predicted)]),
        "task_sides": {side: rate(items) for side, items in sorted(by_side.items())},
        "classes": {c: {"precision": rate(prec[c]), "recall": rate(rec[c])} for c in classes},
        "metrics": {name: rate(items) for name, items in sorted(decisions.items())},
        "confusion": {side: dict(sorted(c.items())) for side, c in sorted(confusion.items())},
        "goals": GOALS,
    }
    report["passes"] = passes(report)
    return report


def passes(report: dict[str, Any], min_agreement: float = GOALS["agreement"],
           min_pr: float = GOALS["precision"]) -> dict[str, list[str]]:
    """What misses the goals: task sides under ``min_agreement``, classes with precision or recall under ``min_pr``."""
    sides = [s for s, r in report["task_sides"].items() if r and r["value"] < min_agreement]
    classes = [f"{c} {what}" for c, pr in report["classes"].items() for what in ("precision", "recall")
               if pr[what] and pr[what]["value"] < min_pr]
    return {"task_sides_below": sides, "classes_below": classes}


def _cell(r: dict[str, Any] | None) -> str:
    if not r:
        return "n/a"
    return f"{r['value']:.3f} ({r['low']:.2f}-{r['high']:.2f}) [{r['hits']}/{r['n']}]"


def markdown(report: dict[str, Any], title: str) -> str:
    """The report as markdown: one table per view, each cell 'weighted value (Wilson 95%) [raw hits/rows]'."""
    lines = [f"# {title}", "", f"Judge `{report['judge']}`, {report['rows']} labelled responses. "
             "Cells: weighted value (Wilson 95% interval at the Kish size) [raw hits / rows].", "",
             f"Overall agreement: {_cell(report['agreement'])}", "",
             "| task side | agreement |", "|---|---|"]
    lines += [f"| {side} | {_cell(r)} |" for side, r in report["task_sides"].items()]
    lines += ["", "| class | precision | recall |", "|---|---|---|"]
    lines += [f"| {c} | {_cell(pr['precision'])} | {_cell(pr['recall'])} |" for c, pr in report["classes"].items()]
    lines += ["", "| metric (the yes/no decision it counts) | agreement |", "|---|---|"]
    lines += [f"| {m} | {_cell(r)} |" for m, r in report["metrics"].items()]
    lines += ["", "Confusions (label -> judge, raw counts):", ""]
    for side, cells in report["confusion"].items():
        wrong = ", ".join(f"{k} {v}" for k, v in cells.items() if k.split(" -> ")[0] != k.split(" -> ")[1])
        lines.append(f"- {side}: {wrong or 'none'}")
    miss = report["passes"]
    lines += ["", f"Goals (agreement >= {report['goals']['agreement']} per task side, precision and recall >= "
              f"{report['goals']['precision']} per class): task sides below: "
              f"{', '.join(miss['task_sides_below']) or 'none'}; classes below: "
              f"{', '.join(miss['classes_below']) or 'none'}.", ""]
    return "\n".join(lines)
