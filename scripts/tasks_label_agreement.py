"""How often two blind labellers agree on the same responses: the ceiling any judge can be held to.

usage: python scripts/tasks_label_agreement.py OUT_PREFIX FIRST.jsonl SECOND.jsonl
Both files are labelled rows in the ``tasks_label_sample.py`` format; the responses present in
both (same id) are compared: per task the share of identical labels and Cohen's kappa
(scikit-learn), and per class the agreement of the two labellers on "this class or not", next
to the judge's agreement with each labeller on the same rows. Writes OUT_PREFIX.md/.json.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from hneuron_eval.judges import RULE, RULES_VERSION
from hneuron_eval.suite.kinds import classify

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import task_kind, write_report  # noqa: E402
from tasks_judge_eval import judge_doc, read_labels  # noqa: E402


def main(prefix: str, first: str, second: str) -> None:
    a = {r["id"]: r for r in read_labels(first)}
    b = {r["id"]: r for r in read_labels(second)}
    shared = sorted(set(a) & set(b))
    if not shared:
        raise SystemExit(f"{first} and {second} share no labelled id")
    judge = {i: classify(task_kind(a[i]["task"]), judge_doc(a[i]), a[i]["response"], RULE) for i in shared}
    by_task: dict[str, list[str]] = {}
    for i in shared:
        by_task.setdefault(a[i]["task"], []).append(i)
    tasks = {}
    for task, ids in sorted(by_task.items()):
        la, lb = [a[i]["label"] for i in ids], [b[i]["label"] for i in ids]
        tasks[task] = {
            "n": len(ids),
            "agreement": round(sum(x == y for x, y in zip(la, lb)) / len(ids), 3),
            "kappa": round(float(cohen_kappa_score(la, lb)), 3) if len(set(la + lb)) > 1 else None,
        }
    classes = {}
    for cls in sorted({c for i in shared for c in a[i]["choices"]}):
        ids = [i for i in shared if cls in a[i]["choices"]]
        pairs = {
            "labeller 1 vs 2": [(a[i]["label"] == cls, b[i]["label"] == cls) for i in ids],
            "judge vs labeller 1": [(judge[i] == cls, a[i]["label"] == cls) for i in ids],
            "judge vs labeller 2": [(judge[i] == cls, b[i]["label"] == cls) for i in ids],
        }
        classes[cls] = {
            "n": len(ids),
            "positives_1": sum(a[i]["label"] == cls for i in ids),
            "positives_2": sum(b[i]["label"] == cls for i in ids),
            **{k: round(sum(x == y for x, y in v) / len(v), 3) for k, v in pairs.items()},
        }
    command = shlex.join(["python", "scripts/tasks_label_agreement.py", prefix, first, second])
    lines = [
        f"Two blind labellers on the same {len(shared)} responses (judge `{RULES_VERSION}` alongside).",
        f"Command: `{command}`",
        "",
        "| task | responses | same label | Cohen's kappa |",
        "|---|---|---|---|",
    ]
    for t, s in tasks.items():
        kappa = "n/a" if s["kappa"] is None else f"{s['kappa']:.3f}"
        lines.append(f"| {t} | {s['n']} | {s['agreement']:.3f} | {kappa} |")
    lines += [
        "",
        "| class | responses | positives (1 / 2) | labeller 1 vs 2 | judge vs 1 | judge vs 2 |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c} | {s['n']} | {s['positives_1']} / {s['positives_2']} | {s['labeller 1 vs 2']:.3f} | "
        f"{s['judge vs labeller 1']:.3f} | {s['judge vs labeller 2']:.3f} |"
        for c, s in classes.items()
    ]
    table = "\n".join(lines) + "\n"
    write_report(
        prefix, table, {"command": command, "judge_version": RULES_VERSION, "tasks": tasks, "classes": classes}
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
