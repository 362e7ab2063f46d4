"""Paired per-document comparison of lm_eval runs on the same documents (e.g. a mask at alpha=0 vs no mask).

usage: python benchmarks/tasks_paired.py OUT.md BASE_RUN RUN [RUN ...]
For every hn_* task logged in BASE_RUN and in each RUN, re-scores both runs' responses with the
tasks' default judge, and for each 0/1 metric counts the documents whose value went up or down
against BASE_RUN, with an exact two-sided sign test over the changed documents. Unchanged
documents carry no information about the direction; the count of changed documents says how
much an intervention moves the model at all.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from scipy.stats import binomtest

from hneuron_eval.core.fileio import write_text_atomic
from hneuron_eval.judges import DEFAULT_JUDGE, get_judge
from hneuron_eval.suite.kinds import score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import sample_logs, task_kind  # noqa: E402

JUDGE = get_judge(DEFAULT_JUDGE)


def per_doc(run: Path) -> dict[str, dict[int, dict[str, float]]]:
    """task -> doc_id -> metrics, re-scored from the logged responses."""
    return {
        task: {s["doc_id"]: score(task_kind(task), s["doc"], s["resps"][0], JUDGE) for s in logged}
        for task, logged in sample_logs(run).items()
    }


def sign_test(up: int, down: int) -> float:
    """Exact two-sided binomial sign test p-value for up vs down changes."""
    return binomtest(up, up + down).pvalue if up + down else 1.0


def main(out: str, base: str, *runs: str) -> None:
    ref = per_doc(Path(base))
    command = shlex.join(["python", "benchmarks/tasks_paired.py", out, base, *runs])
    lines = [
        f"Paired comparison against `{Path(base).name}` (judge `{JUDGE.name}:{JUDGE.version}`, re-scored from the "
        "logged responses).",
        f"Command: `{command}`",
        "",
        "| run | task | metric | base mean | run mean | docs | up | down | sign test p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        other = per_doc(Path(run))
        for task, docs in sorted(ref.items()):
            if task not in other:
                continue
            shared = sorted(set(docs) & set(other[task]))
            metrics = sorted({m for d in shared for m in docs[d]} - {"compliance"})
            for metric in metrics:
                ids = [d for d in shared if metric in docs[d]]
                a = [docs[d][metric] for d in ids]
                b = [other[task][d][metric] for d in ids]
                up = sum(y > x for x, y in zip(a, b))
                down = sum(y < x for x, y in zip(a, b))
                lines.append(
                    f"| {Path(run).name} | {task} | {metric} | {sum(a) / len(a):.3f} | {sum(b) / len(b):.3f} | "
                    f"{len(ids)} | {up} | {down} | {sign_test(up, down):.2g} |"
                )
    if len(lines) == 5:
        raise SystemExit(f"no task of {base} was logged in any of {', '.join(runs)}: nothing to compare")
    table = "\n".join(lines) + "\n"
    print(table)
    write_text_atomic(out, table)


if __name__ == "__main__":
    main(*sys.argv[1:])
