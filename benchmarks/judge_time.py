"""Judging time: the rule judge against the learned judge, per 1,000 responses and as a share of a whole lm_eval run.

usage: python benchmarks/judge_time.py RUN_DIR --out results/benchmarks/judge_time.json [--repeats 3]

RUN_DIR is an ``lm_eval --tasks hneuron ... --log_samples`` output folder. Every logged response
is classed by each judge (``suite.kinds.classify``, what ``process_results`` calls), ``--repeats``
times; the best round counts. The share compares that time with the run's own
``total_evaluation_time_seconds`` (which already includes the judge the run was scored with).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

from hneuron_eval.core.fileio import write_json_atomic
from hneuron_eval.core.provenance import utc_now
from hneuron_eval.judges import get_judge
from hneuron_eval.judges.labels import TASK_KINDS
from hneuron_eval.suite.kinds import classify


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    (results,) = Path(args.run).rglob("results_*.json")
    data = json.loads(results.read_text(encoding="utf-8"))
    samples = []
    for path in sorted(results.parent.glob("samples_hn_*.jsonl")):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        samples += [(TASK_KINDS[task], json.loads(x)) for x in path.read_text(encoding="utf-8").split("\n")
                    if x.strip()]
    out = {"command": shlex.join(["python", "benchmarks/judge_time.py", *argv]), "date": utc_now(),
           "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "run": args.run,
           "run_wall_seconds": data["total_evaluation_time_seconds"], "responses": len(samples), "judges": {}}
    for name in ("rule", "learned"):
        judge = get_judge(name)
        classify(samples[0][0], samples[0][1]["doc"], samples[0][1]["resps"][0], judge)  # warm: vectorizers, regexes
        rounds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for kind, s in samples:
                classify(kind, s["doc"], s["resps"][0], judge)
            rounds.append(time.perf_counter() - start)
        best = min(rounds)
        out["judges"][f"{judge.name}:{judge.version}"] = {
            "seconds": round(best, 3), "seconds_per_1000": round(1000 * best / len(samples), 3),
            "share_of_run": round(best / float(data["total_evaluation_time_seconds"]), 4),
            "rounds": [round(r, 3) for r in rounds]}
    write_json_atomic(args.out, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
