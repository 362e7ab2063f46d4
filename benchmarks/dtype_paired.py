"""Per-document paired test of one work run in two settings (``dtype_speed.py --keep``): did the metrics move?

    python benchmarks/dtype_paired.py KEEP/smollm2-chat-float32 KEEP/smollm2-chat-default --out OUT.json

"Within one float32 standard error" compares two aggregates; this pairs the documents. For every leaf
task and per-document metric both runs logged: the documents whose value went up and down, the change
of the mean, and the exact two-sided sign test (McNemar's for 0/1 metrics, as the leaderboard does),
with Benjamini-Hochberg q values across the metrics that changed on any document.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _report import emit  # benchmarks/ is on sys.path when a script runs
from scipy.stats import binomtest, false_discovery_control

from hneuron_eval.report.runs import EvalRun, read_run


def _run(folder: str) -> EvalRun:
    paths = sorted(Path(folder).rglob("results_*.json"))
    if len(paths) != 1:
        raise SystemExit(f"{folder}: expected one lm-eval results_*.json under it, found {len(paths)}")
    run = read_run(paths[0])
    if run is None:
        raise SystemExit(f"{paths[0]}: not a usable lm-eval results file")
    return run


def paired(a: EvalRun, b: EvalRun) -> list[dict]:
    """One row per (leaf task, metric) both runs logged per document."""
    rows = []
    for task in sorted(t for t in a.tasks() if a.samples(t) is not None and b.samples(t) is not None):
        da, db = a.samples(task), b.samples(task)
        shared = sorted(set(da) & set(db))
        for metric in sorted({m for d in shared for m in da[d]} & {m for d in shared for m in db[d]}):
            docs = [d for d in shared if metric in da[d] and metric in db[d]]
            diffs = [db[d][metric] - da[d][metric] for d in docs]
            up, down = sum(x > 0 for x in diffs), sum(x < 0 for x in diffs)
            rows.append({"task": task, "metric": metric, "docs": len(docs), "up": up, "down": down,
                         "delta": round(sum(diffs) / len(docs), 4),
                         "p": float(binomtest(up, up + down).pvalue) if up + down else None})
    tested = [r for r in rows if r["p"] is not None]
    for row, q in zip(tested, false_discovery_control([r["p"] for r in tested]) if tested else []):
        row["q"] = float(q)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference", help="the reference run's folder (float32)")
    p.add_argument("other", help="the other run's folder")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    a, b = _run(args.reference), _run(args.other)
    rows = paired(a, b)
    emit({"reference": {"folder": args.reference, "dtype": a.dtype, "judges": sorted(a.judge_versions())},
          "other": {"folder": args.other, "dtype": b.dtype, "judges": sorted(b.judge_versions())},
          "metrics": rows, "significant_at_q_0.05": [f"{r['task']}/{r['metric']}" for r in rows
                                                    if r.get("q") is not None and r["q"] < 0.05]}, args.out)


if __name__ == "__main__":
    main()
